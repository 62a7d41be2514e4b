//! The registry client against a real registry: Debian's `docker-registry` (Distribution
//! 2.8), started by each test on a free loopback port with its own storage, and killed when
//! the test ends.
//!
//! Covers pushing a small image with our own client and reading it back through
//! `palisade_image::open`, errors for missing tags and tampered manifests, `htpasswd` basic
//! authentication, and token authentication with a token server run by the test (a JWT
//! signed with a throwaway key made by `openssl`).
//!
//! Skipped, with a message, only when `/usr/bin/docker-registry` is absent (the token test
//! also needs `openssl`).

#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use palisade_image::{
    Digest, Entry, EntryKind, Error, OpenOptions, RegistryClient, RegistryOptions, media_type, open,
};
use serde_json::json;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const FILE_PATH: &str = "etc/palisade/hello.txt";
const FILE_CONTENT: &str = "hello from the registry test\n";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `htpasswd -nbB -C 5 tester pal1sade-pw`, fixed so the test needs no bcrypt tool.
const HTPASSWD: &str = "tester:$2y$05$0b.ourQV45rgsxwxawB8T.Gs3CtyVNJOycQZWnvZamL0u3xF4R7m2\n";
const USER: &str = "tester";
const PASSWORD: &str = "pal1sade-pw";

/// A running `docker-registry`, killed on drop.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to configure a registry beyond the defaults.
#[derive(Default)]
struct Setup {
    /// YAML for the top-level `auth:` key, or empty.
    auth: String,
    /// `(certificate, key)` PEM files to serve HTTPS with.
    tls: Option<(PathBuf, PathBuf)>,
    /// Storage shared with another registry (default: a fresh directory).
    storage: Option<PathBuf>,
}

impl Registry {
    /// Starts a registry with `auth` (YAML for the `auth:` key, or empty), made from its
    /// temporary directory. `None` when the binary is absent.
    fn start(auth: impl Fn(&Path) -> String) -> Option<Registry> {
        Registry::start_with(|dir| Setup {
            auth: auth(dir),
            ..Setup::default()
        })
    }

    fn start_with(setup: impl FnOnce(&Path) -> Setup) -> Option<Registry> {
        if !Path::new(REGISTRY_BIN).exists() {
            eprintln!(
                "skipping: {REGISTRY_BIN} is not installed (apt-get install docker-registry)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let setup = setup(dir.path());
        let storage = setup
            .storage
            .clone()
            .unwrap_or_else(|| dir.path().join("storage"));
        let tls = setup.tls.as_ref().map_or_else(String::new, |(cert, key)| {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        });
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: info\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n{tls}\
                     {}",
                    storage.display(),
                    setup.auth
                ),
            )
            .expect("write config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
            let mut child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            if wait_ready(&mut child, port) {
                return Some(Registry { child, port, dir });
            }
            // Lost the port to someone else, or failed: try again with another one.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start; log:\n{}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

/// Waits until the registry answers HTTP on `port`; false if it exits or takes too long.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut first = [0u8; 5];
            if s.read_exact(&mut first).is_ok() && &first == b"HTTP/" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A one-layer OCI image: the gzipped layer, its config and manifest.
struct TinyImage {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn tiny_image() -> TinyImage {
    let mut tar = tar::Builder::new(Vec::new());
    for dir in ["etc/", "etc/palisade/"] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        tar.append_data(&mut h, dir, std::io::empty())
            .expect("tar dir");
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(FILE_CONTENT.len() as u64);
    h.set_mtime(1_700_000_000);
    tar.append_data(&mut h, FILE_PATH, FILE_CONTENT.as_bytes())
        .expect("tar file");
    let tar = tar.into_inner().expect("tar");
    let diff_id = Digest::sha256_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created_by": "registry test layer"}]
    }))
    .expect("config");
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": media_type::OCI_CONFIG,
            "digest": Digest::sha256_of(&config).to_string(),
            "size": config.len()
        },
        "layers": [{
            "mediaType": LAYER_GZIP,
            "digest": Digest::sha256_of(&layer).to_string(),
            "size": layer.len()
        }]
    }))
    .expect("manifest");
    TinyImage {
        layer,
        config,
        manifest,
    }
}

/// Pushes the tiny image as `repo:tag` and returns the manifest digest.
fn push(
    client: &RegistryClient,
    repo: &str,
    tag: &str,
    image: &TinyImage,
) -> Result<Digest, Error> {
    client.push_blob(repo, &image.layer)?;
    client.push_blob(repo, &image.config)?;
    client.put_manifest(repo, tag, &image.manifest, media_type::OCI_MANIFEST)
}

/// Opens `source` and returns the content of the test file from its only layer.
fn read_test_file(source: &str, options: &OpenOptions) -> Result<String, Error> {
    let image = open(source, options)?;
    assert_eq!(image.layers().len(), 1);
    let mut found = None;
    image.walk_layer(0, &mut |entry: &Entry<'_>, content: &mut dyn Read| {
        if entry.kind == EntryKind::File && entry.path == FILE_PATH {
            let mut s = String::new();
            content.read_to_string(&mut s)?;
            found = Some(s);
        }
        Ok(())
    })?;
    Ok(found.expect("the test file is in the layer"))
}

#[test]
fn push_then_open_walks_the_layer() {
    let Some(registry) = Registry::start(|_| String::new()) else {
        return;
    };
    let client =
        RegistryClient::new(&registry.host(), &RegistryOptions::default()).expect("client");
    assert_eq!(client.base_url(), format!("http://{}", registry.host()));
    let image = tiny_image();
    let digest = push(&client, "test/img", "v1", &image).expect("push");
    assert_eq!(digest, Digest::sha256_of(&image.manifest));
    // A second push finds the blobs already there.
    assert_eq!(
        push(&client, "test/img", "v1", &image).expect("push again"),
        digest
    );
    assert!(
        client
            .blob_exists("test/img", &Digest::sha256_of(&image.layer))
            .expect("HEAD blob")
    );

    let source = format!("registry:{}/test/img:v1", registry.host());
    assert_eq!(
        read_test_file(&source, &OpenOptions::default()).expect("open"),
        FILE_CONTENT
    );
    let opened = open(&source, &OpenOptions::default()).expect("open");
    assert_eq!(opened.manifest_digest(), Some(&digest));
    assert_eq!(
        opened
            .config()
            .config
            .as_ref()
            .and_then(|c| c.user.as_deref()),
        Some("1000")
    );
    assert_eq!(
        opened.layers()[0].created_by.as_deref(),
        Some("registry test layer")
    );

    // By digest, too.
    let by_digest = format!("registry:{}/test/img@{digest}", registry.host());
    assert_eq!(
        read_test_file(&by_digest, &OpenOptions::default()).expect("open by digest"),
        FILE_CONTENT
    );

    // The raw API.
    let (bytes, content_type, got) = client
        .get_manifest("test/img", "v1", media_type::ACCEPT_MANIFESTS)
        .expect("get manifest");
    assert_eq!(
        (bytes.as_slice(), content_type.as_deref(), &got),
        (
            image.manifest.as_slice(),
            Some(media_type::OCI_MANIFEST),
            &digest
        )
    );
    let head = client
        .head_manifest("test/img", "v1", media_type::ACCEPT_MANIFESTS)
        .expect("HEAD manifest")
        .expect("the manifest exists");
    assert_eq!(head.digest, digest);
    assert_eq!(head.size, image.manifest.len() as u64);
    assert_eq!(head.media_type, media_type::OCI_MANIFEST);
    assert_eq!(
        client
            .head_manifest("test/img", "nope", &[])
            .expect("HEAD missing"),
        None
    );
    let mut blob = Vec::new();
    client
        .get_blob("test/img", &Digest::sha256_of(&image.config))
        .expect("get blob")
        .read_to_end(&mut blob)
        .expect("read blob");
    assert_eq!(blob, image.config);
    let missing = Digest::sha256_of(b"not pushed");
    match client.get_blob("test/img", &missing) {
        Err(Error::MissingBlob { digest, detail, .. }) => {
            assert_eq!(digest, missing);
            assert!(detail.contains("404"), "{detail}");
        }
        Err(other) => panic!("expected MissingBlob, got {other}"),
        Ok(_) => panic!("expected MissingBlob, got a blob"),
    }

    // Distribution 2.8 has no referrers API: the caller is told to fall back to tags.
    assert!(
        client
            .get_referrers("test/img", &digest)
            .expect("referrers")
            .is_none()
    );
    // The cosign tag scheme works with our push.
    let sig_tag = format!("sha256-{}.sig", digest.hex());
    push(&client, "test/img", &sig_tag, &image).expect("push signature tag");
    let mut tags = client.list_tags("test/img").expect("tags");
    tags.sort();
    assert_eq!(tags, vec![sig_tag, "v1".to_owned()]);
}

#[test]
fn an_index_is_followed_through_the_manifests_endpoint() {
    let Some(registry) = Registry::start(|_| String::new()) else {
        return;
    };
    let client =
        RegistryClient::new(&registry.host(), &RegistryOptions::default()).expect("client");
    let image = tiny_image();
    let manifest_digest = push(&client, "test/multi", "amd64", &image).expect("push");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type::OCI_MANIFEST,
            "digest": manifest_digest.to_string(),
            "size": image.manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"}
        }]
    }))
    .expect("index");
    let index_digest = client
        .put_manifest("test/multi", "latest", &index, media_type::OCI_INDEX)
        .expect("push index");
    let source = format!("registry:{}/test/multi:latest", registry.host());
    assert_eq!(
        read_test_file(&source, &OpenOptions::default()).expect("open"),
        FILE_CONTENT
    );
    let opened = open(&source, &OpenOptions::default()).expect("open");
    assert_eq!(opened.manifest_digest(), Some(&manifest_digest));
    assert_ne!(index_digest, manifest_digest);
}

#[test]
fn missing_tags_and_tampered_manifests_are_clear_errors() {
    let Some(registry) = Registry::start(|_| String::new()) else {
        return;
    };
    let client =
        RegistryClient::new(&registry.host(), &RegistryOptions::default()).expect("client");
    let image = tiny_image();
    let digest = push(&client, "test/img", "v1", &image).expect("push");

    let err = open(
        &format!("registry:{}/test/img:nope", registry.host()),
        &OpenOptions::default(),
    )
    .expect_err("no such tag");
    let msg = err.to_string();
    let url = format!("http://{}/v2/test/img/manifests/nope", registry.host());
    assert!(matches!(err, Error::Registry { .. }), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(
        msg.contains("404") && msg.contains("MANIFEST_UNKNOWN"),
        "{msg}"
    );

    let err = client
        .list_tags("test/none")
        .expect_err("no such repository");
    assert!(err.to_string().contains("NAME_UNKNOWN"), "{err}");

    // Tamper with the stored manifest: the registry still serves it under the old digest.
    let data = registry
        .dir
        .path()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&digest.hex()[..2])
        .join(digest.hex())
        .join("data");
    let mut tampered = image.manifest.clone();
    tampered.extend_from_slice(b"\n ");
    std::fs::write(&data, &tampered).expect("tamper");
    match client.get_manifest("test/img", &digest.to_string(), &[]) {
        Err(Error::DigestMismatch {
            expected,
            actual,
            what,
        }) => {
            assert_eq!(expected, digest);
            assert_eq!(actual, Digest::sha256_of(&tampered));
            assert!(what.contains("/v2/test/img/manifests/sha256:"), "{what}");
        }
        Err(other) => panic!(
            "expected a digest mismatch, got {other}\n{}",
            registry.log()
        ),
        Ok(_) => panic!("a tampered manifest was accepted"),
    }
    let err = open(
        &format!("registry:{}/test/img@{digest}", registry.host()),
        &OpenOptions::default(),
    )
    .expect_err("tampered");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    // A tag has no digest to promise: the bytes are what they are, with their own digest.
    let (_, _, by_tag) = client.get_manifest("test/img", "v1", &[]).expect("by tag");
    assert_eq!(by_tag, Digest::sha256_of(&tampered));
}

#[test]
fn htpasswd_basic_auth() {
    let Some(registry) = Registry::start(|dir| {
        let path = dir.join("htpasswd");
        std::fs::write(&path, HTPASSWD).expect("htpasswd");
        format!(
            "auth:\n  htpasswd:\n    realm: palisade-test\n    path: {}\n",
            path.display()
        )
    }) else {
        return;
    };
    let host = registry.host();
    let image = tiny_image();
    let nowhere = RegistryOptions {
        docker_config: Some(registry.dir.path().join("no-such-config.json")),
        ..RegistryOptions::default()
    };

    // Anonymous: refused, with a hint.
    let anonymous = RegistryClient::new(&host, &nowhere).expect("client");
    let err = push(&anonymous, "test/img", "v1", &image).expect_err("anonymous push");
    let msg = err.to_string();
    assert!(
        msg.contains("401") && msg.contains("no credentials"),
        "{msg}"
    );

    // Explicit credentials.
    let options = RegistryOptions {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        ..nowhere.clone()
    };
    let client = RegistryClient::new(&host, &options).expect("client");
    push(&client, "test/img", "v1", &image).expect("push with credentials");
    let open_options = OpenOptions {
        registry: options,
        ..OpenOptions::default()
    };
    let source = format!("registry:{host}/test/img:v1");
    assert_eq!(
        read_test_file(&source, &open_options).expect("open"),
        FILE_CONTENT
    );

    // Credentials from a Docker configuration file.
    let config = registry.dir.path().join("docker-config.json");
    let auth = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        &config,
        json!({"auths": {host.clone(): {"auth": auth}}}).to_string(),
    )
    .expect("config");
    let from_config = OpenOptions {
        registry: RegistryOptions {
            docker_config: Some(config),
            ..RegistryOptions::default()
        },
        ..OpenOptions::default()
    };
    assert_eq!(
        read_test_file(&source, &from_config).expect("open with docker config"),
        FILE_CONTENT
    );

    // A wrong password: refused, and the message says so without showing it.
    let wrong = RegistryClient::new(
        &host,
        &RegistryOptions {
            username: Some(USER.into()),
            password: Some("not-the-password".into()),
            ..nowhere
        },
    )
    .expect("client");
    let err = wrong
        .get_manifest("test/img", "v1", &[])
        .expect_err("wrong password");
    let msg = err.to_string();
    assert!(msg.contains("401") && msg.contains("refused"), "{msg}");
    assert!(!msg.contains("not-the-password"), "{msg}");
}

// ----- token authentication -----

/// A recorded request to the token server.
#[derive(Debug, Clone)]
struct TokenRequest {
    target: String,
    authorization: Option<String>,
}

/// Serves `token` to requests with the right basic credentials, forever, recording them.
fn token_server(token: String) -> (u16, Arc<Mutex<Vec<TokenRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let target = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut authorization = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(v.trim().to_owned());
                }
            }
            let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
            let ok = authorization.as_deref() == Some(expected.as_str());
            record.lock().expect("lock").push(TokenRequest {
                target,
                authorization,
            });
            let (status, body) = if ok {
                (
                    "200 OK",
                    json!({"token": token, "expires_in": 300}).to_string(),
                )
            } else {
                (
                    "401 Unauthorized",
                    json!({"details": "bad credentials"}).to_string(),
                )
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

fn openssl(args: &[&str], dir: &Path) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes a key and self-signed certificate, and an RS256 JWT with the certificate in `x5c`
/// granting pull and push on `repo`. `None` without a working `openssl`.
fn signed_token(dir: &Path, service: &str, issuer: &str, repo: &str) -> Option<(String, PathBuf)> {
    if !openssl(&["version"], dir) {
        return None;
    }
    let made = openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=palisade-test-token-signer",
        ],
        dir,
    ) && openssl(
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
        dir,
    );
    assert!(made, "openssl could not make a test certificate");
    let cert_der = std::fs::read(dir.join("cert.der")).expect("cert");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [STANDARD.encode(&cert_der)]});
    let claims = json!({
        "iss": issuer, "sub": USER, "aud": service,
        "exp": now + 3600, "nbf": now - 60, "iat": now, "jti": "palisade-test-1",
        "access": [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    std::fs::write(dir.join("input.txt"), &signing_input).expect("input");
    assert!(
        openssl(
            &[
                "dgst",
                "-sha256",
                "-sign",
                "key.pem",
                "-out",
                "sig.bin",
                "input.txt"
            ],
            dir
        ),
        "openssl could not sign"
    );
    let signature = std::fs::read(dir.join("sig.bin")).expect("signature");
    Some((
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)),
        dir.join("cert.pem"),
    ))
}

#[test]
fn bearer_token_auth_with_a_token_server() {
    if !Path::new(REGISTRY_BIN).exists() {
        eprintln!("skipping: {REGISTRY_BIN} is not installed");
        return;
    }
    let keys = tempfile::tempdir().expect("temp dir");
    let (service, issuer) = ("palisade-test-registry", "palisade-test-issuer");
    let Some((token, cert)) = signed_token(keys.path(), service, issuer, "test/tok") else {
        eprintln!("skipping the token test: openssl is not installed");
        return;
    };
    let (token_port, seen) = token_server(token.clone());
    let Some(registry) = Registry::start(|_| {
        format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            cert.display()
        )
    }) else {
        return;
    };
    let host = registry.host();
    let image = tiny_image();
    let options = RegistryOptions {
        username: Some(USER.into()),
        password: Some(PASSWORD.into()),
        ..RegistryOptions::default()
    };
    let client = RegistryClient::new(&host, &options).expect("client");
    let digest = push(&client, "test/tok", "v1", &image)
        .unwrap_or_else(|e| panic!("push: {e}\n{}", registry.log()));
    assert_eq!(digest, Digest::sha256_of(&image.manifest));
    {
        let seen = seen.lock().expect("lock");
        // One token, for pull and push, reused for every request of the push.
        assert_eq!(seen.len(), 1, "{seen:?}");
        let target = &seen[0].target;
        assert!(target.starts_with("/token?"), "{target}");
        assert!(target.contains(&format!("service={service}")), "{target}");
        assert!(
            target.contains("scope=repository%3Atest%2Ftok%3Apull%2Cpush"),
            "{target}"
        );
    }
    let source = format!("registry:{host}/test/tok:v1");
    let open_options = OpenOptions {
        registry: options.clone(),
        ..OpenOptions::default()
    };
    assert_eq!(
        read_test_file(&source, &open_options).expect("open"),
        FILE_CONTENT
    );
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|r| r.authorization.is_some())
    );

    // Without credentials the token server refuses, and the error says where and why.
    let anonymous = RegistryClient::new(
        &host,
        &RegistryOptions {
            docker_config: Some(keys.path().join("none.json")),
            ..RegistryOptions::default()
        },
    )
    .expect("client");
    let err = anonymous
        .get_manifest("test/tok", "v1", &[])
        .expect_err("anonymous");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{token_port}/token")),
        "{msg}"
    );
    assert!(msg.contains("401") && msg.contains("anonymous"), "{msg}");
    // The token grants nothing on other repositories: the registry refuses even with it.
    let err = client
        .get_manifest("test/other", "v1", &[])
        .expect_err("other repository");
    assert!(err.to_string().contains("401"), "{err}");
}

/// Answers every request with a redirect to `location`, forever.
fn redirector(location: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                    break;
                }
            }
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    port
}

#[test]
fn ca_file_is_trusted_for_https() {
    let Some(plain) = Registry::start(|_| String::new()) else {
        return;
    };
    let pki = tempfile::tempdir().expect("temp dir");
    let dir = pki.path();
    if !openssl(&["version"], dir) {
        eprintln!("skipping the TLS test: openssl is not installed");
        return;
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    let made = openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=palisade-test-ca",
        ],
        dir,
    ) && openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    ) && openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
    assert!(made, "openssl could not make the test certificates");

    let image = tiny_image();
    let client = RegistryClient::new(&plain.host(), &RegistryOptions::default()).expect("client");
    push(&client, "test/img", "v1", &image).expect("push");
    let config_digest = Digest::sha256_of(&image.config);
    // A second registry serves the same storage over HTTPS with a certificate from the test CA.
    let storage = plain.storage();
    let Some(tls) = Registry::start_with(|_| Setup {
        tls: Some((dir.join("server.pem"), dir.join("server.key"))),
        storage: Some(storage),
        ..Setup::default()
    }) else {
        return;
    };
    // Loopback registries are spoken to over plain HTTP, so reach the HTTPS one the way
    // registries send clients to object storage: by a redirect.
    let redirect = redirector(format!(
        "https://127.0.0.1:{}/v2/test/img/blobs/{config_digest}",
        tls.port
    ));
    let via = format!("127.0.0.1:{redirect}");
    let nowhere = RegistryOptions {
        docker_config: Some(dir.join("none.json")),
        ..RegistryOptions::default()
    };

    let trusting = RegistryClient::new(
        &via,
        &RegistryOptions {
            ca_file: Some(dir.join("ca.pem")),
            ..nowhere.clone()
        },
    )
    .expect("client with the test CA");
    let mut blob = Vec::new();
    trusting
        .get_blob("test/img", &config_digest)
        .unwrap_or_else(|e| panic!("HTTPS with the test CA: {e}\n{}", tls.log()))
        .read_to_end(&mut blob)
        .expect("read over HTTPS");
    assert_eq!(blob, image.config);

    // The system roots alone do not know the test CA.
    let system_only = RegistryClient::new(&via, &nowhere).expect("client");
    let err = system_only
        .get_blob("test/img", &config_digest)
        .map(|_| ())
        .expect_err("an unknown CA must be refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("http://{via}/v2/test/img/blobs/")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "after a redirect to https://127.0.0.1:{}/v2/",
            tls.port
        )),
        "{msg}"
    );
    assert!(
        msg.to_lowercase().contains("issuer") || msg.to_lowercase().contains("certificate"),
        "{msg}"
    );

    // A CA file without certificates is refused up front, naming the file.
    let bad = dir.join("server.ext");
    let err = RegistryClient::new(
        &via,
        &RegistryOptions {
            ca_file: Some(bad.clone()),
            ..nowhere
        },
    )
    .expect_err("no certificates");
    assert!(
        err.to_string().contains(&bad.display().to_string()),
        "{err}"
    );
}
