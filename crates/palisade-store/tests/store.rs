//! The store's behaviour, the same suite on SQLite and on a real PostgreSQL server started
//! for the test (testbed/postgres.sh: Debian's postgresql, on a private socket).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use palisade_store::{
    AnalysisRecord, DecisionRow, Enqueued, Error, EventFilter, FindingRow, ImageFilter, JobState,
    NewEvent, OpenOptions, Role, Store,
};

mod pg;

enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    fn location(&self) -> String {
        match self {
            Backend::Sqlite(d) => format!("sqlite:{}", d.path().join("store.db").display()),
            Backend::Postgres(u) => u.clone(),
        }
    }
}

fn migrated(b: &Backend) -> Store {
    Store::migrate(&b.location(), &OpenOptions::default())
        .expect("migrate")
        .0
}

macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                let b = Backend::Sqlite(tempfile::tempdir().unwrap());
                ($body)(&b);
            }
            #[test]
            fn postgres() {
                let b = Backend::Postgres(pg::database());
                ($body)(&b);
            }
        }
    };
}

fn finding(advisory: &str, package: &str, severity: &str, kev: bool) -> FindingRow {
    FindingRow {
        advisory: advisory.to_owned(),
        aliases: vec![format!("CVE-{}", advisory.len())],
        package: package.to_owned(),
        version: "1.0".to_owned(),
        kind: "python".to_owned(),
        purl: Some(format!("pkg:pypi/{package}@1.0")),
        severity: severity.to_owned(),
        cvss: Some(9.8),
        kev,
        epss: None,
        status: "fixed".to_owned(),
        fixed: vec!["1.1".to_owned()],
        why: format!("{package} 1.0 < 1.1"),
    }
}

fn analysis(digest: &str, keys: &[(&str, &str)], findings: Vec<FindingRow>) -> AnalysisRecord {
    AnalysisRecord {
        digest: digest.to_owned(),
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        platform: "linux/amd64".to_owned(),
        created: None,
        db_identity: "db1".to_owned(),
        policy_id: "p1".to_owned(),
        catalog: br#"{"packages":[]}"#.to_vec(),
        facts: br#"{"image":{}}"#.to_vec(),
        packages: keys.len() as i64,
        keys: keys
            .iter()
            .map(|(e, n)| ((*e).to_owned(), (*n).to_owned()))
            .collect::<BTreeSet<_>>(),
        findings,
    }
}

both!(refuses_a_store_that_is_not_migrated, |b: &Backend| {
    let err = Store::open(&b.location(), &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotMigrated { found: 0, .. }), "{err}");
    let (_, applied) = Store::migrate(&b.location(), &OpenOptions::default()).unwrap();
    assert_eq!(applied, vec![1, 2]);
    let (_, again) = Store::migrate(&b.location(), &OpenOptions::default()).unwrap();
    assert!(again.is_empty());
    let store = Store::open(&b.location(), &OpenOptions::default()).unwrap();
    let status = store.status().unwrap();
    assert_eq!(status.schema_version, palisade_store::SCHEMA_VERSION);
    assert!(status.migrations.iter().all(|m| m.2.is_some()));
});

both!(analyses_findings_and_fleet_queries, |b: &Backend| {
    let store = migrated(b);
    let a = analysis(
        "sha256:aaa",
        &[("PyPI", "pyyaml"), ("Debian:12", "openssl")],
        vec![
            finding("GHSA-1", "pyyaml", "critical", true),
            finding("GHSA-22", "pyyaml", "medium", false),
        ],
    );
    store.put_analysis(&a).unwrap();
    store
        .put_analysis(&analysis("sha256:bbb", &[("Debian:12", "openssl")], vec![]))
        .unwrap();
    store
        .put_name("sha256:aaa", "127.0.0.1:5000", "demo/app", "v1", None)
        .unwrap();
    store
        .put_sighting(
            "sha256:aaa",
            "kubernetes",
            "c/prod/Deployment/web",
            "demo/app:v1",
        )
        .unwrap();

    let (catalog, facts) = store.image_data("sha256:aaa").unwrap().unwrap();
    assert_eq!(catalog, a.catalog);
    assert_eq!(facts, a.facts);
    assert_eq!(store.findings("sha256:aaa").unwrap().len(), 2);

    // Only the images that read a key, or carry an id, are touched.
    let hits = store
        .images_touched(&[("PyPI".into(), "pyyaml".into())], &[])
        .unwrap();
    assert_eq!(hits.digests, vec!["sha256:aaa"]);
    let hits = store
        .images_touched(&[("Debian:12".into(), "openssl".into())], &[])
        .unwrap();
    assert_eq!(hits.digests, vec!["sha256:aaa", "sha256:bbb"]);
    let hits = store.images_touched(&[], &["CVE-7".into()]).unwrap();
    assert_eq!(hits.digests, vec!["sha256:aaa"]);
    assert!(
        store
            .images_touched(&[("npm".into(), "x".into())], &["CVE-0".into()])
            .unwrap()
            .digests
            .is_empty()
    );

    // Which images have CVE-7 (GHSA-22's alias), running or not.
    let fleet = store.fleet("CVE-7", false, 100).unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0].findings.len(), 1);
    assert_eq!(fleet[0].findings[0].advisory, "GHSA-22");
    assert_eq!(fleet[0].names, vec!["127.0.0.1:5000/demo/app:v1"]);
    assert_eq!(fleet[0].sightings.len(), 1);
    assert_eq!(store.fleet("GHSA-1", true, 100).unwrap().len(), 1);

    let (page, total) = store
        .list_images(&ImageFilter {
            kev: true,
            limit: 10,
            ..ImageFilter::default()
        })
        .unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].critical, 1);
    assert_eq!(page[0].running, 1);
    let (page, total) = store
        .list_images(&ImageFilter {
            repository: Some("demo/*".into()),
            limit: 10,
            ..ImageFilter::default()
        })
        .unwrap();
    assert_eq!((page.len(), total), (1, 1));
    let (_, total) = store
        .list_images(&ImageFilter {
            running: Some(false),
            limit: 10,
            ..ImageFilter::default()
        })
        .unwrap();
    assert_eq!(total, 1);

    // A re-match replaces the findings and the counts.
    store
        .put_findings(
            "sha256:aaa",
            "db2",
            &[finding("GHSA-1", "pyyaml", "high", false)],
            None,
        )
        .unwrap();
    let detail = store.image("sha256:aaa").unwrap().unwrap();
    assert_eq!(detail.summary.finding_count, 1);
    assert_eq!(detail.summary.critical, 0);
    assert_eq!(detail.summary.high, 1);
    assert_eq!(detail.summary.db_identity.as_deref(), Some("db2"));
    assert!(store.fleet("CVE-7", false, 100).unwrap().is_empty());
});

both!(decisions_report_what_changed, |b: &Backend| {
    let store = migrated(b);
    store
        .put_analysis(&analysis("sha256:ccc", &[], vec![]))
        .unwrap();
    let d = |env: &str, verdict: &str| DecisionRow {
        repository: "demo/app".into(),
        environment: env.into(),
        verdict: verdict.into(),
        policy_id: "p1".into(),
        db_identity: "db1".into(),
        decided_at: 1,
        reasons: "[]".into(),
    };
    let first = store
        .put_decisions("sha256:ccc", &[d("prod", "allow"), d("dev", "allow")])
        .unwrap();
    assert_eq!(first.len(), 2);
    let same = store
        .put_decisions("sha256:ccc", &[d("prod", "allow"), d("dev", "allow")])
        .unwrap();
    assert!(same.is_empty());
    let changed = store
        .put_decisions("sha256:ccc", &[d("prod", "deny"), d("dev", "allow")])
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].before.as_deref(), Some("allow"));
    assert_eq!(changed[0].after, "deny");
    let (page, _) = store
        .list_images(&ImageFilter {
            verdict: Some("deny".into()),
            environment: Some("prod".into()),
            limit: 5,
            ..ImageFilter::default()
        })
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].verdicts["prod"], "deny");
});

both!(
    jobs_are_claimed_once_and_taken_over_after_their_lease,
    |b: &Backend| {
        let store = migrated(b);
        let first = store.enqueue("scan", "sha256:1", "{}").unwrap();
        assert!(matches!(first, Enqueued::New(_)));
        // At-least-once delivery: the same key again is the same job.
        assert_eq!(
            store.enqueue("scan", "sha256:1", "{}").unwrap(),
            Enqueued::Pending(first.id())
        );
        let claimed = store.claim("w1", &["scan"], 60_000).unwrap().unwrap();
        assert_eq!(claimed.job.id, first.id());
        assert!(store.claim("w2", &["scan"], 60_000).unwrap().is_none());
        // Still pending while running.
        assert_eq!(
            store.enqueue("scan", "sha256:1", "{}").unwrap(),
            Enqueued::Pending(first.id())
        );
        assert!(store.finish(first.id(), "w1", "{\"ok\":true}").unwrap());
        assert_eq!(
            store.job(first.id()).unwrap().unwrap().state,
            JobState::Done
        );
        // Done: a new delivery is new work.
        assert!(matches!(
            store.enqueue("scan", "sha256:1", "{}").unwrap(),
            Enqueued::New(_)
        ));

        // A worker whose lease ran out loses the job to another.
        let j = store.claim("w1", &["scan"], 1).unwrap().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let taken = store.claim("w2", &["scan"], 60_000).unwrap().unwrap();
        assert_eq!(taken.job.id, j.job.id);
        assert_eq!(taken.job.attempts, 2);
        assert!(!store.renew(j.job.id, "w1", 60_000).unwrap());
        assert!(!store.finish(j.job.id, "w1", "{}").unwrap());
        assert!(store.fail(j.job.id, "w2", "boom", Some(0)).unwrap());
        let again = store.claim("w3", &["scan"], 60_000).unwrap().unwrap();
        assert_eq!(again.job.error.as_deref(), Some("boom"));
        assert!(store.fail(again.job.id, "w3", "gave up", None).unwrap());
        assert_eq!(
            store.job(again.job.id).unwrap().unwrap().state,
            JobState::Failed
        );
    }
);

both!(
    concurrent_workers_take_each_job_exactly_once,
    |b: &Backend| {
        let store = Arc::new(migrated(b));
        for i in 0..60 {
            store.enqueue("scan", &format!("sha256:{i}"), "{}").unwrap();
        }
        let done = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let store = Arc::clone(&store);
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    let owner = format!("w{w}");
                    while let Some(c) = store.claim(&owner, &["scan"], 60_000).unwrap() {
                        done.lock().unwrap().push(c.job.key.clone());
                        assert!(store.finish(c.job.id, &owner, "{}").unwrap());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let mut done = done.lock().unwrap().clone();
        assert_eq!(done.len(), 60);
        done.sort();
        done.dedup();
        assert_eq!(done.len(), 60);
    }
);

both!(tokens_are_stored_hashed, |b: &Backend| {
    let store = migrated(b);
    let (info, secret) = store.create_token("ci", Role::Admin).unwrap();
    assert!(secret.starts_with(&format!("pal_{}_", info.id)));
    assert_eq!(store.token(&secret).unwrap().unwrap().role, Role::Admin);
    assert!(store.token("pal_nope").unwrap().is_none());
    assert!(store.revoke_token(&info.id).unwrap());
    assert!(store.token(&secret).unwrap().is_none());
    assert!(store.create_token(" ", Role::Read).is_err());
});

both!(events_and_meta, |b: &Backend| {
    let store = migrated(b);
    let ids = store
        .append_events(&[
            NewEvent {
                kind: "image.analyzed".into(),
                digest: Some("sha256:a".into()),
                subject: "demo/app analysed".into(),
                detail: serde_json::json!({"findings": 2}),
            },
            NewEvent {
                kind: "decision.changed".into(),
                digest: Some("sha256:a".into()),
                subject: "now denied in prod".into(),
                detail: serde_json::json!({"after": "deny"}),
            },
        ])
        .unwrap();
    assert!(ids[1] > ids[0]);
    let all = store
        .events(&EventFilter {
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 2);
    let after = store
        .events(&EventFilter {
            after: ids[0],
            kinds: vec!["decision.changed".into()],
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].detail["after"], "deny");
    assert_eq!(store.last_event_id().unwrap(), ids[1]);

    assert!(store.swap_meta("db", None, "one").unwrap());
    assert!(!store.swap_meta("db", None, "two").unwrap());
    assert!(!store.swap_meta("db", Some("zero"), "two").unwrap());
    assert!(store.swap_meta("db", Some("one"), "two").unwrap());
    assert_eq!(store.meta("db").unwrap().as_deref(), Some("two"));
    store.set_blob("fp", &[1, 2, 3]).unwrap();
    assert_eq!(store.blob("fp").unwrap().unwrap(), vec![1, 2, 3]);
});

both!(
    connections_are_capped_and_callers_wait_then_fail,
    |b: &Backend| {
        migrated(b);
        let options = OpenOptions {
            max_open: 1,
            statement_timeout: std::time::Duration::from_millis(300),
            ..OpenOptions::default()
        };
        let store = Arc::new(Store::open(&b.location(), &options).unwrap());
        let holder = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                store
                    .transaction(|_tx| {
                        std::thread::sleep(std::time::Duration::from_millis(1500));
                        Ok::<_, Error>(())
                    })
                    .unwrap();
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let started = std::time::Instant::now();
        let err = store.meta("x").unwrap_err();
        assert!(matches!(err, Error::Busy { open: 1, .. }), "{err}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        holder.join().unwrap();
        // Given back: the next caller gets it.
        assert_eq!(store.meta("x").unwrap(), None);
    }
);

both!(console_aggregates_logs_and_lookups, |b: &Backend| {
    use palisade_store::{DecisionRow, EventQuery, HostReport, ImageFilter, NewEvent, Role};
    let store = migrated(b);
    let mut hot = finding("GHSA-1", "pyyaml", "critical", true);
    hot.epss = Some(0.5);
    store
        .put_analysis(&analysis(
            "sha256:aaa",
            &[],
            vec![hot, finding("GHSA-22", "pyyaml", "medium", false)],
        ))
        .unwrap();
    store
        .put_analysis(&analysis(
            "sha256:bbb",
            &[],
            vec![finding("GHSA-1", "pyyaml", "high", false)],
        ))
        .unwrap();
    store
        .put_name("sha256:aaa", "127.0.0.1:5000", "demo/app", "v1", None)
        .unwrap();
    store
        .put_name("sha256:bbb", "127.0.0.1:5000", "demo/base", "v1", None)
        .unwrap();
    store
        .put_sighting("sha256:aaa", "kubernetes", "Pod/shop/web", "demo/app:v1")
        .unwrap();
    let decision = |env: &str, verdict: &str| DecisionRow {
        repository: "127.0.0.1:5000/demo/app".into(),
        environment: env.into(),
        verdict: verdict.into(),
        policy_id: "p1".into(),
        db_identity: "db1".into(),
        decided_at: 1,
        reasons: "[]".into(),
    };
    store
        .put_decisions(
            "sha256:aaa",
            &[decision("prod", "deny"), decision("dev", "allow")],
        )
        .unwrap();
    store
        .put_decisions("sha256:bbb", &[decision("prod", "deny")])
        .unwrap();

    // The why-line is kept.
    assert_eq!(
        store.findings("sha256:aaa").unwrap()[0].why,
        "pyyaml 1.0 < 1.1"
    );
    let counts = store.verdict_counts().unwrap();
    let get = |env: &str, v: &str| {
        counts
            .iter()
            .find(|c| c.environment == env && c.verdict == v)
            .map_or(0, |c| c.images)
    };
    assert_eq!(
        (get("prod", "deny"), get("dev", "allow"), get("dev", "deny")),
        (2, 1, 0)
    );
    let p = store.posture().unwrap();
    assert_eq!(
        (p.images, p.analysed, p.critical, p.high, p.medium),
        (2, 2, 1, 1, 1)
    );
    assert_eq!((p.critical_images, p.kev_images, p.kev_findings), (1, 1, 1));
    assert_eq!((p.high_epss_images, p.high_epss_findings), (1, 1));
    assert_eq!((p.running, p.running_critical, p.running_kev), (1, 1, 1));
    assert_eq!(store.fleet_count("GHSA-1").unwrap(), 2);
    assert_eq!(store.fleet_count("GHSA-404").unwrap(), 0);

    // Search: a digest prefix or part of a name, case-insensitive; `%` is literal.
    let search = |q: &str| {
        store
            .list_images(&ImageFilter {
                search: Some(q.into()),
                limit: 50,
                ..ImageFilter::default()
            })
            .unwrap()
            .1
    };
    assert_eq!(
        (
            search("DEMO/APP"),
            search("demo/"),
            search("sha256:bb"),
            search("%")
        ),
        (1, 2, 1, 0)
    );

    // Events: newest first, by kind, text and page.
    let event = |kind: &str, subject: &str| NewEvent {
        kind: kind.into(),
        digest: None,
        subject: subject.into(),
        detail: serde_json::json!({}),
    };
    store
        .append_events(&[
            event("admission.refused", "refused demo/app in shop"),
            event("image.analyzed", "demo/app analysed"),
            event("admission.refused", "refused demo/base in Prod_100%"),
        ])
        .unwrap();
    let q = |kinds: &[&str], text: Option<&str>, before: i64| {
        store
            .events_newest(&EventQuery {
                kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
                text: text.map(str::to_owned),
                before,
                limit: 10,
                ..EventQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.subject)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(&["admission.refused"], None, 0),
        vec!["refused demo/base in Prod_100%", "refused demo/app in shop"]
    );
    assert_eq!(
        q(&[], Some("PROD_100%"), 0),
        vec!["refused demo/base in Prod_100%"]
    );
    assert_eq!(q(&[], Some("prod_1000"), 0), Vec::<String>::new());
    let newest = store.last_event_id().unwrap();
    assert_eq!(
        q(&[], None, newest),
        vec!["demo/app analysed", "refused demo/app in shop"]
    );
    assert_eq!(store.count_events(&["admission.refused"], 0).unwrap(), 2);
    assert_eq!(
        store
            .count_events(&["admission.refused"], palisade_store::now_ms() + 60_000)
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .last_event_of("image.analyzed")
            .unwrap()
            .map(|e| e.subject)
            .as_deref(),
        Some("demo/app analysed")
    );

    // Hosts and their history; tokens by id until revoked.
    store
        .put_host(&HostReport {
            name: "node-1".into(),
            passed: 30,
            failed: 2,
            compliant: false,
            report: serde_json::json!({"host_failing": ["2.1", "3.18"]}),
        })
        .unwrap();
    assert_eq!(store.host("node-1").unwrap().map(|h| h.failed), Some(2));
    assert!(store.host("node-2").unwrap().is_none());
    let history = store.host_history("node-1", 10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].1, history[0].2), (30, 2));
    let (token, _) = store.create_token("alice", Role::Read).unwrap();
    assert_eq!(
        store
            .token_by_id(&token.id)
            .unwrap()
            .map(|t| t.name)
            .as_deref(),
        Some("alice")
    );
    assert!(store.revoke_token(&token.id).unwrap());
    assert!(store.token_by_id(&token.id).unwrap().is_none());
});
