//! The one idea of "now" in cfcookie: a [`Clock`] injected wherever time is read, so tests and
//! the simulation move time instead of waiting for it.

use chrono::{DateTime, Utc};

/// The time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;

    /// Now, in whole seconds since the Unix epoch.
    fn epoch(&self) -> i64 {
        self.now().timestamp()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// A clock tests move (feature `testing`).
#[cfg(feature = "testing")]
#[derive(Debug, Clone)]
pub struct FixedClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

#[cfg(feature = "testing")]
impl FixedClock {
    /// Starts at `t`.
    pub fn new(t: DateTime<Utc>) -> FixedClock {
        FixedClock(std::sync::Arc::new(std::sync::Mutex::new(t)))
    }

    /// Starts at `epoch` seconds.
    pub fn at_epoch(epoch: i64) -> FixedClock {
        FixedClock::new(DateTime::from_timestamp(epoch, 0).unwrap_or_default())
    }

    /// Moves forward.
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    /// Moves to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }
}

#[cfg(feature = "testing")]
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
