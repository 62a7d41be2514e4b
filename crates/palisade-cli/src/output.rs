//! Writing results: the human table and JSON documents.

use std::io::{self, Write};

use palisade_catalog::{Catalog, Problem};
use serde::Serialize;

/// Writes any serialisable value as pretty JSON with a final newline.
///
/// The document is built in memory and written at once: the serializer's many small writes
/// cost a dynamic call each through `out`, which took longer than building the text.
pub(crate) fn json<T: Serialize>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    out.write_all(&text)
}

/// One line describing a problem.
pub(crate) fn problem_line(p: &Problem) -> String {
    let mut s = String::new();
    if let Some(l) = p.layer {
        s.push_str(&format!("layer {}: ", l + 1));
    }
    if let Some(path) = &p.path {
        s.push_str(&format!("{path}: "));
    }
    s.push_str(&p.message);
    s
}

/// The package table: name, version, type, and the layer that introduced each package.
pub(crate) fn table(catalog: &Catalog, out: &mut dyn Write) -> io::Result<()> {
    match &catalog.distro {
        Some(d) => writeln!(
            out,
            "{}: {}",
            catalog.source.name,
            d.pretty_name.clone().unwrap_or_else(|| d.purl_qualifier())
        )?,
        None => writeln!(out, "{}: no known operating system", catalog.source.name)?,
    }
    let rows: Vec<[String; 4]> = catalog
        .packages
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.version.clone(),
                p.ecosystem.to_string(),
                p.layer
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |l| (l.index + 1).to_string()),
            ]
        })
        .collect();
    let header = ["NAME", "VERSION", "TYPE", "LAYER"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 4], out: &mut dyn Write| -> io::Result<()> {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    line(header, out)?;
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3]], out)?;
    }
    let counts = palisade_catalog::counts(catalog);
    let summary: Vec<String> = counts.iter().map(|(e, n)| format!("{n} {e}")).collect();
    writeln!(
        out,
        "\n{} packages{}",
        catalog.packages.len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", summary.join(", "))
        }
    )?;
    if !catalog.problems.is_empty() {
        // The problems themselves are warnings on standard error.
        writeln!(
            out,
            "{} problem(s) reading files (see the warnings on standard error)",
            catalog.problems.len()
        )?;
    }
    Ok(())
}
