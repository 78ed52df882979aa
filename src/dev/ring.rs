//! The dev key ring: the current and previous key in a local directory, in the secret format.

use std::path::{Path, PathBuf};

use cfcookie_endpoint::SecretReader;
use cfcookie_secret::{Clock as _, SecretValue, SystemClock, FORMAT};
use cfcookie_signer::{KeyAlgorithm, PrivateKey};

/// The dev key ring: a directory holding the current and previous key in the secret format.
#[derive(Debug, Clone)]
pub struct DevKeyRing {
    dir: PathBuf,
}

impl DevKeyRing {
    /// The ring in `state/keys`.
    pub fn new(state: &Path) -> Self {
        DevKeyRing {
            dir: state.join("keys"),
        }
    }

    fn read_one(&self, name: &str) -> Result<Option<SecretValue>, String> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
            Ok(text) => SecretValue::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        }
    }

    /// Makes a new current key (the old one becomes previous), active after `delay` seconds.
    pub fn rotate(&self, delay: i64) -> Result<SecretValue, String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).map_err(|e| e.to_string())?;
        let now = SystemClock.now();
        let n: u64 = rand::random();
        let value = SecretValue {
            format: FORMAT.to_owned(),
            key_id: format!("KDEV{:010}", n % 10_000_000_000),
            algorithm: key.algorithm().as_str().to_owned(),
            private_key_pem: key.to_pkcs8_pem().map_err(|e| e.to_string())?.to_string(),
            public_key_pem: key.public_key().to_pem(),
            created_at: now,
            active_from: now + chrono::Duration::seconds(delay),
        };
        let current = self.dir.join("current.json");
        if current.exists() {
            std::fs::rename(&current, self.dir.join("previous.json")).map_err(|e| e.to_string())?;
        }
        let tmp = self.dir.join("current.json.tmp");
        crate::files::write_private(&tmp, value.to_json().as_bytes()).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &current).map_err(|e| e.to_string())?;
        Ok(value)
    }

    /// Ensures a current key exists.
    pub fn ensure(&self) -> Result<(), String> {
        if self.read_one("current.json")?.is_none() {
            self.rotate(0)?;
        }
        Ok(())
    }
}

impl SecretReader for DevKeyRing {
    async fn read(
        &self,
    ) -> Result<(Option<SecretValue>, Option<SecretValue>), cfcookie_endpoint::KeyLoadError> {
        let one = |name| {
            self.read_one(name)
                .map_err(cfcookie_endpoint::KeyLoadError::Reader)
        };
        Ok((one("current.json")?, one("previous.json")?))
    }
}
