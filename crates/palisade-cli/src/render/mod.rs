//! Renderers: typed values in, what users read out. One JSON writer, one table layout, one
//! SARIF builder and one JUnit writer, shared by every command; one module per command's
//! reports.

pub(crate) mod bench;
pub(crate) mod gate;
pub(crate) mod junit;
pub(crate) mod sarif;
pub(crate) mod scan;

use std::io::{self, Write};

use palisade_catalog::Catalog;
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

/// The package table: name, version, type, and the layer that introduced each package.
pub(crate) fn sbom_table(catalog: &Catalog, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{}: {}",
        catalog.source.name,
        palisade_scan::distro_name(catalog)
            .as_deref()
            .unwrap_or("no known operating system")
    )?;
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
                    .map_or_else(|| "-".to_owned(), |l| l.index.to_string()),
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

/// One row of a left-aligned table, two spaces between columns, indented by two.
pub(crate) fn line<const N: usize>(
    cells: &[String; N],
    widths: &[usize; N],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut s = String::from("  ");
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == N {
            s.push_str(c);
        } else {
            s.push_str(&format!("{c:<w$}  "));
        }
    }
    writeln!(out, "{}", s.trim_end())
}

/// A left-aligned table with a header row.
pub(crate) fn columns<const N: usize>(
    header: &[&str; N],
    rows: &[[String; N]],
    out: &mut dyn Write,
) -> io::Result<()> {
    let widths = widths(header, rows);
    line(&header.map(str::to_owned), &widths, out)?;
    for r in rows {
        line(r, &widths, out)?;
    }
    Ok(())
}

/// The width of each column: its widest cell, header included.
pub(crate) fn widths<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> [usize; N] {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    widths
}

/// Where a report goes: `--output FILE`, else standard output.
pub(crate) fn open_output(path: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Write>> {
    use anyhow::Context as _;
    Ok(match path {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}
