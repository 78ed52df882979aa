//! What the dev page shows and does: the key ring as a timeline, "rotate now", and the
//! cookies this browser sends with the decision CloudFront would make.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cfcookie_endpoint::{KeySource as _, SecretReader as _};
use cfcookie_secret::{Clock as _, SecretValue, SystemClock};

use super::DevState;

fn key_json(v: &SecretValue, now: i64) -> serde_json::Value {
    serde_json::json!({
        "key_id": v.key_id,
        "created_at": v.created_at.to_rfc3339(),
        "active_from": v.active_from.to_rfc3339(),
        "active": v.active_from.timestamp() <= now,
    })
}

/// The key ring as a timeline: which key signs now, when the newest becomes active, and the
/// earliest the previous one may leave the key group.
pub(super) async fn key_ring(State(s): State<Arc<DevState>>) -> Response {
    let now = SystemClock.epoch();
    let (current, previous) = match s.ring.read().await {
        Ok(pair) => pair,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let signing = s.keys.signer(now).ok().map(|k| k.key_pair_id().to_owned());
    let leaves = current.as_ref().map(|c| {
        (c.active_from + chrono::Duration::seconds(s.predecessor_needed_for)).to_rfc3339()
    });
    axum::Json(serde_json::json!({
        "now": chrono::DateTime::from_timestamp(now, 0).map(|t| t.to_rfc3339()),
        "signing": signing,
        "current": current.as_ref().map(|v| key_json(v, now)),
        "previous": previous.as_ref().map(|v| key_json(v, now)),
        "previous_may_leave_at": leaves,
        "activation_delay": s.activation_delay,
    }))
    .into_response()
}

/// "Rotate now": the rotation `cfcookie rotate --dev` runs (same ring, same activation delay).
pub(super) async fn rotate_now(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = super::local_page_only(&s, peer, &headers) {
        return refused;
    }
    let value = match s.ring.rotate(s.activation_delay) {
        Ok(v) => v,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    if let Err(e) = s.keys.refresh().await {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    axum::Json(key_json(&value, SystemClock.epoch())).into_response()
}

/// What CloudFront would see: the cookies this browser sends (HttpOnly, so the page cannot
/// read them itself), the decoded policy, and the decision for the protected photo.
pub(super) async fn cookies_seen(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let cookie = headers.get(header::COOKIE).and_then(|c| c.to_str().ok());
    let find = |name: &str| {
        cookie.and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
    };
    let policy = find("CloudFront-Policy")
        .and_then(|p| cfcookie_signer::base64_decode(&p))
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let url = format!("http://{}/private/photo.svg", super::host(&headers));
    let decision = match super::edge_decision(&s, peer, &headers, "/private/photo.svg", None) {
        Ok(_) => serde_json::json!({"allowed": true}),
        Err(refusal) => serde_json::json!({"allowed": false, "reason": refusal.code()}),
    };
    axum::Json(serde_json::json!({
        "policy": policy,
        "key_pair_id": find("CloudFront-Key-Pair-Id"),
        "hash_algorithm": find("CloudFront-Hash-Algorithm").unwrap_or_else(|| "SHA1".into()),
        "url": url,
        "decision": decision,
    }))
    .into_response()
}
