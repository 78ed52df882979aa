//! `sign`, `sign-cookies`, `verify` and `keygen`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cfcookie_signer::{
    verify_cookies, verify_signed_url, CookieAttributes, HashAlgorithm, KeyAlgorithm, KeyGroup,
    Policy, PrivateKey, PublicKey, SameSite, Signer, ViewerRequest,
};
use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use super::{CliError, Outcome};
use cfcookie_secret::{Clock as _, SystemClock};

use crate::time::parse_time;

/// Flags shared by `sign` and `sign-cookies`, named as in `aws cloudfront sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// URL to sign. For cookies it may hold `*` wildcards (e.g. https://d111.cloudfront.net/*).
    #[arg(long)]
    pub url: String,
    /// CloudFront public key id (from the trusted key group), e.g. K2JCJMDEHXQW5F.
    #[arg(long)]
    pub key_pair_id: String,
    /// Path of the private key PEM (PKCS#1, PKCS#8, SEC1 or encrypted PKCS#8). A `file://`
    /// prefix, as the AWS CLI takes it, is accepted.
    #[arg(long, value_name = "PEM_PATH")]
    pub private_key: String,
    /// Expiry: epoch seconds or RFC 3339. At most 2038-01-19T03:14:07Z.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub date_less_than: i64,
    /// Start of validity: epoch seconds or RFC 3339. Makes the policy custom.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub date_greater_than: Option<i64>,
    /// Viewer IPv4 address or CIDR block allowed. Makes the policy custom.
    #[arg(long, value_name = "CIDR")]
    pub ip_address: Option<String>,
    /// Resource pattern of the policy when it differs from --url (makes the policy custom).
    #[arg(long, value_name = "R")]
    pub policy_resource: Option<String>,
    /// Digest under the signature. SHA256 adds Hash-Algorithm=SHA256.
    #[arg(long, value_enum, default_value_t = HashArg::Sha1, ignore_case = true)]
    pub hash_algorithm: HashArg,
    /// File holding the passphrase of an encrypted key (or set CFCOOKIE_KEY_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Hash algorithm flag values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HashArg {
    /// SHA-1, CloudFront's default.
    #[value(name = "SHA1")]
    Sha1,
    /// SHA-256.
    #[value(name = "SHA256")]
    Sha256,
}

impl From<HashArg> for HashAlgorithm {
    fn from(h: HashArg) -> HashAlgorithm {
        match h {
            HashArg::Sha1 => HashAlgorithm::Sha1,
            HashArg::Sha256 => HashAlgorithm::Sha256,
        }
    }
}

/// Extra flags of `sign-cookies`.
#[derive(Debug, Args)]
pub struct CookieArgs {
    #[command(flatten)]
    pub sign: SignArgs,
    /// `json`: {cookie name: value}; `set-cookie`: one Set-Cookie header per line.
    #[arg(long, value_enum, default_value_t = CookieFormat::Json)]
    pub format: CookieFormat,
    /// Domain attribute for set-cookie output (default: host-only).
    #[arg(long)]
    pub domain: Option<String>,
    /// Path attribute for set-cookie output.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// SameSite attribute for set-cookie output: Strict, Lax or None.
    #[arg(long, default_value = "Lax", value_parser = str::parse::<SameSite>)]
    pub same_site: SameSite,
}

/// Output format of `sign-cookies`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CookieFormat {
    /// A JSON object of cookie names and values.
    Json,
    /// Set-Cookie header lines.
    SetCookie,
}

/// Flags of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trusted public key: `KEY_ID=PATH`, or a bare PATH trusted for any key id. Repeat for a
    /// key group.
    #[arg(long = "public-key", value_name = "[KEY_ID=]PEM_PATH", required = true)]
    pub public_keys: Vec<String>,
    /// The request URL (a signed URL, or the URL requested with --cookie).
    #[arg(long)]
    pub url: String,
    /// The Cookie header sent with the request: 'CloudFront-Policy=...; CloudFront-Signature=...'.
    /// Without it, --url is checked as a signed URL.
    #[arg(long)]
    pub cookie: Option<String>,
    /// Time of the request (epoch seconds or RFC 3339); default now.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub now: Option<i64>,
    /// Viewer address, for policies with an IpAddress condition.
    #[arg(long)]
    pub client_ip: Option<IpAddr>,
}

/// Flags of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// RSA_2048 (CloudFront's usual) or ECDSA_P256.
    #[arg(long, default_value = "RSA_2048", value_parser = str::parse::<KeyAlgorithm>)]
    pub algorithm: KeyAlgorithm,
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub private_key_out: PathBuf,
    /// Where to write the public key (the PEM to upload to CloudFront).
    #[arg(long, value_name = "FILE")]
    pub public_key_out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

fn read_private_key(
    path: &str,
    passphrase_file: Option<&Path>,
    env: &cfcookie_config::Env,
) -> Result<PrivateKey, CliError> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    let pem = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("cannot read private key {path}: {e}")))?,
    );
    let passphrase: Option<Zeroizing<Vec<u8>>> = match passphrase_file {
        Some(f) => Some(Zeroizing::new(
            std::fs::read(f)
                .map_err(|e| {
                    CliError::input(format!("cannot read passphrase file {}: {e}", f.display()))
                })?
                .trim_ascii_end()
                .to_vec(),
        )),
        None => env
            .text(&cfcookie_config::KEY_PASSPHRASE)
            .map(|p| Zeroizing::new(p.into_bytes())),
    };
    PrivateKey::from_pem(&pem, passphrase.as_deref().map(|p| p.as_slice()))
        .map_err(|e| CliError::input(format!("{path}: {e}")))
}

/// The signer and policy for `args`. A URL's policy covers the URL as a browser will request it
/// (percent-encoded); a cookie resource is taken as given, as botocore and the AWS SDK for
/// JavaScript do, with a warning when it holds what browsers encode (it would never match).
fn build(
    args: &SignArgs,
    for_url: bool,
    env: &cfcookie_config::Env,
) -> Result<(Signer, Policy), CliError> {
    let key = read_private_key(&args.private_key, args.passphrase_file.as_deref(), env)?;
    let signer = Signer::new(args.key_pair_id.clone(), Arc::new(key))
        .map_err(|e| CliError::input(e.to_string()))?
        .with_hash(args.hash_algorithm.into());
    let resource = match &args.policy_resource {
        Some(r) => r.clone(),
        None if for_url => {
            cfcookie_signer::browser_url(&args.url).map_err(|e| CliError::input(e.to_string()))?
        }
        None => args.url.clone(),
    };
    if !for_url && resource.bytes().any(|b| b <= 0x20 || b >= 0x7f) {
        eprintln!("warning: the resource holds spaces or non-ASCII, which browsers percent-encode; CloudFront matches the encoded URL, so write it encoded");
    }
    let mut policy = Policy::new(resource, args.date_less_than);
    if let Some(start) = args.date_greater_than {
        policy = policy.not_before(start);
    }
    if let Some(ip) = &args.ip_address {
        policy = policy.from_ip(
            ip.parse()
                .map_err(|e: cfcookie_signer::PolicyError| CliError::input(e.to_string()))?,
        );
    }
    policy
        .validate()
        .map_err(|e| CliError::input(e.to_string()))?;
    Ok((signer, policy))
}

pub(super) fn sign(args: &SignArgs, env: &cfcookie_config::Env) -> Result<Outcome, CliError> {
    if args.url.contains('*') {
        return Err(CliError::input(
            "a signed URL cannot hold '*'; put the pattern in --policy-resource and a real URL in --url",
        ));
    }
    let (signer, policy) = build(args, true, env)?;
    let url = signer
        .signed_url(&args.url, &policy)
        .map_err(|e| CliError::input(e.to_string()))?;
    Ok(Outcome::print(url))
}

pub(super) fn sign_cookies(
    args: &CookieArgs,
    env: &cfcookie_config::Env,
) -> Result<Outcome, CliError> {
    let (signer, policy) = build(&args.sign, false, env)?;
    let mut cookies = signer
        .cookies(&policy)
        .map_err(|e| CliError::input(e.to_string()))?;
    // A resource differing from --url calls for a custom policy, as in `aws cloudfront sign`.
    if args
        .sign
        .policy_resource
        .as_ref()
        .is_some_and(|r| r != &args.sign.url)
    {
        cookies = signer
            .cookies_as(&policy, cfcookie_signer::PolicyKind::Custom)
            .map_err(|e| CliError::input(e.to_string()))?;
    }
    match args.format {
        CookieFormat::Json => {
            let body: Vec<String> = cookies
                .pairs()
                .iter()
                .map(|(n, v)| format!("{}:{}", json_string(n), json_string(v)))
                .collect();
            Ok(Outcome::print(format!("{{{}}}", body.join(","))))
        }
        CookieFormat::SetCookie => {
            let attrs = CookieAttributes::default()
                .with_path(args.path.clone())
                .with_domain(args.domain.clone())
                .with_same_site(args.same_site)
                .with_expires(policy.date_less_than());
            attrs
                .validate()
                .map_err(|e| CliError::input(e.to_string()))?;
            let lines: Vec<String> = cookies
                .set_cookie_headers(&attrs)
                .into_iter()
                .map(|h| format!("Set-Cookie: {h}"))
                .collect();
            Ok(Outcome::print(lines.join("\n")))
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

pub(super) fn verify(args: &VerifyArgs) -> Result<Outcome, CliError> {
    let mut group = KeyGroup::new();
    for spec in &args.public_keys {
        let (id, path) = match spec.split_once('=') {
            Some((id, path)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                (Some(id), path)
            }
            _ => (None, spec.as_str()),
        };
        let path = path.strip_prefix("file://").unwrap_or(path);
        let pem = std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("cannot read public key {path}: {e}")))?;
        let key = PublicKey::from_pem(&pem).map_err(|e| CliError::input(format!("{path}: {e}")))?;
        match id {
            Some(id) => group.insert(id, key),
            None => group.trust_any_id(key),
        }
    }
    let request = ViewerRequest::new(&args.url, args.now.unwrap_or_else(|| SystemClock.epoch()))
        .with_cookie_header(args.cookie.as_deref())
        .with_client_ip(args.client_ip);
    let verdict = if args.cookie.is_some() {
        verify_cookies(&group, &request)
    } else {
        verify_signed_url(&group, &request)
    };
    let body = match &verdict {
        Ok(grant) => serde_json::json!({
            "allowed": true,
            "reason": null,
            "key_pair_id": grant.key_pair_id(),
            "policy": grant.policy().to_json(),
            "hash_algorithm": grant.hash().as_str(),
        }),
        Err(refusal) => serde_json::json!({
            "allowed": false,
            "reason": refusal.code(),
            "message": refusal.to_string(),
        }),
    };
    Ok(Outcome {
        stdout: body.to_string(),
        code: if verdict.is_ok() { 0 } else { 1 },
    })
}

pub(super) fn keygen(args: &KeygenArgs) -> Result<Outcome, CliError> {
    for path in [&args.private_key_out, &args.public_key_out] {
        if path.exists() && !args.force {
            return Err(CliError::input(format!(
                "{} exists; pass --force to overwrite it",
                path.display()
            )));
        }
    }
    let key = PrivateKey::generate(args.algorithm).map_err(|e| CliError::input(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| CliError::input(e.to_string()))?;
    crate::files::write_private(&args.private_key_out, pem.as_bytes()).map_err(CliError::input)?;
    std::fs::write(&args.public_key_out, key.public_key().to_pem()).map_err(|e| {
        CliError::input(format!(
            "cannot write {}: {e}",
            args.public_key_out.display()
        ))
    })?;
    Ok(Outcome::print(format!(
        "wrote {} private key to {} and public key to {}",
        args.algorithm,
        args.private_key_out.display(),
        args.public_key_out.display()
    )))
}
