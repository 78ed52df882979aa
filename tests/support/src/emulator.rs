//! Starts the project's AWS emulator (`tests/emulator/server.py`, moto plus the project's
//! extension) on a free loopback port. A missing emulator fails loudly; it never lets a test skip.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator; killed on drop.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// Path of the emulator script in this repository.
pub fn server_script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../emulator/server.py"
    ))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts connections on loopback `port`; panics naming `what` after
/// `timeout`.
pub fn wait_for_port(port: u16, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on port {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Emulator {
    /// Starts one; `extra` args go to server.py (e.g. `--lambda-endpoint`).
    pub fn start_with(extra: &[&str]) -> Emulator {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("cfcookie-emulator-{port}.log"));
        let python = std::env::var("CFCOOKIE_PYTHON").unwrap_or_else(|_| "python3".into());
        let file = std::fs::File::create(&log).expect("emulator log");
        let child = Command::new(&python)
            .arg(server_script())
            .args(["--port", &port.to_string()])
            .args(extra)
            .stdout(Stdio::from(file.try_clone().expect("log")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the emulator with {python}: {e}; run scripts/test, which installs it"));
        let mut emulator = Emulator { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ureq::get(&format!("{}/_emulator/health", emulator.endpoint()))
                .call()
                .is_ok()
            {
                return emulator;
            }
            if let Ok(Some(status)) = emulator.child.try_wait() {
                panic!(
                    "the emulator exited ({status}); is moto installed? run scripts/test.\n{}",
                    emulator.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the emulator did not answer within 60 s:\n{}",
                emulator.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts one with default options.
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// SDK configuration pointing at it (region us-east-1, test credentials).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(20)),
            )
            .load()
            .await
    }

    /// Environment variables that point the CLI (or any AWS tool) at it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Makes the next `count` calls of `operation` (e.g. `cloudfront.UpdateKeyGroup`) fail.
    pub fn inject(&self, operation: &str, status: u16, code: &str, count: u32) {
        let body = serde_json::json!({"operation": operation, "status": status, "code": code, "count": count}).to_string();
        ureq::post(&format!("{}/_emulator/faults", self.endpoint()))
            .send(body.as_bytes())
            .expect("inject fault");
    }

    /// Sets the account's public key quota (CloudFront's is 10).
    pub fn set_public_key_quota(&self, n: usize) {
        let body = serde_json::json!({ "public_keys": n }).to_string();
        ureq::post(&format!("{}/_emulator/quota", self.endpoint()))
            .send(body.as_bytes())
            .expect("set quota");
    }

    /// Operations served so far, as `service.Operation`.
    pub fn calls(&self) -> Vec<String> {
        let mut resp = ureq::get(&format!("{}/_emulator/calls", self.endpoint()))
            .call()
            .expect("calls");
        resp.body_mut().read_json().expect("calls json")
    }

    /// Forgets the calls served so far.
    pub fn clear_calls(&self) {
        ureq::delete(&format!("{}/_emulator/calls", self.endpoint()))
            .call()
            .expect("clear calls");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// What `terraform apply` leaves before the first rotation: a secret holding a placeholder, a
/// bootstrap public key outside the managed name space, and a key group trusting it.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// Secret name.
    pub secret: String,
    /// Key group id.
    pub group: String,
    /// SSM parameter name for the key id (not created).
    pub parameter: String,
    /// The bootstrap public key id.
    pub bootstrap_key: String,
}

/// Creates a [`Bootstrap`] with names tagged by `tag` (so one emulator can hold many).
pub async fn bootstrap(aws: &aws_config::SdkConfig, tag: &str) -> Bootstrap {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let cf = aws_sdk_cloudfront::Client::new(aws);
    let secret = format!("cfcookie/{tag}/signing-key");
    sm.create_secret()
        .name(&secret)
        .secret_string(r#"{"placeholder":"the first rotation replaces this"}"#)
        .send()
        .await
        .expect("secret");
    let pem = cfcookie_signer::PrivateKey::generate(cfcookie_signer::KeyAlgorithm::Rsa2048)
        .expect("key")
        .public_key()
        .to_pem();
    let config = aws_sdk_cloudfront::types::PublicKeyConfig::builder()
        .caller_reference(format!("bootstrap-{tag}"))
        .name(format!("bootstrap-{tag}"))
        .encoded_key(pem)
        .build()
        .expect("config");
    let key = cf
        .create_public_key()
        .public_key_config(config)
        .send()
        .await
        .expect("bootstrap key");
    let bootstrap_key = key.public_key().expect("key").id().to_owned();
    let group_config = aws_sdk_cloudfront::types::KeyGroupConfig::builder()
        .name(format!("cfcookie-{tag}"))
        .items(bootstrap_key.clone())
        .build()
        .expect("config");
    let group = cf
        .create_key_group()
        .key_group_config(group_config)
        .send()
        .await
        .expect("group");
    let group = group.key_group().expect("group").id().to_owned();
    Bootstrap {
        secret,
        group,
        parameter: format!("/cfcookie/{tag}/key-id"),
        bootstrap_key,
    }
}
