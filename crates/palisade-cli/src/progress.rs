//! What the command tells the person running it while it works, on standard error.
//!
//! Three levels, chosen by the global `--quiet` and `--verbose` flags:
//! - quiet: no progress and no informational lines; warnings and errors are still printed
//!   (a warning says a result is incomplete, which a quiet run must not hide);
//! - normal: progress for every step that can take more than a moment (reading layers or a
//!   directory, importing and downloading feeds);
//! - verbose: also a line per layer, and lists where the normal level gives counts.
//!
//! On a terminal, progress is a bar or spinner redrawn in place and cleared when done.
//! Otherwise (CI logs, pipes) each stage is one plain `palisade: …` line when it starts and
//! one when it ends, so a log shows what ran and for how long without carriage returns.
//! Standard output is never written here: machine formats stay byte for byte the same at
//! every level.

use std::fmt::Display;
use std::io::{IsTerminal as _, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use palisade_catalog::{LayerEvent, Progress};
use palisade_image::Image;

/// How much the command says on standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

static VERBOSITY: OnceLock<Verbosity> = OnceLock::new();

/// Sets the level from the global flags; called once, before any command runs.
pub(crate) fn set_verbosity(quiet: bool, verbose: bool) {
    let level = match (quiet, verbose) {
        (true, _) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };
    let _ = VERBOSITY.set(level);
}

pub(crate) fn verbosity() -> Verbosity {
    VERBOSITY.get().copied().unwrap_or(Verbosity::Normal)
}

/// `--verbose` was given.
pub(crate) fn verbose() -> bool {
    verbosity() == Verbosity::Verbose
}

/// Whether progress is drawn in place: standard error is a terminal that can do it.
fn on_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// An informational line, `palisade: TEXT`, unless `--quiet`.
pub(crate) fn note(text: impl Display) {
    if verbosity() > Verbosity::Quiet {
        let _ = writeln!(std::io::stderr(), "palisade: {text}");
    }
}

/// A line that only `--verbose` shows.
fn detail(bar: Option<&ProgressBar>, text: &str) {
    if !verbose() {
        return;
    }
    match bar {
        Some(b) => b.println(format!("palisade: {text}")),
        None => note(text),
    }
}

fn spinner(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    // Drawn at once, so that even a step shorter than a tick shows what ran.
    bar.tick();
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `12,345`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `512.3 MB`, `2.1 GB`, `812 bytes`.
pub(crate) fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // a display figure
    let b = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} bytes")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", b / 1e3)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A sequence of steps (importing feeds, downloading files): a spinner showing the current
/// one on a terminal, a line per step otherwise, nothing with `--quiet`.
pub(crate) struct Steps {
    bar: Option<ProgressBar>,
}

impl Steps {
    pub(crate) fn new() -> Self {
        let bar = (verbosity() > Verbosity::Quiet && on_terminal())
            .then(|| spinner(None, "{spinner} {elapsed} {wide_msg}"));
        Steps { bar }
    }

    /// The step now under way.
    pub(crate) fn step(&self, text: impl Display) {
        match &self.bar {
            Some(b) => b.set_message(text.to_string()),
            None => note(text),
        }
    }

    /// A line that stays (a result), printed above the spinner; not with `--quiet`.
    pub(crate) fn line(&self, text: impl Display) {
        match &self.bar {
            Some(b) => b.println(format!("palisade: {text}")),
            None => note(text),
        }
    }

    /// A line that stays even with `--quiet` (a failure).
    pub(crate) fn always(&self, text: impl Display) {
        match &self.bar {
            Some(b) => b.println(format!("palisade: {text}")),
            None => {
                let _ = writeln!(std::io::stderr(), "palisade: {text}");
            }
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Progress while the layers of one image (or one directory) are read.
pub(crate) struct LayerBars {
    bar: Option<ProgressBar>,
    plain: bool,
    layers: u64,
    directory: bool,
    /// The image's source, as given.
    name: String,
    started: Instant,
    done: AtomicU64,
    cached: AtomicU64,
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl LayerBars {
    pub(crate) fn new(image: &Image) -> Self {
        let layers = image.layers().len() as u64;
        let directory = image.is_directory();
        let level = verbosity();
        let terminal = on_terminal();
        let bar = (level > Verbosity::Quiet && terminal).then(|| {
            if directory {
                spinner(None, "{spinner} {elapsed} reading {wide_msg}")
            } else {
                spinner(
                    Some(layers),
                    "{spinner} {elapsed} reading layers {pos}/{len} {wide_msg}",
                )
            }
        });
        if let Some(b) = &bar
            && directory
        {
            b.set_message(image.source().to_owned());
        }
        let plain = level > Verbosity::Quiet && !terminal;
        if plain {
            if directory {
                note(format_args!("reading {}", image.source()));
            } else {
                // Sizes come from the manifest: summed without overflowing.
                let stored = image
                    .layers()
                    .iter()
                    .try_fold(0u64, |sum, l| l.size.map(|s| sum.saturating_add(s)));
                note(format_args!(
                    "reading {} {} of {}{}",
                    layers,
                    if layers == 1 { "layer" } else { "layers" },
                    image.source(),
                    stored.map_or_else(String::new, |s| format!(" ({} stored)", size(s)))
                ));
            }
        }
        LayerBars {
            bar,
            plain,
            layers,
            directory,
            name: image.source().to_owned(),
            started: Instant::now(),
            done: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

impl Progress for LayerBars {
    fn event(&self, event: LayerEvent) {
        match event {
            LayerEvent::Reading {
                index,
                size: stored,
            } => {
                if let Some(b) = &self.bar
                    && !self.directory
                {
                    b.set_message(match stored {
                        Some(s) => format!("layer {index} ({})", size(s)),
                        None => format!("layer {index}"),
                    });
                }
            }
            LayerEvent::Advanced {
                index,
                entries,
                bytes,
            } => {
                if let Some(b) = &self.bar {
                    b.set_message(if self.directory {
                        format!("{}: {} files, {}", self.name, count(entries), size(bytes))
                    } else {
                        format!("layer {index}: {} files, {}", count(entries), size(bytes))
                    });
                }
            }
            LayerEvent::Done {
                index,
                cached,
                entries,
                bytes,
            } => {
                self.done.fetch_add(1, Ordering::Relaxed);
                self.entries.fetch_add(entries, Ordering::Relaxed);
                self.bytes.fetch_add(bytes, Ordering::Relaxed);
                if cached {
                    self.cached.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(b) = &self.bar
                    && !self.directory
                {
                    b.inc(1);
                }
                if !self.directory {
                    detail(
                        self.bar.as_ref(),
                        &if cached {
                            format!("layer {index}: from the layer cache")
                        } else {
                            format!("layer {index}: {} entries, {}", count(entries), size(bytes))
                        },
                    );
                }
            }
            _ => {}
        }
    }
}

impl Drop for LayerBars {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let done = self.done.load(Ordering::Relaxed);
        // A walk that stopped early ends in an error, which says why.
        if done < self.layers || !(self.plain || (verbose() && self.bar.is_some())) {
            return;
        }
        let entries = count(self.entries.load(Ordering::Relaxed));
        let bytes = size(self.bytes.load(Ordering::Relaxed));
        let took = seconds(self.started.elapsed());
        if self.directory {
            note(format_args!("read {entries} entries, {bytes} in {took}"));
        } else {
            let cached = self.cached.load(Ordering::Relaxed);
            note(format_args!(
                "read {} {}{}: {entries} entries, {bytes} in {took}",
                self.layers,
                if self.layers == 1 { "layer" } else { "layers" },
                match cached {
                    0 => String::new(),
                    n => format!(" ({n} from the layer cache)"),
                }
            ));
        }
    }
}

/// The terminal: library warnings as `palisade: warning: …` lines on standard error (at
/// every level), layer progress as [`LayerBars`].
pub(crate) struct Terminal;

impl palisade_scan::Observer for Terminal {
    fn warning(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "palisade: warning: {text}");
    }

    fn layers(&self, image: &Image) -> Box<dyn Progress + '_> {
        Box::new(LayerBars::new(image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(size(812), "812 bytes");
        assert_eq!(size(12_300), "12.3 kB");
        assert_eq!(size(512_300_000), "512.3 MB");
        assert_eq!(size(2_100_000_000), "2.10 GB");
    }
}
