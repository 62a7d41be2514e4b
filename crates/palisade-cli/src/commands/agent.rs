//! `palisade agent`: the Docker authorization plugin of one host. All of it is
//! `palisade_server::agent`; this parses the flags, prints what happens on standard error and
//! stops on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use palisade_server::agent::{Agent, AgentConfig};

use crate::{exit, service};

#[derive(Args, Debug)]
#[command(
    after_help = "The engine calls the plugin on its socket (/run/docker/plugins/palisade.sock by \
default; enable it with dockerd --authorization-plugin=palisade or \"authorization-plugins\" in \
daemon.json). Container creation, exec, pulls and start requests are decided under the policy; \
reads are never blocked. The policy and the database are reloaded when they change and on \
SIGHUP; the host is checked again every host.interval and on POST /recheck (ops_listen). See \
docs/agent.md. Exit codes: 0 stopped by SIGINT/SIGTERM, 2 could not start."
)]
pub(crate) struct AgentArgs {
    /// The agent's configuration file (YAML; docs/agent.md lists every setting).
    #[arg(long, short = 'c', value_name = "FILE", env = "PALISADE_AGENT_CONFIG")]
    config: PathBuf,

    /// The plugin socket instead of the config's `socket`.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

fn say(line: &str) {
    service::say("agent", line);
}

pub(crate) fn run(args: &AgentArgs) -> Result<u8> {
    let mut config = AgentConfig::load(&args.config)?;
    if let Some(s) = &args.socket {
        config.socket.clone_from(s);
    }
    let socket = config.socket.clone();
    service::run("agent", async move {
        let agent = Agent::bind(config, Arc::new(say)).await?;
        say(&format!("plugin socket {}", socket.display()));
        if let Some(ops) = agent.ops_addr() {
            say(&format!(
                "probes, metrics and POST /recheck on http://{ops}"
            ));
        }
        agent.run(service::stop_signal("agent")).await;
        Ok(())
    })?;
    Ok(exit::OK)
}
