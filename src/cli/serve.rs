//! `cfcookie serve`: the endpoint as a plain HTTP server, or `--dev` with everything local.

use std::time::Duration;

use cfcookie_config::{self as config, Env};
use clap::Args;

use super::{CliError, Outcome};

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The embedded default: local keys, a local token issuer, a guarded content folder and a
    /// walkthrough page; no AWS account, no configuration.
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on.
    #[arg(long, env = "CFCOOKIE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Seconds a connection may take to send a request head (after opening, or after its
    /// previous response) before it is closed [env: CFCOOKIE_HEADER_TIMEOUT] [default: 10].
    #[arg(long, value_parser = super::number_setting(&config::HEADER_TIMEOUT))]
    pub header_timeout: Option<u64>,
    /// Open connections held in all; one more is closed at once [env: CFCOOKIE_MAX_CONNECTIONS]
    /// [default: 512, lowered to the open-file limit less 32].
    #[arg(long, value_parser = super::number_setting(&config::MAX_CONNECTIONS))]
    pub max_connections: Option<u64>,
    /// Open connections held from one client address; one more is closed at once
    /// [env: CFCOOKIE_MAX_CONNECTIONS_PER_IP] [default: 32].
    #[arg(long, value_parser = super::number_setting(&config::MAX_CONNECTIONS_PER_IP))]
    pub max_connections_per_ip: Option<u64>,
    /// Serve Prometheus text at /metrics on this address (a listener of its own, so the public
    /// one never exposes it). Not with --dev.
    #[arg(long, env = "CFCOOKIE_METRICS_LISTEN", conflicts_with = "dev")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// With --dev: listen on a non-loopback address anyway (the dev sign-in still answers
    /// this machine only) [env: CFCOOKIE_DEV_ALLOW_REMOTE].
    #[arg(long)]
    pub dev_allow_remote: bool,
    /// With --dev: where keys and the issuer key live.
    #[arg(long, default_value = ".cfcookie-dev")]
    pub state_dir: std::path::PathBuf,
    /// With --dev: the folder served under /private/ (default: a sample photo).
    #[arg(long)]
    pub content: Option<std::path::PathBuf>,
}

pub(super) fn serve(args: &ServeArgs, env: &Env) -> Result<Outcome, CliError> {
    // The server runs a single-threaded runtime per core (see `serve::run_on_threads`); this
    // one, on the main thread, accepts and holds the background refreshes. --dev keeps tokio's
    // work-stealing runtime: it serves files and a walkthrough, not load.
    let rt = if args.dev {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        // The settings, then the flags over them.
        let bad = |e: config::ConfigError| CliError::input(e.to_string());
        let mut limits = crate::serve::Limits::from_settings(env).map_err(bad)?;
        let connections = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = args.header_timeout {
            limits.header_timeout = Duration::from_secs(v);
        }
        if let Some(v) = args.max_connections {
            limits.max_connections = connections(v);
        }
        if let Some(v) = args.max_connections_per_ip {
            limits.max_connections_per_ip = connections(v);
        }
        let header_timeout = limits.header_timeout;
        if args.dev {
            let mut options =
                crate::dev::DevOptions::new(args.state_dir.clone(), env, header_timeout)
                    .map_err(bad)?;
            options.content_dir = args.content.clone();
            options.allow_remote |= args.dev_allow_remote;
            for variable in crate::dev::ignored_settings(env) {
                tracing::warn!(
                    "serve --dev ignores {variable}: it brings its own issuer, keys and resource"
                );
            }
            return crate::dev::serve(args.listen, options)
                .await
                .map_err(CliError::input)
                .map(|()| Outcome::print(String::new()));
        }
        if let Some(addr) = args.metrics_listen {
            let handle = crate::prometheus::install_prometheus().map_err(CliError::input)?;
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                CliError::input(format!("cannot listen on {addr} for metrics: {e}"))
            })?;
            eprintln!(
                "cfcookie metrics on http://{}/metrics",
                listener
                    .local_addr()
                    .map_err(|e| CliError::input(e.to_string()))?
            );
            tokio::spawn(crate::serve::run_with(
                listener,
                crate::prometheus::prometheus_router(handle),
                std::future::pending(),
                header_timeout,
            ));
        }
        let endpoint = std::sync::Arc::new(
            cfcookie_endpoint::wiring::endpoint_from(env)
                .await
                .map_err(|e| CliError::input(e.to_string()))?,
        );
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CliError::input(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!(
            "cfcookie endpoint listening on http://{}",
            listener
                .local_addr()
                .map_err(|e| CliError::input(e.to_string()))?
        );
        let fd_limit = crate::serve::open_files_limit();
        let fitted = limits.fitted_to(fd_limit);
        if fitted != limits {
            tracing::warn!(
                open_files = fd_limit,
                max_connections = fitted.max_connections,
                max_connections_per_ip = fitted.max_connections_per_ip,
                "connection limits lowered to fit the open-file limit"
            );
        }
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        crate::serve::run_on_threads(
            listener,
            crate::serve::router(endpoint),
            crate::serve::shutdown_signal(),
            fitted,
            threads,
        )
        .await
        .map_err(|e| CliError::input(e.to_string()))?;
        Ok(Outcome::print(String::new()))
    })
}
