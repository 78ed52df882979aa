use std::process::{Command, Stdio};
use std::time::Duration;

use cfcookie_testing::emulator::{free_port, wait_for_port};

use crate::util::{cfcookie, require, root, run};

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cfcookie serve --dev` on a free port with `env`; returns it and its URL.
pub fn dev_server(state: &std::path::Path, env: &[(&str, &str)]) -> (impl Drop, String) {
    let port = free_port();
    let child = cfcookie()
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(state)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve --dev");
    let server = Server(child);
    wait_for_port(port, "serve --dev", Duration::from_secs(20));
    (server, format!("http://127.0.0.1:{port}/"))
}

/// The dev page end to end in headless Chromium: sign in, the decoded policy, a rotation
/// watched on the key-ring timeline while the image keeps loading, sign out. Screenshots are
/// kept in target/browser/dev-flow-*.png.
#[test]
fn dev_page_works_in_a_real_browser() {
    require("node", &["--version"]);
    require("/usr/bin/chromium", &["--version"]);
    assert!(
        root()
            .join("tests/node/node_modules/playwright-core")
            .exists(),
        "playwright-core missing: run scripts/test"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let shots = root().join("target/browser");
    std::fs::create_dir_all(&shots).expect("dir");
    for same_site in ["Lax", "Strict"] {
        // A short activation delay so the walk sees a rotation take effect.
        let (_server, url) = dev_server(
            dir.path(),
            &[
                ("CFCOOKIE_SAME_SITE", same_site),
                ("CFCOOKIE_ACTIVATION_DELAY", "4"),
            ],
        );
        let shot = shots.join(format!("dev-flow-{}.png", same_site.to_lowercase()));
        let (code, out, err) = run(Command::new("node")
            .arg(root().join("tests/node/browser.js"))
            .arg(&url)
            .arg(&shot)
            .arg(same_site));
        assert_eq!(code, 0, "browser flow failed ({same_site}):\n{out}\n{err}");
        assert!(
            shot.metadata().map(|m| m.len() > 10_000).unwrap_or(false),
            "no screenshot at {}",
            shot.display()
        );
    }
}
