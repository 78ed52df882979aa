//! The Lambda host's adaptation (the `cfcookie-endpoint` binary): Function URL, API Gateway
//! v1/v2 and ALB events, through `lambda_http`, to the endpoint and back.

use cfcookie_endpoint::{Endpoint, KeySource, TokenVerifier};

/// The Lambda host's adaptation: a `lambda_http` request (Function URL, API Gateway v1/v2,
/// ALB) to the endpoint and back. The path is the raw one: API Gateway REST puts its stage in
/// front of the path lambda_http reports (`/prod/cookie`), which the routes must not see.
pub async fn handle_lambda<V: TokenVerifier, K: KeySource>(
    endpoint: &Endpoint<V, K>,
    request: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::RequestExt as _;
    let path = request.raw_http_path().to_owned();
    let (parts, _) = request.into_parts();
    let response = endpoint.handle(&parts.method, &path, &parts.headers).await;
    let (parts, body) = response.into_parts();
    lambda_http::Response::from_parts(parts, lambda_http::Body::from(body))
}
