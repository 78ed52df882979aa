//! The one reader of cfcookie's `CFCOOKIE_*` settings, shared by the rotator, the endpoint,
//! `cfcookie serve` (and `--dev`), the CLI and the endpoint library's `Issuer`.
//!
//! Every setting is declared once in the `settings!` macro below: its variable, the components that
//! read it, its type, default, bounds and meaning. The typed getters of [`Env`] apply the same
//! rules everywhere:
//!
//! - **text**: trimmed; empty is the same as unset;
//! - **list**: comma-separated, each item trimmed, empty items dropped;
//! - **boolean**: `true`/`false`, `1`/`0`, `yes`/`no`, any case; anything else is an error
//!   (never silently off);
//! - **seconds** and **integer**: a whole number within the declared bounds, or an error;
//! - **choice**: one of the declared values, any case, returned as declared.
//!
//! A bad value is a [`ConfigError`] naming the variable and the problem. A `CFCOOKIE_*`
//! variable that is not declared is reported by [`Env::unknown`] (components warn at start-up:
//! it is usually a typo).
//!
//! # Layout
//! One module: the [`Setting`] declarations (made by the `settings!` macro, one constant per
//! setting, and [`ALL`]), the reader [`Env`] with its typed getters, [`ConfigError`], and
//! [`markdown_table`] for the README. It depends on nothing of cfcookie's.
//!
//! # Adding a setting
//! Add one line to the `settings!` block (name, variable, components, kind, default, meaning),
//! read it with the getter of its kind (`env.seconds(&config::MY_SETTING)?`), and paste the new
//! row of [`markdown_table`] into the README (a test compares the two).
//!
//! ```
//! use cfcookie_config::{Env, COOKIE_LIFETIME, BIND_VIEWER_IP};
//! let env = Env::from_pairs([("CFCOOKIE_BIND_VIEWER_IP", "Yes")]);
//! assert!(env.bool(&BIND_VIEWER_IP)?);
//! assert_eq!(env.seconds(&COOKIE_LIFETIME)?, 3600);
//! let bad = Env::from_pairs([("CFCOOKIE_COOKIE_LIFETIME", "9223372036854775807")]);
//! assert_eq!(bad.seconds(&COOKIE_LIFETIME).unwrap_err().variable, "CFCOOKIE_COOKIE_LIFETIME");
//! # Ok::<(), cfcookie_config::ConfigError>(())
//! ```

use std::collections::HashMap;
use std::fmt;

/// A setting's value is missing, malformed or out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable, e.g. `CFCOOKIE_COOKIE_LIFETIME`.
    pub variable: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// An error about `setting`.
    pub fn new(setting: &Setting, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            variable: setting.variable.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A part of cfcookie that reads settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Component {
    /// The rotation Lambda (and `cfcookie rotate`, which runs the same steps).
    Rotator,
    /// The cookie endpoint, as a Lambda or `cfcookie serve`.
    Endpoint,
    /// `cfcookie serve` only (the HTTP server around the endpoint).
    Serve,
    /// `cfcookie serve --dev` and `cfcookie rotate --dev`.
    Dev,
    /// The `cfcookie` command line.
    Cli,
    /// The endpoint library's `cfcookie_endpoint::Issuer`, for backends that issue cookies.
    Issuer,
    /// The test suite and its scripts.
    Tests,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Rotator => "rotator",
            Component::Endpoint => "endpoint",
            Component::Serve => "serve",
            Component::Dev => "dev",
            Component::Cli => "CLI",
            Component::Issuer => "Issuer",
            Component::Tests => "tests",
        })
    }
}

/// The type of a setting, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Free text.
    Text,
    /// Comma-separated list.
    List,
    /// `true`/`false`, `1`/`0`, `yes`/`no`.
    Bool,
    /// Whole seconds, `min..=max`.
    Seconds {
        /// Smallest value allowed.
        min: u64,
        /// Largest value allowed.
        max: u64,
    },
    /// A whole number, `min..=max`.
    Integer {
        /// Smallest value allowed.
        min: u64,
        /// Largest value allowed.
        max: u64,
    },
    /// One of these values (any case).
    Choice(&'static [&'static str]),
}

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultValue {
    /// Unset means "not used".
    None,
    /// The component refuses to start without it.
    Required,
    /// This value, read by the same rules as a set one.
    Value(&'static str),
    /// Computed from other settings (the text says how).
    Derived(&'static str),
}

/// One declared setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub variable: &'static str,
    /// Who reads it.
    pub components: &'static [Component],
    /// Its type and bounds.
    pub kind: Kind,
    /// Its default.
    pub default: DefaultValue,
    /// What it means (Markdown).
    pub meaning: &'static str,
}

macro_rules! settings {
    ($($name:ident: $var:literal, [$($c:ident),+], $kind:expr, $default:expr, $meaning:literal;)+) => {
        $(
            #[doc = concat!("`", $var, "`: ", $meaning)]
            pub const $name: Setting = Setting {
                variable: $var,
                components: &[$(Component::$c),+],
                kind: $kind,
                default: $default,
                meaning: $meaning,
            };
        )+
        /// Every setting, in README order.
        pub const ALL: &[Setting] = &[$($name),+];
    };
}

use DefaultValue::{Derived, Required, Value};
use Kind::{Bool, Choice, Integer, List, Seconds, Text};

/// One week: an upper bound for lifetimes and caches that catches unit mistakes (ms for s).
const WEEK: u64 = 7 * 24 * 3600;

settings! {
    SECRET_ID: "CFCOOKIE_SECRET_ID", [Endpoint, Cli, Issuer], Text, DefaultValue::None, "the Secrets Manager secret holding the key (the rotator Lambda gets it from its event)";
    KEY_GROUP_ID: "CFCOOKIE_KEY_GROUP_ID", [Rotator, Cli], Text, Required, "the trusted key group to maintain";
    KEY_ID_PARAMETER: "CFCOOKIE_KEY_ID_PARAMETER", [Rotator, Cli], List, Required, "SSM parameter(s) that receive the active key id (created if missing); the first also dates when it became current, which the retirement gate counts from";
    KEY_NAME_PREFIX: "CFCOOKIE_KEY_NAME_PREFIX", [Rotator, Cli], Text, Value("cfcookie"), "managed public keys are named `PREFIX-…` (1-64 letters, digits, `-`, `_`); others are never deleted";
    ACTIVATION_DELAY: "CFCOOKIE_ACTIVATION_DELAY", [Rotator, Cli, Dev], Seconds { min: 0, max: 86_400 }, Value("300"), "time after creation before a new key signs (edges must see the new group); `rotate --dev` too";
    COOKIE_LIFETIME: "CFCOOKIE_COOKIE_LIFETIME", [Rotator, Endpoint], Seconds { min: 1, max: WEEK }, Value("3600"), "maximum cookie lifetime";
    KEY_CACHE_TTL: "CFCOOKIE_KEY_CACHE_TTL", [Rotator, Endpoint, Issuer], Seconds { min: 1, max: 86_400 }, Value("300"), "how long signers cache the secret; with the two above, bounds the shortest safe rotation interval";
    KEY_ALGORITHM: "CFCOOKIE_KEY_ALGORITHM", [Rotator, Cli], Choice(&["RSA_2048", "ECDSA_P256"]), Value("RSA_2048"), "the algorithm of the keys the next rotation makes; a switch takes effect at the next rotation (see [docs/ecdsa.md](docs/ecdsa.md))";
    BOOTSTRAP_KEY_NAME: "CFCOOKIE_BOOTSTRAP_KEY_NAME", [Rotator, Cli], Text, DefaultValue::None, "exact name of infra's bootstrap public key (no private half exists); deleted once it is in no key group (docs/decisions/0002)";
    CANARY_URL: "CFCOOKIE_CANARY_URL", [Rotator], Text, DefaultValue::None, "URL behind the distribution that testSecret fetches with cookies signed by the new key, retried with backoff until not 403";
    CANARY_ATTEMPTS: "CFCOOKIE_CANARY_ATTEMPTS", [Rotator], Integer { min: 1, max: 20 }, Value("6"), "canary tries, with doubling waits between them";
    CANARY_BACKOFF_MS: "CFCOOKIE_CANARY_BACKOFF_MS", [Rotator], Integer { min: 0, max: 60_000 }, Value("2000"), "the first wait in milliseconds (2 s, 4 s, 8 s …)";
    KEY_PASSPHRASE: "CFCOOKIE_KEY_PASSPHRASE", [Cli, Endpoint], Text, DefaultValue::None, "passphrase of an encrypted private key (`sign`, `CFCOOKIE_KEY_FILE`)";
    USER_POOL_ID: "CFCOOKIE_USER_POOL_ID", [Endpoint], Text, DefaultValue::None, "Cognito pool; the issuer is `https://cognito-idp.{region}.amazonaws.com/{pool}` (region from the pool id or `AWS_REGION`); this or `CFCOOKIE_ISSUER` is required";
    ISSUER: "CFCOOKIE_ISSUER", [Endpoint], Text, Derived("from the pool"), "override of the issuer (emulator, tests)";
    JWKS_URL: "CFCOOKIE_JWKS_URL", [Endpoint], Text, Derived("issuer + `/.well-known/jwks.json`"), "override of the JWKS URL";
    CLIENT_IDS: "CFCOOKIE_CLIENT_IDS", [Endpoint], List, Required, "app client ids allowed";
    TOKEN_USE: "CFCOOKIE_TOKEN_USE", [Endpoint], Choice(&["access", "id"]), Value("access"), "which Cognito token is accepted";
    TOKEN_LEEWAY: "CFCOOKIE_TOKEN_LEEWAY", [Endpoint], Seconds { min: 0, max: 300 }, Value("5"), "clock skew allowed on `exp`/`nbf`/`iat` (a token past its `exp` still gets no cookies: they would be expired; one issued later than now plus this is refused)";
    REQUIRED_GROUPS: "CFCOOKIE_REQUIRED_GROUPS", [Endpoint], List, DefaultValue::None, "any one suffices (else 403)";
    REQUIRED_SCOPES: "CFCOOKIE_REQUIRED_SCOPES", [Endpoint], List, DefaultValue::None, "all required (else 403)";
    RESOURCE: "CFCOOKIE_RESOURCE", [Endpoint], Text, Value("https://{host}/*"), "resource template: `{host}`, `{sub}`, `{username}`, `{client_id}`; a claim must be one path segment of letters, digits, `-`, `_` (else 403 `unsafe_claim`), or hashed: `{username:sha256}`; a claim placeholder must fill a whole segment (`/` before it, `/` or the end after it) and other placeholders are refused";
    RESOURCE_PARAMETER: "CFCOOKIE_RESOURCE_PARAMETER", [Endpoint], Text, DefaultValue::None, "SSM parameter holding the resource template, read at start-up instead of `CFCOOKIE_RESOURCE` and again with every key refresh (a changed value must pass the start-up checks; infra: the distribution's domain is not known when the function is created)";
    ALLOWED_HOSTS: "CFCOOKIE_ALLOWED_HOSTS", [Endpoint], List, DefaultValue::None, "hosts `{host}` may take, exactly (`host:port` only matches an entry with that port); required when the template uses `{host}`";
    COOKIE_DOMAIN: "CFCOOKIE_COOKIE_DOMAIN", [Endpoint], Text, DefaultValue::None, "`Domain` attribute (unset: host-only cookies)";
    COOKIE_PATH: "CFCOOKIE_COOKIE_PATH", [Endpoint], Text, Value("/"), "`Path` attribute";
    SAME_SITE: "CFCOOKIE_SAME_SITE", [Endpoint], Choice(&["Strict", "Lax", "None"]), Value("Lax"), "`SameSite` attribute";
    ALLOWED_ORIGINS: "CFCOOKIE_ALLOWED_ORIGINS", [Endpoint], List, DefaultValue::None, "CORS allow-list (exact origins); also the origins allowed to sign out, besides the site's own (`scheme://host` of `CFCOOKIE_ALLOWED_HOSTS` and of the resource template), an `http://` one never for an `https` site; `null` is refused";
    TOKEN_HEADER: "CFCOOKIE_TOKEN_HEADER", [Endpoint], Text, DefaultValue::None, "extra header carrying the token (CloudFront OAC overwrites `Authorization`)";
    HASH_ALGORITHM: "CFCOOKIE_HASH_ALGORITHM", [Endpoint], Choice(&["SHA1", "SHA256"]), Value("SHA1"), "signature digest";
    SIGNATURE_CACHE_SECONDS: "CFCOOKIE_SIGNATURE_CACHE_SECONDS", [Endpoint], Seconds { min: 0, max: 3600 }, Value("0"), "reuse signatures of identical policies: cookie expiry is rounded down to this granularity (never past the token's `exp`); 0 is off (see [docs/ecdsa.md](docs/ecdsa.md))";
    SIGNATURE_CACHE_SIZE: "CFCOOKIE_SIGNATURE_CACHE_SIZE", [Endpoint], Integer { min: 1, max: 1_000_000 }, Value("1024"), "most policies the signature cache holds";
    BIND_VIEWER_IP: "CFCOOKIE_BIND_VIEWER_IP", [Endpoint], Bool, Value("false"), "bind cookies to the IPv4 in `CloudFront-Viewer-Address`";
    PATH_PREFIX: "CFCOOKIE_PATH_PREFIX", [Endpoint], Text, DefaultValue::None, "prefix in front of `/cookie` (e.g. an API Gateway base path)";
    KEY_FILE: "CFCOOKIE_KEY_FILE", [Endpoint], Text, DefaultValue::None, "one key from a PEM file instead of `CFCOOKIE_SECRET_ID` (with `CFCOOKIE_KEY_PAIR_ID`)";
    KEY_PAIR_ID: "CFCOOKIE_KEY_PAIR_ID", [Endpoint], Text, DefaultValue::None, "the CloudFront public key id of `CFCOOKIE_KEY_FILE`";
    LISTEN: "CFCOOKIE_LISTEN", [Serve, Dev], Text, Value("127.0.0.1:8080"), "listen address (`--listen`); `--dev` refuses a non-loopback one unless `--dev-allow-remote`";
    METRICS_LISTEN: "CFCOOKIE_METRICS_LISTEN", [Serve], Text, DefaultValue::None, "opt-in listen address for Prometheus text at `/metrics` (`--metrics-listen`), separate from the public listener; see `docs/metrics.md`";
    HEADER_TIMEOUT: "CFCOOKIE_HEADER_TIMEOUT", [Serve, Dev], Seconds { min: 1, max: 300 }, Value("10"), "a connection that has not sent a whole request head this long after opening, or after its last response, is closed (slowloris)";
    MAX_CONNECTIONS: "CFCOOKIE_MAX_CONNECTIONS", [Serve], Integer { min: 1, max: 1_000_000 }, Value("512"), "open connections `serve` holds in all (`--max-connections`); lowered at start-up to the open-file limit less 32; one more is closed at once, unanswered";
    MAX_CONNECTIONS_PER_IP: "CFCOOKIE_MAX_CONNECTIONS_PER_IP", [Serve], Integer { min: 1, max: 1_000_000 }, Value("32"), "open connections `serve` holds from one client address (`--max-connections-per-ip`); one more is closed at once; behind a proxy every client has the proxy's address, so raise it to `CFCOOKIE_MAX_CONNECTIONS`";
    DEV_ALLOW_REMOTE: "CFCOOKIE_DEV_ALLOW_REMOTE", [Dev], Bool, Value("false"), "let `serve --dev` listen beyond loopback (`--dev-allow-remote`); sign-in still answers loopback callers only";
    DEV_GROUPS: "CFCOOKIE_DEV_GROUPS", [Dev], List, Value("subscribers"), "the only groups the dev sign-in grants";
    PYTHON: "CFCOOKIE_PYTHON", [Tests], Text, Value("python3"), "the Python that runs the AWS emulator in tests";
    SIM_SEEDS: "CFCOOKIE_SIM_SEEDS", [Tests], Integer { min: 1, max: 100_000_000 }, Value("3"), "seeds the rotation simulation (`tests/sim`) runs; `scripts/test` runs 1000";
    SIM_DAYS: "CFCOOKIE_SIM_DAYS", [Tests], Integer { min: 1, max: 36_500 }, Value("365"), "simulated days per seed";
    SIM_FIRST_SEED: "CFCOOKIE_SIM_FIRST_SEED", [Tests], Integer { min: 0, max: u64::MAX }, Value("0"), "the first seed of the run";
    SIM_SEED: "CFCOOKIE_SIM_SEED", [Tests], Text, DefaultValue::None, "a seed number: replay that one seed and print its whole timeline";
    SIM_IGNORE: "CFCOOKIE_SIM_IGNORE", [Tests], List, DefaultValue::None, "invariants the simulation does not check (to study old code)";
    TF_PLUGIN_DIR: "CFCOOKIE_TF_PLUGIN_DIR", [Tests], Text, Value("/opt/tf-plugins"), "Terraform provider mirror for the infra checks";
}

/// The settings as they are set: the process environment, or a map (tests, CLI overlays).
#[derive(Clone, PartialEq, Eq)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets (a passphrase): names only.
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("set", &names).finish()
    }
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// A map of variables.
    pub fn from_map(vars: &HashMap<String, String>) -> Env {
        Env { vars: vars.clone() }
    }

    /// Pairs of variables (tests, examples).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// Sets `setting` (a command-line flag overriding its variable).
    pub fn set(&mut self, setting: &Setting, value: impl Into<String>) {
        self.vars.insert(setting.variable.to_owned(), value.into());
    }

    /// A variable that is not cfcookie's (`AWS_REGION`…), trimmed, empty as unset.
    pub fn other(&self, variable: &str) -> Option<String> {
        self.raw(variable)
    }

    fn raw(&self, variable: &str) -> Option<String> {
        self.vars
            .get(variable)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Whether `setting` is set (to something other than blanks).
    pub fn is_set(&self, setting: &Setting) -> bool {
        self.raw(setting.variable).is_some()
    }

    fn value(&self, setting: &Setting) -> Option<String> {
        self.raw(setting.variable).or(match setting.default {
            DefaultValue::Value(v) => Some(v.to_owned()),
            _ => None,
        })
    }

    /// A text setting (its default when unset).
    pub fn text(&self, setting: &Setting) -> Option<String> {
        self.value(setting)
    }

    /// A setting that must be set.
    pub fn required(&self, setting: &Setting) -> Result<String, ConfigError> {
        self.value(setting)
            .ok_or_else(|| ConfigError::new(setting, format!("is required: {}", setting.meaning)))
    }

    /// A list setting (empty when unset).
    pub fn list(&self, setting: &Setting) -> Vec<String> {
        self.value(setting)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean setting.
    pub fn bool(&self, setting: &Setting) -> Result<bool, ConfigError> {
        match self.value(setting) {
            None => Ok(false),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                ConfigError::new(
                    setting,
                    format!("{v:?} is not a boolean: use true/false, 1/0 or yes/no"),
                )
            }),
        }
    }

    /// A whole number within the setting's bounds (seconds or integer kinds).
    pub fn number(&self, setting: &Setting) -> Result<u64, ConfigError> {
        let (min, max) = match setting.kind {
            Kind::Seconds { min, max } | Kind::Integer { min, max } => (min, max),
            _ => (0, u64::MAX),
        };
        let Some(v) = self.value(setting) else {
            return Err(ConfigError::new(setting, "is required"));
        };
        let n: u64 = v
            .parse()
            .map_err(|_| ConfigError::new(setting, format!("{v:?} is not a whole number")))?;
        if n < min || n > max {
            return Err(ConfigError::new(
                setting,
                format!("{n} is outside {min}..={max}"),
            ));
        }
        Ok(n)
    }

    /// Seconds within the setting's bounds, as `i64` (epoch arithmetic).
    pub fn seconds(&self, setting: &Setting) -> Result<i64, ConfigError> {
        let n = self.number(setting)?;
        i64::try_from(n).map_err(|_| ConfigError::new(setting, format!("{n} is too large")))
    }

    /// One of the setting's choices, as declared.
    pub fn choice(&self, setting: &Setting) -> Result<&'static str, ConfigError> {
        let Kind::Choice(options) = setting.kind else {
            return Err(ConfigError::new(setting, "is not a choice setting"));
        };
        let Some(v) = self.value(setting) else {
            return Err(ConfigError::new(setting, "is required"));
        };
        options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(&v))
            .copied()
            .ok_or_else(|| {
                ConfigError::new(
                    setting,
                    format!("{v:?} must be one of {}", options.join(", ")),
                )
            })
    }

    /// `CFCOOKIE_*` variables that are set but declared nowhere, each with the closest
    /// declared name (typos).
    pub fn unknown(&self) -> Vec<(String, Option<&'static str>)> {
        let mut out: Vec<(String, Option<&'static str>)> = self
            .vars
            .keys()
            .filter(|k| k.starts_with("CFCOOKIE_") && !ALL.iter().any(|s| s.variable == *k))
            .map(|k| (k.clone(), closest(k)))
            .collect();
        out.sort();
        out
    }

    /// One warning line per unknown variable, for components to log at start-up.
    pub fn unknown_warnings(&self) -> Vec<String> {
        self.unknown()
            .into_iter()
            .map(|(k, near)| match near {
                Some(n) => {
                    format!("{k} is not a cfcookie setting (did you mean {n}?); it is ignored")
                }
                None => format!("{k} is not a cfcookie setting; it is ignored"),
            })
            .collect()
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The declared variable nearest to `name`, if it is a plausible typo (edit distance ≤ 3).
fn closest(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    ALL.iter()
        .map(|s| (distance(name, s.variable), s.variable))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, v)| v)
}

fn kind_text(kind: Kind) -> String {
    match kind {
        Kind::Text => "text".into(),
        Kind::List => "list (comma-separated)".into(),
        Kind::Bool => "boolean".into(),
        Kind::Seconds { .. } => "seconds".into(),
        Kind::Integer { .. } => "integer".into(),
        Kind::Choice(options) => format!(
            "one of {}",
            options
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn bounds_text(kind: Kind) -> String {
    match kind {
        Kind::Seconds { min, max } | Kind::Integer { min, max } => format!("{min}–{max}"),
        _ => "—".into(),
    }
}

/// The README's configuration table, generated from [`ALL`].
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| variable | component(s) | type | default | bounds | meaning |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for s in ALL {
        let components = s
            .components
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let default = match s.default {
            DefaultValue::None => "none".to_owned(),
            DefaultValue::Required => "required".to_owned(),
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::Derived(how) => how.to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {components} | {} | {default} | {} | {} |\n",
            s.variable,
            kind_text(s.kind),
            bounds_text(s.kind),
            s.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_reads_by_its_own_rules() {
        let env = Env::from_pairs([]);
        for s in ALL {
            match s.kind {
                Kind::Bool => assert!(env.bool(s).is_ok(), "{}", s.variable),
                Kind::Seconds { .. } | Kind::Integer { .. } => {
                    assert!(env.number(s).is_ok(), "{}", s.variable)
                }
                Kind::Choice(_) => assert!(env.choice(s).is_ok(), "{}", s.variable),
                Kind::Text | Kind::List => {}
            }
        }
        let mut names: Vec<&str> = ALL.iter().map(|s| s.variable).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a variable is declared twice");
    }

    #[test]
    fn one_rule_for_booleans_numbers_choices_and_lists() {
        for (v, want) in [
            ("True", true),
            ("YES", true),
            ("1", true),
            ("no", false),
            ("0", false),
            ("False", false),
        ] {
            assert_eq!(
                Env::from_pairs([(BIND_VIEWER_IP.variable, v)]).bool(&BIND_VIEWER_IP),
                Ok(want),
                "{v}"
            );
        }
        for v in ["on", "enabled", "2", "tru"] {
            let e = Env::from_pairs([(BIND_VIEWER_IP.variable, v)])
                .bool(&BIND_VIEWER_IP)
                .unwrap_err();
            assert_eq!(e.variable, "CFCOOKIE_BIND_VIEWER_IP");
        }
        assert_eq!(
            Env::from_pairs([(TOKEN_LEEWAY.variable, "0")]).seconds(&TOKEN_LEEWAY),
            Ok(0)
        );
        for v in ["-1", "301", "5s", "9223372036854775807", "1e3"] {
            assert!(
                Env::from_pairs([(TOKEN_LEEWAY.variable, v)])
                    .seconds(&TOKEN_LEEWAY)
                    .is_err(),
                "{v}"
            );
        }
        assert_eq!(
            Env::from_pairs([(SAME_SITE.variable, "strict")]).choice(&SAME_SITE),
            Ok("Strict")
        );
        assert!(Env::from_pairs([(SAME_SITE.variable, "lux")])
            .choice(&SAME_SITE)
            .is_err());
        assert_eq!(
            Env::from_pairs([(CLIENT_IDS.variable, " a, ,b ,")]).list(&CLIENT_IDS),
            ["a", "b"]
        );
        assert_eq!(
            Env::from_pairs([(COOKIE_PATH.variable, "  ")])
                .text(&COOKIE_PATH)
                .as_deref(),
            Some("/")
        );
        assert!(Env::from_pairs([]).required(&CLIENT_IDS).is_err());
    }

    #[test]
    fn unknown_variables_are_reported_with_the_nearest_name() {
        let env = Env::from_pairs([
            ("CFCOOKIE_COOKIE_LIFETME", "60"),
            ("CFCOOKIE_NONSENSE_ENTIRELY", "1"),
            ("CFCOOKIE_RESOURCE", "x"),
            ("HOME", "/root"),
        ]);
        assert_eq!(
            env.unknown(),
            [
                (
                    "CFCOOKIE_COOKIE_LIFETME".to_owned(),
                    Some("CFCOOKIE_COOKIE_LIFETIME")
                ),
                ("CFCOOKIE_NONSENSE_ENTIRELY".to_owned(), None),
            ]
        );
    }
}
