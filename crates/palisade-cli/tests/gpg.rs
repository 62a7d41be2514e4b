//! Issue 18, point 1: GPG "simple signing" (containers/image atomic signatures in lookaside
//! storage) verified by `palisade verify --gpg-keyring`, against Debian's skopeo 1.9.3 as the
//! reference: every case gets the same verdict from `skopeo copy --policy` with a `signedBy`
//! requirement on the same keys.
//!
//! Each test makes its own GnuPG home (keys generated there), its own registries.d with a
//! `file://` lookaside directory, and its own `docker-registry` on 127.0.0.1 (stopped on drop).
//! Needs the testbed (`testbed/install-deps.sh`: skopeo, gpg, docker-registry, the images).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

mod common;
use common::{Registry, repo_root};

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The testbed's oci-archive of `name` (`base` or `app`), built once if missing.
fn archive(name: &str) -> String {
    let tb = repo_root().join("target/testbed");
    if !tb.join(format!("{name}.oci.tar")).is_file() {
        common::testbed();
    }
    format!(
        "oci-archive:{}",
        tb.join(format!("{name}.oci.tar")).display()
    )
}

/// A GnuPG home with generated keys, and the files the tests need.
struct Gpg {
    dir: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let mut perms = std::fs::metadata(dir.path().join("home"))
            .unwrap()
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(dir.path().join("home"), perms).unwrap();
        Self { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .arg("--batch")
            .args(args)
            .env("GNUPGHOME", self.home())
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
        out
    }

    /// Generates a key without a passphrase; returns its fingerprint.
    fn generate(&self, uid: &str, algo: &str) -> String {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            "sign",
            "never",
        ]);
        let out = self.gpg(&["--with-colons", "--list-keys", uid]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|l| l.trim_end_matches(':').to_owned())
            .unwrap()
    }

    /// Exports the public key of `fpr` to `name` (armoured when `armor`).
    fn export(&self, fpr: &str, name: &str, armor: bool) -> PathBuf {
        let mut args = vec!["--export"];
        if armor {
            args.push("--armor");
        }
        args.push(fpr);
        let out = self.gpg(&args);
        assert!(!out.stdout.is_empty());
        let path = self.dir.path().join(name);
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    fn skopeo(&self, args: &[&str]) -> Output {
        Command::new("skopeo")
            .args(args)
            .env("GNUPGHOME", self.home())
            .output()
            .unwrap()
    }
}

impl Drop for Gpg {
    /// Stops the gpg-agent that gpg and skopeo (gpgme) started for this home.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.home())
            .output();
    }
}

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .unwrap()
}

fn verify_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = palisade(&all);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    (out.status.code().unwrap(), v)
}

/// skopeo's verdict: `copy` to a `dir:` under `policy` with the lookaside `registries_d`.
fn skopeo_accepts(g: &Gpg, policy: &Path, registries_d: &Path, image: &str) -> bool {
    let dest = tempfile::tempdir().unwrap();
    let out = g.skopeo(&[
        "--policy",
        policy.to_str().unwrap(),
        "--registries.d",
        registries_d.to_str().unwrap(),
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("dir:{}", dest.path().display()),
    ]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Source image rejected") || err.contains("signature"),
            "skopeo failed for another reason: {}",
            text(&out)
        );
    }
    out.status.success()
}

fn signed_by_policy(path: &Path, registry: &str, key: &Path) {
    let policy = json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {registry: [
            {"type": "signedBy", "keyType": "GPGKeys", "keyPath": key}
        ]}}
    });
    std::fs::write(path, serde_json::to_vec_pretty(&policy).unwrap()).unwrap();
}

/// Writes `bytes` as the first lookaside signature of `repo@digest`.
fn put_signature(sigs: &Path, repo: &str, digest: &str, bytes: &[u8]) {
    let dir = sigs.join(format!("{repo}@{}", digest.replacen(':', "=", 1)));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("signature-1"), bytes).unwrap();
}

struct Setup {
    g: Gpg,
    reg: Registry,
    sigs: PathBuf,
    rd: PathBuf,
    fpr: String,
    key_bin: PathBuf,
    key_asc: PathBuf,
    other_bin: PathBuf,
}

fn setup() -> Setup {
    let g = Gpg::new();
    // One RSA key (skopeo's signer) and one Ed25519 key (the wrong one, another algorithm).
    let fpr = g.generate("Palisade GPG test <gpg@test.invalid>", "rsa2048");
    let other = g.generate("Someone else <else@test.invalid>", "ed25519");
    let key_bin = g.export(&fpr, "signer.gpg", false);
    let key_asc = g.export(&fpr, "signer.asc", true);
    let other_bin = g.export(&other, "other.gpg", false);
    let reg = Registry::start();
    let sigs = g.dir.path().join("sigs");
    let rd = g.dir.path().join("registries.d");
    std::fs::create_dir_all(&sigs).unwrap();
    std::fs::create_dir_all(&rd).unwrap();
    std::fs::write(
        rd.join("palisade-test.yaml"),
        format!(
            "docker:\n  {}:\n    lookaside: file://{}\n",
            reg.addr,
            sigs.display()
        ),
    )
    .unwrap();
    Setup {
        g,
        reg,
        sigs,
        rd,
        fpr,
        key_bin,
        key_asc,
        other_bin,
    }
}

impl Setup {
    /// Pushes the testbed `base` image to `repo:v1`, signing with `--sign-by` when asked.
    fn push(&self, repo: &str, sign: bool) -> String {
        let dst = format!("docker://{}/{repo}:v1", self.reg.addr);
        let src = archive("base");
        let rd = self.rd.display().to_string();
        let mut args = vec![
            "--insecure-policy",
            "--registries.d",
            &rd,
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ];
        if sign {
            args.extend_from_slice(&["--sign-by", &self.fpr]);
        }
        args.extend_from_slice(&[&src, &dst]);
        let out = self.g.skopeo(&args);
        assert!(out.status.success(), "{}", text(&out));
        self.reg.digest_of(&format!("{repo}:v1")).to_string()
    }

    /// `skopeo standalone-sign` of the manifest of `image` (`base` or `app`) for `identity`.
    fn standalone(&self, image: &str, identity: &str) -> Vec<u8> {
        let w = self.g.dir.path();
        let manifest = w.join(format!("{image}.manifest.json"));
        let out = self.g.skopeo(&["inspect", "--raw", &archive(image)]);
        assert!(out.status.success(), "{}", text(&out));
        std::fs::write(&manifest, &out.stdout).unwrap();
        let sig = w.join("standalone.sig");
        let out = self.g.skopeo(&[
            "standalone-sign",
            manifest.to_str().unwrap(),
            identity,
            &self.fpr,
            "--output",
            sig.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        std::fs::read(sig).unwrap()
    }

    fn reference(&self, repo: &str) -> String {
        format!("{}/{repo}:v1", self.reg.addr)
    }

    /// Palisade's verdict and the signature reports, with `keyring`.
    fn palisade(&self, repo: &str, keyring: &Path) -> (bool, Vec<Value>, Value) {
        let rd = self.rd.display().to_string();
        let (code, v) = verify_json(&[
            &self.reference(repo),
            "--gpg-keyring",
            keyring.to_str().unwrap(),
            "--registries-d",
            &rd,
        ]);
        let verified = v["verified"].as_bool().unwrap();
        assert_eq!(code, if verified { 0 } else { 1 }, "{v:#}");
        (verified, v["signatures"].as_array().unwrap().clone(), v)
    }

    fn skopeo(&self, repo: &str, keyring: &Path) -> bool {
        let policy = self.g.dir.path().join("policy.json");
        signed_by_policy(&policy, &self.reg.addr, keyring);
        skopeo_accepts(&self.g, &policy, &self.rd, &self.reference(repo))
    }
}

#[test]
fn gpg_signatures_verify_like_skopeo() {
    let s = setup();

    // 1. skopeo copy --sign-by: verified with the binary and the armoured public key.
    let digest = s.push("gpg/signed", true);
    for key in [&s.key_bin, &s.key_asc] {
        let (ok, sigs, v) = s.palisade("gpg/signed", key);
        assert!(ok, "{v:#}");
        assert_eq!(sigs.len(), 1, "{v:#}");
        let sig = &sigs[0]["verified"];
        assert_eq!(sig["kind"], "gpg");
        assert_eq!(
            sig["signer"],
            key.file_name().unwrap().to_str().unwrap(),
            "{v:#}"
        );
        assert_eq!(sig["key_fingerprint"], format!("gpg:{}", s.fpr));
        assert_eq!(sig["digest"], digest);
        assert_eq!(sig["identity"], s.reference("gpg/signed"));
        assert!(
            sigs[0]["source"].as_str().unwrap().ends_with(&format!(
                "gpg/signed@{}/signature-1",
                digest.replacen(':', "=", 1)
            )),
            "{v:#}"
        );
        assert!(s.skopeo("gpg/signed", key), "skopeo rejected {key:?}");
    }

    // 2. The wrong key: not verified, with the reason; skopeo rejects too.
    let (ok, sigs, v) = s.palisade("gpg/signed", &s.other_bin);
    assert!(!ok);
    let reason = sigs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not signed by a key of the GPG keyring"),
        "{v:#}"
    );
    assert!(reason.contains("other.gpg"), "{reason}");
    assert!(!s.skopeo("gpg/signed", &s.other_bin));

    // 3. skopeo standalone-sign for the right manifest and identity: verified by both.
    let digest = s.push("gpg/standalone", false);
    let sig = s.standalone("base", &s.reference("gpg/standalone"));
    put_signature(&s.sigs, "gpg/standalone", &digest, &sig);
    let (ok, _, v) = s.palisade("gpg/standalone", &s.key_asc);
    assert!(ok, "{v:#}");
    assert!(s.skopeo("gpg/standalone", &s.key_asc));

    // 4. A signature of another manifest (the app image) stored for this digest.
    let digest = s.push("gpg/other-digest", false);
    let sig = s.standalone("app", &s.reference("gpg/other-digest"));
    put_signature(&s.sigs, "gpg/other-digest", &digest, &sig);
    let (ok, sigs, v) = s.palisade("gpg/other-digest", &s.key_bin);
    assert!(!ok);
    let reason = sigs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("not {digest} (the digest being verified)")),
        "{v:#}"
    );
    assert!(!s.skopeo("gpg/other-digest", &s.key_bin));

    // 5. The right manifest signed for another repository.
    let digest = s.push("gpg/other-identity", false);
    let elsewhere = s.reference("gpg/elsewhere");
    let sig = s.standalone("base", &elsewhere);
    put_signature(&s.sigs, "gpg/other-identity", &digest, &sig);
    let (ok, sigs, v) = s.palisade("gpg/other-identity", &s.key_bin);
    assert!(!ok);
    let reason = sigs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "identity {elsewhere:?} names repository {}/gpg/elsewhere, not {}/gpg/other-identity",
            s.reg.addr, s.reg.addr
        )),
        "{v:#}"
    );
    assert!(!s.skopeo("gpg/other-identity", &s.key_bin));

    // 6. A tampered signature (one byte of the compressed message flipped) is refused.
    let digest = s.push("gpg/tampered", false);
    let mut sig = s.standalone("base", &s.reference("gpg/tampered"));
    let mid = sig.len() / 2;
    sig[mid] ^= 0x01;
    put_signature(&s.sigs, "gpg/tampered", &digest, &sig);
    let (ok, sigs, v) = s.palisade("gpg/tampered", &s.key_bin);
    assert!(!ok, "{v:#}");
    assert!(sigs[0]["reason"].is_string(), "{v:#}");
    assert!(!s.skopeo("gpg/tampered", &s.key_bin));

    // 7. A key that has expired (made in 2020 with a one-day lifetime, signing on its first
    //    day, by gpg itself since gpgme refuses to sign with it): refused by both.
    let old = "Expired <expired@test.invalid>";
    s.g.gpg(&[
        "--faked-system-time",
        "20200101T000000",
        "--passphrase",
        "",
        "--quick-gen-key",
        old,
        "rsa2048",
        "sign",
        "1d",
    ]);
    let expired_key = s.g.export(old, "expired.gpg", false);
    let digest = s.push("gpg/expired", false);
    let payload = s.g.dir.path().join("payload.json");
    std::fs::write(
        &payload,
        json!({"critical": {"identity": {"docker-reference": s.reference("gpg/expired")},
            "image": {"docker-manifest-digest": digest},
            "type": "atomic container signature"}, "optional": {}})
        .to_string(),
    )
    .unwrap();
    let signed = s.g.dir.path().join("payload.sig");
    s.g.gpg(&[
        "--faked-system-time",
        "20200101T120000",
        "--yes",
        "--local-user",
        old,
        "--output",
        signed.to_str().unwrap(),
        "--sign",
        payload.to_str().unwrap(),
    ]);
    put_signature(
        &s.sigs,
        "gpg/expired",
        &digest,
        &std::fs::read(&signed).unwrap(),
    );
    let (ok, sigs, v) = s.palisade("gpg/expired", &expired_key);
    assert!(!ok, "{v:#}");
    let reason = sigs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("whose key expired at 1577923200"), "{v:#}");
    assert!(!s.skopeo("gpg/expired", &expired_key));

    // 7b. The right key, payload and identity, but a SHA-1 digest (collisions can be made):
    //     refused by Palisade, with the fix.
    let digest = s.push("gpg/sha1", false);
    std::fs::write(
        &payload,
        json!({"critical": {"identity": {"docker-reference": s.reference("gpg/sha1")},
            "image": {"docker-manifest-digest": digest},
            "type": "atomic container signature"}, "optional": {}})
        .to_string(),
    )
    .unwrap();
    s.g.gpg(&[
        "--yes",
        "--digest-algo",
        "SHA1",
        "--local-user",
        &s.fpr,
        "--output",
        signed.to_str().unwrap(),
        "--sign",
        payload.to_str().unwrap(),
    ]);
    put_signature(
        &s.sigs,
        "gpg/sha1",
        &digest,
        &std::fs::read(&signed).unwrap(),
    );
    let (ok, sigs, v) = s.palisade("gpg/sha1", &s.key_bin);
    assert!(!ok, "{v:#}");
    let reason = sigs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("with the Sha1 digest, which is broken"),
        "{v:#}"
    );
    // The one deliberate difference from skopeo: Debian 12's GnuPG 2.2 accepts it.
    assert!(s.skopeo("gpg/sha1", &s.key_bin));

    // 8. No signature at all: not verified, the lookaside directory named.
    s.push("gpg/unsigned", false);
    let (ok, sigs, v) = s.palisade("gpg/unsigned", &s.key_bin);
    assert!(!ok);
    assert!(sigs.is_empty());
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("no GPG signature in lookaside file://"),
        "{v:#}"
    );
    assert!(!s.skopeo("gpg/unsigned", &s.key_bin));
}

#[test]
fn users_without_gpg_configuration_are_told_where_gpg_signatures_live() {
    let s = setup();
    s.push("gpg/signed", true);
    // A cosign key: the image has no cosign signature; the note points at GPG lookaside.
    let cosign = s.g.dir.path().join("cosign");
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args([
            "key",
            "generate",
            "--output-prefix",
            cosign.to_str().unwrap(),
            "--force",
        ])
        .env("PALISADE_PASSWORD", "")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = palisade(&[
        "verify",
        &s.reference("gpg/signed"),
        "--key",
        cosign.with_extension("pub").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no signatures found"), "{stdout}");
    assert!(
        stdout.contains("lookaside storage: give --gpg-keyring FILE with --registries-d DIR"),
        "{stdout}"
    );
    // The PGP key given as a cosign key: a clear error, binary or armoured.
    for key in [&s.key_bin, &s.key_asc] {
        let out = palisade(&[
            "verify",
            &s.reference("gpg/signed"),
            "--key",
            key.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("this is an OpenPGP key; use --gpg-keyring"),
            "{stderr}"
        );
        assert!(!stderr.contains("base64"), "{stderr}");
    }
}

/// Runs `palisade gate IMAGE --policy POLICY --format json` (no vulnerability section: no
/// database needed).
fn gate(image: &str, policy: &Path) -> (i32, Value) {
    let out = palisade(&[
        "gate",
        image,
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let code = out.status.code().unwrap();
    assert_ne!(code, 2, "gate failed: {}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    (code, v)
}

fn deny_codes(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["effect"] == "deny")
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn gate_runs_policy_gpg_sources() {
    let s = setup();
    s.push("gpg/signed", true);
    s.push("gpg/unsigned", false);
    let d = s.g.dir.path();
    let policy = |name: &str, keyring: &Path| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!(
                "version: 1\nsources:\n  gpg:\n    redhat:\n      keyring: {}\n      registries_d: {}\n  default: deny\n  rules:\n    - name: testbed\n      images: [\"127.0.0.1:*/gpg/**\"]\n      signers: {{ any_of: [redhat] }}\n",
                keyring.display(),
                s.rd.display()
            ),
        )
        .unwrap();
        p
    };
    // policy validate reads the keyring: a PEM key or a missing file is named at its line.
    let pem = d.join("not-a-keyring.pem");
    std::fs::write(
        &pem,
        "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let bad = policy("bad.yaml", &pem);
    let out = palisade(&["policy", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:5:16:")
            && stderr.contains("sources.gpg.redhat.keyring: not a usable GPG keyring"),
        "{stderr}"
    );
    assert!(stderr.contains("use --key"), "{stderr}");
    let good = policy("good.yaml", &s.key_asc);
    let out = palisade(&["policy", "validate", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // Signed by the policy's keyring: allow, the signer named after the policy entry.
    let (code, v) = gate(&s.reference("gpg/signed"), &good);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["decision"], "allow", "{v:#}");
    assert_eq!(v["evaluated"]["trust"], true, "{v:#}");

    // Unsigned: deny for the missing signature.
    let (code, v) = gate(&s.reference("gpg/unsigned"), &good);
    assert_eq!(code, 1, "{v:#}");
    assert!(
        deny_codes(&v).contains(&"signature-missing".to_owned()),
        "{v:#}"
    );
    let fix = v["reasons"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("GPG keyring redhat") && fix.contains("skopeo copy --sign-by"),
        "{v:#}"
    );

    // Signed, but by a key the policy does not trust: deny.
    let wrong = policy("wrong.yaml", &s.other_bin);
    let (code, v) = gate(&s.reference("gpg/signed"), &wrong);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["decision"], "deny", "{v:#}");
}

#[test]
fn containers_policy_json_imports_into_a_policy_that_gates_alike() {
    let s = setup();
    s.push("gpg/signed", true);
    s.push("gpg/unsigned", false);
    let d = s.g.dir.path();
    // What an OpenShift / RHEL host carries: reject by default, signedBy for one registry
    // namespace, a repository open to anything, and constructs that cannot be expressed.
    let containers = json!({
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                format!("{}/gpg", s.reg.addr): [{
                    "type": "signedBy", "keyType": "GPGKeys", "keyPath": s.key_bin,
                    "signedIdentity": {"type": "matchRepoDigestOrExact"}
                }],
                format!("{}/open/app", s.reg.addr): [{"type": "insecureAcceptAnything"}],
                "quay.io/exact": [{
                    "type": "signedBy", "keyType": "GPGKeys", "keyPath": s.key_bin,
                    "signedIdentity": {"type": "exactRepository", "dockerRepository": "quay.io/x"}
                }]
            },
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
        }
    });
    // A scope with a tag cannot be expressed: refused, never imported looser.
    let tagged = d.join("tagged.json");
    let mut with_tag = containers.clone();
    with_tag["transports"]["docker"][format!("{}/gpg/signed:v1", s.reg.addr)] =
        json!([{"type": "reject"}]);
    std::fs::write(&tagged, serde_json::to_vec(&with_tag).unwrap()).unwrap();
    let out = palisade(&[
        "policy",
        "import-containers-policy",
        tagged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("a scope with a tag or digest cannot be expressed"),
        "{}",
        text(&out)
    );
    let pj = d.join("policy.json");
    std::fs::write(&pj, serde_json::to_vec_pretty(&containers).unwrap()).unwrap();
    let out_path = d.join("imported.yaml");
    let out = palisade(&[
        "policy",
        "import-containers-policy",
        pj.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for warned in [
        "transports.docker-daemon: not imported",
        "quay.io/exact[0]: signedIdentity exactRepository",
    ] {
        assert!(stderr.contains(warned), "{warned}: {stderr}");
    }
    let yaml = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        yaml.contains("# WARNING transports.docker-daemon"),
        "{yaml}"
    );
    assert!(
        yaml.contains("  gpg:\n    gpg-1:\n      keyring:"),
        "{yaml}"
    );
    assert!(yaml.contains("  default: deny"), "{yaml}");
    let out = palisade(&["policy", "validate", out_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{yaml}", text(&out));

    // The imported policy needs the lookaside location: the containers host has it in
    // /etc/containers/registries.d; here the test's own registries.d is added to the keyring.
    let yaml = yaml.replace(
        "      keyring:",
        &format!("      registries_d: {}\n      keyring:", s.rd.display()),
    );
    std::fs::write(&out_path, &yaml).unwrap();

    // Same verdicts as skopeo with the original policy.json.
    for (repo, want) in [("gpg/signed", true), ("gpg/unsigned", false)] {
        let (code, v) = gate(&s.reference(repo), &out_path);
        assert_eq!(code == 0, want, "{repo}: {v:#}");
        let skopeo = skopeo_accepts(&s.g, &pj, &s.rd, &s.reference(repo));
        assert_eq!(skopeo, want, "{repo}: skopeo");
    }
}

/// A real distribution keyring (Debian's archive keys: several keys, certified by each other)
/// loads next to the signer's, and the signature is attributed to the keyring that verified it.
#[test]
fn several_keyrings_and_a_real_distribution_keyring() {
    let debian = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    assert!(
        debian.is_file(),
        "debian-archive-keyring missing: run testbed/install-deps.sh"
    );
    let s = setup();
    s.push("gpg/signed", true);
    let rd = s.rd.display().to_string();
    let (code, v) = verify_json(&[
        &s.reference("gpg/signed"),
        "--gpg-keyring",
        debian.to_str().unwrap(),
        "--gpg-keyring",
        s.key_bin.to_str().unwrap(),
        "--registries-d",
        &rd,
    ]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["signatures"][0]["verified"]["signer"], "signer.gpg",
        "{v:#}"
    );
    // Debian's keys alone: not verified, every keyring tried is named with its fingerprints.
    let (code, v) = verify_json(&[
        &s.reference("gpg/signed"),
        "--gpg-keyring",
        debian.to_str().unwrap(),
        "--registries-d",
        &rd,
    ]);
    assert_eq!(code, 1, "{v:#}");
    let reason = v["signatures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("debian-archive-keyring.gpg (") && reason.contains("not signed by a key"),
        "{reason}"
    );
}
