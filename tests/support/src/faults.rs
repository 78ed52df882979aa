//! Crash injection at the port seams: before or after the N-th AWS call of a run, the call
//! "crashes" (the step fails; after-crashes have already changed the service). Wraps any
//! implementation, fakes and SDK adapters alike, so the same fault suite runs on both.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use cfcookie_rotator::model::{KeyGroupRecord, PublicKeyRecord, SecretDescription, VersionRef};
use cfcookie_rotator::ports::{
    KeyRegistry, ParameterStore, SecretStore, ServiceError, ServiceResult,
};

/// Before or after the call reaches the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The call never happens.
    Before,
    /// The call happens; its answer is lost.
    After,
}

/// A shared counter of calls and at most one armed crash.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    calls: Arc<AtomicUsize>,
    armed: Arc<Mutex<Option<(usize, When)>>>,
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl FaultPlan {
    /// Crash once at call number `n` (0-based, counted from now).
    pub fn arm(&self, n: usize, when: When) {
        self.calls.store(0, Ordering::SeqCst);
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some((n, when));
    }

    /// Whether the armed crash has fired.
    pub fn fired(&self) -> bool {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Calls made since the last `arm` or `reset`.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Clears the counter, the log and any armed crash.
    pub fn reset(&self) {
        self.calls.store(0, Ordering::SeqCst);
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Operations called, in order, since the last reset.
    pub fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn take(&self, n: usize, when: When) -> bool {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        if *armed == Some((n, when)) {
            *armed = None;
            return true;
        }
        false
    }

    async fn around<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = ServiceResult<T>>,
    ) -> ServiceResult<T> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(op);
        if self.take(n, When::Before) {
            return Err(injected(format!("before {op} (call {n})")));
        }
        let result = call.await;
        if self.take(n, When::After) {
            return Err(injected(format!("after {op} (call {n})")));
        }
        result
    }
}

/// The operation name an injected crash reports ([`ServiceError::Other`]), so the rotator sees
/// an ordinary service failure.
pub const INJECTED: &str = "injected crash";

fn injected(message: String) -> ServiceError {
    ServiceError::Other {
        operation: INJECTED,
        message,
    }
}

/// Whether `e` is a crash injected by a [`FaultPlan`].
pub fn is_injected(e: &ServiceError) -> bool {
    matches!(e, ServiceError::Other { operation, .. } if *operation == INJECTED)
}

/// `inner` with crashes from `plan`.
#[derive(Debug, Clone)]
pub struct Faulty<T> {
    /// The real implementation.
    pub inner: T,
    /// Shared with the other wrapped ports of the same run.
    pub plan: FaultPlan,
}

impl<S: SecretStore> SecretStore for Faulty<S> {
    async fn describe(&self, secret_id: &str) -> ServiceResult<SecretDescription> {
        self.plan
            .around("DescribeSecret", self.inner.describe(secret_id))
            .await
    }
    async fn get_value(
        &self,
        secret_id: &str,
        version: VersionRef<'_>,
    ) -> ServiceResult<Option<Zeroizing<String>>> {
        self.plan
            .around("GetSecretValue", self.inner.get_value(secret_id, version))
            .await
    }
    async fn put_value(
        &self,
        secret_id: &str,
        token: &str,
        value: &str,
        label: &str,
    ) -> ServiceResult<()> {
        self.plan
            .around(
                "PutSecretValue",
                self.inner.put_value(secret_id, token, value, label),
            )
            .await
    }
    async fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> ServiceResult<()> {
        self.plan
            .around(
                "UpdateSecretVersionStage",
                self.inner.move_label(secret_id, label, to, from),
            )
            .await
    }
}

impl<R: KeyRegistry> KeyRegistry for Faulty<R> {
    async fn create_public_key(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> ServiceResult<String> {
        self.plan
            .around(
                "CreatePublicKey",
                self.inner
                    .create_public_key(name, caller_reference, encoded_key, comment),
            )
            .await
    }
    async fn list_public_keys(&self) -> ServiceResult<Vec<PublicKeyRecord>> {
        self.plan
            .around("ListPublicKeys", self.inner.list_public_keys())
            .await
    }
    async fn get_public_key(&self, id: &str) -> ServiceResult<Option<(PublicKeyRecord, String)>> {
        self.plan
            .around("GetPublicKey", self.inner.get_public_key(id))
            .await
    }
    async fn delete_public_key(&self, id: &str, etag: &str) -> ServiceResult<()> {
        self.plan
            .around("DeletePublicKey", self.inner.delete_public_key(id, etag))
            .await
    }
    async fn get_key_group(&self, id: &str) -> ServiceResult<Option<KeyGroupRecord>> {
        self.plan
            .around("GetKeyGroup", self.inner.get_key_group(id))
            .await
    }
    async fn update_key_group(&self, group: &KeyGroupRecord) -> ServiceResult<String> {
        self.plan
            .around("UpdateKeyGroup", self.inner.update_key_group(group))
            .await
    }
}

impl<P: ParameterStore> ParameterStore for Faulty<P> {
    async fn get(&self, name: &str) -> ServiceResult<Option<String>> {
        self.plan.around("GetParameter", self.inner.get(name)).await
    }
    async fn get_dated(
        &self,
        name: &str,
    ) -> ServiceResult<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        self.plan
            .around("GetParameter", self.inner.get_dated(name))
            .await
    }
    async fn put(&self, name: &str, value: &str) -> ServiceResult<()> {
        self.plan
            .around("PutParameter", self.inner.put(name, value))
            .await
    }
}
