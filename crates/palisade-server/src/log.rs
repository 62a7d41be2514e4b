//! The decision log: one JSON object per line, written by one thread fed through a bounded
//! queue, so a request never waits on the disk.
//!
//! [`DecisionLog::write`] only serialises and enqueues; when the queue is full (the disk is
//! slower than the decisions) the line is dropped and counted, in [`DecisionLog::dropped`] and
//! in `palisade_log_dropped_total` when [`Metrics`] are attached. The writer flushes whenever
//! the queue runs empty, so lines reach the file within one batch.
//!
//! Log rotation: rename the file, then call [`DecisionLog::reopen`] (the server does on
//! SIGHUP); lines queued before the reopen go to the old file, later ones to the new one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::metrics::Metrics;

/// Lines the queue holds by default before new ones are dropped.
pub const DEFAULT_QUEUE_LINES: usize = 4096;
/// The mode a new log file is created with (before the umask).
pub const FILE_MODE: u32 = 0o640;

/// Where the decision log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (`-` in the configuration), for container logs.
    Stdout,
    /// A file, appended to and created mode 0640 when missing.
    File(PathBuf),
}

impl LogTarget {
    /// `-` means standard output; anything else is a file path.
    #[must_use]
    pub fn from_config(value: &Path) -> Self {
        if value.as_os_str() == "-" {
            Self::Stdout
        } else {
            Self::File(value.to_owned())
        }
    }
}

enum Message {
    Line(Vec<u8>),
    /// Look at the reopen slot (sent best-effort; the slot is also checked after every line).
    Wake,
    Close,
}

struct Shared {
    dropped: AtomicU64,
    written: AtomicU64,
    reopen: AtomicBool,
    next_file: Mutex<Option<File>>,
    last_error: Mutex<Option<String>>,
    metrics: Option<Arc<Metrics>>,
}

impl Shared {
    fn drop_lines(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.log_dropped(n);
        }
    }

    fn set_error(&self, e: &io::Error) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
    }
}

/// A JSON-lines writer that never blocks its callers. Share it as `Arc<DecisionLog>`.
pub struct DecisionLog {
    target: Option<LogTarget>,
    tx: SyncSender<Message>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("target", &self.target)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl DecisionLog {
    /// Opens the target (creating a file mode 0640) and starts the writer thread with a queue
    /// of `queue_lines` lines (at least 1).
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending.
    pub fn open(
        target: LogTarget,
        queue_lines: usize,
        metrics: Option<Arc<Metrics>>,
    ) -> io::Result<Self> {
        let sink: Box<dyn Write + Send> = match &target {
            LogTarget::Stdout => Box::new(io::stdout()),
            LogTarget::File(path) => Box::new(open_file(path)?),
        };
        Self::start(Some(target), sink, queue_lines, metrics)
    }

    /// A log over any writer (tests, or a caller's own sink); [`reopen`](Self::reopen) does
    /// nothing for it.
    ///
    /// # Errors
    ///
    /// The writer thread could not be started.
    pub fn to_writer(
        writer: impl Write + Send + 'static,
        queue_lines: usize,
        metrics: Option<Arc<Metrics>>,
    ) -> io::Result<Self> {
        Self::start(None, Box::new(writer), queue_lines, metrics)
    }

    fn start(
        target: Option<LogTarget>,
        sink: Box<dyn Write + Send>,
        queue_lines: usize,
        metrics: Option<Arc<Metrics>>,
    ) -> io::Result<Self> {
        let (tx, rx) = sync_channel(queue_lines.max(1));
        let shared = Arc::new(Shared {
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
            next_file: Mutex::new(None),
            last_error: Mutex::new(None),
            metrics,
        });
        let thread = std::thread::Builder::new()
            .name("palisade-decision-log".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || writer_loop(&rx, sink, &shared)
            })?;
        Ok(Self {
            target,
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues one line (`line` as compact JSON, then `\n`). Never blocks: when the queue is
    /// full or the log is closed, the line is dropped and counted. Returns whether it was
    /// queued.
    pub fn write<T: Serialize + ?Sized>(&self, line: &T) -> bool {
        let Ok(mut bytes) = serde_json::to_vec(line) else {
            self.shared.drop_lines(1);
            return false;
        };
        bytes.push(b'\n');
        match self.tx.try_send(Message::Line(bytes)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.drop_lines(1);
                false
            }
        }
    }

    /// Opens the log file again by its path (after a rotation renamed it). Lines already
    /// queued go to the old file. Does nothing for standard output or a writer.
    ///
    /// # Errors
    ///
    /// The file cannot be opened; logging goes on into the old file.
    pub fn reopen(&self) -> io::Result<()> {
        let Some(LogTarget::File(path)) = &self.target else {
            return Ok(());
        };
        let file = open_file(path)?;
        *self
            .shared
            .next_file
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(file);
        self.shared.reopen.store(true, Ordering::Release);
        // If the queue is full the writer is busy and checks the flag after its next line.
        let _ = self.tx.try_send(Message::Wake);
        Ok(())
    }

    /// Lines dropped so far: queue full, log closed, or a failed write.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Lines handed to the file so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// The last write error, if any write failed.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes out everything queued, flushes, and stops the writer; later lines are dropped.
    /// Blocks until then (from async code, call it through `spawn_blocking`). Call it before
    /// the process exits: the writer thread does not outlive `main`.
    ///
    /// # Errors
    ///
    /// The last write or flush error, if any line could not be written.
    pub fn close(&self) -> io::Result<()> {
        // Blocks while the queue is full; the writer is draining it. Fails only if the writer
        // is already gone.
        let _ = self.tx.send(Message::Close);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            return Err(io::Error::other("the decision log writer panicked"));
        }
        match self.last_error() {
            Some(e) => Err(io::Error::other(e)),
            None => Ok(()),
        }
    }
}

fn open_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("opening the decision log {}: {e}", path.display()),
            )
        })
}

fn writer_loop(rx: &Receiver<Message>, sink: Box<dyn Write + Send>, shared: &Shared) {
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    let mut buffered: u64 = 0;
    let flush = |out: &mut BufWriter<Box<dyn Write + Send>>, buffered: &mut u64| {
        if let Err(e) = out.flush() {
            shared.set_error(&e);
            shared.drop_lines(*buffered);
            shared.written.fetch_sub(*buffered, Ordering::Relaxed);
        }
        *buffered = 0;
    };
    loop {
        let message = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Empty) => {
                flush(&mut out, &mut buffered);
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if shared.reopen.swap(false, Ordering::Acquire) {
            let next = shared
                .next_file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(file) = next {
                flush(&mut out, &mut buffered);
                out = BufWriter::with_capacity(64 * 1024, Box::new(file));
            }
        }
        match message {
            Message::Line(bytes) => match out.write_all(&bytes) {
                Ok(()) => {
                    buffered += 1;
                    shared.written.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.set_error(&e);
                    shared.drop_lines(1);
                }
            },
            Message::Wake => {}
            Message::Close => break,
        }
    }
    flush(&mut out, &mut buffered);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Condvar;

    #[derive(Default)]
    struct GateState {
        released: bool,
        waiting: bool,
        bytes: Vec<u8>,
    }

    /// A writer that holds every write until released, then records the bytes.
    #[derive(Clone, Default)]
    struct Gate {
        state: Arc<(Mutex<GateState>, Condvar)>,
    }

    impl Gate {
        fn release(&self) {
            let (lock, cv) = &*self.state;
            lock.lock().unwrap().released = true;
            cv.notify_all();
        }
        fn wait_until_blocked(&self) {
            let (lock, cv) = &*self.state;
            drop(cv.wait_while(lock.lock().unwrap(), |s| !s.waiting).unwrap());
        }
        fn bytes(&self) -> Vec<u8> {
            self.state.0.lock().unwrap().bytes.clone()
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.state;
            let mut state = lock.lock().unwrap();
            state.waiting = true;
            cv.notify_all();
            let mut state = cv.wait_while(state, |s| !s.released).unwrap();
            state.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let gate = Gate::default();
        let metrics = Arc::new(Metrics::new());
        let log = DecisionLog::to_writer(gate.clone(), 4, Some(Arc::clone(&metrics))).unwrap();
        // The writer takes the first line, flushes it once the queue is empty and blocks in
        // the gate; after that exactly 4 lines fit. None of these calls may block.
        assert!(log.write(&serde_json::json!({"n": -1})));
        gate.wait_until_blocked();
        let mut queued = 1;
        for i in 0..199 {
            if log.write(&serde_json::json!({"n": i})) {
                queued += 1;
            }
        }
        assert_eq!(queued, 1 + 4);
        assert_eq!(log.dropped(), 200 - queued);
        gate.release();
        log.close().unwrap();
        assert_eq!(log.written(), queued);
        assert!(
            metrics
                .render()
                .contains(&format!("palisade_log_dropped_total {}", 200 - queued))
        );
        // After close, lines are dropped, not queued.
        assert!(!log.write(&serde_json::json!({"late": true})));
        assert_eq!(log.dropped(), 201 - queued);
        let text = String::from_utf8(gate.bytes()).unwrap();
        assert_eq!(text.lines().count() as u64, queued);
    }

    #[test]
    fn lines_are_json_objects_one_per_line_and_reopen_follows_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let log = DecisionLog::open(LogTarget::File(path.clone()), 64, None).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o137, 0, "created {mode:o}");
        let tricky = "line\nbreak \"quoted\" \u{2028} é";
        for i in 0..10 {
            assert!(log.write(&serde_json::json!({"n": i, "image": tricky})));
        }
        // Rotate: rename, reopen, write more.
        let rotated = dir.path().join("decisions.jsonl.1");
        // Let the writer drain the first batch into the old file before the rename, so the
        // split is deterministic.
        while log.written() < 10 {
            std::thread::yield_now();
        }
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen().unwrap();
        for i in 10..15 {
            assert!(log.write(&serde_json::json!({"n": i})));
        }
        log.close().unwrap();
        assert_eq!(log.dropped(), 0);

        let old = std::fs::read_to_string(&rotated).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert_eq!(old.lines().count(), 10, "{old}");
        assert_eq!(new.lines().count(), 5, "{new}");
        for line in old.lines().chain(new.lines()) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(value.is_object());
        }
        let first: serde_json::Value = serde_json::from_str(old.lines().next().unwrap()).unwrap();
        assert_eq!(first["image"], tricky);
        assert!(new.ends_with('\n'));
    }

    #[test]
    fn dash_means_stdout() {
        assert_eq!(LogTarget::from_config(Path::new("-")), LogTarget::Stdout);
        assert_eq!(
            LogTarget::from_config(Path::new("/var/log/d.jsonl")),
            LogTarget::File("/var/log/d.jsonl".into())
        );
    }
}
