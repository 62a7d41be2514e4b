//! Charts as inline SVG drawn on the server: no script, colours from the style sheet's
//! classes, and the same numbers in a table for screen readers.

use maud::{Markup, html};

/// One series: its CSS class suffix, label and points (x: seconds, y: value).
pub(super) struct Series<'a> {
    /// `critical`, `high`, … (the class `line-{key}`).
    pub(super) key: &'a str,
    /// The legend's text.
    pub(super) label: &'a str,
    /// The points, oldest first.
    pub(super) points: Vec<(i64, i64)>,
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 8.0;

/// A step chart of several series over time, with a legend and an accessible table.
pub(super) fn lines(title: &str, series: &[Series<'_>]) -> Markup {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(1));
    let ymax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(1);
    let span = (x1 - x0).max(1) as f64;
    let px = |x: i64| LEFT + (x - x0) as f64 / span * (W - LEFT - 8.0);
    let py = |y: i64| TOP + (1.0 - y as f64 / ymax as f64) * (H - TOP - BOTTOM);
    let path = |pts: &[(i64, i64)]| {
        let mut d = String::new();
        for (i, (x, y)) in pts.iter().enumerate() {
            if i == 0 {
                d.push_str(&format!("M{:.1},{:.1}", px(*x), py(*y)));
            } else {
                // A step: the value holds until the next snapshot.
                d.push_str(&format!("H{:.1}V{:.1}", px(*x), py(*y)));
            }
        }
        if pts.len() == 1 {
            d.push_str(&format!("H{:.1}", W - 8.0));
        }
        d
    };
    // `when` gives "—" for an instant RFC 3339 cannot write: never slice past it.
    let date = |secs: i64| {
        let w = super::view::when(secs);
        w.get(..10).map_or_else(|| w.clone(), str::to_owned)
    };
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) {
                line class="axis" x1=(LEFT) y1=(H - BOTTOM) x2=(W - 8.0) y2=(H - BOTTOM) {}
                line class="axis" x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(H - BOTTOM) {}
                text class="tick" x=(LEFT - 6.0) y=(TOP + 10.0) text-anchor="end" { (ymax) }
                text class="tick" x=(LEFT - 6.0) y=(H - BOTTOM) text-anchor="end" { "0" }
                text class="tick" x=(LEFT) y=(H - 6.0) { (date(x0)) }
                text class="tick" x=(W - 8.0) y=(H - 6.0) text-anchor="end" { (date(x1)) }
                @for s in series {
                    @if !s.points.is_empty() {
                        path class={ "line line-" (s.key) } d=(path(&s.points)) {}
                    }
                }
            }
            figcaption {
                ul class="legend" {
                    @for s in series {
                        li { span class={ "key line-" (s.key) } {} (s.label) }
                    }
                }
            }
            details {
                summary { "The numbers" }
                table {
                    thead { tr { th scope="col" { "Time" } @for s in series { th scope="col" { (s.label) } } } }
                    tbody {
                        @for (i, (x, _)) in series.first().map(|s| s.points.clone()).unwrap_or_default().iter().enumerate().rev().take(48) {
                            tr {
                                td { (super::view::when(*x)) }
                                @for s in series { td class="num" { (s.points.get(i).map_or(0, |p| p.1)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A small trend line of values (oldest first), e.g. a host's passing checks.
pub(super) fn sparkline(label: &str, values: &[i64]) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(2) - 1;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 / n as f64 * 96.0 + 2.0,
                22.0 - *v as f64 / max as f64 * 20.0
            )
        })
        .collect();
    html! {
        svg class="spark" viewBox="0 0 100 24" role="img" aria-label=(label) {
            polyline points=(pts.join(" ")) {}
        }
    }
}
