//! `cfcookie edge`: wires `cfcookie-edge` to the command line.

use std::collections::HashMap;

use clap::Args;

use super::{CliError, Outcome};

/// `cfcookie edge` arguments.
#[derive(Debug, Args)]
pub struct EdgeArgs {
    /// The CloudFront distribution to serve (read through the CloudFront API; AWS_ENDPOINT_URL
    /// is honoured).
    #[arg(long)]
    pub distribution_id: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: std::net::SocketAddr,
    /// Where requests for an origin domain go, as DOMAIN=URL (repeatable); S3 origins are read
    /// through the S3 API at AWS_ENDPOINT_URL without one.
    #[arg(long = "origin", value_parser = parse_origin)]
    pub origins: Vec<(String, String)>,
    /// Seconds before a key group change read from CloudFront is enforced, as an edge
    /// location sees it.
    #[arg(long, default_value_t = 0)]
    pub propagation_delay: u64,
}

fn parse_origin(text: &str) -> Result<(String, String), String> {
    let (domain, url) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not DOMAIN=URL"))?;
    if domain.is_empty() || !(url.starts_with("http://")) {
        return Err(format!(
            "{text:?} is not DOMAIN=URL with an http:// URL (the edge reaches origins over plain HTTP)"
        ));
    }
    Ok((domain.to_owned(), url.to_owned()))
}

pub(super) fn edge(args: &EdgeArgs) -> Result<Outcome, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let sdk = cfcookie_edge::load_aws_config().await;
        let mut settings = cfcookie_edge::Settings::new(&args.distribution_id);
        settings.propagation_delay = args.propagation_delay;
        settings.origins = args.origins.iter().cloned().collect::<HashMap<_, _>>();
        let edge = cfcookie_edge::Edge::load(&sdk, settings)
            .await
            .map_err(|e| CliError::input(format!("cannot read distribution: {e}")))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CliError::input(format!("cannot listen on {}: {e}", args.listen)))?;
        let bound = listener
            .local_addr()
            .map_err(|e| CliError::input(e.to_string()))?;
        eprintln!(
            "cfcookie edge: distribution {} ({}) on http://{bound}/",
            args.distribution_id,
            edge.distribution().domain_name
        );
        cfcookie_edge::run(edge, listener, crate::serve::shutdown_signal()).await;
        Ok(Outcome::print(String::new()))
    })
}
