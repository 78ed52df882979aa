//! The narrow capabilities rotation needs. Implementations: `Sdk…` over AWS (in [`crate::sdk`]);
//! the in-memory fakes and crash injection live in the dev-only `cfcookie-testing` crate.
//! Secrets Manager's port, the error type and the clock are `cfcookie-secret`'s, shared with the
//! endpoint, and re-exported here.

use std::future::Future;

use chrono::{DateTime, Utc};

pub use cfcookie_secret::{Clock, SecretStore, ServiceError, ServiceResult, SystemClock};

use crate::model::{KeyGroupRecord, PublicKeyRecord};

/// CloudFront public keys and key groups.
pub trait KeyRegistry: Send + Sync {
    /// CreatePublicKey; returns the key id.
    fn create_public_key(
        &self,
        name: &str,
        caller_reference: &str,
        encoded_key: &str,
        comment: &str,
    ) -> impl Future<Output = ServiceResult<String>> + Send;
    /// ListPublicKeys (all pages).
    fn list_public_keys(&self) -> impl Future<Output = ServiceResult<Vec<PublicKeyRecord>>> + Send;
    /// GetPublicKey with its ETag; `None` when it does not exist.
    fn get_public_key(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<Option<(PublicKeyRecord, String)>>> + Send;
    /// DeletePublicKey with If-Match.
    fn delete_public_key(
        &self,
        id: &str,
        etag: &str,
    ) -> impl Future<Output = ServiceResult<()>> + Send;
    /// GetKeyGroup; `None` when it does not exist.
    fn get_key_group(
        &self,
        id: &str,
    ) -> impl Future<Output = ServiceResult<Option<KeyGroupRecord>>> + Send;
    /// UpdateKeyGroup with If-Match = `group.etag`; returns the new ETag.
    fn update_key_group(
        &self,
        group: &KeyGroupRecord,
    ) -> impl Future<Output = ServiceResult<String>> + Send;
}

/// SSM Parameter Store.
pub trait ParameterStore: Send + Sync {
    /// GetParameter; `None` when it does not exist.
    fn get(&self, name: &str) -> impl Future<Output = ServiceResult<Option<String>>> + Send {
        async move { Ok(self.get_dated(name).await?.map(|(value, _)| value)) }
    }
    /// GetParameter with the parameter's LastModifiedDate; `None` when it does not exist.
    fn get_dated(
        &self,
        name: &str,
    ) -> impl Future<Output = ServiceResult<Option<(String, DateTime<Utc>)>>> + Send;
    /// PutParameter (String, overwrite; creates it when missing).
    fn put(&self, name: &str, value: &str) -> impl Future<Output = ServiceResult<()>> + Send;
}

/// Makes key pairs.
pub trait KeyGenerator: Send + Sync {
    /// A new private key.
    fn generate(&self) -> Result<cfcookie_signer::PrivateKey, cfcookie_signer::KeyError>;
}

/// Key pairs of the algorithm `CFCOOKIE_KEY_ALGORITHM` names, from AWS-LC. CloudFront takes
/// RSA-2048 and ECDSA P-256 for signed URLs and cookies; the signer refuses anything else.
/// The default is RSA-2048, as `CFCOOKIE_KEY_ALGORITHM`'s is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsLcKeyGenerator(pub cfcookie_signer::KeyAlgorithm);

impl Default for AwsLcKeyGenerator {
    fn default() -> Self {
        AwsLcKeyGenerator(cfcookie_signer::KeyAlgorithm::Rsa2048)
    }
}

impl KeyGenerator for AwsLcKeyGenerator {
    fn generate(&self) -> Result<cfcookie_signer::PrivateKey, cfcookie_signer::KeyError> {
        cfcookie_signer::PrivateKey::generate(self.0)
    }
}

/// Fetches a URL through the distribution with a Cookie header (the testSecret canary).
pub trait Probe: Send + Sync {
    /// The HTTP status.
    fn fetch(
        &self,
        url: &str,
        cookie_header: &str,
    ) -> impl Future<Output = Result<u16, String>> + Send;
}

/// A real HTTP GET.
///
/// It trusts the roots the AWS SDK's own client trusts: the system's, read by
/// rustls-native-certs, so `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured (a distribution
/// behind a TLS-inspecting proxy, or a local stack with its own certificate authority). The
/// standard proxy variables (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) are honoured too: a
/// rotator in a VPC without a NAT reaches the distribution through its proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpProbe;

/// The system's certificate roots, read once per process. A root that fails to parse is
/// skipped, as the SDK's client skips it; no root at all leaves every HTTPS canary refused
/// with a TLS error that names the URL.
fn system_roots() -> ureq::tls::RootCerts {
    static ROOTS: std::sync::OnceLock<ureq::tls::RootCerts> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            ureq::tls::RootCerts::new_with_certs(
                &found
                    .certs
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c).to_owned())
                    .collect::<Vec<_>>(),
            )
        })
        .clone()
}

impl Probe for HttpProbe {
    async fn fetch(&self, url: &str, cookie_header: &str) -> Result<u16, String> {
        let (url, cookie) = (url.to_owned(), cookie_header.to_owned());
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(10)))
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(system_roots())
                        .build(),
                )
                .build()
                .into();
            agent
                .get(&url)
                .header("Cookie", &cookie)
                .call()
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
