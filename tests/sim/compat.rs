//! The few places where the simulation meets the rotator's port types.

use cfcookie_rotator::model::KeyGroupRecord;
use cfcookie_rotator::ports::ServiceError;

use crate::world::World;

/// What DescribeSecret's rules give the rotator's interval guard. DescribeSecret recomputes
/// `AutomaticallyAfterDays` from the expression, which is what the guard reads, so it is left out.
pub(crate) fn interval(w: &World) -> cfcookie_rotator::model::Spacing {
    cfcookie_rotator::model::min_spacing_secs(
        None,
        Some(&w.rules.expression()),
        w.rules.duration_text().as_deref(),
    )
}

/// CreatePublicKey with a name already taken.
pub(crate) fn already_exists(name: &str) -> ServiceError {
    ServiceError::AlreadyExists(format!("public key named {name}"))
}

/// CreatePublicKey past the account quota.
pub(crate) fn too_many_public_keys() -> ServiceError {
    ServiceError::QuotaExceeded(
        "TooManyPublicKeys: the account holds its maximum of public keys".into(),
    )
}

/// A key group as GetKeyGroup returns it.
pub(crate) fn with_modified(mut g: KeyGroupRecord, t: i64) -> KeyGroupRecord {
    g.last_modified = chrono::DateTime::from_timestamp(t, 0);
    g
}
