//! Progress on stderr while layers are read, shown only when stderr is a terminal.

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

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for LayerBars {
    fn event(&self, event: LayerEvent) {
        let Some(bar) = &self.bar else { return };
        match event {
            LayerEvent::Reading { index, size } => bar.set_message(match size {
                Some(s) => format!("layer {} ({:.1} MB)", index + 1, s as f64 / 1e6),
                None => format!("layer {}", index + 1),
            }),
            LayerEvent::Done { .. } => bar.inc(1),
        }
    }
}
