//! The console's pages: each handler reads the store in one blocking task, then renders.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use palisade_store::{
    EventQuery, FindingRow, HIGH_EPSS, ImageFilter, Posture, Role, Sort, VerdictCount,
};
use serde::Deserialize;

use super::view::{
    advisory_link, count, error_page, image_link, page, severity, short_digest, time, url_encode,
    verdict, when,
};
use super::{Console, blocking, chart};
use crate::fleet::{ImageName, kind};

type St = State<Arc<Console>>;

/// Rows per page of a list.
const PAGE: i64 = 50;
/// Exceptions expiring within this many days are called out.
const EXPIRY_WARNING_DAYS: i64 = 14;

fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned())
}

macro_rules! viewer {
    ($c:expr, $headers:expr, $uri:expr) => {
        match $c.viewer(&$headers, Role::Read, &here(&$uri)).await {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn unavailable(e: &str) -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("the store cannot be read: {e}"),
    )
}

fn bad_query(e: &axum::extract::rejection::QueryRejection) -> Response {
    error_page(StatusCode::BAD_REQUEST, &e.body_text())
}

/// An empty field of a GET form means "any".
fn given(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn checked(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("on" | "1" | "true" | "yes"))
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Debug, Default, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site: never `//evil.example` or `https://…`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn login_page(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let nonce = super::random_bytes(16).map(hex::encode).unwrap_or_default();
    let mut r = page(
        "Sign in",
        "",
        None,
        html! {
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            form class="login" method="post" action="/login" {
                input type="hidden" name="csrf" value=(nonce);
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input id="token" name="token" type="password" autocomplete="current-password" required autofocus;
                p class="hint" { "A token from " code { "palisade store token create --name NAME" } ". A read token sees everything but secrets; an admin token may also queue scans." }
                button type="submit" { "Sign in" }
            }
        },
    );
    *r.status_mut() = status;
    if let Ok(v) = format!(
        "{}={nonce}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=3600",
        super::LOGIN_COOKIE
    )
    .parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub(super) async fn login_form(
    q: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = q.ok().and_then(|Query(q)| q.next);
    login_page(&safe_next(next.as_deref()), None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    token: String,
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

pub(super) async fn login(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if let Err(r) = super::same_origin(&headers, &uri) {
        return r;
    }
    let nonce = super::cookie(&headers, super::LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !crate::api::token_matches(std::slice::from_ref(&nonce), &f.csrf) {
        return login_page(
            &next,
            Some("The sign-in form expired: please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let store = Arc::clone(&c.fleet.store);
    let secret = f.token.trim().to_owned();
    let token = match blocking(move || store.token(&secret).map_err(|e| e.to_string())).await {
        Ok(t) => t,
        Err(e) => return unavailable(&e),
    };
    let Some(token) = token else {
        return login_page(
            &next,
            Some("That token is unknown or revoked."),
            StatusCode::UNAUTHORIZED,
        );
    };
    let key = match c.key().await {
        Ok(k) => k,
        Err(e) => return unavailable(&e),
    };
    let lifetime = super::SESSION_LIFETIME.as_secs() as i64;
    let session = super::Session::make(key, &token.id, palisade_store::now() + lifetime);
    let mut r = Redirect::to(&next).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    for cookie in [
        format!(
            "{}={session}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={lifetime}",
            super::SESSION_COOKIE
        ),
        format!(
            "{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
            super::LOGIN_COOKIE
        ),
    ] {
        if let Ok(v) = cookie.parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<CsrfForm>,
) -> Response {
    let viewer = match c.viewer(&headers, Role::Read, "/").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = Console::check_form(&headers, &uri, &viewer, &f.csrf) {
        return r;
    }
    let mut r = Redirect::to("/login").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = format!(
        "{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        super::SESSION_COOKIE
    )
    .parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Overview

struct OverviewData {
    posture: Posture,
    verdicts: Vec<VerdictCount>,
    hosts: (usize, usize),
    refusals_24h: i64,
    recent_refusals: Vec<palisade_store::Event>,
    snapshots: Vec<(i64, Posture)>,
    environments: Vec<String>,
    expiring: Vec<palisade_policy::ExceptionInfo>,
}

/// Exceptions whose last valid day is within the warning window (or passed).
fn expiring(
    loaded: Option<&crate::state::Loaded>,
    now: i64,
) -> Vec<palisade_policy::ExceptionInfo> {
    let Some(l) = loaded else { return Vec::new() };
    let mut out: Vec<_> = l
        .policy
        .exceptions()
        .into_iter()
        .filter(|e| {
            e.expires_at
                .is_some_and(|at| at + 86_400 > now && at <= now + EXPIRY_WARNING_DAYS * 86_400)
        })
        .collect();
    out.sort_by_key(|e| e.expires_at);
    out
}

pub(super) async fn overview(State(c): St, headers: HeaderMap, uri: Uri) -> Response {
    let viewer = viewer!(c, headers, uri);
    let fleet = Arc::clone(&c.fleet);
    let now = palisade_store::now();
    let data = blocking(move || {
        let s = &fleet.store;
        let e = |e: palisade_store::Error| e.to_string();
        let hosts = s.hosts().map_err(e)?;
        let since = palisade_store::now_ms() - 24 * 3_600_000;
        let mut snapshots: Vec<(i64, Posture)> = s
            .events_newest(&EventQuery {
                kinds: vec![crate::fleet::POSTURE_EVENT.to_owned()],
                since_ms: palisade_store::now_ms() - 30 * 86_400_000,
                limit: 500,
                ..EventQuery::default()
            })
            .map_err(e)?
            .into_iter()
            .filter_map(|ev| Some((ev.at / 1000, serde_json::from_value(ev.detail).ok()?)))
            .collect();
        snapshots.reverse();
        let posture = s.posture().map_err(e)?;
        snapshots.push((now, posture.clone()));
        let loaded = fleet.state.current();
        Ok(OverviewData {
            posture,
            verdicts: s.verdict_counts().map_err(e)?,
            hosts: (hosts.iter().filter(|h| h.compliant).count(), hosts.len()),
            refusals_24h: s.count_events(&["admission.refused"], since).map_err(e)?,
            recent_refusals: s
                .events_newest(&EventQuery {
                    kinds: vec!["admission.refused".to_owned()],
                    limit: 5,
                    ..EventQuery::default()
                })
                .map_err(e)?,
            snapshots,
            environments: loaded
                .as_ref()
                .map(|l| l.policy.environments().map(str::to_owned).collect())
                .unwrap_or_default(),
            expiring: expiring(loaded.as_deref(), now),
        })
    })
    .await;
    let d = match data {
        Ok(d) => d,
        Err(e) => return unavailable(&e),
    };
    let p = &d.posture;
    let mut envs: Vec<String> = d.environments.clone();
    for v in &d.verdicts {
        if !envs.contains(&v.environment) {
            envs.push(v.environment.clone());
        }
    }
    let cell = |env: &str, verdict: &str| {
        d.verdicts
            .iter()
            .find(|v| v.environment == env && v.verdict == verdict)
            .map_or(0, |v| v.images)
    };
    let series = |key: &'static str, label: &'static str, f: fn(&Posture) -> i64| chart::Series {
        key,
        label,
        points: d.snapshots.iter().map(|(t, p)| (*t, f(p))).collect(),
    };
    let compliant_pct = (d.hosts.0 * 100)
        .checked_div(d.hosts.1)
        .map_or_else(|| "—".to_owned(), |p| format!("{p}%"));
    page(
        "Overview",
        "/",
        Some(&viewer),
        html! {
            section class="cards" aria-label="Key figures" {
                a class="card" href="/images" {
                    span class="figure" data-testid="images" { (p.analysed) }
                    span class="label" { "images analysed" }
                    @if p.failed > 0 { span class="sub bad" { (p.failed) " failed" } }
                    span class="sub" { (p.running) " running" }
                }
                a class="card" href="/images?severity=critical&sort=severity" {
                    span class="figure sev-critical" data-testid="critical" { (p.critical) }
                    span class="label" { "critical findings" }
                    span class="sub" { "in " (p.critical_images) " images, " (p.running_critical) " running" }
                }
                a class="card" href="/images?kev=on&sort=severity" {
                    span class="figure" data-testid="kev" { (p.kev_images) }
                    span class="label" { "images with a KEV-listed vulnerability" }
                    span class="sub" { (p.running_kev) " running" }
                }
                a class="card" href="/images?sort=severity" {
                    span class="figure" data-testid="epss" { (p.high_epss_images) }
                    span class="label" { "images with EPSS ≥ " (HIGH_EPSS) }
                    span class="sub" { (p.high_epss_findings) " findings" }
                }
                a class="card" href="/hosts" {
                    span class="figure" data-testid="hosts" { (compliant_pct) }
                    span class="label" { "hosts compliant" }
                    span class="sub" { (d.hosts.0) " of " (d.hosts.1) }
                }
                a class="card" href="/decisions?kind=refusals" {
                    span class="figure" data-testid="refusals" { (d.refusals_24h) }
                    span class="label" { "refusals in the last 24 h" }
                }
                a class="card" href="/policy" {
                    span class="figure" data-testid="expiring" { (d.expiring.len()) }
                    span class="label" { "exceptions expiring within " (EXPIRY_WARNING_DAYS) " days" }
                }
            }
            section aria-labelledby="verdicts" {
                h2 id="verdicts" { "Images by verdict" }
                @if envs.is_empty() {
                    p class="muted" { "No decisions yet." }
                } @else {
                    table class="verdicts" {
                        thead { tr { th scope="col" { "Environment" } th scope="col" { "allow" } th scope="col" { "warn" } th scope="col" { "deny" } } }
                        tbody {
                            @for env in &envs {
                                tr {
                                    th scope="row" { (env) }
                                    @for v in ["allow", "warn", "deny"] {
                                        td class="num" {
                                            a href={ "/images?environment=" (url_encode(env)) "&verdict=" (v) } data-testid={ "verdict-" (env) "-" (v) } { (cell(env, v)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="trend" {
                h2 id="trend" { "Findings by severity, last 30 days" }
                (chart::lines("Findings by severity over time", &[
                    series("critical", "critical", |p| p.critical),
                    series("high", "high", |p| p.high),
                    series("medium", "medium", |p| p.medium),
                    series("low", "low", |p| p.low),
                ]))
            }
            div class="two" {
                section aria-labelledby="refused" {
                    h2 id="refused" { "Latest refusals" }
                    @if d.recent_refusals.is_empty() { p class="muted" { "None." } }
                    ul class="events" {
                        @for e in &d.recent_refusals {
                            li { (time(e.at / 1000, now)) " " a href={ "/decisions/" (e.id) } { (e.subject) } }
                        }
                    }
                }
                section aria-labelledby="expiring" {
                    h2 id="expiring" { "Exceptions expiring soon" }
                    @if d.expiring.is_empty() { p class="muted" { "None within " (EXPIRY_WARNING_DAYS) " days." } }
                    ul {
                        @for e in &d.expiring {
                            li { strong { (e.name) } " expires " (e.expires) " (" (e.reason) ")" }
                        }
                    }
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Images

#[derive(Debug, Default, Deserialize)]
pub(super) struct ImagesQuery {
    q: Option<String>,
    repository: Option<String>,
    environment: Option<String>,
    verdict: Option<String>,
    severity: Option<String>,
    kev: Option<String>,
    fixable: Option<String>,
    running: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
}

impl ImagesQuery {
    /// The query string for this filter with one key changed.
    fn with(&self, key: &str, value: &str) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let fields: [(&str, Option<&String>); 9] = [
            ("q", self.q.as_ref()),
            ("repository", self.repository.as_ref()),
            ("environment", self.environment.as_ref()),
            ("verdict", self.verdict.as_ref()),
            ("severity", self.severity.as_ref()),
            ("kev", self.kev.as_ref()),
            ("fixable", self.fixable.as_ref()),
            ("running", self.running.as_ref()),
            ("sort", self.sort.as_ref()),
        ];
        for (k, v) in fields {
            if k != key
                && let Some(v) = given(v)
            {
                pairs.push((k, v));
            }
        }
        if !(value.is_empty() || key == "page" && value == "1") {
            pairs.push((key, value.to_owned()));
        }
        let mut s = String::from("/images");
        for (i, (k, v)) in pairs.iter().enumerate() {
            let _ = write!(s, "{}{k}={}", if i == 0 { '?' } else { '&' }, url_encode(v));
        }
        s
    }
}

const SEVERITIES: &[&str] = &["critical", "high", "medium", "low"];

pub(super) async fn images(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<ImagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(&e),
    };
    let sort = match given(q.sort.as_ref()).as_deref() {
        None | Some("newest") => Sort::Newest,
        Some("severity") => Sort::Severity,
        Some("digest") => Sort::Digest,
        Some(other) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("sort {other:?}: expected newest, severity or digest"),
            );
        }
    };
    let severity_filter = given(q.severity.as_ref()).map(|s| s.to_ascii_lowercase());
    if let Some(s) = &severity_filter
        && !SEVERITIES.contains(&s.as_str())
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("severity {s:?}: expected critical, high, medium or low"),
        );
    }
    let verdict_filter = given(q.verdict.as_ref());
    if let Some(v) = &verdict_filter
        && !matches!(v.as_str(), "allow" | "warn" | "deny")
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("verdict {v:?}: expected allow, warn or deny"),
        );
    }
    let running = match given(q.running.as_ref()).as_deref() {
        None => None,
        Some("yes") => Some(true),
        Some("no") => Some(false),
        Some(other) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("running {other:?}: expected yes or no"),
            );
        }
    };
    let page_no = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let filter = ImageFilter {
        repository: given(q.repository.as_ref()),
        search: given(q.q.as_ref()),
        verdict: verdict_filter,
        environment: given(q.environment.as_ref()),
        min_severity: severity_filter,
        kev: checked(q.kev.as_ref()),
        fixable: checked(q.fixable.as_ref()),
        running,
        sort,
        offset: (page_no - 1) * PAGE,
        limit: PAGE,
    };
    let fleet = Arc::clone(&c.fleet);
    let result = blocking(move || {
        let envs: Vec<String> = fleet
            .state
            .current()
            .map(|l| l.policy.environments().map(str::to_owned).collect())
            .unwrap_or_default();
        let (items, total) = fleet
            .store
            .list_images(&filter)
            .map_err(|e| e.to_string())?;
        Ok((items, total, envs))
    })
    .await;
    let (items, total, envs) = match result {
        Ok(r) => r,
        Err(e) => return unavailable(&e),
    };
    let now = palisade_store::now();
    let pages = (total + PAGE - 1) / PAGE;
    let first = (page_no - 1) * PAGE + 1;
    let last = (first + items.len() as i64 - 1).max(0);
    let sort_link = |key: &str, label: &str| {
        let current = given(q.sort.as_ref()).unwrap_or_else(|| "newest".to_owned());
        html! {
            @if current == key {
                a href=(q.with("sort", key)) aria-sort="descending" { (label) " ▾" }
            } @else {
                a href=(q.with("sort", key)) { (label) }
            }
        }
    };
    let selected = |v: Option<&String>, option: &str| given(v).as_deref() == Some(option);
    page(
        "Images",
        "/images",
        Some(&viewer),
        html! {
            form class="filters" method="get" action="/images" role="search" {
                div { label for="f-q" { "Search" } input id="f-q" name="q" type="search" value=[q.q.as_deref()] placeholder="name, tag or digest"; }
                div { label for="f-repo" { "Repository" } input id="f-repo" name="repository" value=[q.repository.as_deref()] placeholder="registry/repo or prefix*"; }
                div { label for="f-env" { "Environment" }
                    select id="f-env" name="environment" {
                        option value="" { "any" }
                        @for e in &envs { option value=(e) selected[selected(q.environment.as_ref(), e)] { (e) } }
                    }
                }
                div { label for="f-verdict" { "Verdict" }
                    select id="f-verdict" name="verdict" {
                        option value="" { "any" }
                        @for v in ["allow", "warn", "deny"] { option value=(v) selected[selected(q.verdict.as_ref(), v)] { (v) } }
                    }
                }
                div { label for="f-sev" { "Severity at least" }
                    select id="f-sev" name="severity" {
                        option value="" { "any" }
                        @for s in SEVERITIES { option value=(s) selected[selected(q.severity.as_ref(), s)] { (s) } }
                    }
                }
                div { label for="f-running" { "Running" }
                    select id="f-running" name="running" {
                        option value="" { "either" }
                        option value="yes" selected[selected(q.running.as_ref(), "yes")] { "running" }
                        option value="no" selected[selected(q.running.as_ref(), "no")] { "not running" }
                    }
                }
                div class="check" { input id="f-kev" name="kev" type="checkbox" checked[checked(q.kev.as_ref())]; label for="f-kev" { "KEV-listed" } }
                div class="check" { input id="f-fix" name="fixable" type="checkbox" checked[checked(q.fixable.as_ref())]; label for="f-fix" { "Fixable" } }
                input type="hidden" name="sort" value=[given(q.sort.as_ref())];
                button type="submit" { "Filter" }
            }
            p class="count" data-testid="image-count" {
                @if total == 0 { "No image matches." } @else { "Images " (first) "–" (last) " of " (total) }
            }
            table class="list" {
                thead {
                    tr {
                        th scope="col" { "Image" }
                        th scope="col" { (sort_link("digest", "Digest")) }
                        th scope="col" { "Platform" }
                        th scope="col" class="num" { (sort_link("severity", "Critical")) }
                        th scope="col" class="num" { "High" }
                        th scope="col" class="num" { "Medium" }
                        th scope="col" class="num" { "Low" }
                        th scope="col" class="num" { "KEV" }
                        th scope="col" { "Verdicts" }
                        th scope="col" class="num" { "Running" }
                        th scope="col" { (sort_link("newest", "Analysed")) }
                    }
                }
                tbody {
                    @for i in &items {
                        tr {
                            td {
                                @if i.names.is_empty() { (image_link(&i.digest, &short_digest(&i.digest))) }
                                @for n in i.names.iter().take(3) { div { (image_link(&i.digest, n)) } }
                                @if i.names.len() > 3 { span class="muted small" { "and " (i.names.len() - 3) " more" } }
                                @if let Some(e) = &i.error { div class="bad small" { "analysis failed: " (e) } }
                            }
                            td { code { (short_digest(&i.digest)) } }
                            td { @if i.platform.trim_matches('/').is_empty() { span class="muted" { "—" } } @else { (i.platform) } }
                            td class="num" { (count(i.critical)) }
                            td class="num" { (count(i.high)) }
                            td class="num" { (count(i.medium)) }
                            td class="num" { (count(i.low)) }
                            td class="num" { (count(i.kev)) }
                            td { @for (env, v) in &i.verdicts { span class="env" { (env) ": " (verdict(v)) } " " } }
                            td class="num" { (count(i.running)) }
                            td { @if let Some(at) = i.analyzed_at { (time(at, now)) } @else { span class="muted" { "pending" } } }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav class="pager" aria-label="Pages" {
                    @if page_no > 1 { a href=(q.with("page", &(page_no - 1).to_string())) rel="prev" { "← Previous" } }
                    span { "Page " (page_no) " of " (pages) }
                    @if page_no < pages { a href=(q.with("page", &(page_no + 1).to_string())) rel="next" { "Next →" } }
                }
            }
        },
    )
}

/// An advisory's summary line from the database in force, by id (empty when unknown).
fn advisory_titles(fleet: &crate::fleet::Fleet, ids: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(path) = fleet.state.current().and_then(|l| l.db_path.clone()) else {
        return out;
    };
    let Ok(db) = palisade_vulndb::Database::open_read_only(&path) else {
        return out;
    };
    for id in ids {
        if let Ok(Some(a)) = db.advisory(id) {
            out.insert((*id).to_owned(), a.summary);
        }
    }
    out
}

struct ImageData {
    detail: palisade_store::ImageDetail,
    catalog: Option<palisade_catalog::Catalog>,
    titles: BTreeMap<String, String>,
    events: Vec<palisade_store::Event>,
}

/// Findings grouped per package, the most severe package first.
struct PackageGroup<'a> {
    package: &'a str,
    version: &'a str,
    kind: &'a str,
    findings: Vec<&'a FindingRow>,
    upgrade: palisade_scan::Upgrade,
    rank: u8,
}

fn rank(severity: &str) -> u8 {
    match severity.to_ascii_lowercase().as_str() {
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        "negligible" => 1,
        _ => 0,
    }
}

fn groups(findings: &[FindingRow]) -> Vec<PackageGroup<'_>> {
    let mut by: BTreeMap<(&str, &str, &str), Vec<&FindingRow>> = BTreeMap::new();
    for f in findings {
        by.entry((&f.package, &f.version, &f.kind))
            .or_default()
            .push(f);
    }
    let mut out: Vec<PackageGroup<'_>> = by
        .into_iter()
        .map(|((package, version, kind), mut findings)| {
            findings.sort_by(|a, b| {
                rank(&b.severity)
                    .cmp(&rank(&a.severity))
                    .then(
                        b.cvss
                            .partial_cmp(&a.cvss)
                            .unwrap_or(std::cmp::Ordering::Equal),
                    )
                    .then(a.advisory.cmp(&b.advisory))
            });
            let upgrade = palisade_scan::upgrade(kind, version, findings.iter().map(|f| &f.fixed));
            let rank = findings
                .iter()
                .map(|f| rank(&f.severity))
                .max()
                .unwrap_or(0);
            PackageGroup {
                package,
                version,
                kind,
                findings,
                upgrade,
                rank,
            }
        })
        .collect();
    out.sort_by(|a, b| b.rank.cmp(&a.rank).then(a.package.cmp(b.package)));
    out
}

fn reasons(list: &serde_json::Value) -> Markup {
    let items = list.as_array().cloned().unwrap_or_default();
    html! {
        @if items.is_empty() { p class="muted" { "No reasons: every check passed." } }
        @else {
            ul class="reasons" {
                @for r in &items {
                    @let effect = r["effect"].as_str().unwrap_or("");
                    li class={ "reason " (effect) } {
                        span class="effect" { (effect) }
                        " " code { (r["code"].as_str().unwrap_or("")) } " "
                        (r["message"].as_str().unwrap_or(""))
                        @if let Some(fix) = r["fix"].as_str() { div class="fix" { "Fix: " (fix) } }
                        @if let Some(e) = r["exception"].as_object() {
                            div class="exception" {
                                "Exception " strong { (e.get("name").and_then(|v| v.as_str()).unwrap_or("")) }
                                " (" (e.get("status").and_then(|v| v.as_str()).unwrap_or("")) ", expires "
                                (e.get("expires").and_then(|v| v.as_str()).unwrap_or("")) "): "
                                (e.get("reason").and_then(|v| v.as_str()).unwrap_or(""))
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn image(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(digest): UrlPath<String>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    if !crate::registry::is_sha256_digest(&digest) {
        return error_page(StatusCode::BAD_REQUEST, "expected sha256:<64 hex digits>");
    }
    let fleet = Arc::clone(&c.fleet);
    let d = digest.clone();
    let data = blocking(move || {
        let s = &fleet.store;
        let Some(detail) = s.image(&d).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let catalog = s
            .image_data(&d)
            .map_err(|e| e.to_string())?
            .and_then(|(c, _)| serde_json::from_slice::<palisade_catalog::Catalog>(&c).ok());
        let ids: Vec<&str> = detail
            .findings
            .iter()
            .map(|f| f.advisory.as_str())
            .collect();
        let titles = advisory_titles(&fleet, &ids);
        let events = s
            .events_newest(&EventQuery {
                digest: Some(d.clone()),
                limit: 20,
                ..EventQuery::default()
            })
            .map_err(|e| e.to_string())?;
        Ok(Some(ImageData {
            detail,
            catalog,
            titles,
            events,
        }))
    })
    .await;
    let data = match data {
        Ok(Some(d)) => d,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, "no such image in the store"),
        Err(e) => return unavailable(&e),
    };
    let now = palisade_store::now();
    let d = &data.detail;
    let sum = &d.summary;
    let title = d
        .repositories
        .first()
        .map(|n| {
            format!(
                "{}/{}{}",
                n.registry,
                n.repository,
                if n.tag.is_empty() {
                    String::new()
                } else {
                    format!(":{}", n.tag)
                }
            )
        })
        .unwrap_or_else(|| short_digest(&digest));
    let grouped = groups(&d.findings);
    let mut layers: BTreeMap<usize, Vec<&palisade_catalog::Package>> = BTreeMap::new();
    if let Some(cat) = &data.catalog {
        for p in &cat.packages {
            layers
                .entry(p.layer.as_ref().map_or(usize::MAX, |l| l.index))
                .or_default()
                .push(p);
        }
    }
    page(
        &title,
        "/images",
        Some(&viewer),
        html! {
            dl class="facts" {
                dt { "Digest" } dd { code data-testid="digest" { (digest) } }
                dt { "Platform" } dd { (sum.platform) }
                dt { "Media type" } dd { (d.media_type) }
                @if let Some(c) = &sum.created { dt { "Created" } dd { (c) } }
                dt { "Analysed" } dd { @if let Some(at) = sum.analyzed_at { (when(at)) } @else { "not yet" } }
                dt { "Packages" } dd { (sum.packages) }
                dt { "SBOM" } dd {
                    a href={ "/images/" (digest) "/sbom/cyclonedx" } download { "CycloneDX" } " · "
                    a href={ "/images/" (digest) "/sbom/spdx" } download { "SPDX" }
                }
            }
            @if let Some(e) = &sum.error { p class="error" role="alert" { "The last analysis failed: " (e) } }
            @if viewer.role >= Role::Admin {
                form method="post" action={ "/images/" (digest) "/rescan" } class="inline" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    button type="submit" { "Rescan now" }
                }
            }
            section aria-labelledby="names" {
                h2 id="names" { "Names and signatures" }
                table class="list" {
                    thead { tr { th scope="col" { "Registry" } th scope="col" { "Repository" } th scope="col" { "Tag" } th scope="col" { "Signed by" } th scope="col" { "Last seen" } } }
                    tbody {
                        @for n in &d.repositories {
                            tr {
                                td { (n.registry) } td { (n.repository) } td { (n.tag) }
                                td {
                                    @match &n.trust {
                                        None => span class="muted" { "not checked" },
                                        Some(t) => {
                                            @let signers: Vec<&str> = t["signers"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
                                            @if signers.is_empty() {
                                                span class="badge bad" { "no verified signature" }
                                                " " span class="small" { (t["signatures"].as_u64().unwrap_or(0)) " found" }
                                            } @else {
                                                @for s in &signers { span class="badge ok" { (s) } " " }
                                            }
                                            @for e in t["errors"].as_array().into_iter().flatten() {
                                                div class="small muted" { (e.as_str().unwrap_or("")) }
                                            }
                                        }
                                    }
                                }
                                td { (time(n.last_seen, now)) }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="decisions" {
                h2 id="decisions" { "Decisions" }
                @if d.decisions.is_empty() { p class="muted" { "Not decided yet." } }
                @for row in &d.decisions {
                    details class="decision" open[row.verdict != "allow"] {
                        summary { (verdict(&row.verdict)) " " strong { (row.environment) } " for " (row.repository) " · " (when(row.decided_at)) }
                        (reasons(&serde_json::from_str(&row.reasons).unwrap_or_default()))
                    }
                }
            }
            section aria-labelledby="runs" {
                h2 id="runs" { "Where it runs" }
                @if d.sightings.is_empty() { p class="muted" { "Not seen running." } }
                @else {
                    table class="list" {
                        thead { tr { th scope="col" { "Where" } th scope="col" { "Kind" } th scope="col" { "As" } th scope="col" { "Last seen" } } }
                        tbody { @for s in &d.sightings { tr { td { (s.place) } td { (s.kind) } td { (s.reference) } td { (time(s.last_seen, now)) } } } }
                    }
                }
            }
            section aria-labelledby="findings" {
                h2 id="findings" { "Vulnerabilities (" (d.findings.len()) ")" }
                @if grouped.is_empty() { p class="muted" { "No known vulnerability." } }
                @for g in &grouped {
                    article class="package" {
                        h3 {
                            span class="pkg" { (g.package) } " " span class="ver" { (g.version) } " " span class="muted small" { (g.kind) }
                        }
                        p class="upgrade" data-testid="upgrade" {
                            @match &g.upgrade.version {
                                Some(v) => {
                                    "Upgrade to " strong { (v) }
                                    @if g.upgrade.prerelease { " (a pre-release: no release fixes it yet)" }
                                    @if g.upgrade.unfixed > 0 { "; " (g.upgrade.unfixed) " finding(s) have no fix yet" }
                                    @else { " fixes all " (g.findings.len()) }
                                },
                                None => "No fixed version yet",
                            }
                        }
                        table class="list findings" {
                            thead { tr { th scope="col" { "Advisory" } th scope="col" { "Severity" } th scope="col" class="num" { "CVSS" } th scope="col" { "Exploited" } th scope="col" { "Fixed in" } th scope="col" { "Why" } } }
                            tbody {
                                @for f in &g.findings {
                                    tr {
                                        td {
                                            (advisory_link(&f.advisory))
                                            @if !f.aliases.is_empty() { div class="small muted" { (f.aliases.join(", ")) } }
                                            @if let Some(t) = data.titles.get(&f.advisory).filter(|t| !t.is_empty()) { div class="title" { (t) } }
                                        }
                                        td { (severity(&f.severity)) }
                                        td class="num" { @if let Some(s) = f.cvss { (format!("{s:.1}")) } }
                                        td {
                                            @if f.kev { span class="badge bad" { "KEV" } " " }
                                            @if let Some(e) = f.epss { span class="small" title="EPSS probability" { "EPSS " (format!("{:.1}%", e * 100.0)) } }
                                        }
                                        td { @if f.fixed.is_empty() { span class="muted" { "no fix" } } @else { (f.fixed.join(", ")) } }
                                        td class="small" { (f.why) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="layers" {
                h2 id="layers" { "Layers and the packages each introduced" }
                @if let Some(cat) = &data.catalog {
                    @for l in &cat.source.layers {
                        details class="layer" {
                            summary {
                                "Layer " (l.index) " "
                                @if let Some(d) = &l.digest { code { (short_digest(d)) } }
                                " · " (layers.get(&l.index).map_or(0, Vec::len)) " packages"
                                @if let Some(size) = l.size { " · " (size / 1024) " KiB" }
                            }
                            @if let Some(c) = &l.created_by { p class="small muted created-by" { (c) } }
                            ul class="cols" { @for p in layers.get(&l.index).into_iter().flatten() { li { (p.name) " " span class="muted" { (p.version) } } } }
                        }
                    }
                    @if let Some(rest) = layers.get(&usize::MAX) {
                        details class="layer" { summary { "No layer recorded · " (rest.len()) " packages" }
                            ul class="cols" { @for p in rest { li { (p.name) " " span class="muted" { (p.version) } } } } }
                    }
                } @else { p class="muted" { "The catalog is not stored (analysis pending or failed)." } }
            }
            section aria-labelledby="history" {
                h2 id="history" { "History" }
                ul class="events" {
                    @for e in &data.events { li { (time(e.at / 1000, now)) " " a href={ "/decisions/" (e.id) } { (e.subject) } } }
                }
            }
        },
    )
}

pub(super) async fn sbom(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    UrlPath((digest, format)): UrlPath<(String, String)>,
) -> Response {
    let _viewer = viewer!(c, headers, uri);
    if !crate::registry::is_sha256_digest(&digest) {
        return error_page(StatusCode::BAD_REQUEST, "expected sha256:<64 hex digits>");
    }
    let spdx = match format.as_str() {
        "cyclonedx" => false,
        "spdx" => true,
        _ => return error_page(StatusCode::NOT_FOUND, "formats: cyclonedx, spdx"),
    };
    let store = Arc::clone(&c.fleet.store);
    let d = digest.clone();
    match blocking(move || crate::api::sbom_document(&store, &d, spdx)).await {
        Ok(Some(doc)) => {
            let hex = digest.trim_start_matches("sha256:");
            let name = format!(
                "{}.{}.json",
                &hex[..12.min(hex.len())],
                if spdx { "spdx" } else { "cdx" }
            );
            (
                [
                    (
                        header::CONTENT_TYPE,
                        if spdx {
                            "application/spdx+json"
                        } else {
                            "application/vnd.cyclonedx+json"
                        }
                        .to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                doc.to_string(),
            )
                .into_response()
        }
        Ok(None) => error_page(StatusCode::NOT_FOUND, "no analysed image with that digest"),
        Err(e) => unavailable(&e),
    }
}

pub(super) async fn rescan(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(digest): UrlPath<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let here = format!("/images/{digest}");
    let viewer = match c.viewer(&headers, Role::Admin, &here).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = Console::check_form(&headers, &uri, &viewer, &f.csrf) {
        return r;
    }
    if !crate::registry::is_sha256_digest(&digest) {
        return error_page(StatusCode::BAD_REQUEST, "expected sha256:<64 hex digits>");
    }
    let store = Arc::clone(&c.fleet.store);
    let d = digest.clone();
    let who = viewer.name.clone();
    let queued = blocking(move || {
        let names = store.names(&d).map_err(|e| e.to_string())?;
        let Some(n) = names.first() else {
            return Err("the image has no registry name to read it from".to_owned());
        };
        let name = ImageName {
            registry: n.registry.clone(),
            repository: n.repository.clone(),
            tag: n.tag.clone(),
            digest: d.clone(),
            reason: format!("console ({who})"),
        };
        let payload = serde_json::to_string(&name).map_err(|e| e.to_string())?;
        store
            .enqueue(kind::VERIFY, &name.key(), &payload)
            .map(|j| j.id())
            .map_err(|e| e.to_string())
    })
    .await;
    match queued {
        Ok(_) => {
            let mut r = Redirect::to(&here).into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r
        }
        Err(e) => error_page(StatusCode::CONFLICT, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Vulnerabilities

#[derive(Debug, Default, Deserialize)]
pub(super) struct IdQuery {
    id: Option<String>,
}

pub(super) async fn vulnerability_search(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<IdQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    if let Ok(Query(IdQuery { id: Some(id) })) = &q
        && !id.trim().is_empty()
    {
        let mut r =
            Redirect::to(&format!("/vulnerabilities/{}", url_encode(id.trim()))).into_response();
        *r.status_mut() = StatusCode::SEE_OTHER;
        return r;
    }
    page(
        "Vulnerabilities",
        "/vulnerabilities",
        Some(&viewer),
        html! {
            form class="filters" method="get" action="/vulnerabilities" role="search" {
                div { label for="v-id" { "Advisory or CVE" } input id="v-id" name="id" required placeholder="CVE-2024-3094, GHSA-…, DSA-…"; }
                button type="submit" { "Find across the fleet" }
            }
            p class="hint" { "Every image with a finding known by that id or alias, and where each runs." }
        },
    )
}

pub(super) async fn vulnerability(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    if id.is_empty() || id.len() > 128 {
        return error_page(
            StatusCode::BAD_REQUEST,
            "an advisory id is 1 to 128 characters",
        );
    }
    let fleet = Arc::clone(&c.fleet);
    let i = id.clone();
    let data = blocking(move || {
        let total = fleet.store.fleet_count(&i).map_err(|e| e.to_string())?;
        let hits = fleet
            .store
            .fleet(&i, false, 200)
            .map_err(|e| e.to_string())?;
        let advisory = fleet
            .state
            .current()
            .and_then(|l| l.db_path.clone())
            .and_then(|p| palisade_vulndb::Database::open_read_only(&p).ok())
            .and_then(|db| db.advisory(&i).ok().flatten());
        Ok((total, hits, advisory))
    })
    .await;
    let (total, hits, advisory) = match data {
        Ok(d) => d,
        Err(e) => return unavailable(&e),
    };
    let now = palisade_store::now();
    let running = hits.iter().filter(|h| !h.sightings.is_empty()).count();
    page(
        &id,
        "/vulnerabilities",
        Some(&viewer),
        html! {
            @if let Some(a) = &advisory {
                p class="lead" data-testid="summary" { (a.summary) }
                @if !a.aliases.is_empty() { p class="small" { "Also known as " (a.aliases.join(", ")) } }
                @if let Some(details) = &a.details { details { summary { "Details" } pre class="wrap" { (details) } } }
            } @else {
                p class="muted" { "Not in the vulnerability database in force (it may be an alias, or withdrawn)." }
            }
            p class="count" data-testid="affected-count" {
                (total) " affected image(s)"
                @if total > hits.len() as i64 { ", the first " (hits.len()) " shown" }
                "; " (running) " of those shown run."
            }
            table class="list" {
                thead { tr { th scope="col" { "Image" } th scope="col" { "Package" } th scope="col" { "Severity" } th scope="col" { "Fixed in" } th scope="col" { "Where it runs" } } }
                tbody {
                    @for h in &hits {
                        tr {
                            td { (image_link(&h.digest, &h.names.first().cloned().unwrap_or_else(|| short_digest(&h.digest)))) }
                            td { @for f in &h.findings { div { (f.package) " " span class="muted" { (f.version) } } } }
                            td { @for f in &h.findings { div { (severity(&f.severity)) } } }
                            td { @for f in &h.findings { div { @if f.fixed.is_empty() { span class="muted" { "no fix" } } @else { (f.fixed.join(", ")) } } } }
                            td {
                                @if h.sightings.is_empty() { span class="muted" { "not running" } }
                                @for s in &h.sightings { div { (s.place) " " span class="small muted" { (s.kind) ", " (time(s.last_seen, now)) } } }
                            }
                        }
                    }
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Hosts

pub(super) async fn hosts(State(c): St, headers: HeaderMap, uri: Uri) -> Response {
    let viewer = viewer!(c, headers, uri);
    let store = Arc::clone(&c.fleet.store);
    let data = blocking(move || {
        let hosts = store.hosts().map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(hosts.len());
        for h in hosts {
            let mut history = store.host_history(&h.name, 30).map_err(|e| e.to_string())?;
            history.reverse();
            out.push((h, history));
        }
        Ok(out)
    })
    .await;
    let hosts = match data {
        Ok(h) => h,
        Err(e) => return unavailable(&e),
    };
    let now = palisade_store::now();
    page(
        "Hosts",
        "/hosts",
        Some(&viewer),
        html! {
            p class="count" data-testid="host-count" { (hosts.len()) " host(s), " (hosts.iter().filter(|(h, _)| h.compliant).count()) " compliant" }
            table class="list" {
                thead { tr { th scope="col" { "Host" } th scope="col" { "CIS" } th scope="col" class="num" { "Score" } th scope="col" class="num" { "Failing" } th scope="col" { "Trend" } th scope="col" { "Last report" } } }
                tbody {
                    @for (h, history) in &hosts {
                        @let total = h.passed + h.failed;
                        tr {
                            td { a href={ "/hosts/" (url_encode(&h.name)) } { (h.name) } }
                            td { @if h.compliant { span class="badge ok" { "compliant" } } @else { span class="badge bad" { "failing" } } }
                            td class="num" { @if total > 0 { (h.passed * 100 / total) "%" } @else { "—" } }
                            td class="num" { (h.failed) }
                            td { (chart::sparkline(&format!("passing checks of {}", h.name), &history.iter().map(|x| x.1).collect::<Vec<_>>())) }
                            td { (time(h.reported_at, now)) }
                        }
                    }
                }
            }
        },
    )
}

pub(super) async fn host(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    let store = Arc::clone(&c.fleet.store);
    let n = name.clone();
    let data = blocking(move || {
        let Some(h) = store.host(&n).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let history = store.host_history(&n, 100).map_err(|e| e.to_string())?;
        Ok(Some((h, history)))
    })
    .await;
    let (h, history) = match data {
        Ok(Some(d)) => d,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, "no such host has reported"),
        Err(e) => return unavailable(&e),
    };
    let now = palisade_store::now();
    let failing: Vec<String> = h.report["host_failing"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let total = h.passed + h.failed;
    page(
        &h.name,
        "/hosts",
        Some(&viewer),
        html! {
            dl class="facts" {
                dt { "CIS Docker Benchmark" } dd { @if h.compliant { span class="badge ok" { "compliant" } } @else { span class="badge bad" { "failing" } } }
                dt { "Score" } dd { (h.passed) " passing, " (h.failed) " failing" @if total > 0 { " (" (h.passed * 100 / total) "%)" } }
                dt { "Last report" } dd { (when(h.reported_at)) " (" (super::view::ago(h.reported_at, now)) ")" }
                dt { "Agent" } dd { (h.report["agent_version"].as_str().unwrap_or("")) }
                dt { "Policy bundle" } dd { code { (h.report["policy_digest"].as_str().unwrap_or("none yet")) } }
                dt { "Decisions since start" } dd {
                    (h.report["decisions"]["allow"].as_u64().unwrap_or(0)) " allowed, "
                    (h.report["decisions"]["warn"].as_u64().unwrap_or(0)) " warned, "
                    (h.report["decisions"]["deny"].as_u64().unwrap_or(0)) " refused"
                }
            }
            section aria-labelledby="failing" {
                h2 id="failing" { "Failing checks" }
                @if failing.is_empty() { p class="muted" { "None." } }
                ul class="checks" {
                    @for id in &failing {
                        @let def = palisade_harden::check_list::find_any(id);
                        li {
                            strong { (id) } " " (def.map_or("", |d| d.title))
                            @if let Some(d) = def { div class="fix small" { "Fix: " (d.remediation) } }
                        }
                    }
                }
            }
            section aria-labelledby="trend" {
                h2 id="trend" { "Trend" }
                table class="list" {
                    thead { tr { th scope="col" { "Report" } th scope="col" class="num" { "Passing" } th scope="col" class="num" { "Failing" } } }
                    tbody { @for (at, p, f) in &history { tr { td { (when(*at)) } td class="num" { (p) } td class="num" { (f) } } } }
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Decisions

#[derive(Debug, Default, Deserialize)]
pub(super) struct DecisionsQuery {
    kind: Option<String>,
    q: Option<String>,
    before: Option<i64>,
}

const DECISION_KINDS: &[&str] = &[
    "admission.refused",
    "decision.changed",
    "image.analyzed",
    "scan.failed",
];

fn kinds_for(filter: &str) -> Option<Vec<String>> {
    let v: Vec<&str> = match filter {
        "" | "decisions" => DECISION_KINDS.to_vec(),
        "refusals" => vec!["admission.refused"],
        "changes" => vec!["decision.changed"],
        "analyses" => vec!["image.analyzed"],
        "failures" => vec!["scan.failed"],
        "all" => Vec::new(),
        _ => return None,
    };
    Some(v.into_iter().map(str::to_owned).collect())
}

pub(super) async fn decisions(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    q: Result<Query<DecisionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(&e),
    };
    let filter = given(q.kind.as_ref()).unwrap_or_default();
    let Some(kinds) = kinds_for(&filter) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "kind {filter:?}: expected decisions, refusals, changes, analyses, failures or all"
            ),
        );
    };
    let store = Arc::clone(&c.fleet.store);
    let query = EventQuery {
        kinds,
        before: q.before.unwrap_or(0).max(0),
        text: given(q.q.as_ref()),
        limit: PAGE,
        ..EventQuery::default()
    };
    let events =
        match blocking(move || store.events_newest(&query).map_err(|e| e.to_string())).await {
            Ok(e) => e,
            Err(e) => return unavailable(&e),
        };
    let now = palisade_store::now();
    let options = [
        (
            "decisions",
            "Decisions (refusals, changes, analyses, failures)",
        ),
        ("refusals", "Refusals (admission and Docker hosts)"),
        ("changes", "Decision changes"),
        ("analyses", "Analyses"),
        ("failures", "Failed scans"),
        ("all", "Every event"),
    ];
    let next = events
        .last()
        .map(|e| e.id)
        .filter(|_| events.len() as i64 == PAGE);
    page(
        "Decisions",
        "/decisions",
        Some(&viewer),
        html! {
            form class="filters" method="get" action="/decisions" role="search" {
                div { label for="d-kind" { "Show" }
                    select id="d-kind" name="kind" {
                        @for (k, label) in options { option value=(k) selected[filter == k || (filter.is_empty() && k == "decisions")] { (label) } }
                    }
                }
                div { label for="d-q" { "Containing" } input id="d-q" name="q" type="search" value=[q.q.as_deref()] placeholder="image, namespace, environment"; }
                button type="submit" { "Filter" }
            }
            table class="list" {
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Detail" } } }
                tbody {
                    @for e in &events {
                        tr {
                            td { (time(e.at / 1000, now)) }
                            td { span class={ "kind kind-" (e.kind.replace('.', "-")) } { (e.kind) } }
                            td { a href={ "/decisions/" (e.id) } { (e.subject) } }
                        }
                    }
                }
            }
            @if events.is_empty() { p class="muted" { "Nothing matches." } }
            @if let Some(n) = next {
                nav class="pager" aria-label="Pages" {
                    a rel="next" href={ "/decisions?kind=" (url_encode(if filter.is_empty() { "decisions" } else { &filter })) "&q=" (url_encode(q.q.as_deref().unwrap_or(""))) "&before=" (n) } { "Older →" }
                }
            }
        },
    )
}

pub(super) async fn decision(
    State(c): St,
    headers: HeaderMap,
    uri: Uri,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    let viewer = viewer!(c, headers, uri);
    let store = Arc::clone(&c.fleet.store);
    let event = match blocking(move || store.event(id).map_err(|e| e.to_string())).await {
        Ok(Some(e)) => e,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, "no such event"),
        Err(e) => return unavailable(&e),
    };
    let d = &event.detail;
    let pretty = serde_json::to_string_pretty(d).unwrap_or_default();
    page(
        &format!("{} #{}", event.kind, event.id),
        "/decisions",
        Some(&viewer),
        html! {
            p class="lead" data-testid="subject" { (event.subject) }
            dl class="facts" {
                dt { "When" } dd { (when(event.at / 1000)) }
                @if let Some(dg) = &event.digest { dt { "Image" } dd { (image_link(dg, dg)) } }
                @if let Some(i) = d["image"].as_str() { dt { "Asked for" } dd { (i) } }
                @if let Some(p) = d["place"].as_str() { dt { "Where" } dd { (p) } }
                @if let Some(s) = d["source"].as_str() { dt { "Decided by" } dd { (s) } }
                @if let Some(v) = d["verdict"].as_str() { dt { "Verdict" } dd { (verdict(v)) } }
                @if let Some(env) = d["environment"].as_str() { dt { "Environment" } dd { (env) } }
                @if let (Some(b), Some(a)) = (d["before"].as_str().or(Some("none")), d["after"].as_str()) { dt { "Change" } dd { (verdict(b)) " → " (verdict(a)) } }
            }
            @if d["reasons"].is_array() {
                h2 { "Reasons" }
                (reasons(&d["reasons"]))
            }
            @if let Some(map) = d["decisions"].as_object() {
                h2 { "Decisions per environment" }
                @for (env, dec) in map {
                    details class="decision" open {
                        summary { (verdict(dec["decision"].as_str().unwrap_or(""))) " " strong { (env) } }
                        (reasons(&dec["reasons"]))
                    }
                }
            }
            details { summary { "The event as stored" } pre class="wrap" { (pretty) } }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Policy

pub(super) async fn policy(State(c): St, headers: HeaderMap, uri: Uri) -> Response {
    let viewer = viewer!(c, headers, uri);
    let loaded = c.fleet.state.current();
    let problems = c.fleet.state.problems();
    let decided_with = {
        let store = Arc::clone(&c.fleet.store);
        blocking(move || store.meta("policy.id").map_err(|e| e.to_string()))
            .await
            .ok()
            .flatten()
    };
    let now = palisade_store::now();
    let Some(l) = loaded else {
        return page(
            "Policy",
            "/policy",
            Some(&viewer),
            html! {
                p class="error" role="alert" { "No policy is loaded: every request is refused until one is." }
                ul { @for p in &problems { li { (p) } } }
            },
        );
    };
    let mut exceptions = l.policy.exceptions();
    exceptions.sort_by_key(|e| e.expires_at);
    let text = l
        .bundle
        .as_ref()
        .ok()
        .and_then(|b| b.files.get(&b.policy))
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    page(
        "Policy",
        "/policy",
        Some(&viewer),
        html! {
            dl class="facts" {
                dt { "File" } dd { code { (l.policy.path()) } }
                dt { "Identity" } dd { code { (l.policy_id) } }
                dt { "Stored decisions made with" } dd {
                    @match &decided_with {
                        Some(id) if *id == l.policy_id => "this policy",
                        Some(_) => span class="warn" { "an earlier policy (re-deciding)" },
                        None => "—",
                    }
                }
                dt { "Environments" } dd { @for e in l.policy.environments() { span class="env" { (e) } " " } }
            }
            @if !problems.is_empty() {
                div class="error" role="alert" { "Problems:" ul { @for p in &problems { li { (p) } } } }
            }
            section aria-labelledby="exceptions" {
                h2 id="exceptions" { "Exceptions (" (exceptions.len()) ")" }
                @if exceptions.is_empty() { p class="muted" { "None." } }
                @else {
                    table class="list" {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Waives" } th scope="col" { "Environments" } th scope="col" { "Reason" } th scope="col" { "Approved by" } th scope="col" { "Expires" } } }
                        tbody {
                            @for e in &exceptions {
                                @let days = e.expires_at.map(|at| (at + 86_400 - now).div_euclid(86_400));
                                tr {
                                    td { strong { (e.name) } }
                                    td class="small" {
                                        @for a in &e.advisories { div { "advisory " (a) } }
                                        @for p in &e.packages { div { "package " (p) } }
                                        @for c in &e.checks { div { "check " (c) } }
                                        @for i in &e.images { div class="muted" { "in " (i) } }
                                    }
                                    td { @match &e.environments { Some(list) => (list.join(", ")), None => "all" } }
                                    td { (e.reason) }
                                    td { (e.approved_by) }
                                    td {
                                        (e.expires) " "
                                        @match days {
                                            Some(d) if d <= 0 => span class="badge bad" { "expired" },
                                            Some(d) if d <= EXPIRY_WARNING_DAYS => span class="badge warn" { "in " (d) " days" },
                                            Some(_) => {},
                                            None => span class="badge bad" { "unreadable" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="text" {
                h2 id="text" { "The policy file (read only)" }
                @match &text {
                    Some(t) => pre class="policy" { (t) },
                    None => p class="muted" { "The file cannot be shown." },
                }
            }
        },
    )
}
