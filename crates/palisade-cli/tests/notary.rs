//! Issue 18, point 3: Docker Content Trust (Notary v1). Debian's `notary-server` 0.7.0
//! (`testbed/notary.sh`, memory storage) and `notary` client publish targets for a testbed
//! repository in a local `docker-registry`, whose hashes and lengths are the real manifests';
//! `palisade verify --notary-server --notary-root` verifies them (the `targets` role and the
//! `targets/releases` delegation), and refuses a tag moved after signing, a wrong pin,
//! tampered metadata, expired metadata and rolled-back metadata, each with its reason;
//! `palisade trust migrate` signs the verified digests with a cosign key, and both `palisade
//! verify --key` and trixie's skopeo (`sigstoreSigned`) accept those signatures.
//!
//! Needs root and the testbed (`testbed/install-deps.sh`, package `notary`). Every server is
//! on 127.0.0.1 and stopped when the test ends.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use palisade_image::media_type;
use palisade_trust::notary::{Notary, RootPin};
use serde_json::{Value, json};

mod common;
use common::{Registry, repo_root, run_script};

const PASS: &str = "notary test passphrase";

/// A notary-server of our own, stopped on drop.
struct NotaryServer {
    dir: tempfile::TempDir,
    url: String,
}

impl NotaryServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        run_script(&["testbed/notary.sh", "start", dir.path().to_str().unwrap()]);
        let url = std::fs::read_to_string(dir.path().join("url"))
            .unwrap()
            .trim()
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { dir, url }
    }
}

impl Drop for NotaryServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg("testbed/notary.sh")
            .arg("stop")
            .arg(self.dir.path())
            .current_dir(repo_root())
            .output();
    }
}

/// Runs Debian's `notary` client against `server` with its trust data in `trust_dir`.
fn notary_cli(trust_dir: &Path, server: &str, args: &[&str]) -> Output {
    let out = Command::new("notary")
        .arg("-d")
        .arg(trust_dir)
        .arg("-s")
        .arg(server)
        .args(args)
        .env("NOTARY_ROOT_PASSPHRASE", PASS)
        .env("NOTARY_TARGETS_PASSPHRASE", PASS)
        .env("NOTARY_SNAPSHOT_PASSPHRASE", PASS)
        .env("NOTARY_DELEGATION_PASSPHRASE", PASS)
        .output()
        .unwrap();
    assert!(out.status.success(), "notary {args:?}: {}", text(&out));
    out
}

fn palisade(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args(args)
        .env_remove("PALISADE_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("PALISADE_NOTARY_STATE_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `palisade verify REF --notary-server URL --notary-root PIN --format json`.
fn verify_notary(reference: &str, server: &str, pin: &str, state: &Path) -> (i32, Value, String) {
    let out = palisade(
        &[
            "verify",
            reference,
            "--notary-server",
            server,
            "--notary-root",
            pin,
            "--notary-state-dir",
            state.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v, text(&out))
}

/// The Notary signature report of a `verify --format json` result.
fn notary_report(v: &Value) -> &Value {
    v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"].as_str().unwrap().starts_with("notary "))
        .unwrap_or_else(|| panic!("no notary report in {v:#}"))
}

/// A tiny HTTP server on 127.0.0.1 that serves `/v2/<gun>/_trust/tuf/<role>.json` from a map
/// (role -> bytes) the test can change: the "altered" Notary server.
struct MetadataServer {
    url: String,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// When set, metadata needs `Authorization: Bearer <this>`, handed out by `/token`.
    token: Arc<Mutex<Option<String>>>,
    /// The query strings `/token` was asked with.
    token_queries: Arc<Mutex<Vec<String>>>,
}

impl MetadataServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let token: Arc<Mutex<Option<String>>> = Arc::default();
        let token_queries: Arc<Mutex<Vec<String>>> = Arc::default();
        let shared = Arc::clone(&files);
        let (want, queries) = (Arc::clone(&token), Arc::clone(&token_queries));
        let realm = format!("{url}/token");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut authorization = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h
                        .strip_prefix("Authorization: ")
                        .or(h.strip_prefix("authorization: "))
                    {
                        authorization = v.trim().to_owned();
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let wanted = want.lock().unwrap().clone();
                if let Some(query) = path.strip_prefix("/token?") {
                    queries.lock().unwrap().push(query.to_owned());
                    let body = json!({"token": wanted.unwrap_or_default()}).to_string();
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    continue;
                }
                if let Some(t) = wanted
                    && authorization != format!("Bearer {t}")
                {
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"notary\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    continue;
                }
                let role = path
                    .split_once("/_trust/tuf/")
                    .and_then(|(_, r)| r.strip_suffix(".json"))
                    .unwrap_or("");
                let body = shared.lock().unwrap().get(role).cloned();
                let _ = match body {
                    Some(b) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                                b.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| stream.write_all(&b)),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        Self {
            url,
            files,
            token,
            token_queries,
        }
    }

    fn serve(&self, files: &BTreeMap<String, Vec<u8>>) {
        *self.files.lock().unwrap() = files.clone();
    }
}

/// Every role's metadata as the real server serves it now.
fn snapshot_of(server: &str, gun: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for role in [
        "root",
        "timestamp",
        "snapshot",
        "targets",
        "targets/releases",
    ] {
        let url = format!("{server}/v2/{gun}/_trust/tuf/{role}.json");
        let o = Command::new("curl")
            .args(["-fsS", "--max-time", "10", &url])
            .output()
            .unwrap();
        assert!(o.status.success(), "{url}: {}", text(&o));
        out.insert(role.to_owned(), o.stdout);
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// Writes the manifest the registry serves for `repo:tag` to `path`, byte for byte.
fn save_manifest(reg: &Registry, repo: &str, tag: &str, path: &Path) -> String {
    let (bytes, _, digest) = reg
        .client()
        .get_manifest(repo, tag, media_type::ACCEPT_MANIFESTS)
        .unwrap();
    assert_eq!(digest.hex(), sha256_hex(&bytes));
    std::fs::write(path, &bytes).unwrap();
    digest.to_string()
}

fn generate_cosign_key(dir: &Path) -> PathBuf {
    let prefix = dir.join("cosign");
    let out = palisade(
        &[
            "key",
            "generate",
            "--output-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", PASS)],
    );
    assert!(out.status.success(), "{}", text(&out));
    prefix
}

#[test]
fn dct_signed_tags_verify_migrate_and_altered_metadata_is_refused() {
    let reg = Registry::start();
    let notary = NotaryServer::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let trust = w.join("trust");
    let state = w.join("state");

    // The repository: two real images under two tags.
    let repo = "testbed/dct";
    let gun = format!("{}/{repo}", reg.addr);
    reg.push("base", &format!("{repo}:v1"));
    reg.push("app", &format!("{repo}:v2"));
    let m1 = w.join("v1.manifest");
    let m2 = w.join("v2.manifest");
    let d1 = save_manifest(&reg, repo, "v1", &m1);
    let d2 = save_manifest(&reg, repo, "v2", &m2);

    // Published with the notary client: v1 by the targets key, v2 by the releases delegation.
    notary_cli(&trust, &notary.url, &["init", &gun]);
    notary_cli(
        &trust,
        &notary.url,
        &["add", &gun, "v1", m1.to_str().unwrap()],
    );
    let del_key = w.join("releases.key");
    let del_crt = w.join("releases.crt");
    let o = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-nodes",
            "-days",
            "365",
            "-subj",
            "/CN=releases",
        ])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .arg("-keyout")
        .arg(&del_key)
        .arg("-out")
        .arg(&del_crt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    notary_cli(
        &trust,
        &notary.url,
        &[
            "delegation",
            "add",
            &gun,
            "targets/releases",
            del_crt.to_str().unwrap(),
            "--all-paths",
        ],
    );
    notary_cli(
        &trust,
        &notary.url,
        &[
            "key",
            "import",
            del_key.to_str().unwrap(),
            "--role",
            "targets/releases",
        ],
    );
    notary_cli(&trust, &notary.url, &["publish", &gun]);
    notary_cli(
        &trust,
        &notary.url,
        &[
            "add",
            &gun,
            "v2",
            m2.to_str().unwrap(),
            "--roles",
            "targets/releases",
        ],
    );
    notary_cli(&trust, &notary.url, &["publish", &gun]);
    let listed =
        String::from_utf8(notary_cli(&trust, &notary.url, &["list", &gun]).stdout).unwrap();
    assert!(
        listed.contains(d1.strip_prefix("sha256:").unwrap()),
        "{listed}"
    );
    assert!(listed.contains("targets/releases"), "{listed}");

    // The pin: the SHA-256 of the root.json the client keeps (what a user exports).
    let root_file = trust.join(format!("tuf/{gun}/metadata/root.json"));
    let root_bytes = std::fs::read(&root_file).unwrap();
    let pin = format!("sha256:{}", sha256_hex(&root_bytes));
    let root: Value = serde_json::from_slice(&root_bytes).unwrap();
    let root_key = root["signed"]["roles"]["root"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_owned();

    // 1. Both tags verify; the report names notary:<gun> and the role that signed.
    let signer = format!("notary:{gun}");
    for (tag, digest, role, pin) in [
        ("v1", &d1, "targets", pin.clone()),
        ("v2", &d2, "targets/releases", pin.clone()),
        ("v2", &d2, "targets/releases", format!("key:{root_key}")),
    ] {
        let (code, v, t) = verify_notary(&format!("{gun}:{tag}"), &notary.url, &pin, &state);
        assert_eq!(code, 0, "{t}");
        assert_eq!(v["verified"], true, "{t}");
        assert_eq!(v["digest"], json!(digest), "{t}");
        let r = notary_report(&v);
        assert_eq!(r["verified"]["signer"], json!(signer), "{t}");
        assert_eq!(
            r["verified"]["kind"],
            json!(format!("notary {role}")),
            "{t}"
        );
        assert_eq!(
            r["verified"]["annotations"]["notary.role"],
            json!(role),
            "{t}"
        );
        assert_eq!(r["verified"]["digest"], json!(digest), "{t}");
    }
    // The table names the signer and role too.
    let out = palisade(
        &[
            "verify",
            &format!("{gun}:v2"),
            "--notary-server",
            &notary.url,
            "--notary-root",
            &pin,
            "--notary-state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("notary targets/releases signed by {signer}")),
        "{}",
        text(&out)
    );

    // 2. A wrong pin, and trust on first use, are refused.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let (code, v, t) = verify_notary(&format!("{gun}:v1"), &notary.url, &wrong, &state);
    assert_eq!(code, 1, "{t}");
    let reason = notary_report(&v)["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("not the pinned"), "{reason}");
    let out = palisade(
        &[
            "verify",
            &format!("{gun}:v1"),
            "--notary-server",
            &notary.url,
            "--notary-root",
            "tofu",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("sha256:<64 hex>"), "{}", text(&out));

    // The metadata as it is now, for the rollback below.
    let old = snapshot_of(&notary.url, &gun);

    // 3. A tag moved after signing: Notary signed base's manifest for v3, the registry serves
    //    app's. Publishing v3 also raises every version past the saved metadata's.
    notary_cli(
        &trust,
        &notary.url,
        &[
            "add",
            &gun,
            "v3",
            m1.to_str().unwrap(),
            "--roles",
            "targets/releases",
        ],
    );
    notary_cli(&trust, &notary.url, &["publish", &gun]);
    reg.push("app", &format!("{repo}:v3"));
    let (code, v, t) = verify_notary(&format!("{gun}:v3"), &notary.url, &pin, &state);
    assert_eq!(code, 1, "{t}");
    let reason = notary_report(&v)["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains(&format!("the registry serves {d2} for tag \"v3\""))
            && reason.contains(&format!("targets/releases role signed {d1}")),
        "{reason}"
    );
    // A tag Notary never signed.
    reg.push("base", &format!("{repo}:unsigned"));
    let (code, v, t) = verify_notary(&format!("{gun}:unsigned"), &notary.url, &pin, &state);
    assert_eq!(code, 1, "{t}");
    let reason = notary_report(&v)["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("tag \"unsigned\" is not signed"),
        "{reason}"
    );

    // 4. Altered metadata, served by a server of our own.
    let fake = MetadataServer::start();
    let current = snapshot_of(&notary.url, &gun);
    let refused = |files: &BTreeMap<String, Vec<u8>>, state: &Path| -> String {
        fake.serve(files);
        let (code, v, t) = verify_notary(&format!("{gun}:v2"), &fake.url, &pin, state);
        assert_eq!(code, 1, "{t}");
        assert_eq!(v["verified"], false, "{t}");
        notary_report(&v)["reason"].as_str().unwrap().to_owned()
    };
    // Unaltered, it verifies: the server of our own is not what is refused.
    fake.serve(&current);
    let (code, _, t) = verify_notary(&format!("{gun}:v2"), &fake.url, &pin, &state);
    assert_eq!(code, 0, "{t}");
    // A server that wants a token (as Docker Hub's and Harbor's Notary do): one anonymous
    // token for the collection's pull scope, then the same verification.
    *fake.token.lock().unwrap() = Some("anonymous-pull-token".to_owned());
    let (code, _, t) = verify_notary(&format!("{gun}:v2"), &fake.url, &pin, &state);
    assert_eq!(code, 0, "{t}");
    let queries = fake.token_queries.lock().unwrap().clone();
    assert_eq!(
        queries,
        vec![format!(
            "scope=repository%3A{}%3Apull&service=notary",
            gun.replace(':', "%3A").replace('/', "%2F")
        )],
        "one token for the whole chain"
    );
    *fake.token.lock().unwrap() = None;
    // A target's hash changed in targets/releases.json: the snapshot no longer matches it.
    let mut tampered = current.clone();
    let releases = String::from_utf8(tampered["targets/releases"].clone()).unwrap();
    let v2_hash = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(hex::decode(d2.strip_prefix("sha256:").unwrap()).unwrap())
    };
    let forged_hash = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(hex::decode(d1.strip_prefix("sha256:").unwrap()).unwrap())
    };
    assert!(releases.contains(&v2_hash), "{releases}");
    tampered.insert(
        "targets/releases".to_owned(),
        releases.replace(&v2_hash, &forged_hash).into_bytes(),
    );
    let reason = refused(&tampered, &state);
    assert!(
        reason.contains("targets/releases.json has sha256")
            && reason.contains("but snapshot.json says")
            && reason.contains("altered"),
        "{reason}"
    );
    // The timestamp's expiry pushed out by a year: its signature no longer verifies.
    let mut tampered = current.clone();
    let ts: Value = serde_json::from_slice(&current["timestamp"]).unwrap();
    let expires = ts["signed"]["expires"].as_str().unwrap().to_owned();
    let later = format!(
        "{}{}",
        (expires[..4].parse::<u32>().unwrap() + 1),
        &expires[4..]
    );
    tampered.insert(
        "timestamp".to_owned(),
        String::from_utf8(current["timestamp"].clone())
            .unwrap()
            .replace(&expires, &later)
            .into_bytes(),
    );
    let reason = refused(&tampered, &state);
    assert!(
        reason.contains(
            "timestamp.json: valid signatures from 0 distinct key(s) of the role, 1 required"
        ) && reason.contains("does not verify"),
        "{reason}"
    );
    // A root.json the pin does not name (here: a re-initialised collection of another client).
    let mut tampered = current.clone();
    let mut other_root: Value = serde_json::from_slice(&current["root"]).unwrap();
    other_root["signed"]["version"] = json!(2);
    tampered.insert("root".to_owned(), serde_json::to_vec(&other_root).unwrap());
    let reason = refused(&tampered, &state);
    assert!(reason.contains("not the pinned"), "{reason}");

    // 5. Rolled back: the metadata saved before v3 was published, validly signed but older
    //    than what this state directory has seen.
    let reason = refused(&old, &state);
    assert!(
        reason.contains("version")
            && reason.contains("older than version")
            && reason.contains("rollback"),
        "{reason}"
    );
    // With a fresh state directory the same old metadata still verifies (it is genuine):
    // the refusal above came from the recorded versions alone.
    fake.serve(&old);
    let (code, _, t) = verify_notary(&format!("{gun}:v2"), &fake.url, &pin, &w.join("fresh"));
    assert_eq!(code, 0, "{t}");

    // 6. Expired: the server signs timestamp.json for 14 days; checked 15 days from now, the
    //    same genuine metadata is refused as expired.
    let now = palisade_image::Timestamp::now().unix_seconds();
    let later = Notary::new(
        &notary.url,
        pin.parse::<RootPin>().unwrap(),
        &w.join("expiry-state"),
        &palisade_image::HttpOptions::default(),
    )
    .unwrap()
    .at(now + 15 * 24 * 3600);
    let err = later.collection(&gun).unwrap_err().to_string();
    assert!(
        err.contains("timestamp.json (version") && err.contains("expired at"),
        "{err}"
    );
    // ... and a day from now it is not.
    let soon = Notary::new(
        &notary.url,
        pin.parse::<RootPin>().unwrap(),
        &w.join("expiry-state"),
        &palisade_image::HttpOptions::default(),
    )
    .unwrap()
    .at(now + 24 * 3600);
    let c = soon.collection(&gun).unwrap();
    assert_eq!(c.targets["v2"].role, "targets/releases");
    assert_eq!(c.targets["v2"].digest, d2);
    assert_eq!(c.targets["v1"].role, "targets");

    // 7. The gate, with `sources.notary` in the policy: v2 is allowed as signed by `dct`; v3
    //    (moved after signing) is denied with Notary's reason.
    let policy = w.join("notary-policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsources:\n  notary:\n    dct: {{ server: \"{}\", root: \"{pin}\" }}\n  \
             default: deny\n  rules:\n    - name: dct\n      images: [\"127.0.0.1:*/testbed/**\"]\n      \
             signers: {{ any_of: [dct] }}\n",
            notary.url
        ),
    )
    .unwrap();
    let gate = |tag: &str| {
        let out = palisade(
            &[
                "gate",
                &format!("registry:{gun}:{tag}"),
                "--policy",
                policy.to_str().unwrap(),
                "--cache-dir",
                w.join("gate-cache").to_str().unwrap(),
                "--format",
                "json",
            ],
            &[],
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), v, text(&out))
    };
    let (code, v, t) = gate("v2");
    assert_eq!(code, 0, "{t}");
    assert_eq!(v["decision"], "allow", "{t}");
    let (code, v, t) = gate("v3");
    assert_eq!(code, 1, "{t}");
    assert_eq!(v["decision"], "deny", "{t}");
    assert!(t.contains("the registry serves"), "{t}");

    // 8. Migration: v1 and v2 verified and signed with a cosign key; v3 refused (moved).
    let key = generate_cosign_key(w);
    let out = palisade(
        &[
            "trust",
            "migrate",
            &gun,
            "--notary-server",
            &notary.url,
            "--notary-root",
            &pin,
            "--notary-state-dir",
            state.to_str().unwrap(),
            "--key",
            key.with_extension("key").to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", PASS)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let records: BTreeMap<String, Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["tag"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    assert_eq!(records.len(), 3, "{}", text(&out));
    for (tag, digest, role) in [("v1", &d1, "targets"), ("v2", &d2, "targets/releases")] {
        let r = &records[tag];
        assert_eq!(r["status"], "migrated", "{r}");
        assert_eq!(r["digest"], json!(digest), "{r}");
        assert_eq!(r["notary"]["role"], role, "{r}");
        assert_eq!(r["notary"]["signer"], json!(signer), "{r}");
        assert_eq!(r["cosign"]["added"], true, "{r}");
    }
    assert_eq!(records["v3"]["status"], "refused");
    assert!(
        records["v3"]["reason"]
            .as_str()
            .unwrap()
            .contains("the registry serves"),
        "{}",
        records["v3"]
    );

    // Again, for one tag named twice: one record, and the signature is not added twice.
    let out = palisade(
        &[
            "trust",
            "migrate",
            &gun,
            "--tag",
            "v2",
            "--tag",
            "v2",
            "--notary-server",
            &notary.url,
            "--notary-root",
            &pin,
            "--notary-state-dir",
            state.to_str().unwrap(),
            "--key",
            key.with_extension("key").to_str().unwrap(),
        ],
        &[("PALISADE_PASSWORD", PASS)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", text(&out));
    assert_eq!(lines[0]["status"], "migrated");
    assert_eq!(lines[0]["cosign"]["added"], false, "{}", text(&out));

    // The cosign signatures verify with palisade ...
    for (tag, digest) in [("v1", &d1), ("v2", &d2)] {
        let out = palisade(
            &[
                "verify",
                &format!("{gun}:{tag}"),
                "--key",
                key.with_extension("pub").to_str().unwrap(),
                "--format",
                "json",
            ],
            &[],
        );
        assert!(out.status.success(), "{}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["digest"], json!(digest));
        assert_eq!(v["verified"], true);
    }
    // ... and with trixie's skopeo under a sigstoreSigned policy.
    run_script(&["testbed/skopeo-trixie.sh", "build"]);
    let rd = w.join("registries.d");
    std::fs::create_dir_all(&rd).unwrap();
    std::fs::write(
        rd.join("default.yaml"),
        format!(
            "docker:\n  {}:\n    use-sigstore-attachments: true\n",
            reg.addr
        ),
    )
    .unwrap();
    let policy = w.join("policy.json");
    std::fs::write(
        &policy,
        json!({
            "default": [{"type": "reject"}],
            "transports": {
                "docker": {gun.clone(): [{
                    "type": "sigstoreSigned",
                    "keyPath": key.with_extension("pub"),
                    "signedIdentity": {"type": "matchRepository"}
                }]},
                "dir": {"": [{"type": "insecureAcceptAnything"}]}
            }
        })
        .to_string(),
    )
    .unwrap();
    let skopeo = |tag: &str, out_dir: &str| {
        Command::new("bash")
            .arg("testbed/skopeo-trixie.sh")
            .arg("run")
            .arg(w)
            .arg("--")
            .args([
                "--policy",
                policy.to_str().unwrap(),
                "--registries.d",
                rd.to_str().unwrap(),
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                &format!("docker://{gun}:{tag}"),
                &format!("dir:{}", w.join(out_dir).display()),
            ])
            .current_dir(repo_root())
            .output()
            .unwrap()
    };
    for tag in ["v1", "v2"] {
        let out = skopeo(tag, &format!("copied-{tag}"));
        assert!(
            out.status.success(),
            "skopeo refused the migrated {tag}: {}",
            text(&out)
        );
    }
    let mut manifest = String::new();
    std::fs::File::open(w.join("copied-v2/manifest.json"))
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(manifest.as_bytes())), d2);
}

#[test]
fn policy_notary_sources_need_a_url_and_a_pin() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.yaml");
    std::fs::write(
        &policy,
        "version: 1\nsources:\n  notary:\n    dct: { server: \"notary.example.com\", root: \"tofu\" }\n  \
         default: deny\n  rules:\n    - name: r\n      images: [\"**\"]\n      signers: { any_of: [dct] }\n",
    )
    .unwrap();
    let out = palisade(&["policy", "validate", policy.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(
            "bad.yaml:4:20: sources.notary.dct.server: the Notary server is an https:// URL"
        ),
        "{t}"
    );
    assert!(
        t.contains("bad.yaml:4:48: sources.notary.dct.root: the pinned root is sha256:<64 hex>"),
        "{t}"
    );
    // A well-formed entry is a known signer name for the rules.
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        format!(
            "version: 1\nsources:\n  notary:\n    dct: {{ server: \"https://notary.example.com\", root: \"key:{}\" }}\n  \
             default: deny\n  rules:\n    - name: r\n      images: [\"**\"]\n      signers: {{ any_of: [dct] }}\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let out = palisade(&["policy", "validate", good.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
}
