//! The Lambda handler: Secrets Manager's rotation event in, one step run, a stable error type out.

use serde::Deserialize;
use tracing::error;

use crate::error::RotationError;
use crate::ports::{Clock, KeyGenerator, KeyRegistry, ParameterStore, Probe, SecretStore};
use crate::steps::{Mode, Rotator, Step};

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
pub async fn handle<S, R, P, G, C, Pr>(
    rotator: &Rotator<S, R, P, G, C, Pr>,
    event: RotationEvent,
) -> Result<(), HandlerError>
where
    S: SecretStore,
    R: KeyRegistry,
    P: ParameterStore,
    G: KeyGenerator,
    C: Clock,
    Pr: Probe,
{
    let Some(step) = Step::from_aws_name(&event.step) else {
        error!(step = %event.step, "unknown rotation step");
        return Err(HandlerError {
            error_type: "Rotation.UnknownStep",
            message: format!(
                "unknown step {:?}; expected createSecret, setSecret, testSecret or finishSecret",
                event.step
            ),
        });
    };
    rotator.run_step(step, &event.secret_id, &event.client_request_token, Mode::Lambda).await.map_err(|e| {
        error!(step = step.aws_name(), error_type = e.error_type(), error = %e, "rotation step failed");
        HandlerError::from(e)
    })
}
