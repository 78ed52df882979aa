//! The few places where the simulation meets the rotator's port types.

use cfcookie_rotator::model::KeyGroupRecord;
use cfcookie_rotator::ports::ServiceError;

use crate::world::World;

/// What DescribeSecret's rules give the rotator's interval guard.
pub(crate) fn interval(_w: &World) -> Option<i64> {
    Some(86_400)
}

/// CreatePublicKey with a name already taken.
pub(crate) fn already_exists(name: &str) -> ServiceError {
    ServiceError::AlreadyExists(format!("public key named {name}"))
}

/// CreatePublicKey past the account quota.
pub(crate) fn too_many_public_keys() -> ServiceError {
    ServiceError::Other {
        operation: "CreatePublicKey",
        message: "TooManyPublicKeys: the account holds its maximum of public keys".into(),
    }
}

/// A key group as GetKeyGroup returns it.
pub(crate) fn with_modified(g: KeyGroupRecord, _t: i64) -> KeyGroupRecord {
    g
}
