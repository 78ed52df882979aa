//! The plain HTTP server host (`cfcookie serve`): the endpoint's routes on axum over hyper,
//! with a header timeout, connection limits (in total and per client address), a bounded
//! request-head buffer, graceful shutdown and the peer address for `--dev`.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The most a request head (request line and headers) may take. A token is at most 16 KiB
/// (longer ones are refused unparsed); this leaves as much again for the other headers. A
/// longer head is answered 431 by hyper and the connection closed; hyper's own default is
/// about 400 KiB per connection.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// File descriptors kept back from the connection limit for the listener, the metrics
/// listener, the AWS SDK's and JWKS connections, logs and the like.
const RESERVED_FDS: usize = 32;

/// What one server holds open at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// `CFCOOKIE_HEADER_TIMEOUT`: see [`run_with`].
    pub header_timeout: Duration,
    /// `CFCOOKIE_MAX_CONNECTIONS`: open connections in all.
    pub max_connections: usize,
    /// `CFCOOKIE_MAX_CONNECTIONS_PER_IP`: open connections from one client address.
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    /// The settings' defaults (`cfcookie_config`'s table is where they are written).
    fn default() -> Self {
        Limits::from_settings(&cfcookie_config::Env::from_pairs(std::iter::empty()))
            .expect("the settings' defaults are within their bounds")
    }
}

impl Limits {
    /// `CFCOOKIE_HEADER_TIMEOUT`, `CFCOOKIE_MAX_CONNECTIONS` and
    /// `CFCOOKIE_MAX_CONNECTIONS_PER_IP` from `env`.
    pub fn from_settings(env: &cfcookie_config::Env) -> Result<Self, cfcookie_config::ConfigError> {
        let count = |setting| {
            env.number(setting)
                .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        };
        Ok(Limits {
            header_timeout: Duration::from_secs(env.number(&cfcookie_config::HEADER_TIMEOUT)?),
            max_connections: count(&cfcookie_config::MAX_CONNECTIONS)?,
            max_connections_per_ip: count(&cfcookie_config::MAX_CONNECTIONS_PER_IP)?,
        })
    }

    /// These limits with the total connections lowered to fit `fd_limit` open files (less a
    /// reserve), and the per-address limit to the total: a server that runs out of file
    /// descriptors cannot even accept a connection to close it, and then every client waits.
    pub fn fitted_to(self, fd_limit: Option<u64>) -> Self {
        let fit = fd_limit.map_or(usize::MAX, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_sub(RESERVED_FDS)
                .max(1)
        });
        let max_connections = self.max_connections.min(fit);
        Limits {
            max_connections,
            max_connections_per_ip: self.max_connections_per_ip.min(max_connections),
            ..self
        }
    }
}

/// The soft limit on open files of this process (`Max open files` in `/proc/self/limits`);
/// `None` where that cannot be read or is unlimited.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Counts open connections, in all and per client address, and admits a new one only under
/// both limits.
#[derive(Debug)]
struct Admission {
    limits: Limits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// An admitted connection; dropping it (when the connection ends) frees its place.
#[derive(Debug)]
struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for a connection from `ip`, or why there is none.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, &'static str> {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d: one client, one key.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.limits.max_connections {
            return Err("CFCOOKIE_MAX_CONNECTIONS");
        }
        let from_ip = open.1.entry(ip).or_insert(0);
        if *from_ip >= self.limits.max_connections_per_ip {
            return Err("CFCOOKIE_MAX_CONNECTIONS_PER_IP");
        }
        *from_ip += 1;
        open.0 += 1;
        Ok(Admitted {
            admission: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// A warning logged at most once per `every`, with the number of occurrences it stood for
/// since the previous line: a condition that repeats in a tight loop (no file descriptors left,
/// a flood over a connection limit) must not flood the log as well.
#[derive(Debug)]
pub struct RateLimitedWarning {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedWarning {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        RateLimitedWarning {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// One occurrence at `now`: `Some(n)` when a line is due, `n` being the occurrences left
    /// unlogged since the last one; `None` when this one is counted and not logged.
    pub fn occurred(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains open requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, app, shutdown, Limits::default().header_timeout).await
}

/// As [`run`], closing any connection that has not sent a whole request head within
/// `header_timeout` of opening or of its previous response (slowloris: without it, a client
/// holds a socket and a task for ever with a few bytes). The peer address reaches handlers as
/// axum's `ConnectInfo<SocketAddr>`. The connection limits are the defaults.
pub async fn run_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    run_with_limits(
        listener,
        app,
        shutdown,
        Limits {
            header_timeout,
            ..Limits::default()
        },
    )
    .await
}

/// As [`run_with`], with all of [`Limits`].
pub async fn run_with_limits(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    accept_until(&listener, shutdown, limits, |tcp, peer, admitted| {
        serve_connection(
            tcp,
            peer,
            &app,
            &graceful,
            limits.header_timeout,
            admitted,
            None,
        );
    })
    .await;
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Accepts connections and hands each one admitted under `limits` to `take` until `shutdown`
/// completes. A connection over a limit is closed at once, before any byte is read: no
/// response is written (a 503 would be a write to a client that may never read it, holding
/// the socket the limit is there to free).
async fn accept_until(
    listener: &tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
    mut take: impl FnMut(tokio::net::TcpStream, std::net::SocketAddr, Admitted),
) {
    let admission = Admission::new(limits);
    let mut accept_failed = RateLimitedWarning::new(Duration::from_secs(1));
    let mut over_limit = RateLimitedWarning::new(Duration::from_secs(1));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if let Some(suppressed) = accept_failed.occurred(Instant::now()) {
                        tracing::warn!(error = %e, suppressed, "accept failed (at most one line a second; suppressed counts the failures since the last)");
                    }
                    // Out of file descriptors and the like: wait rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let admitted = match admission.admit(peer.ip()) {
            Ok(a) => a,
            Err(limit) => {
                drop(tcp);
                if let Some(suppressed) = over_limit.occurred(Instant::now()) {
                    tracing::warn!(limit, peer = %peer.ip(), suppressed, "connection over a limit closed (at most one line a second; suppressed counts the closes since the last)");
                }
                continue;
            }
        };
        // Responses are small and leave in more than one segment: without TCP_NODELAY, Nagle's
        // algorithm and the client's delayed ACK leave both ends waiting between them.
        let _ = tcp.set_nodelay(true);
        take(tcp, peer, admitted);
    }
}

/// About the size of a request's head as it was sent: request line and header lines.
fn head_bytes<B>(request: &http::Request<B>) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |p| p.as_str().len());
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    target + 16 + headers
}

/// 431 for a head over [`MAX_HEAD_BYTES`]. hyper's `max_buf_size` answers the same for a head
/// still incomplete at that size, but a whole head that arrived in one read is parsed at any
/// size: this is the check for those.
fn head_too_large() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        [(http::header::CONNECTION, "close")],
        "request head over 32 KiB\n",
    )
        .into_response()
}

/// Serves one connection on the current runtime, watched by `graceful`; `open` counts the
/// connections a worker holds.
fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    app: &Router,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    header_timeout: Duration,
    admitted: Admitted,
    open: Option<Arc<AtomicUsize>>,
) {
    use tower::ServiceExt as _;
    let app = app.clone();
    let service =
        hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                if head_bytes(&request) > MAX_HEAD_BYTES {
                    return Ok(head_too_large());
                }
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                app.oneshot(request.map(axum::body::Body::new)).await
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let connection =
        graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(tcp), service));
    tokio::spawn(async move {
        let _ = connection.await;
        drop(admitted);
        if let Some(open) = open {
            open.fetch_sub(1, Ordering::Relaxed);
        }
    });
}

/// A connection on its way to a server thread, with its place under the limits.
type Handed = (std::net::TcpStream, std::net::SocketAddr, Admitted);

/// One server thread: its own single-threaded runtime, serving the connections it is handed.
struct Worker {
    connections: tokio::sync::mpsc::UnboundedSender<Handed>,
    open: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Worker {
    fn start(i: usize, app: Router, header_timeout: Duration) -> std::io::Result<Worker> {
        let (connections, mut handed) = tokio::sync::mpsc::unbounded_channel::<Handed>();
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
                    while let Some((tcp, peer, admitted)) = handed.recv().await {
                        match tokio::net::TcpStream::from_std(tcp) {
                            Ok(tcp) => serve_connection(
                                tcp,
                                peer,
                                &app,
                                &graceful,
                                header_timeout,
                                admitted,
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

/// As [`run_with_limits`], with `threads` server threads, each running a single-threaded runtime of
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
    limits: Limits,
    threads: usize,
) -> std::io::Result<()> {
    let workers = (0..threads.max(1))
        .map(|i| Worker::start(i, app.clone(), limits.header_timeout))
        .collect::<std::io::Result<Vec<_>>>()?;
    accept_until(&listener, shutdown, limits, |tcp, peer, admitted| {
        let Some(worker) = workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
        else {
            return;
        };
        match tcp.into_std() {
            Ok(tcp) => {
                worker.open.fetch_add(1, Ordering::Relaxed);
                if worker.connections.send((tcp, peer, admitted)).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_in_total_and_per_address_and_frees_on_drop() {
        let admission = Admission::new(Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(mapped).unwrap();
        assert_eq!(
            admission.admit(a).unwrap_err(),
            "CFCOOKIE_MAX_CONNECTIONS_PER_IP"
        );
        let _third = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).unwrap_err(), "CFCOOKIE_MAX_CONNECTIONS");
        drop(first);
        assert!(admission.admit(a).is_ok());
    }

    #[test]
    fn limits_fit_the_open_file_limit() {
        let l = Limits::default().fitted_to(Some(64));
        assert_eq!((l.max_connections, l.max_connections_per_ip), (32, 32));
        let l = Limits::default().fitted_to(Some(1024));
        assert_eq!(l, Limits::default());
        assert_eq!(Limits::default().fitted_to(None), Limits::default());
        assert_eq!(Limits::default().fitted_to(Some(3)).max_connections, 1);
    }

    #[test]
    fn a_repeated_warning_is_logged_once_a_second_with_a_count() {
        let mut w = RateLimitedWarning::new(Duration::from_secs(1));
        let t = Instant::now();
        assert_eq!(w.occurred(t), Some(0));
        for i in 1..20 {
            assert_eq!(w.occurred(t + Duration::from_millis(50 * i)), None);
        }
        assert_eq!(w.occurred(t + Duration::from_millis(1000)), Some(19));
        assert_eq!(w.occurred(t + Duration::from_millis(1001)), None);
    }
}
