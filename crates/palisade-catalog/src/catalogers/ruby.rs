//! Ruby gems: installed gem specifications (`…/specifications/*.gemspec`, including Debian's
//! `usr/share/rubygems-integration/*/specifications/`) and Bundler's `Gemfile.lock`.
//!
//! A gemspec is Ruby code and is never evaluated. The installed ones are written by RubyGems
//! (`Gem::Specification#to_ruby`) or by Debian's gem2deb in one regular form:
//!
//! ```text
//! Gem::Specification.new do |s|
//!   s.name = "rack".freeze
//!   s.version = "2.2.22"
//!   s.licenses = ["MIT".freeze]
//! ```
//!
//! Only assignments of plain string literals (`"…"`, `'…'`, `%q{…}`, each optionally
//! `.freeze`) to `name`, `version`, `license` and `licenses` of the block's variable are read.
//! A name or version given any other way (a constant, a method call, an interpolated string)
//! makes the file an error naming the line, never a guess.

use crate::catalogers::{Found, Parsed, shorten};
use crate::package::Ecosystem;

/// The most bytes of a gemspec that are read (RubyGems' own are a few kilobytes).
pub(crate) const MAX_GEMSPEC_BYTES: u64 = 1 << 20;
/// The most bytes of a `Gemfile.lock` that are read.
pub(crate) const MAX_GEMFILE_LOCK_BYTES: u64 = 16 << 20;

/// The most lines of a gemspec looked at: the name and version come first in generated ones.
const MAX_GEMSPEC_LINES: usize = 10_000;

/// Whether `path` is an installed gem specification: a `.gemspec` directly in a
/// `specifications` directory (or its `default` subdirectory, where Ruby's default gems are).
pub(crate) fn is_gemspec_path(path: &str) -> bool {
    let Some(dir) = path
        .strip_suffix(".gemspec")
        .and_then(|p| p.rsplit_once('/'))
        .map(|(dir, _)| dir)
    else {
        return false;
    };
    let dir = dir.strip_suffix("/default").unwrap_or(dir);
    dir == "specifications" || dir.ends_with("/specifications")
}

/// Whether `name` can be a gem's name (RubyGems allows letters, digits, `.`, `-` and `_`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Whether `v` can be a gem version (`Gem::Version`: digits, letters, `.`, and `-`).
fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

/// Reads one Ruby string literal at the start of `s`; returns it and the rest of `s` after it
/// (and after a `.freeze`). `None` for anything but a plain literal.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let (body, rest) = if let Some(r) = s.strip_prefix('"') {
        let end = r.find('"')?;
        let body = &r[..end];
        if body.contains("#{") {
            return None; // interpolation: Ruby would compute it
        }
        (body, &r[end + 1..])
    } else if let Some(r) = s.strip_prefix('\'') {
        let end = r.find('\'')?;
        (&r[..end], &r[end + 1..])
    } else if let Some(r) = s.strip_prefix("%q") {
        let mut chars = r.chars();
        let open = chars.next()?;
        let close = match open {
            '{' => '}',
            '(' => ')',
            '[' => ']',
            '<' => '>',
            c if c.is_ascii_punctuation() => c,
            _ => return None,
        };
        let r = &r[open.len_utf8()..];
        let end = r.find(close)?;
        (&r[..end], &r[end + 1..])
    } else {
        return None;
    };
    if body.contains('\\') {
        return None; // escapes: not a name, version or licence worth reading
    }
    let rest = rest.strip_prefix(".freeze").unwrap_or(rest);
    Some((body.to_owned(), rest))
}

/// `"a".freeze` alone (up to a comment or a trailing `if …` modifier).
fn only_literal(s: &str) -> Option<String> {
    let (v, rest) = string_literal(s)?;
    let rest = rest.trim();
    (rest.is_empty() || rest.starts_with('#') || rest.starts_with("if ")).then_some(v)
}

/// `["a".freeze, "b"]`.
fn literal_array(s: &str) -> Option<Vec<String>> {
    let mut rest = s.trim_start().strip_prefix('[')?;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(']') {
            let r = r.trim();
            return (r.is_empty() || r.starts_with('#') || r.starts_with("if ")).then_some(out);
        }
        let (v, r) = string_literal(rest)?;
        out.push(v);
        rest = r.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses an installed gemspec without evaluating it (see the module documentation).
pub(crate) fn parse_gemspec(content: &[u8]) -> Result<Parsed, String> {
    let text = String::from_utf8_lossy(content);
    // The block's variable: `Gem::Specification.new do |s|` (or `{ |spec|`).
    let var = text
        .lines()
        .take(MAX_GEMSPEC_LINES)
        .find_map(|l| {
            let rest = l.trim().strip_prefix("Gem::Specification.new")?;
            let (_, after) = rest.split_once('|')?;
            let (v, _) = after.split_once('|')?;
            let v = v.trim();
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .then(|| v.to_owned())
        })
        .ok_or("no `Gem::Specification.new do |s|` block: not a gem specification")?;
    let mut name = None;
    let mut version = None;
    let mut licenses = Vec::new();
    for (i, line) in text.lines().take(MAX_GEMSPEC_LINES).enumerate() {
        let Some(rest) = line
            .trim_start()
            .strip_prefix(var.as_str())
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        let Some((attr, value)) = rest.split_once('=') else {
            continue;
        };
        let attr = attr.trim();
        if value.starts_with(['=', '~']) {
            continue; // `==`, `=~`: a comparison, not an assignment
        }
        let unreadable = |what: &str| {
            format!(
                "line {}: the {what} is not a plain string literal, so it is not read: {}",
                i + 1,
                shorten(line.trim())
            )
        };
        match attr {
            "name" if name.is_none() => {
                name = Some(only_literal(value).ok_or_else(|| unreadable("name"))?);
            }
            "version" if version.is_none() => {
                version = Some(only_literal(value).ok_or_else(|| unreadable("version"))?);
            }
            "license" => licenses.extend(only_literal(value)),
            "licenses" => licenses.extend(literal_array(value).unwrap_or_default()),
            _ => {}
        }
    }
    let name = name.ok_or("no `name` assignment")?.trim().to_owned();
    if !valid_name(&name) {
        return Err(format!("not a valid gem name: {:?}", shorten(&name)));
    }
    let version = version
        .ok_or_else(|| format!("gem {name}: no `version` assignment"))?
        .trim()
        .to_owned();
    if !valid_version(&version) {
        return Err(format!(
            "gem {name}: not a valid gem version: {:?}",
            shorten(&version)
        ));
    }
    licenses.retain(|l| !l.is_empty() && l.len() <= 200);
    Ok(Parsed {
        packages: vec![Found {
            ecosystem: Ecosystem::Gem,
            name,
            version,
            licenses,
            ..Found::default()
        }],
        warnings: Vec::new(),
    })
}

/// Parses a Bundler `Gemfile.lock`: the gems under `specs:` of its `GEM` (rubygems.org and
/// other gem servers) and `GIT` sections, four spaces in, as `name (version)` or
/// `name (version-platform)`. `PATH` sections are the project's own code and are left out.
pub(crate) fn parse_gemfile_lock(content: &[u8]) -> Result<Parsed, String> {
    let text = String::from_utf8_lossy(content);
    let mut parsed = Parsed::default();
    let mut section = "";
    let mut in_specs = false;
    let mut seen_section = false;
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with(' ') {
            section = line.trim();
            seen_section |= matches!(section, "GEM" | "GIT" | "PATH" | "DEPENDENCIES");
            in_specs = false;
            continue;
        }
        if line.trim() == "specs:" {
            in_specs = true;
            continue;
        }
        if !in_specs || !matches!(section, "GEM" | "GIT") {
            continue;
        }
        let Some(spec) = line.strip_prefix("    ").filter(|s| !s.starts_with(' ')) else {
            continue; // six spaces: a dependency of the gem above
        };
        let Some((name, rest)) = spec.split_once(" (") else {
            parsed.warnings.push(format!(
                "line {}: not `name (version)`: {}",
                i + 1,
                shorten(spec)
            ));
            continue;
        };
        let Some(full) = rest.strip_suffix(')') else {
            parsed.warnings.push(format!(
                "line {}: not `name (version)`: {}",
                i + 1,
                shorten(spec)
            ));
            continue;
        };
        // `1.13.10-x86_64-linux`: the platform follows the first `-`.
        let version = full.split_once('-').map_or(full, |(v, _)| v);
        if !valid_name(name) || !valid_version(version) {
            parsed.warnings.push(format!(
                "line {}: not a gem name and version: {}",
                i + 1,
                shorten(spec)
            ));
            continue;
        }
        parsed.packages.push(Found {
            ecosystem: Ecosystem::Gem,
            name: name.to_owned(),
            version: version.to_owned(),
            ..Found::default()
        });
    }
    if !seen_section {
        return Err("no GEM, GIT, PATH or DEPENDENCIES section: not a Gemfile.lock".into());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's ruby-rack 2.2.22-0+deb12u2, as installed in
    /// `usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec` (abridged).
    const RACK: &str = r#"# -*- encoding: utf-8 -*-
# stub: rack 2.2.22 ruby lib

Gem::Specification.new do |s|
  s.name = "rack".freeze
  s.version = "2.2.22"

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.require_paths = ["lib".freeze]
  s.authors = ["Leah Neukirchen".freeze]
  s.licenses = ["MIT".freeze]
  s.rubygems_version = "3.3.15".freeze
  s.installed_by_version = "3.3.15" if s.respond_to? :installed_by_version
  if s.respond_to? :add_runtime_dependency then
    s.add_development_dependency(%q<minitest>.freeze, ["~> 5.0"])
  end
end
"#;

    #[test]
    fn debian_gemspec() {
        let p = parse_gemspec(RACK.as_bytes()).unwrap();
        assert_eq!(p.packages.len(), 1);
        let f = &p.packages[0];
        assert_eq!(
            (f.ecosystem, f.name.as_str(), f.version.as_str()),
            (Ecosystem::Gem, "rack", "2.2.22")
        );
        assert_eq!(f.licenses, vec!["MIT"]);
    }

    #[test]
    fn older_forms_and_other_variables() {
        let old = "Gem::Specification.new do |spec|\n  spec.name = %q{json}\n  spec.version = '1.8.6'\n  spec.license = 'Ruby'\nend\n";
        let p = parse_gemspec(old.as_bytes()).unwrap();
        assert_eq!(
            (p.packages[0].name.as_str(), p.packages[0].version.as_str()),
            ("json", "1.8.6")
        );
        assert_eq!(p.packages[0].licenses, vec!["Ruby"]);
    }

    #[test]
    fn computed_values_are_errors_not_guesses() {
        let computed =
            "Gem::Specification.new do |s|\n  s.name = \"x\"\n  s.version = X::VERSION\nend\n";
        let e = parse_gemspec(computed.as_bytes()).unwrap_err();
        assert!(e.contains("line 3") && e.contains("version"), "{e}");
        let interp =
            "Gem::Specification.new do |s|\n  s.name = \"x\"\n  s.version = \"#{V}\"\nend\n";
        assert!(parse_gemspec(interp.as_bytes()).is_err());
        assert!(parse_gemspec(b"puts 'hello'").is_err());
        assert!(parse_gemspec(b"Gem::Specification.new do |s|\n  s.name = \"x\"\nend\n").is_err());
        assert!(
            parse_gemspec(
                b"Gem::Specification.new do |s|\n  s.name = \"a b\"\n  s.version = \"1\"\nend\n"
            )
            .is_err()
        );
    }

    #[test]
    fn gemspec_paths() {
        assert!(is_gemspec_path(
            "usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"
        ));
        assert!(is_gemspec_path(
            "usr/lib/ruby/gems/3.1.0/specifications/default/abbrev-0.1.0.gemspec"
        ));
        assert!(is_gemspec_path(
            "var/lib/gems/3.1.0/specifications/rails-7.0.4.gemspec"
        ));
        assert!(!is_gemspec_path(
            "usr/lib/ruby/gems/3.1.0/gems/rack-2.2.22/rack.gemspec"
        ));
    }

    #[test]
    fn gemfile_lock() {
        let lock = b"GIT
  remote: https://github.com/rails/rails.git
  revision: 1234
  specs:
    activesupport (7.0.4)

PATH
  remote: .
  specs:
    myapp (0.1.0)

GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.13.10-x86_64-linux)
      racc (~> 1.4)
    racc (1.6.1)
    rack (2.2.3)
    broken line

PLATFORMS
  x86_64-linux

DEPENDENCIES
  rack

BUNDLED WITH
   2.3.26
";
        let p = parse_gemfile_lock(lock).unwrap();
        let got: Vec<_> = p
            .packages
            .iter()
            .map(|f| (f.name.as_str(), f.version.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("activesupport", "7.0.4"),
                ("nokogiri", "1.13.10"),
                ("racc", "1.6.1"),
                ("rack", "2.2.3")
            ]
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(parse_gemfile_lock(b"hello\nworld\n").is_err());
    }
}
