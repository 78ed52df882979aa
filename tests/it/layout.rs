//! `docs/architecture.md` against the workspace: every crate is in its table with its folder,
//! every library says its layout, and the library a backend takes for `Issuer` compiles none of
//! the crates it must not (read from `cargo tree`, an independent reader of the graph).

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The workspace members, from the root manifest.
fn members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("members = ["))
        .expect("a members line in Cargo.toml");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn package_name(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a package name")
        .to_owned()
}

#[test]
fn every_crate_is_drawn_where_it_lives() {
    let doc = read("docs/architecture.md");
    let mut crates = vec![(package_name(&read("Cargo.toml")), "src/".to_owned())];
    for member in members() {
        let name = package_name(&read(&format!("{member}/Cargo.toml")));
        crates.push((name, format!("{member}/")));
    }
    assert!(crates.len() >= 7, "{crates:?}");
    for (name, folder) in crates {
        let folder = if name == "cfcookie" {
            "root, `src/`".to_owned()
        } else {
            format!("`{folder}`")
        };
        let row = format!("| `{name}` | {folder} |");
        assert!(
            doc.contains(&row),
            "docs/architecture.md has no row {row:?}"
        );
        let dir = folder.trim_matches('`').to_owned();
        let lib = if name == "cfcookie" {
            "src/lib.rs".to_owned()
        } else if Path::new(ROOT).join(format!("{dir}src/lib.rs")).exists() {
            format!("{dir}src/lib.rs")
        } else {
            // A test-only package (the simulation) has no library: its test's root says it.
            format!("{dir}main.rs")
        };
        assert!(
            read(&lib).contains("//! # Layout"),
            "{lib} has no `//! # Layout` section"
        );
    }
}

#[test]
fn the_endpoint_library_pulls_none_of_the_binaries_crates() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-e",
            "normal",
            "-p",
            "cfcookie-endpoint",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        names.contains(&"cfcookie-secret") && names.contains(&"aws-sdk-secretsmanager"),
        "{tree}"
    );
    for banned in [
        "aws-sdk-cloudfront",
        "lambda_runtime",
        "lambda_http",
        "clap",
        "axum",
        "cfcookie-rotator",
        "cfcookie",
    ] {
        assert!(
            !names.contains(&banned),
            "cfcookie-endpoint pulls {banned}:\n{tree}"
        );
    }
}

/// One rule for folders: a folder with a `Cargo.toml` is a crate, and no crate sits inside
/// another package's folder. Library crates live at the top level (as tokio's members do), so
/// `src/` holds only the root package's own modules and the path tells a module from a crate.
#[test]
fn every_library_crate_sits_at_the_top_level() {
    for member in members() {
        // Test-only packages (support, the simulation) are the `tests/` folder's own.
        let top = member.strip_prefix("tests/").unwrap_or(&member);
        assert!(
            !top.contains('/'),
            "workspace member {member:?} is not a top-level folder"
        );
    }
    let src = Path::new(ROOT).join("src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("a src/ entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                assert_ne!(
                    path.file_name().and_then(|n| n.to_str()),
                    Some("Cargo.toml"),
                    "{} is a crate inside src/: move it to the top level",
                    path.display()
                );
            }
        }
    }
}

/// Settings are read once, at the top of each binary, and passed down as values: the process
/// environment is read only by the entry points (and by `Issuer::from_env`, the library's one
/// documented door for backends configured by variables).
#[test]
fn only_entry_points_read_the_process_environment() {
    const ALLOWED: [&str; 4] = [
        "src/main.rs",
        "src/bin/cfcookie-endpoint.rs",
        "rotator/src/main.rs",
        "endpoint/src/issuer.rs",
    ];
    let mut readers = Vec::new();
    // Production crates only: test support reads its own test settings.
    let members = members();
    let production = members.iter().filter(|m| !m.starts_with("tests/"));
    for member in production.map(String::as_str).chain(["."]) {
        let mut stack = vec![Path::new(ROOT).join(member).join("src")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let rel = path
                    .strip_prefix(ROOT)
                    .expect("under the root")
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .to_owned();
                let calls = text.matches("Env::from_process()").count()
                    + text.matches("std::env::var(\"CFCOOKIE").count();
                if calls > 0 && !ALLOWED.contains(&rel.as_str()) {
                    readers.push(rel);
                }
            }
        }
    }
    readers.sort();
    readers.dedup();
    assert!(
        readers.is_empty(),
        "the process environment is read outside the entry points: {readers:?}"
    );
}

/// The endpoint's Lambda links no rotator code: its log set-up and metrics exporter come from
/// `cfcookie-telemetry`, which both Lambdas share. Read from the built binary's symbols (`nm`),
/// an independent reader of what was linked.
#[test]
fn the_endpoint_lambda_links_no_rotator_code() {
    let out = Command::new("nm")
        .args(["--demangle", env!("CARGO_BIN_EXE_cfcookie-endpoint")])
        .output()
        .expect("nm (binutils) is needed to read the endpoint binary's symbols");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(
        symbols.contains("cfcookie_endpoint::") && symbols.contains("cfcookie_telemetry::"),
        "nm read no cfcookie symbols: the check would pass on anything"
    );
    let rotator: Vec<&str> = symbols
        .lines()
        .filter(|l| l.contains("cfcookie_rotator::"))
        .take(5)
        .collect();
    assert!(
        rotator.is_empty(),
        "cfcookie-endpoint links the rotator: {rotator:?}"
    );
}
