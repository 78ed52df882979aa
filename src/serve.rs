//! The plain HTTP server host (`cfcookie serve`): the endpoint's routes on axum over hyper,
//! with a header timeout, graceful shutdown and the peer address for `--dev`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    accept_until(&listener, shutdown, |tcp, peer| {
        serve_connection(tcp, peer, &app, &graceful, header_timeout, None);
    })
    .await;
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Accepts connections and hands each to `take` until `shutdown` completes.
async fn accept_until(
    listener: &tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    mut take: impl FnMut(tokio::net::TcpStream, std::net::SocketAddr),
) {
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
            () = &mut shutdown => return,
        };
        // Responses are small and leave in more than one segment: without TCP_NODELAY, Nagle's
        // algorithm and the client's delayed ACK leave both ends waiting between them.
        let _ = tcp.set_nodelay(true);
        take(tcp, peer);
    }
}

/// Serves one connection on the current runtime, watched by `graceful`; `open` counts the
/// connections a worker holds.
fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    app: &Router,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    header_timeout: Duration,
    open: Option<Arc<AtomicUsize>>,
) {
    use tower::ServiceExt as _;
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
        if let Some(open) = open {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    });
}

/// One server thread: its own single-threaded runtime, serving the connections it is handed.
struct Worker {
    connections: tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, std::net::SocketAddr)>,
    open: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Worker {
    fn start(i: usize, app: Router, header_timeout: Duration) -> std::io::Result<Worker> {
        let (connections, mut handed) =
            tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, std::net::SocketAddr)>();
        let open = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&open);
        let thread = std::thread::Builder::new()
            .name(format!("cfcookie-serve-{i}"))
            .spawn(move || -> std::io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
                    // Ends when the acceptor drops its sender: shutdown.
                    while let Some((tcp, peer)) = handed.recv().await {
                        match tokio::net::TcpStream::from_std(tcp) {
                            Ok(tcp) => serve_connection(
                                tcp,
                                peer,
                                &app,
                                &graceful,
                                header_timeout,
                                Some(Arc::clone(&counted)),
                            ),
                            Err(e) => {
                                counted.fetch_sub(1, Ordering::Relaxed);
                                tracing::warn!(error = %e, "cannot take over a connection");
                            }
                        }
                    }
                    graceful.shutdown().await;
                    Ok(())
                })
            })?;
        Ok(Worker {
            connections,
            open,
            thread,
        })
    }
}

/// As [`run_with`], with `threads` server threads, each running a single-threaded runtime of
/// its own: a request is then read, verified, signed and answered on one thread. (Under tokio's
/// work-stealing runtime a request's wake-up, handler and write were handed between threads and
/// parked threads woken, about a tenth of the CPU per request under load.) The calling runtime
/// accepts and hands each connection to the thread holding the fewest open ones: one thread
/// accepting for all would take a burst of new connections by itself and leave the other cores
/// idle. `shutdown` stops them all; each drains its own connections.
pub async fn run_on_threads(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
    threads: usize,
) -> std::io::Result<()> {
    let workers = (0..threads.max(1))
        .map(|i| Worker::start(i, app.clone(), header_timeout))
        .collect::<std::io::Result<Vec<_>>>()?;
    accept_until(&listener, shutdown, |tcp, peer| {
        let Some(worker) = workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
        else {
            return;
        };
        match tcp.into_std() {
            Ok(tcp) => {
                worker.open.fetch_add(1, Ordering::Relaxed);
                if worker.connections.send((tcp, peer)).is_err() {
                    worker.open.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!("a server thread has stopped; connection dropped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot hand over a connection"),
        }
    })
    .await;
    drop(listener);
    let mut result = Ok(());
    for worker in workers {
        drop(worker.connections);
        let thread = worker.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(std::io::Error::other)?;
        let outcome =
            joined.unwrap_or_else(|_| Err(std::io::Error::other("a server thread panicked")));
        if result.is_ok() {
            result = outcome;
        }
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
