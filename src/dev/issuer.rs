//! The dev token issuer: one RSA key in the state directory, its JWKS, and a sign-in that
//! mints access tokens shaped like Cognito's, for callers on this machine only.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cfcookie_secret::{Clock as _, SystemClock};
use cfcookie_signer::{KeyAlgorithm, PrivateKey};
use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;

use super::DevState;

/// The dev app client id tokens carry.
pub const DEV_CLIENT_ID: &str = "cfcookie-dev-client";
const ISSUER_KID: &str = "cfcookie-dev-1";

/// The dev token issuer's minter: one RSA key, kept in the state directory, that mints
/// Cognito-shaped tokens.
pub(super) struct TokenMinter {
    iss: String,
    key: EncodingKey,
    jwks: String,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenMinter {
    pub(super) fn load(state: &Path, issuer: String) -> Result<TokenMinter, String> {
        let path = state.join("issuer-key.pem");
        let key = match std::fs::read_to_string(&path) {
            Ok(pem) => PrivateKey::from_pem(&pem, None).map_err(|e| e.to_string())?,
            Err(_) => {
                let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).map_err(|e| e.to_string())?;
                let pem = key.to_pkcs8_pem().map_err(|e| e.to_string())?;
                crate::files::write_private(&path, pem.as_bytes()).map_err(|e| e.to_string())?;
                key
            }
        };
        let rsa = aws_lc_rs::rsa::PublicKey::from_der(key.public_key().spki_der())
            .map_err(|e| format!("issuer key: {e:?}"))?;
        let jwk = serde_json::json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": ISSUER_KID,
            "n": b64url(rsa.modulus().big_endian_without_leading_zero()), "e": b64url(rsa.exponent().big_endian_without_leading_zero())});
        let pem = key.to_pkcs8_pem().map_err(|e| e.to_string())?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        Ok(TokenMinter {
            iss: issuer,
            key: encoding,
            jwks: serde_json::json!({"keys": [jwk]}).to_string(),
        })
    }

    /// An access token shaped like Cognito's.
    fn mint(&self, username: &str, groups: &[String], lifetime: i64) -> Result<String, String> {
        let now = SystemClock.epoch();
        let sub = {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, username.as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&d.as_ref()[..16]);
            cfcookie_secret::uuid_text(&first)
        };
        let claims = serde_json::json!({
            "sub": sub, "iss": self.iss, "client_id": DEV_CLIENT_ID, "origin_jti": format!("{:x}", rand::random::<u64>()),
            "event_id": format!("{:x}", rand::random::<u64>()), "token_use": "access", "scope": "openid profile",
            "auth_time": now, "exp": now + lifetime, "iat": now, "jti": format!("{:x}", rand::random::<u64>()),
            "username": username, "cognito:groups": groups,
        });
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(ISSUER_KID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

pub(super) async fn jwks(State(s): State<Arc<DevState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.minter.jwks.clone(),
    )
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    username: String,
    #[serde(default)]
    groups: String,
}

/// Mints a token. Anyone who reaches this gets a token, so: only callers on this machine, not
/// another site's page in the user's browser (a form posted from elsewhere carries its Origin),
/// and only the dev groups (a token with `admin` would pass any group check).
pub(super) async fn token(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if let Some(refused) = super::local_page_only(&s, peer, &headers) {
        return refused;
    }
    let username = form.username.trim();
    if username.is_empty() || username.len() > 128 {
        return (StatusCode::BAD_REQUEST, "username: 1 to 128 characters").into_response();
    }
    let groups: Vec<String> = form
        .groups
        .split(',')
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .collect();
    if let Some(g) = groups.iter().find(|g| !s.groups.contains(g)) {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "group {g:?} is not a dev group (CFCOOKIE_DEV_GROUPS: {})\n",
                s.groups.join(", ")
            ),
        )
            .into_response();
    }
    match s.minter.mint(username, &groups, s.token_lifetime) {
        Ok(t) => axum::Json(serde_json::json!({"access_token": t, "token_type": "Bearer", "expires_in": s.token_lifetime})).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}
