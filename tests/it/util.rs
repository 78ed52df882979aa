//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Path of the built `cfcookie` binary.
pub fn cfcookie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cfcookie"))
}

/// Runs `cmd`, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawn");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The `Set-Cookie` values of a response, in order.
pub fn set_cookies(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// Fails (never skips) when an external tool the test needs is not installed.
pub fn require(tool: &str, probe: &[&str]) {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{tool} {}` failed: this test needs {tool}; run scripts/test, which installs it",
        probe.join(" ")
    );
}

/// Workspace root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Decodes CloudFront base64.
pub fn cf_decode(s: &str) -> Vec<u8> {
    cfcookie_signer::base64_decode(s).expect("CloudFront base64")
}

pub use cfcookie_testing::emulator::{bootstrap, Bootstrap};

/// The `name=value` parts of every Set-Cookie header, joined as a Cookie request header, as a
/// browser would send them: cookies being expired (`Max-Age=0`) are left out.
pub fn cookie_header_from<'a>(set_cookies: impl IntoIterator<Item = &'a str>) -> String {
    set_cookies
        .into_iter()
        .filter(|v| !v.contains("; Max-Age=0"))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}
