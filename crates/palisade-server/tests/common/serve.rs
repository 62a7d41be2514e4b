//! `palisade serve` as a child process: started with a config, its addresses read from what
//! it prints, killed on drop.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait_for;

pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) stderr: Arc<Mutex<String>>,
    pub(crate) https: SocketAddr,
    pub(crate) ops: SocketAddr,
}

impl Serve {
    /// `palisade serve --config CONFIG --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0`: the
    /// flags override the config file's addresses, and the ports come from what it prints.
    pub(crate) fn start(config: &Path, cache: &Path) -> Serve {
        let mut child = super::palisade_cmd(cache)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let pipe = child.stderr.take().unwrap();
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let addr = |text: &str, prefix: &str| -> Option<SocketAddr> {
            let start = text.find(prefix)? + prefix.len();
            text[start..].lines().next()?.trim().parse().ok()
        };
        let found = wait_for(Duration::from_secs(30), || {
            let text = stderr.lock().unwrap().clone();
            Some((
                addr(&text, "listening on https://")?,
                addr(&text, "probes and metrics on http://")?,
            ))
        });
        let mut serve = Serve {
            child,
            stderr,
            https: "0.0.0.0:0".parse().unwrap(),
            ops: "0.0.0.0:0".parse().unwrap(),
        };
        let Some((https, ops)) = found else {
            let _ = serve.child.kill();
            panic!("palisade serve did not start:\n{}", serve.stderr());
        };
        (serve.https, serve.ops) = (https, ops);
        serve
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` (`HUP`, `TERM`) to the server (by its pid).
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for(limit, || self.child.try_wait().unwrap())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
