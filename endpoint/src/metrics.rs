//! The endpoint's metrics, through the `metrics` facade: the Lambda host exports them as
//! CloudWatch Embedded Metric Format, `cfcookie serve` as Prometheus text (`/metrics` on its
//! own listener). Names, units and what to alarm on: `docs/metrics.md`.

/// Cookies issued (count).
pub const COOKIES_ISSUED: &str = "cookies_issued";
/// Requests refused, by `reason` (the JSON `error` code) (count).
pub const REQUESTS_REFUSED: &str = "requests_refused";
/// JWKS fetches, by `outcome` (`ok`, `failed`) (count).
pub const JWKS_FETCHES: &str = "jwks_fetches";
/// Key-source refreshes, by `outcome` (`ok`, `failed`) (count).
pub const KEY_REFRESHES: &str = "key_refreshes";
/// Seconds since the key source last read the secret successfully, set at every attempt.
pub const KEY_STALENESS: &str = "key_staleness_seconds";
/// Seconds since the key that signs now became active.
pub const ACTIVE_KEY_AGE: &str = "active_key_age_seconds";

/// Every metric the endpoint emits (the docs test checks each is documented).
pub const ALL: &[&str] = &[
    COOKIES_ISSUED,
    REQUESTS_REFUSED,
    JWKS_FETCHES,
    KEY_REFRESHES,
    KEY_STALENESS,
    ACTIVE_KEY_AGE,
];

/// Declares units and descriptions (exporters use them); call after installing a recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_counter!(
        COOKIES_ISSUED,
        Unit::Count,
        "responses that set signed cookies"
    );
    describe_counter!(
        REQUESTS_REFUSED,
        Unit::Count,
        "refused requests, by reason code"
    );
    describe_counter!(JWKS_FETCHES, Unit::Count, "JWKS fetches, by outcome");
    describe_counter!(
        KEY_REFRESHES,
        Unit::Count,
        "reads of the key secret, by outcome"
    );
    describe_gauge!(
        KEY_STALENESS,
        Unit::Seconds,
        "seconds since the key secret was last read successfully"
    );
    describe_gauge!(
        ACTIVE_KEY_AGE,
        Unit::Seconds,
        "seconds since the signing key became active"
    );
}

fn outcome(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "failed"
    }
}

/// One response with cookies.
pub fn cookies_issued() {
    metrics::counter!(COOKIES_ISSUED).increment(1);
}

/// One refusal with its reason code.
pub fn refused(reason: &str) {
    metrics::counter!(REQUESTS_REFUSED, "reason" => reason.to_owned()).increment(1);
}

/// One JWKS fetch.
pub fn jwks_fetch(ok: bool) {
    metrics::counter!(JWKS_FETCHES, "outcome" => outcome(ok)).increment(1);
}

/// One read of the secret: its outcome, how stale the keys in use are, and the age of the key
/// that signs now (if any).
pub fn key_refresh(ok: bool, staleness_seconds: f64, active_key_age_seconds: Option<f64>) {
    metrics::counter!(KEY_REFRESHES, "outcome" => outcome(ok)).increment(1);
    metrics::gauge!(KEY_STALENESS).set(staleness_seconds);
    if let Some(age) = active_key_age_seconds {
        metrics::gauge!(ACTIVE_KEY_AGE).set(age);
    }
}
