//! What the libraries report while they work: warnings on standard error, and progress bars
//! while layers are read, shown only when standard error is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use palisade_catalog::{LayerEvent, Progress};

pub(crate) struct LayerBars {
    bar: Option<ProgressBar>,
}

impl LayerBars {
    pub(crate) fn new(layers: usize, enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(layers as u64), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} reading layers {pos}/{len} {wide_msg}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        LayerBars { bar }
    }
}

impl Drop for LayerBars {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The terminal: library warnings as `palisade: warning: …` lines on standard error, layer
/// progress as a bar when standard error is a terminal.
pub(crate) struct Terminal;

impl palisade_scan::Observer for Terminal {
    fn warning(&self, text: &str) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "palisade: warning: {text}");
    }

    fn layers(&self, count: usize) -> Box<dyn Progress + '_> {
        use std::io::IsTerminal as _;
        Box::new(LayerBars::new(count, std::io::stderr().is_terminal()))
    }
}

impl Progress for LayerBars {
    fn event(&self, event: LayerEvent) {
        let Some(bar) = &self.bar else { return };
        match event {
            LayerEvent::Reading { index, size } => bar.set_message(match size {
                Some(s) => format!("layer {index} ({:.1} MB)", s as f64 / 1e6),
                None => format!("layer {index}"),
            }),
            LayerEvent::Done { .. } => bar.inc(1),
        }
    }
}
