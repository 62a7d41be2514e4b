//! Running the binary with standard error on a pseudo-terminal, where progress is drawn
//! (standard output stays a pipe, so machine formats can be compared byte for byte).

use std::io::Read;
use std::process::{Command, Stdio};

/// What a run under a pseudo-terminal gave.
pub(crate) struct PtyRun {
    pub(crate) stdout: Vec<u8>,
    /// Everything written to the terminal, escape sequences included.
    pub(crate) terminal: String,
    pub(crate) code: Option<i32>,
}

/// Runs `cmd` with standard error on a new pseudo-terminal (120 columns, `TERM=xterm`).
pub(crate) fn run_on_pty(mut cmd: Command) -> PtyRun {
    let size = nix::pty::Winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    cmd.env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave));
    let mut child = cmd.spawn().expect("running palisade");
    // The command holds the terminal's other end until it is dropped; once the child has it
    // too, only the child may keep it open, or reading below never ends.
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 8192];
        // Reading the terminal ends with EIO once the child (its last holder) has exited.
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..n]);
        }
        seen
    });
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("reading stdout");
    let status = child.wait().expect("waiting for palisade");
    let terminal = reader.join().expect("terminal reader");
    PtyRun {
        stdout,
        terminal: String::from_utf8_lossy(&terminal).into_owned(),
        code: status.code(),
    }
}
