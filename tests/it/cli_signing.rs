use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{cfcookie, require, root, run};

const KEY_ID: &str = "K2JCJMDEHXQW5F";

fn data(name: &str) -> String {
    root()
        .join("signer/tests/data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn sign_args<'a>(key: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "sign",
        "--url",
        "https://d111111abcdef8.cloudfront.net/a.jpg",
        "--key-pair-id",
        KEY_ID,
        "--private-key",
        key,
        "--date-less-than",
        "1800000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Exit code 2, one line on stderr naming the problem, nothing on stdout, no panic.
fn assert_refused(args: &[String], needle: &str) {
    let (code, out, err) = run(cfcookie().args(args));
    assert_eq!(code, 2, "{args:?}: exit {code}, stderr {err}");
    assert!(out.is_empty(), "{args:?}: printed {out}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.starts_with("error: ") && first.contains(needle),
        "{args:?}: {err:?} lacks {needle:?}"
    );
}

#[test]
fn bad_input_is_refused_with_one_clear_line() {
    let rsa = data("rsa2048.pkcs8.pem");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            sign_args("/nonexistent/key.pem", &[]),
            "cannot read private key",
        ),
        (
            sign_args(&data("rsa2048.pub.pem"), &[]),
            "expected a private key",
        ),
        (sign_args(&data("rsa1024.pem"), &[]), "2048"),
        (sign_args(&data("ec384.pem"), &[]), "P-256"),
        (sign_args(&data("rsa2048.encrypted.pem"), &[]), "passphrase"),
        (sign_args(&data("README.md"), &[]), "PEM"),
        (sign_args(&rsa, &["--ip-address", "2001:db8::/32"]), "IPv6"),
        (sign_args(&rsa, &["--ip-address", "10.0.0.0/40"]), "prefix"),
        (
            sign_args(&rsa, &["--date-greater-than", "1900000000"]),
            "must be before",
        ),
        (
            {
                let mut a = sign_args(&rsa, &[]);
                a[8] = "2147483648".into();
                a
            },
            "2038",
        ),
        (
            {
                let mut a = sign_args(&rsa, &[]);
                a[2] = "ftp://example.com/a.jpg".into();
                a
            },
            "http",
        ),
        (
            sign_args(&rsa, &["--policy-resource", "s3://bucket/*"]),
            "http",
        ),
        (
            {
                let mut a = sign_args(&rsa, &[]);
                a[8] = "next tuesday".into();
                a
            },
            "RFC 3339",
        ),
        (
            {
                let mut a = sign_args(&rsa, &[]);
                a[4] = "K2 BAD;ID".into();
                a
            },
            "key pair id",
        ),
        (sign_args(&rsa, &["--hash-algorithm", "MD5"]), "MD5"),
    ];
    for (args, needle) in &cases {
        assert_refused(args, needle);
    }
    // A wrong passphrase, given the documented way.
    let (code, _, err) = run(cfcookie()
        .args(sign_args(&data("rsa2048.encrypted.pem"), &[]))
        .env("CFCOOKIE_KEY_PASSPHRASE", "wrong"));
    assert_eq!(code, 2);
    assert!(err.contains("wrong passphrase"), "{err}");
    let (code, out, _) = run(cfcookie()
        .args(sign_args(&data("rsa2048.encrypted.pem"), &[]))
        .env("CFCOOKIE_KEY_PASSPHRASE", "correct-horse"));
    assert_eq!(code, 0);
    assert!(out.contains("Signature="));
}

#[test]
fn sign_cookies_prints_only_the_cloudfront_cookies() {
    let (code, out, err) = run(cfcookie().args([
        "sign-cookies",
        "--url",
        "https://d111111abcdef8.cloudfront.net/*",
        "--key-pair-id",
        KEY_ID,
        "--private-key",
        &data("rsa2048.pkcs1.pem"),
        "--date-less-than",
        "2026-12-01T00:00:00Z",
        "--hash-algorithm",
        "SHA256",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Map<String, Value> = serde_json::from_str(&out).expect("json object");
    let mut names: Vec<&str> = v.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "CloudFront-Hash-Algorithm",
            "CloudFront-Key-Pair-Id",
            "CloudFront-Policy",
            "CloudFront-Signature"
        ]
    );
    assert!(err.is_empty(), "{err}");
}

#[test]
fn set_cookie_format_carries_attributes() {
    let (code, out, err) = run(cfcookie().args([
        "sign-cookies",
        "--url",
        "https://d111111abcdef8.cloudfront.net/*",
        "--key-pair-id",
        KEY_ID,
        "--private-key",
        &data("rsa2048.pkcs8.pem"),
        "--date-less-than",
        "1800000000",
        "--format",
        "set-cookie",
        "--domain",
        "media.example.com",
        "--same-site",
        "Strict",
    ]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        assert!(line.starts_with("Set-Cookie: CloudFront-"), "{line}");
        assert!(line.ends_with("; Path=/; Domain=media.example.com; Expires=Fri, 15 Jan 2027 08:00:00 GMT; Secure; HttpOnly; SameSite=Strict"), "{line}");
    }
}

#[test]
fn verify_exit_codes_and_reasons() {
    let dir = tempfile::tempdir().expect("tmp");
    let (key, public) = (dir.path().join("k.pem"), dir.path().join("p.pem"));
    let (code, _, err) = run(cfcookie()
        .args(["keygen", "--algorithm", "ECDSA_P256", "--private-key-out"])
        .arg(&key)
        .arg("--public-key-out")
        .arg(&public));
    assert_eq!(code, 0, "{err}");
    let mode = std::fs::metadata(&key).expect("meta");
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let (code, url, err) = run(cfcookie()
        .args([
            "sign",
            "--url",
            "https://d1.example.net/v.mp4?x=1",
            "--key-pair-id",
            KEY_ID,
            "--private-key",
        ])
        .arg(&key)
        .args([
            "--date-less-than",
            "1800000000",
            "--ip-address",
            "192.0.2.0/24",
        ]));
    assert_eq!(code, 0, "{err}");
    let verify = |extra: &[&str]| {
        let mut c = cfcookie();
        c.args([
            "verify",
            "--public-key",
            &format!("{KEY_ID}={}", public.display()),
            "--url",
            url.trim(),
        ])
        .args(extra);
        if !extra.contains(&"--now") {
            c.args(["--now", "1799999999"]);
        }
        let (code, out, err) = run(&mut c);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("json: {out} {err}"));
        (code, v)
    };
    let (code, v) = verify(&["--client-ip", "192.0.2.50"]);
    assert_eq!((code, &v["allowed"]), (0, &Value::Bool(true)), "{v}");
    let (code, v) = verify(&["--client-ip", "198.51.100.1"]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("ip_mismatch")));
    let (code, v) = verify(&["--client-ip", "192.0.2.50", "--now", "1800000000"]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("expired")));
    // A bare path is trusted for any key id; another key is not.
    let other = dir.path().join("o.pem");
    let (code, _, _) = run(cfcookie()
        .args(["keygen", "--private-key-out"])
        .arg(dir.path().join("ok.pem"))
        .arg("--public-key-out")
        .arg(&other));
    assert_eq!(code, 0);
    let (code, out, _) = run(cfcookie()
        .args(["verify", "--public-key"])
        .arg(&other)
        .args([
            "--url",
            url.trim(),
            "--now",
            "1799999999",
            "--client-ip",
            "192.0.2.50",
        ]));
    assert_eq!(code, 1);
    assert!(out.contains("bad_signature"), "{out}");
    // keygen refuses to overwrite.
    let (code, _, err) = run(cfcookie()
        .args(["keygen", "--private-key-out"])
        .arg(&key)
        .arg("--public-key-out")
        .arg(&public));
    assert_eq!(code, 2);
    assert!(err.contains("--force"));
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        "sign",
        "sign-cookies",
        "verify",
        "keygen",
        "rotate",
        "status",
        "serve",
    ] {
        let (code, out, _) = run(cfcookie().args([cmd, "--help"]));
        assert_eq!(code, 0);
        assert!(out.contains("Example"), "{cmd} --help lacks an example");
    }
}

/// The README's signing example, run as written, gives cookies that openssl and
/// `cfcookie verify` accept.
#[test]
fn readme_signing_example_works() {
    require("openssl", &["version"]);
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let start = readme
        .find("<!-- signing-example -->")
        .expect("README marks its signing example");
    let block = &readme[start..];
    let body = &block[block.find("```sh\n").expect("sh block") + 6..];
    let script = &body[..body.find("```").expect("end of block")];
    let dir = tempfile::tempdir().expect("tmp");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cfcookie"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, out, err) = run(Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir.path())
        .env("PATH", path));
    assert_eq!(
        code, 0,
        "README example failed:\n{script}\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("Verified OK"), "openssl did not verify: {out}");
    assert!(
        out.contains("\"allowed\":true"),
        "cfcookie verify did not allow: {out}"
    );
}

/// The README's run command starts the embedded default, `serve --dev` (which the browser test
/// drives end to end).
#[test]
fn readme_run_command_is_serve_dev() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let start = readme
        .find("<!-- run-command -->")
        .expect("README marks its run command");
    let block = &readme[start..];
    let body = &block[block.find("```sh\n").expect("sh block") + 6..];
    let command = body[..body.find("```").expect("end")].trim();
    assert!(
        command.starts_with("cargo run") && command.ends_with("-- serve --dev"),
        "{command}"
    );
    let (code, out, _) = run(cfcookie().args(["serve", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("--dev"), "{out}");
}

/// Every subcommand parses (clap checks its argument graph on first use) and a missing
/// secret id is a one-line error, not a panic.
#[test]
fn rotation_commands_refuse_a_missing_secret_id_cleanly() {
    for cmd in ["rotate", "status"] {
        let (code, out, err) = run(cfcookie()
            .arg(cmd)
            .env_remove("CFCOOKIE_SECRET_ID")
            .env("CFCOOKIE_KEY_GROUP_ID", "g")
            .env("CFCOOKIE_KEY_ID_PARAMETER", "/p"));
        assert_eq!(code, 2, "{cmd}: {out} {err}");
        assert!(
            err.starts_with("error: ") && err.contains("--secret-id") && !err.contains("panicked"),
            "{cmd}: {err}"
        );
    }
}
