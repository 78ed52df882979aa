//! The dev content folder, served under `/private/` only to requests CloudFront would let
//! through (the decision `cfcookie edge` makes).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::DevState;

const SAMPLE_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="480" height="300" viewBox="0 0 480 300">
<rect width="480" height="300" fill="#1d3557"/><circle cx="380" cy="70" r="38" fill="#f1c40f"/>
<path d="M0 300 L140 120 L250 260 L330 170 L480 300 Z" fill="#457b9d"/><path d="M0 300 L90 210 L190 300 Z" fill="#a8dadc"/>
<text x="24" y="44" font-family="sans-serif" font-size="26" fill="#f1faee">private photo</text>
<text x="24" y="72" font-family="sans-serif" font-size="14" fill="#f1faee">served only with valid CloudFront cookies</text></svg>"##;

/// The folder to serve: the one given, or `state/content` holding a sample photo.
pub(super) fn folder(state_dir: &Path, given: Option<&PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = given {
        return Ok(dir.clone());
    }
    let dir = state_dir.join("content");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let photo = dir.join("photo.svg");
    if !photo.exists() {
        std::fs::write(&photo, SAMPLE_SVG).map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

/// Serves a file only when the request carries cookies CloudFront would accept.
pub(super) async fn private(
    State(s): State<Arc<DevState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = super::edge_decision(&s, peer, &headers, uri.path(), uri.query()) {
        let mut r = cfcookie_edge::refusal(
            StatusCode::FORBIDDEN,
            refusal.code(),
            &format!("refused as CloudFront would: {refusal}"),
        )
        .map(axum::body::Body::from)
        .into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        return r;
    }
    let rel = uri.path().trim_start_matches("/private/");
    if rel
        .split('/')
        .any(|part| part.is_empty() || part == ".." || part == "." || part.contains('\\'))
    {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    match tokio::fs::read(s.content.join(rel)).await {
        Ok(bytes) => {
            let kind = match Path::new(rel).extension().and_then(|e| e.to_str()) {
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("html") => "text/html; charset=utf-8",
                Some("txt") => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                bytes,
            )
                .into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
