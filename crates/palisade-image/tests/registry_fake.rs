//! The registry client against small scripted HTTP servers on loopback, for what a real
//! registry will not do on demand: the 401 → token → retry flow step by step, transient
//! failures, redirects to another host, oversized and tampered answers, and paginated
//! referrers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use palisade_image::{Digest, Error, RegistryClient, RegistryOptions, media_type};

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What the server does with a request.
enum Action {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Hangup,
}

fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Action {
    Action::Reply {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
    }
}

fn registry_error(status: u16, code: &str, message: &str) -> Action {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string();
    reply(status, &[("content-type", "application/json")], body)
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Serves on a free loopback port; `handler` gets the request, the server's port and how
    /// many earlier requests had the same path.
    fn start(handler: impl Fn(&Seen, u16, usize) -> Action + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let Some(request) = read_request(&mut reader) else {
                    continue;
                };
                let earlier = {
                    let mut seen = record.lock().expect("lock");
                    let n = seen.iter().filter(|s| s.path() == request.path()).count();
                    seen.push(request.clone());
                    n
                };
                let mut stream = reader.into_inner();
                match handler(&request, port, earlier) {
                    Action::Hangup => {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    Action::Reply {
                        status,
                        headers,
                        body,
                    } => {
                        let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
                        if !headers
                            .iter()
                            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        {
                            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                        }
                        for (k, v) in &headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        let _ = stream.write_all(head.as_bytes());
                        if request.method != "HEAD" {
                            let _ = stream.write_all(&body);
                        }
                        let _ = stream.flush();
                    }
                }
            }
        });
        Server { port, seen }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path() == path).count()
    }
}

fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let seen = Seen {
        method,
        target,
        headers,
    };
    let len: u64 = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.by_ref().take(len).read_to_end(&mut body).ok()?;
    Some(seen)
}

/// Options that never pick up the real `~/.docker/config.json`.
fn isolated() -> RegistryOptions {
    RegistryOptions {
        docker_config: Some("/nonexistent/palisade-test/config.json".into()),
        ..RegistryOptions::default()
    }
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;

#[test]
fn bearer_challenge_token_retry_and_cache() {
    let server = Server::start(|req, port, _| match req.path() {
        "/token" => {
            let body = if req.header("authorization")
                == Some(&format!("Basic {}", STANDARD.encode("u:p")))
            {
                r#"{"token":"tok-user","expires_in":300}"#
            } else {
                r#"{"access_token":"tok-anon","expires_in":300}"#
            };
            reply(200, &[("content-type", "application/json")], body)
        }
        "/v2/test/app/manifests/v1" => match req.header("authorization") {
            Some("Bearer tok-anon" | "Bearer tok-user") => {
                reply(200, &[("content-type", media_type::OCI_MANIFEST)], MANIFEST)
            }
            _ => {
                let challenge = format!(
                    r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake-registry",scope="repository:test/app:pull""#
                );
                Action::Reply {
                    status: 401,
                    headers: vec![("WWW-Authenticate".into(), challenge), ("content-type".into(), "application/json".into())],
                    body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec(),
                }
            }
        },
        _ => registry_error(404, "NOT_FOUND", "no route"),
    });
    let client = RegistryClient::new(&server.host(), &isolated()).expect("client");
    for _ in 0..2 {
        let (bytes, content_type, digest) = client
            .get_manifest("test/app", "v1", &[])
            .expect("manifest");
        assert_eq!(bytes, MANIFEST.as_bytes());
        assert_eq!(content_type.as_deref(), Some(media_type::OCI_MANIFEST));
        assert_eq!(digest, Digest::sha256_of(MANIFEST.as_bytes()));
    }
    let seen = server.seen();
    let order: Vec<(&str, Option<&str>)> = seen
        .iter()
        .map(|s| (s.path(), s.header("authorization")))
        .collect();
    assert_eq!(
        order,
        vec![
            ("/v2/test/app/manifests/v1", None),
            ("/token", None),
            ("/v2/test/app/manifests/v1", Some("Bearer tok-anon")),
            // The token is cached for the scope.
            ("/v2/test/app/manifests/v1", Some("Bearer tok-anon")),
        ]
    );
    let token_target = &seen[1].target;
    assert!(
        token_target.contains("service=fake-registry"),
        "{token_target}"
    );
    assert!(
        token_target.contains("scope=repository%3Atest%2Fapp%3Apull"),
        "{token_target}"
    );
    let accept = seen[0].header("accept").unwrap_or_default();
    for t in media_type::ACCEPT_MANIFESTS {
        assert!(accept.contains(t), "{accept}");
    }

    // With credentials, the token request carries them (and only it does).
    let with_creds = RegistryClient::new(
        &server.host(),
        &RegistryOptions {
            username: Some("u".into()),
            password: Some("p".into()),
            ..isolated()
        },
    )
    .expect("client");
    with_creds
        .get_manifest("test/app", "v1", &[])
        .expect("manifest with credentials");
    let seen = server.seen();
    let tail: Vec<(&str, Option<&str>)> = seen[4..]
        .iter()
        .map(|s| (s.path(), s.header("authorization")))
        .collect();
    let basic = format!("Basic {}", STANDARD.encode("u:p"));
    assert_eq!(
        tail,
        vec![
            ("/v2/test/app/manifests/v1", None),
            ("/token", Some(basic.as_str())),
            ("/v2/test/app/manifests/v1", Some("Bearer tok-user")),
        ]
    );
}

#[test]
fn a_refused_token_is_fetched_once_then_reported() {
    let server = Server::start(|req, port, _| {
        match req.path() {
        "/token" => reply(200, &[], r#"{"token":"useless"}"#),
        _ => Action::Reply {
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="s""#),
            )],
            body: br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.to_vec(),
        },
    }
    });
    let client = RegistryClient::new(&server.host(), &isolated()).expect("client");
    let err = client
        .get_manifest("test/app", "v1", &[])
        .expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "http://{}/v2/test/app/manifests/v1",
            server.host()
        )),
        "{msg}"
    );
    assert!(msg.contains("401") && msg.contains("DENIED"), "{msg}");
    assert!(msg.contains("no credentials for"), "{msg}");
    assert_eq!(server.count("/token"), 1);
    assert_eq!(server.count("/v2/test/app/manifests/v1"), 2);
}

#[test]
fn transient_failures_are_retried_and_others_are_not() {
    let server = Server::start(|req, _, earlier| match (req.path(), earlier) {
        ("/v2/r/manifests/flaky", 0 | 1) => reply(503, &[("retry-after", "0")], "busy"),
        ("/v2/r/manifests/reset", 0) => Action::Hangup,
        ("/v2/r/manifests/flaky" | "/v2/r/manifests/reset", _) => {
            reply(200, &[("content-type", media_type::OCI_MANIFEST)], MANIFEST)
        }
        ("/v2/r/manifests/busy", _) => reply(429, &[("Retry-After", "0")], ""),
        ("/v2/r/manifests/forbidden", _) => registry_error(403, "DENIED", "no"),
        _ => registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
    });
    let client = RegistryClient::new(&server.host(), &isolated()).expect("client");

    client
        .get_manifest("r", "flaky", &[])
        .expect("a 503 twice, then success");
    assert_eq!(server.count("/v2/r/manifests/flaky"), 3);

    client
        .get_manifest("r", "reset", &[])
        .expect("a dropped connection, then success");
    assert_eq!(server.count("/v2/r/manifests/reset"), 2);

    let msg = client
        .get_manifest("r", "busy", &[])
        .expect_err("always 429")
        .to_string();
    assert!(msg.contains("429") && msg.contains("4 attempts"), "{msg}");
    assert_eq!(server.count("/v2/r/manifests/busy"), 4);

    let msg = client
        .get_manifest("r", "gone", &[])
        .expect_err("404")
        .to_string();
    assert!(
        msg.contains(&format!("http://{}/v2/r/manifests/gone", server.host())),
        "{msg}"
    );
    assert!(
        msg.contains("404 Not Found: MANIFEST_UNKNOWN: manifest unknown"),
        "{msg}"
    );
    assert_eq!(server.count("/v2/r/manifests/gone"), 1);

    client.get_manifest("r", "forbidden", &[]).expect_err("403");
    assert_eq!(server.count("/v2/r/manifests/forbidden"), 1);
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let client = RegistryClient::new(&format!("127.0.0.1:{port}"), &isolated()).expect("client");
    let msg = client
        .get_manifest("r", "v1", &[])
        .expect_err("nothing listens")
        .to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}/v2/r/manifests/v1")),
        "{msg}"
    );
    assert!(msg.contains("after 4 attempts"), "{msg}");
}

#[test]
fn redirects_keep_credentials_on_the_registry() {
    let storage = Server::start(|_, _, _| reply(200, &[], "blob from storage"));
    let storage_port = storage.port;
    let registry = Server::start(move |req, _, _| {
        if req.header("authorization") != Some(&format!("Basic {}", STANDARD.encode("u:p"))) {
            return reply(401, &[("www-authenticate", r#"Basic realm="fake""#)], "");
        }
        match req.path() {
            p if p.starts_with("/v2/r/blobs/sha256:0") => reply(
                307,
                &[(
                    "location",
                    &format!("http://127.0.0.1:{storage_port}/bucket/blob?X-Signature=s3cr3t"),
                )],
                "",
            ),
            p if p.starts_with("/v2/r/blobs/sha256:1") => {
                reply(302, &[("location", "/moved/blob")], "")
            }
            "/moved/blob" => reply(200, &[], "blob from the registry"),
            _ => registry_error(404, "BLOB_UNKNOWN", "blob unknown"),
        }
    });
    let client = RegistryClient::new(
        &registry.host(),
        &RegistryOptions {
            username: Some("u".into()),
            password: Some("p".into()),
            ..isolated()
        },
    )
    .expect("client");
    let read = |d: &Digest| {
        let mut s = String::new();
        client
            .get_blob("r", d)
            .expect("blob")
            .read_to_string(&mut s)
            .expect("read");
        s
    };
    let to_storage: Digest = format!("sha256:0{}", "a".repeat(63))
        .parse()
        .expect("digest");
    assert_eq!(read(&to_storage), "blob from storage");
    let storage_seen = storage.seen();
    assert_eq!(storage_seen.len(), 1);
    assert_eq!(storage_seen[0].target, "/bucket/blob?X-Signature=s3cr3t");
    assert_eq!(
        storage_seen[0].header("authorization"),
        None,
        "credentials leaked to another host"
    );

    let same_host: Digest = format!("sha256:1{}", "a".repeat(63))
        .parse()
        .expect("digest");
    assert_eq!(read(&same_host), "blob from the registry");
    assert_eq!(registry.count("/moved/blob"), 1);

    let missing: Digest = format!("sha256:2{}", "a".repeat(63))
        .parse()
        .expect("digest");
    assert!(matches!(
        client.get_blob("r", &missing),
        Err(Error::MissingBlob { .. })
    ));
}

#[test]
fn tampered_and_oversized_answers_are_refused() {
    let big = vec![b' '; 5 << 20];
    let server = Server::start(move |req, port, _| match req.path() {
        "/v2/r/manifests/big" => reply(
            200,
            &[("content-type", media_type::OCI_MANIFEST)],
            big.clone(),
        ),
        "/v2/r/manifests/bigtoken" => Action::Reply {
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                format!(r#"Bearer realm="http://127.0.0.1:{port}/token""#),
            )],
            body: Vec::new(),
        },
        "/token" => reply(200, &[], vec![b' '; 2 << 20]),
        "/v2/r/manifests/insecure-realm" => reply(
            401,
            &[(
                "www-authenticate",
                r#"Bearer realm="http://auth.example.invalid/token""#,
            )],
            "",
        ),
        // Whatever digest is asked for, the answer is the same manifest.
        _ => reply(200, &[("content-type", media_type::OCI_MANIFEST)], MANIFEST),
    });
    let client = RegistryClient::new(&server.host(), &isolated()).expect("client");
    let other = Digest::sha256_of(b"another manifest");
    match client.get_manifest("r", &other.to_string(), &[]) {
        Err(Error::DigestMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, other);
            assert_eq!(actual, Digest::sha256_of(MANIFEST.as_bytes()));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    let right = Digest::sha256_of(MANIFEST.as_bytes());
    assert_eq!(
        client
            .get_manifest("r", &right.to_string(), &[])
            .expect("matching")
            .2,
        right
    );

    assert!(matches!(
        client.get_manifest("r", "big", &[]),
        Err(Error::TooLarge { .. })
    ));
    match client.get_manifest("r", "bigtoken", &[]) {
        Err(Error::TooLarge { what, limit, .. }) => {
            assert!(what.contains("token response"), "{what}");
            assert_eq!(limit, 1 << 20);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Credentials never go to a plain-HTTP token server on another host.
    let client = RegistryClient::new(&server.host(), &isolated()).expect("client");
    let msg = client
        .get_manifest("r", "insecure-realm", &[])
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("plain HTTP") && msg.contains("auth.example.invalid"),
        "{msg}"
    );
}

#[test]
fn referrers_pages_are_merged_and_404_means_unsupported() {
    let subject = Digest::sha256_of(b"subject");
    let descriptor = |n: u8| {
        serde_json::json!({
            "mediaType": media_type::OCI_MANIFEST,
            "digest": Digest::sha256_of(&[n]).to_string(),
            "size": 1,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"
        })
    };
    let (first, second) = (descriptor(1), descriptor(2));
    let path = format!("/v2/r/referrers/{subject}");
    let server = Server::start(move |req, _, _| {
        let index = |m: &serde_json::Value| {
            serde_json::json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": [m]}).to_string()
        };
        if req.path() == path && req.target.contains("page=2") {
            reply(
                200,
                &[("content-type", media_type::OCI_INDEX)],
                index(&second),
            )
        } else if req.path() == path {
            let link = format!("<{path}?page=2>; rel=\"next\"");
            reply(
                200,
                &[("content-type", media_type::OCI_INDEX), ("link", &link)],
                index(&first),
            )
        } else {
            reply(404, &[], "404 page not found")
        }
    });
    let client = RegistryClient::new(&server.host(), &isolated()).expect("client");
    let index = client
        .get_referrers("r", &subject)
        .expect("referrers")
        .expect("supported");
    let digests: Vec<Digest> = index.manifests.iter().map(|d| d.digest.clone()).collect();
    assert_eq!(
        digests,
        vec![Digest::sha256_of(&[1]), Digest::sha256_of(&[2])]
    );
    assert!(
        client
            .get_referrers("other", &subject)
            .expect("404")
            .is_none()
    );
}

/// Issue 13.4: a registry that trickles a blob one byte at a time cannot keep a pull alive
/// past the request's total deadline; the error names the blob's URL and the deadline.
/// (The manifest answers at once; only the blob trickles.)
#[test]
fn a_trickling_blob_hits_the_total_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        // One connection: the blob request. Bounded: the client hangs up at its deadline,
        // and the server gives up after 3,000 bytes (a minute) whatever happens.
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        if read_request(&mut reader).is_none() {
            return;
        }
        let mut stream = reader.into_inner();
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n");
        for _ in 0..3000 {
            if stream
                .write_all(b"x")
                .and_then(|()| stream.flush())
                .is_err()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let client = RegistryClient::new(
        &format!("127.0.0.1:{port}"),
        &RegistryOptions {
            deadline: Some(std::time::Duration::from_secs(1)),
            ..isolated()
        },
    )
    .expect("client");
    let digest: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        .parse()
        .expect("digest");
    let mut blob = client
        .get_blob("r", &digest)
        .expect("the headers arrive in time");
    let mut sink = Vec::new();
    let err = blob
        .read_to_end(&mut sink)
        .expect_err("the body cannot finish in 1 s");
    let text = err.to_string();
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/v2/r/blobs/{digest}")),
        "{text}"
    );
    assert!(text.contains("within the 1s deadline"), "{text}");
    assert!(sink.len() < 100_000);
}
