//! A real PostgreSQL server for tests: Debian's postgresql started by testbed/postgres.sh on a
//! private socket, one per test process, with a fresh database per caller. A watcher process
//! stops the server and removes its directory when the test process exits, however it exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Server {
    url: String,
    next: Mutex<u32>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("palisade-pg-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let script = repo_root().join("testbed/postgres.sh");
        let out = Command::new(&script)
            .arg("start")
            .arg(&dir)
            .output()
            .expect("testbed/postgres.sh");
        assert!(
            out.status.success(),
            "PostgreSQL did not start (run testbed/install-deps.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        // Stops the server once this process is gone. The watcher outlives this process on
        // purpose, so it is never waited for.
        #[allow(clippy::zombie_processes)]
        Command::new("bash")
            .arg("-c")
            .arg(
                "while kill -0 \"$1\" 2>/dev/null; do sleep 0.5; done; \"$2\" stop \"$3\"; rm -rf \"$3\"",
            )
            .arg("watcher")
            .arg(std::process::id().to_string())
            .arg(&script)
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watcher");
        Server {
            url,
            next: Mutex::new(0),
        }
    })
}

/// The connection string of a new, empty database.
pub(crate) fn database() -> String {
    let server = server();
    let n = {
        let mut n = server.next.lock().unwrap();
        *n += 1;
        *n
    };
    let name = format!("t{}_{n}", std::process::id());
    let out = Command::new("psql")
        .arg(&server.url)
        .args(["-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server
        .url
        .replace("dbname=postgres", &format!("dbname={name}"))
}
