//! The plain HTTP server host (`cfcookie serve`): the endpoint's routes on axum over hyper,
//! with a header timeout, graceful shutdown and the peer address for `--dev`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use axum::Router;

use cfcookie_endpoint::{Endpoint, KeySource, TokenVerifier};

async fn endpoint_handler<V: TokenVerifier + 'static, K: KeySource + 'static>(
    State(endpoint): State<Arc<Endpoint<V, K>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    endpoint.handle(&method, uri.path(), &headers).await
}

/// The endpoint's routes, as an axum router (other routes may be merged in, as `--dev` does).
pub fn router<V: TokenVerifier + 'static, K: KeySource + 'static>(
    endpoint: Arc<Endpoint<V, K>>,
) -> Router {
    Router::new()
        .fallback(endpoint_handler::<V, K>)
        .with_state(endpoint)
}

/// Default of `CFCOOKIE_HEADER_TIMEOUT`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then drains open requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, app, shutdown, DEFAULT_HEADER_TIMEOUT).await
}

/// As [`run`], closing any connection that has not sent a whole request head within
/// `header_timeout` of opening or of its previous response (slowloris: without it, a client
/// holds a socket and a task for ever with a few bytes). The peer address reaches handlers as
/// axum's `ConnectInfo<SocketAddr>`.
pub async fn run_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    use tower::ServiceExt as _;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are small and leave in more than one segment: without TCP_NODELAY, Nagle's
        // algorithm and the client's delayed ACK leave both ends waiting between them.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout);
        let connection =
            graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(tcp), service));
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// As [`run_with`], on `threads` threads (the calling one included), each with a runtime of its
/// own that accepts from the shared `listener` and keeps the connections it accepts. A request
/// is then read, verified, signed and answered on one thread: a work-stealing runtime hands
/// tasks between threads and wakes parked ones, which cost about a tenth of the CPU per request
/// under load. Whichever thread is idle takes the next connection. `shutdown` stops them all;
/// each drains its own connections.
pub async fn run_on_threads(
    listener: std::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
    threads: usize,
) -> std::io::Result<()> {
    // Non-blocking mode belongs to the socket, which the clones share.
    listener.set_nonblocking(true)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut others = Vec::new();
    for i in 1..threads.max(1) {
        let listener = listener.try_clone()?;
        let app = app.clone();
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("cfcookie-serve-{i}"))
            .spawn(move || -> std::io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    let stop = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    run_with(listener, app, stop, header_timeout).await
                })
            })?;
        others.push(thread);
    }
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let result = run_with(listener, app, shutdown, header_timeout).await;
    for thread in others {
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(std::io::Error::other)?;
        joined.map_err(|_| std::io::Error::other("a server thread panicked"))??;
    }
    result
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
