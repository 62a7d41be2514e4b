//! The console's page frame and small pieces shared by the pages. Every value goes through
//! maud's escaping; nothing here builds HTML from strings.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::Viewer;

/// The navigation: path, label.
const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/images", "Images"),
    ("/vulnerabilities", "Vulnerabilities"),
    ("/hosts", "Hosts"),
    ("/decisions", "Decisions"),
    ("/policy", "Policy"),
];

/// A whole page.
pub(super) fn page(
    title: &str,
    section: &str,
    viewer: Option<&Viewer>,
    content: Markup,
) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · Palisade" }
                link rel="stylesheet" href="/assets/console.css";
                link rel="icon" href="/favicon.svg" type="image/svg+xml";
                script src="/assets/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "Palisade" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            ul {
                                @for (path, label) in NAV {
                                    li {
                                        @if *path == section {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form class="who" method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            span { (v.name) " · " (v.role.as_str()) }
                            @if !v.csrf.is_empty() {
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
                footer {
                    "Palisade " (env!("CARGO_PKG_VERSION")) " · "
                    a href="/api/v1/openapi.json" { "API" }
                }
            }
        }
    };
    Html(body.into_string()).into_response()
}

/// An error as a page.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let mut r = page(
        status.canonical_reason().unwrap_or("Error"),
        "",
        None,
        html! {
            p class="error" role="alert" { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    );
    *r.status_mut() = status;
    r
}

/// Percent-encodes a query value or a path segment (everything but unreserved characters).
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub(super) fn when(secs: i64) -> String {
    palisade_image::Timestamp::from_unix_seconds(secs).map_or_else(
        || "—".to_owned(),
        |t| {
            let s = t.as_str();
            format!("{} {} UTC", &s[..10], &s[11..16])
        },
    )
}

/// How long ago, for people (`5 min ago`).
pub(super) fn ago(secs: i64, now: i64) -> String {
    let d = now - secs;
    match d {
        i64::MIN..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

/// A time element: relative text, the absolute time as its title and machine value.
pub(super) fn time(secs: i64, now: i64) -> Markup {
    let abs = when(secs);
    let iso = palisade_image::Timestamp::from_unix_seconds(secs)
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    html! { time datetime=(iso) title=(abs) { (ago(secs, now)) } }
}

/// A verdict badge.
pub(super) fn verdict(v: &str) -> Markup {
    let class = match v {
        "allow" => "badge ok",
        "warn" => "badge warn",
        "deny" => "badge bad",
        _ => "badge",
    };
    html! { span class=(class) { (v) } }
}

/// A severity badge.
pub(super) fn severity(s: &str) -> Markup {
    let s = s.to_ascii_lowercase();
    let class = format!(
        "sev sev-{}",
        match s.as_str() {
            "critical" | "high" | "medium" | "low" | "negligible" => s.as_str(),
            _ => "unknown",
        }
    );
    html! { span class=(class) { (s) } }
}

/// `sha256:0123456789ab…`.
pub(super) fn short_digest(d: &str) -> String {
    d.char_indices()
        .nth(19)
        .map_or_else(|| d.to_owned(), |(i, _)| format!("{}…", &d[..i]))
}

/// A link to an image's page.
pub(super) fn image_link(digest: &str, label: &str) -> Markup {
    html! { a href={ "/images/" (digest) } { (label) } }
}

/// A link to an advisory's page.
pub(super) fn advisory_link(id: &str) -> Markup {
    html! { a href={ "/vulnerabilities/" (url_encode(id)) } { (id) } }
}

/// A number, or a dash for zero, in a table cell.
pub(super) fn count(n: i64) -> Markup {
    html! {
        @if n == 0 { span class="muted" { "0" } } @else { (n) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_urls_encoded() {
        let m = html! { p title=("\"><script>") { ("<script>alert('x')</script>") } };
        let s = m.into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("&lt;script&gt;"), "{s}");
        assert_eq!(url_encode("GHSA-1/x y&z"), "GHSA-1%2Fx%20y%26z");
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(ago(0, 7200), "2 h ago");
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab…"
        );
    }
}
