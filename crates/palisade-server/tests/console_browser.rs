//! The web console in a real browser (issue 20, acceptance 1 and 2): Debian's chromium,
//! headless, driven through chromedriver (WebDriver, with `fantoccini`).
//!
//! The store is filled by the real pipeline: the testbed images pushed to Debian's
//! `docker-registry`, scanned and decided by `palisade serve` (`POST /api/v1/scans`), one of
//! them signed; an admission review refused (the unsigned image in `prod`); a host report
//! from an agent; and a crafted image (its catalog posted as `palisade scan --server` does)
//! whose package name, advisory text, check id, pod name and registry name hold `<script>`
//! and quotes. The test signs in with a token and reads every page, asserting on what is
//! shown, that no injected script ran and that the crafted text shows as text; each page's
//! screenshot is saved under `target/tmp/console-screenshots/`.
//!
//! Slow: about a minute on 2 cores. Skips, saying why, only when skopeo, docker-registry,
//! chromium or chromedriver is not installed (`testbed/install-deps.sh` installs them).

#![allow(clippy::print_stderr)]

mod ca;
mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ca::Ca;
use common::http::{curl, pod};
use common::serve::Serve;
use common::{Registry, wait_for};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(120);
/// What every crafted field holds; a script that ran would set `window.__xss`.
const EVIL: &str = "<script>window.__xss=1</script>\"'&<b>";
const CRAFTED_ADVISORY: &str = "PALISADE-XSS-1";

/// chromedriver on its own port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .expect("chromedriver did not start");
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser_missing() -> Option<String> {
    for tool in ["chromium", "chromedriver"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} is not installed (testbed/install-deps.sh installs it)"
            ));
        }
    }
    None
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An OSV record whose package name and texts are crafted.
fn crafted_advisory() -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": CRAFTED_ADVISORY,
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-11-01T00:00:00Z",
        "summary": format!("crafted summary {EVIL}"),
        "details": format!("crafted details {EVIL}"),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "evilpkg"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
        }],
    })
}

/// A catalog as `palisade scan --server` posts it, with a crafted package.
fn crafted_catalog() -> Value {
    json!({
        "source": {"name": "crafted", "layers": [{"index": 0, "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}]},
        "packages": [
            {"ecosystem": "python", "name": "evilpkg", "version": "1.0", "purl": "pkg:pypi/evilpkg@1.0",
             "locations": [{"path": "/usr/lib/python3/dist-packages/x/METADATA"}], "layer": {"index": 0}},
            {"ecosystem": "python", "name": EVIL, "version": EVIL, "purl": "pkg:pypi/crafted@1.0",
             "locations": [{"path": "/usr/lib/python3/dist-packages/x/METADATA"}], "layer": {"index": 0}},
        ],
    })
}

struct Page<'a> {
    c: &'a Client,
    base: String,
    shots: PathBuf,
}

impl Page<'_> {
    async fn open(&self, path: &str, shot: &str) -> String {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let text = self.text().await;
        self.check_no_script_ran(path).await;
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{shot}.png")), png).unwrap();
        text
    }

    /// The page's visible text, once it has loaded.
    async fn text(&self) -> String {
        for _ in 0..100 {
            if let Ok(Value::String(t)) = self
                .c
                .execute(
                    "return document.readyState === 'complete' ? document.body.innerText : null;",
                    vec![],
                )
                .await
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page did not load");
    }

    /// Waits until the browser is at `path` (after a click that navigates).
    async fn wait_path(&self, path: &str) -> String {
        for _ in 0..100 {
            if let Ok(u) = self.c.current_url().await
                && u.path().starts_with(path)
            {
                return self.text().await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {path}");
    }

    async fn check_no_script_ran(&self, path: &str) {
        let ran = self
            .c
            .execute(
                "return [window.__xss === undefined, document.scripts.length, \
                 document.querySelectorAll('b').length];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(ran[0], true, "{path}: an injected script ran");
        assert_eq!(
            ran[1], 1,
            "{path}: only the console's own script is on the page"
        );
        assert_eq!(ran[2], 0, "{path}: injected markup became an element");
    }
}

#[allow(clippy::too_many_lines)] // one story, page by page
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_fleet_in_a_real_browser() {
    if let Some(why) = common::missing_tools().or_else(browser_missing) {
        eprintln!("skipped: {why}");
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let cache = d.join("cache");
    std::fs::write(d.join("crafted.json"), crafted_advisory().to_string()).unwrap();
    {
        let f = common::feeds();
        let mut args: Vec<String> = vec!["db".into(), "import".into()];
        for p in [
            f.join("osv/PyPI/all.zip"),
            f.join("nvd/nvdcve-2.0-excerpt.json"),
            f.join("kev/known_exploited_vulnerabilities.json"),
            d.join("crafted.json"),
        ] {
            args.push(p.display().to_string());
        }
        args.extend(["--db".into(), d.join("vuln.db").display().to_string()]);
        let out = common::palisade(&args.iter().map(String::as_str).collect::<Vec<_>>(), &cache);
        assert!(out.status.success(), "db import: {}", common::text(&out));
    }
    let key = common::generate_key(&d, "release");
    let soon = palisade_image::Timestamp::from_unix_seconds(palisade_store::now() + 5 * 86_400)
        .unwrap()
        .utc_date();
    std::fs::write(
        d.join("policy.yaml"),
        format!(
            "version: 1\nname: console-e2e\ndefault_environment: prod\nenvironments: [prod, dev]\n\
             sources:\n  keys:\n    release: release.pub\n  default: allow\n  rules:\n    - name: demo\n      images: [\"127.0.0.1:*/demo/**\"]\n      signers: {{ any_of: [release] }}\n\
             vulnerabilities:\n  max_cvss: 8.9\n  coverage: ignore\n  unknown_severity: ignore\n  environments:\n    dev: {{ max_cvss: null }}\n\
             exceptions:\n  - name: urllib3-accepted\n    packages: [urllib3]\n    reason: no network use in this service\n    approved_by: security@example.com\n    expires: {soon}\n\
             \x20 - name: long-lived\n    packages: [idna]\n    reason: accepted\n    approved_by: security@example.com\n    expires: 2099-12-31\n"
        ),
    )
    .unwrap();
    let ca = Ca::new("palisade console test CA");
    ca.write(&d.join("ca.crt"));
    ca.server(1).write(&d, "tls");
    let agent_token = "agent-token-0123456789abcdef";
    std::fs::write(d.join("agents.tokens"), format!("{agent_token}\n")).unwrap();
    std::fs::write(
        d.join("serve.yaml"),
        "listen: 127.0.0.1:0\ntls: {cert: tls.crt, key: tls.key}\npolicy: policy.yaml\n\
         db: vuln.db\ncache_dir: cache\nstore: {location: store.db, workers: 2}\n\
         agents: {tokens_file: agents.tokens}\n",
    )
    .unwrap();
    let registry = Registry::start();
    common::push("app", &registry.addr, "demo/app:v1");
    common::push("base", &registry.addr, "demo/base:v1");
    let app = format!("{}/demo/app:v1", registry.addr);
    let base = format!("{}/demo/base:v1", registry.addr);
    common::sign(&base, &key);
    let app_digest = common::registry_digest(&app);
    let base_digest = common::registry_digest(&base);
    let serve = Serve::start(&d.join("serve.yaml"), &cache);
    let token = |role: &str| {
        let out = common::palisade(
            &[
                "store",
                "token",
                "create",
                "--config",
                d.join("serve.yaml").to_str().unwrap(),
                "--name",
                &format!("console-{role}"),
                "--role",
                role,
            ],
            &cache,
        );
        assert!(out.status.success(), "{}", common::text(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let admin = token("admin");
    let reader = token("read");
    let ca_file = d.join("ca.crt");
    eprintln!(
        "[{:>5.1}s] database, registry and server ready",
        started.elapsed().as_secs_f64()
    );

    // The real pipeline fills the store.
    for reference in [&app, &base] {
        let queued = curl(
            &serve,
            &ca_file,
            &admin,
            "/api/v1/scans",
            Some(&json!({ "reference": reference })),
        );
        assert!(queued["job"].as_i64().is_some(), "{queued}");
    }
    for digest in [&app_digest, &base_digest] {
        wait_for(PATIENCE, || {
            let v = curl(
                &serve,
                &ca_file,
                &admin,
                &format!("/api/v1/images/{digest}"),
                None,
            );
            (v["verdicts"].as_object().is_some_and(|m| m.len() == 2)).then_some(())
        })
        .unwrap_or_else(|| panic!("{digest} not analysed; server said:\n{}", serve.stderr()));
    }
    // Admission: the unsigned app is refused in prod (once in a pod whose name is crafted);
    // the signed base runs, in a crafted pod too.
    let crafted_refusal = curl(
        &serve,
        &ca_file,
        &admin,
        "/k8s/validate",
        Some(&pod("shop", EVIL, &[&app])),
    );
    assert_eq!(
        crafted_refusal["response"]["allowed"], false,
        "{crafted_refusal}"
    );
    wait_for(PATIENCE, || {
        let v = curl(
            &serve,
            &ca_file,
            &admin,
            "/api/v1/events?kind=admission.refused",
            None,
        );
        (!v["events"].as_array().unwrap().is_empty()).then_some(())
    })
    .expect("the first refusal in the event log");
    let refused = curl(
        &serve,
        &ca_file,
        &admin,
        "/k8s/validate",
        Some(&pod("shop", "web", &[&app])),
    );
    assert_eq!(refused["response"]["allowed"], false, "{refused}");
    let allowed = curl(
        &serve,
        &ca_file,
        &admin,
        "/k8s/validate",
        Some(&pod("shop", EVIL, &[&base])),
    );
    assert_eq!(allowed["response"]["allowed"], true, "{allowed}");
    // A host report whose failing check ids include a crafted one.
    let report = Command::new("curl")
        .args(["-sS", "--fail-with-body", "--cacert"])
        .arg(&ca_file)
        .args(["-H", &format!("Authorization: Bearer {agent_token}")])
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(
            json!({"host_failing": ["3.18", "2.2", EVIL], "host_passed": 37, "agent_version": "0.1.0",
                   "decisions": {"allow": 12, "warn": 1, "deny": 3}})
            .to_string(),
        )
        .arg(format!("https://{}/v1/hosts/node-1/report", serve.https))
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", common::text(&report));
    // The crafted image: a catalog from "CI", and a registry name no reference parser would
    // accept, written straight into the store as a hostile registry record could be.
    let crafted_digest = format!("sha256:{}", "ab".repeat(32));
    let posted = curl(
        &serve,
        &ca_file,
        &admin,
        "/api/v1/catalogs",
        Some(
            &json!({"name": format!("{}/xss/crafted:v1", registry.addr), "digest": crafted_digest, "catalog": crafted_catalog()}),
        ),
    );
    assert!(posted.get("error").is_none(), "{posted}");
    {
        let store = palisade_store::Store::open(
            d.join("store.db").to_str().unwrap(),
            &palisade_store::OpenOptions::default(),
        )
        .unwrap();
        store
            .put_name(&crafted_digest, EVIL, EVIL, "v1", None)
            .unwrap();
    }
    wait_for(PATIENCE, || {
        let v = curl(
            &serve,
            &ca_file,
            &admin,
            "/api/v1/events?kind=admission.refused",
            None,
        );
        (v["events"].as_array().unwrap().len() == 2).then_some(())
    })
    .expect("both refusals in the event log");
    let app_detail = curl(
        &serve,
        &ca_file,
        &admin,
        &format!("/api/v1/images/{app_digest}"),
        None,
    );
    let pyyaml: Vec<&Value> = app_detail["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["package"] == "PyYAML")
        .collect();
    assert!(!pyyaml.is_empty(), "{app_detail}");
    eprintln!(
        "[{:>5.1}s] store filled by the pipeline",
        started.elapsed().as_secs_f64()
    );

    // Security headers and CSRF, without a browser.
    let head = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(&ca_file)
        .args(["-H", &format!("Authorization: Bearer {reader}")])
        .arg(format!("https://{}/", serve.https))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(!head.contains("unsafe-inline"), "{head}");
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    let status = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca_file)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rescan = format!("https://{}/images/{app_digest}/rescan", serve.https);
    // No session: to the sign-in page; a read token may not rescan; a cross-site form is refused.
    assert_eq!(status(&[&format!("https://{}/images", serve.https)]), "303");
    assert_eq!(
        status(&[
            "-H",
            &format!("Authorization: Bearer {reader}"),
            "-d",
            "csrf=x",
            &rescan
        ]),
        "403"
    );
    assert_eq!(
        status(&[
            "-H",
            &format!("Authorization: Bearer {admin}"),
            "-H",
            "Origin: https://evil.example",
            "-d",
            "csrf=x",
            &rescan
        ]),
        "403"
    );

    // The browser.
    let driver = Driver::start();
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1360,1700", "--ignore-certificate-errors",
        ]}),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session");
    let p = Page {
        c: &c,
        base: format!("https://{}", serve.https),
        shots: screenshots(),
    };
    async {
        // Sign in: the page asked for goes to the form and back.
        p.c.goto(&format!("{}/images?q=app", p.base)).await.unwrap();
        let url = p.c.current_url().await.unwrap();
        assert_eq!(url.path(), "/login", "{url}");
        let text = p.text().await;
        assert!(text.contains("API token"), "{text}");
        p.c.find(Locator::Id("token")).await.unwrap().send_keys("pal_wrong_token").await.unwrap();
        p.c.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
        p.c.wait().for_element(Locator::Css(".error")).await.unwrap();
        let text = p.text().await;
        assert!(text.contains("unknown or revoked"), "{text}");
        p.c.find(Locator::Id("token")).await.unwrap().send_keys(&reader).await.unwrap();
        p.c.find(Locator::Css("form.login button")).await.unwrap().click().await.unwrap();
        let text = p.wait_path("/images").await;
        assert!(text.contains("Images 1–1 of 1"), "back to the page asked for: {text}");
        let cookies = p.c.get_all_cookies().await.unwrap();
        let session = cookies.iter().find(|c| c.name() == "__Host-palisade").expect("a session cookie");
        assert_eq!(session.http_only(), Some(true));
        assert_eq!(session.secure(), Some(true));

        // Keyboard: the first Tab reaches the skip link.
        p.c.goto(&format!("{}/", p.base)).await.unwrap();
        p.c.find(Locator::Css("body")).await.unwrap().send_keys("\u{E004}").await.unwrap();
        let focused = p.c.execute("return document.activeElement.textContent;", vec![]).await.unwrap();
        assert_eq!(focused, "Skip to content");

        // Overview.
        let text = p.open("/", "01-overview").await;
        let figure = |id: &str| {
            let id = id.to_owned();
            async move {
                p.c.find(Locator::Css(&format!("[data-testid={id}]"))).await.unwrap().text().await.unwrap()
            }
        };
        assert_eq!(figure("images").await, "3", "{text}");
        assert_eq!(figure("refusals").await, "2", "{text}");
        assert_eq!(figure("hosts").await, "0%", "{text}");
        assert_eq!(figure("expiring").await, "1", "{text}");
        assert_eq!(figure("verdict-prod-deny").await, "2", "the app (unsigned) and the crafted image (CVSS 9.8): {text}");
        assert!(text.contains("urllib3-accepted"), "{text}");
        assert!(text.contains("Findings by severity"), "{text}");
        assert!(text.contains("signature"), "the refusal's reason: {text}");

        // Images: search, filters, the list.
        let text = p.open("/images?q=demo/app", "02-images-search").await;
        assert!(text.contains("Images 1–1 of 1"), "{text}");
        let text = p.open("/images", "03-images").await;
        assert!(text.contains("of 3"), "{text}");
        assert!(text.contains(EVIL), "the crafted registry name, as text: {text}");
        let text = p.open("/images?environment=prod&verdict=deny", "04-images-denied").await;
        assert!(text.contains("demo/app:v1") && !text.contains("demo/base:v1"), "{text}");

        // Image detail: the PyYAML finding grouped with its one upgrade.
        let text = p.open(&format!("/images/{app_digest}"), "05-image-app").await;
        assert!(text.contains(&app_digest), "{text}");
        assert!(text.contains("PyYAML"), "{text}");
        let upgrade = p
            .c
            .execute(
                "const h = [...document.querySelectorAll('article.package')].find(a => a.querySelector('.pkg').textContent === 'PyYAML'); \
                 return h ? h.querySelector('[data-testid=upgrade]').textContent : null;",
                vec![],
            )
            .await
            .unwrap();
        // PyYAML 5.3: PYSEC-2020-96 is fixed in 5.3.1, PYSEC-2021-142 (CVE-2020-14343) only in
        // 5.4; one upgrade, to 5.4, fixes both.
        assert_eq!(upgrade, "Upgrade to 5.4 fixes all 2");
        assert!(pyyaml.iter().any(|f| f["fixed"] == json!(["5.4"])), "{pyyaml:?}");
        assert!(text.contains("deny") && text.contains("prod"), "{text}");
        assert!(text.contains("Layers and the packages each introduced"), "{text}");
        assert!(text.contains("CycloneDX") && text.contains("SPDX"), "{text}");
        assert!(!text.contains("Rescan now"), "a read token sees no admin action");

        // The crafted image: every crafted field as text.
        let text = p.open(&format!("/images/{crafted_digest}"), "06-image-crafted").await;
        assert!(text.contains(EVIL), "{text}");
        assert!(text.contains(&format!("crafted summary {EVIL}")), "{text}");
        assert!(text.contains(CRAFTED_ADVISORY), "{text}");

        // Vulnerabilities: one advisory across the fleet.
        let advisory = pyyaml[0]["advisory"].as_str().unwrap();
        let text = p.open(&format!("/vulnerabilities/{advisory}"), "07-vulnerability").await;
        assert!(text.contains("demo/app:v1"), "{text}");
        let text = p.open(&format!("/vulnerabilities/{CRAFTED_ADVISORY}"), "08-vulnerability-crafted").await;
        assert!(text.contains(&format!("crafted summary {EVIL}")) && text.contains("1 affected image"), "{text}");
        let text = p.open(&format!("/images/{base_digest}"), "09-image-base").await;
        assert!(text.contains(EVIL), "the crafted pod name where it runs: {text}");
        assert!(text.contains("release"), "signed by: {text}");

        // Hosts.
        let text = p.open("/hosts", "10-hosts").await;
        assert!(text.contains("node-1") && text.contains("failing"), "{text}");
        let text = p.open("/hosts/node-1", "11-host").await;
        assert!(text.contains("3.18"), "{text}");
        assert!(text.contains(EVIL), "{text}");

        // Decisions: the refusal and its reason, one click away.
        let text = p.open("/decisions?kind=refusals", "12-decisions").await;
        assert!(text.contains("refused") && text.contains("demo/app:v1"), "{text}");
        p.c.find(Locator::Css("table.list tbody a")).await.unwrap().click().await.unwrap();
        let text = p.wait_path("/decisions/").await;
        p.check_no_script_ran("decision").await;
        std::fs::write(p.shots.join("13-decision.png"), p.c.screenshot().await.unwrap()).unwrap();
        assert!(text.contains("signature"), "{text}");
        assert!(text.contains("Pod/shop/web"), "{text}");
        let text = p.open("/decisions?kind=all", "14-events").await;
        assert!(text.contains(EVIL), "the crafted pod's sighting or refusal: {text}");

        // Policy.
        let text = p.open("/policy", "15-policy").await;
        assert!(text.contains("urllib3-accepted") && text.contains("in 5 days"), "{text}");
        assert!(text.contains("console-e2e"), "the file: {text}");

        // Signing out ends the session.
        p.c.find(Locator::Css("form.who button")).await.unwrap().click().await.unwrap();
        p.wait_path("/login").await;
        p.c.goto(&format!("{}/hosts", p.base)).await.unwrap();
        p.wait_path("/login").await;
    }
    .await;
    let _ = c.close().await;
    drop(driver);
    eprintln!(
        "[{:>5.1}s] every page checked; screenshots in {}",
        started.elapsed().as_secs_f64(),
        screenshots().display()
    );
    drop(serve);
}
