//! `rookery node`: a worker process of a real cluster, and the `--cluster` options of
//! `rookery run` (the master). See [`cluster_nats`](crate::cluster_nats).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::signals::Signals;
use crate::cluster_nats::{ClusterAddr, WorkerOptions, run_worker};
use crate::engine::DynScenario;

/// `rookery node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The NATS server: nats://HOST:PORT or tls://HOST:PORT (user:password@ or token@ allowed).
    #[arg(long, value_name = "URL")]
    pub cluster: String,
    /// This node's name [default: the host name]; the master adds ~2, ~3 … when it is taken.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The run to join (workers and master must agree).
    #[arg(long, value_name = "ID", default_value = "default")]
    pub run: String,
    /// Record this worker's own events (JSON Lines, event-log format v1; `.gz` compresses).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// A NATS credentials file: a .creds file (JWT and seed) or a user NKey seed
    /// [env: ROOKERY_CLUSTER_CREDS]. A token can come from ROOKERY_CLUSTER_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub cluster_creds: Option<PathBuf>,
    /// A PEM certificate authority to trust for tls:// [env: ROOKERY_CLUSTER_CA].
    #[arg(long, value_name = "FILE")]
    pub cluster_ca: Option<PathBuf>,
    /// Compress event batches (gzip): less bandwidth, more CPU.
    #[arg(long)]
    pub gzip: bool,
    /// Threads the virtual users run on (as `rookery run --user-threads`; 0: the node's
    /// shared runtime) [default: the number of CPUs].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub user_threads: Option<u16>,
}

/// The `--cluster` options of `rookery run`.
#[derive(Debug, Args, Default)]
pub struct ClusterRunArgs {
    /// Be the master of a real cluster on this NATS server (nats://HOST:PORT or tls://…);
    /// workers are `rookery node` processes. Without it the cluster is simulated.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// The run id workers must give (with --cluster).
    #[arg(long, value_name = "ID", default_value = "default")]
    pub run: String,
    /// Wait (up to 60 s) for this many workers before adding users (with --cluster).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub nodes_wait: usize,
    /// A NATS credentials file: a .creds file (JWT and seed) or a user NKey seed
    /// [env: ROOKERY_CLUSTER_CREDS]. A token can come from ROOKERY_CLUSTER_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub cluster_creds: Option<PathBuf>,
    /// A PEM certificate authority to trust for tls:// [env: ROOKERY_CLUSTER_CA].
    #[arg(long, value_name = "FILE")]
    pub cluster_ca: Option<PathBuf>,
}

/// The host name, as a node name (characters a subject cannot hold become `-`).
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our buffer.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    let name: String = String::from_utf8_lossy(&buf[..if ok { end } else { 0 }])
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() { "node".into() } else { name }
}

/// Runs `rookery node`.
pub fn run(args: &NodeArgs, scenarios: &[Arc<dyn DynScenario>]) -> Result<(), String> {
    let opts = WorkerOptions {
        addr: ClusterAddr {
            url: args.cluster.clone(),
            creds: args.cluster_creds.clone(),
            token: None,
            ca: args.cluster_ca.clone(),
        },
        name: args.name.clone().unwrap_or_else(host_name),
        run: args.run.clone(),
        record: args.record.clone(),
        gzip: args.gzip,
        user_threads: super::user_threads(args.user_threads),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rookery-node")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let mut signals = Signals::new().map_err(|e| format!("cannot listen to signals: {e}"))?;
        run_worker(&opts, scenarios, &mut signals).await
    })
}
