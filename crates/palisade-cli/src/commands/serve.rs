//! `palisade serve`: the Kubernetes admission webhook (and, later, the policy server for
//! agents). All of it is `palisade_server::serve`; this parses the flags, prints what happens
//! on standard error and stops on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use palisade_server::config::ServeConfig;
use palisade_server::serve::Server;

use crate::{exit, service};

#[derive(Args, Debug)]
#[command(
    after_help = "Endpoints: POST /k8s/validate and /k8s/mutate (AdmissionReview v1, HTTPS), \
GET /healthz, /readyz and /metrics (also on ops_listen, plain HTTP). The policy, the files it \
names, the database and the certificate are reloaded when they change and on SIGHUP. See \
docs/serve.md. Exit codes: 0 stopped by SIGINT/SIGTERM, 2 could not start."
)]
pub(crate) struct ServeArgs {
    /// The server's configuration file (YAML; docs/serve.md lists every setting).
    #[arg(long, short = 'c', value_name = "FILE", env = "PALISADE_SERVE_CONFIG")]
    config: PathBuf,

    /// Listen on ADDR for HTTPS instead of the config's `listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Listen on ADDR for the plain-HTTP probes and metrics instead of the config's
    /// `ops_listen`.
    #[arg(long, value_name = "ADDR")]
    ops_listen: Option<SocketAddr>,
}

fn say(line: &str) {
    service::say("serve", line);
}

pub(crate) fn run(args: &ServeArgs) -> Result<u8> {
    let mut config = ServeConfig::load(&args.config)?;
    if let Some(a) = args.listen {
        config.listen = a;
    }
    if let Some(a) = args.ops_listen {
        config.ops_listen = Some(a);
    }
    service::run("serve", async move {
        let server = Server::bind(config, Arc::new(say)).await?;
        say(&format!("listening on https://{}", server.local_addr()?));
        if let Some(ops) = server.ops_addr() {
            say(&format!("probes and metrics on http://{ops}"));
        }
        server.run(service::stop_signal("serve")).await;
        Ok(())
    })?;
    Ok(exit::OK)
}
