//! The Lambda handler: Secrets Manager's rotation event in, one step run, a stable error type out.

use serde::Deserialize;
use tracing::error;

use crate::check::{key_age, CheckEvent, VersionDates, KEY_AGE};
use crate::error::RotationError;
use crate::steps::{Mode, Ports, Rotator, Step};

/// The event Secrets Manager sends.
#[derive(Debug, Clone, Deserialize)]
pub struct RotationEvent {
    /// `createSecret`, `setSecret`, `testSecret` or `finishSecret`.
    #[serde(rename = "Step")]
    pub step: String,
    /// Secret ARN.
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    /// The version being rotated in.
    #[serde(rename = "ClientRequestToken")]
    pub client_request_token: String,
    /// Present in newer events; unused.
    #[serde(rename = "RotationToken", default)]
    pub rotation_token: Option<String>,
}

/// Any event the rotator Lambda takes: Secrets Manager's rotation steps, or the scheduled key
/// check (`{"Check": "keyAge", "SecretId": ARN}`, from EventBridge Scheduler).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Event {
    /// A rotation step.
    Rotation(RotationEvent),
    /// The key check ([`crate::check`]).
    Check(CheckEvent),
}

/// Handles either kind of event; the key check reads version dates from `dates`.
pub async fn handle_event<W: Ports>(
    rotator: &Rotator<W>,
    dates: &impl VersionDates,
    event: Event,
) -> Result<(), HandlerError> {
    // Boxed: the two futures nested in one would overflow the compiler's layout depth limit.
    match event {
        Event::Rotation(e) => Box::pin(handle(rotator, e)).await,
        Event::Check(e) => Box::pin(handle_check(rotator, dates, e)).await,
    }
}

/// Handles the scheduled key check: its failures count in [`metric::ERRORS`] like a step's, so
/// the rotator's error alarm pages on them.
pub async fn handle_check<W: Ports>(
    rotator: &Rotator<W>,
    dates: &impl VersionDates,
    event: CheckEvent,
) -> Result<(), HandlerError> {
    if event.check != KEY_AGE {
        metrics::counter!(metric::ERRORS, "error_type" => "Rotation.UnknownCheck").increment(1);
        return Err(HandlerError {
            error_type: "Rotation.UnknownCheck",
            message: format!("unknown check {:?}; expected {KEY_AGE:?}", event.check),
        });
    }
    key_age(rotator, dates, &event.secret_id)
        .await
        .map(|_| ())
        .map_err(|e| {
            metrics::counter!(metric::ERRORS, "error_type" => e.error_type()).increment(1);
            error!(check = KEY_AGE, error_type = e.error_type(), error = %e, "key check failed");
            HandlerError::from(e)
        })
}

/// A failed invocation, as the Lambda runtime reports it.
#[derive(Debug)]
pub struct HandlerError {
    /// Stable type, e.g. `Rotation.NotPending`.
    pub error_type: &'static str,
    /// Human text (no key material).
    pub message: String,
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type.to_owned(),
            error_message: e.message,
        }
    }
}

impl From<RotationError> for HandlerError {
    fn from(e: RotationError) -> Self {
        HandlerError {
            error_type: e.error_type(),
            message: e.to_string(),
        }
    }
}

/// Handles one event.
pub async fn handle<W: Ports>(
    rotator: &Rotator<W>,
    event: RotationEvent,
) -> Result<(), HandlerError> {
    let Some(step) = Step::from_aws_name(&event.step) else {
        error!(step = %event.step, "unknown rotation step");
        metrics::counter!(metric::ERRORS, "error_type" => "Rotation.UnknownStep").increment(1);
        return Err(HandlerError {
            error_type: "Rotation.UnknownStep",
            message: format!(
                "unknown step {:?}; expected createSecret, setSecret, testSecret or finishSecret",
                event.step
            ),
        });
    };
    let started = std::time::Instant::now();
    let result = rotator
        .run_step(
            step,
            &event.secret_id,
            &event.client_request_token,
            Mode::Lambda,
        )
        .await;
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    metrics::histogram!(metric::STEP_DURATION, "step" => step.aws_name(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64() * 1000.0);
    match &result {
        Ok(()) if step == Step::Finish => metrics::counter!(metric::COMPLETED).increment(1),
        Ok(()) => {}
        Err(e) => metrics::counter!(metric::ERRORS, "error_type" => e.error_type()).increment(1),
    }
    result.map_err(|e| {
        error!(step = step.aws_name(), error_type = e.error_type(), error = %e, "rotation step failed");
        HandlerError::from(e)
    })
}

/// The rotator's metrics (through the `metrics` facade; the Lambda exports them as CloudWatch
/// Embedded Metric Format). Units and alarms: `docs/metrics.md`.
pub mod metric {
    /// Each step's duration, milliseconds, by `step` (AWS name) and `outcome` (`ok`, `failed`).
    pub const STEP_DURATION: &str = "rotation_step_duration_ms";
    /// Rotations whose finishSecret succeeded (count).
    pub const COMPLETED: &str = "rotations_completed";
    /// Failed invocations, by `error_type` (e.g. `Rotation.NotPending`) (count).
    pub const ERRORS: &str = "rotation_errors";
    /// The key check's gauge: seconds since the AWSCURRENT version was created, by `secret`.
    pub const KEY_AGE: &str = crate::check::metric::KEY_AGE;
    /// Every metric the rotator emits.
    pub const ALL: &[&str] = &[STEP_DURATION, COMPLETED, ERRORS, KEY_AGE];

    /// Declares units and descriptions (exporters use them).
    pub fn describe() {
        metrics::describe_histogram!(
            STEP_DURATION,
            metrics::Unit::Milliseconds,
            "duration of one rotation step"
        );
        metrics::describe_counter!(
            COMPLETED,
            metrics::Unit::Count,
            "rotations completed (finishSecret succeeded)"
        );
        metrics::describe_gauge!(
            KEY_AGE,
            metrics::Unit::Seconds,
            "seconds since the secret's AWSCURRENT version was created (scheduled key check)"
        );
        metrics::describe_counter!(
            ERRORS,
            metrics::Unit::Count,
            "failed rotation invocations by error type"
        );
    }
}
