//! Image checks (CIS 4.x and our own) on an image's configuration, history and merged
//! filesystem, read through `palisade-image` from any source it opens.
//!
//! [`ImageFacts`] is what the checks look at; [`ImageFacts::from_image`] fills it by streaming
//! each layer once, keeping file metadata and only the few file contents the checks need
//! (`/etc/passwd`, `/etc/shadow`, `/etc/group`, the head of `*.pem`/`*.key` files). Secret
//! values are never copied into the evidence, only their names.

use std::io::Read;

use palisade_image::{EntryKind, Image, MergedView, Node};
use serde_json::Value;

use crate::check::{CheckDef, CheckResult, Evidence, Level, Status, TargetKind};
use crate::containers::is_root_user;
use crate::error::Error;
use crate::profile::Profile;
use crate::target::Target;

const S4: &str = "4 Container Images and Build File";
const SI: &str = "Image contents";
const I: TargetKind = TargetKind::Image;

/// The most bytes kept of an account file.
const MAX_ACCOUNT_BYTES: u64 = 1 << 20;
/// The most bytes read from the head of a possible key file.
const KEY_HEAD_BYTES: u64 = 8 << 10;
/// The most paths listed in one piece of evidence.
const MAX_LISTED: usize = 20;

/// The image checks.
pub static CHECKS: &[CheckDef] = &[
    CheckDef::new(
        "CIS-DOCKER-4.1",
        "Ensure that a user for the container has been created",
        Level::One,
        I,
        S4,
        "An image whose USER is root (empty, `root`, `0`, `0:0`, `root:root`, or a name with uid 0) runs its containers as root.",
        "Create a user and switch to it: `RUN useradd -r -u 10001 app` and `USER 10001`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.2",
        "Ensure that containers use only trusted base images",
        Level::One,
        I,
        S4,
        "Images from unvetted registries may carry anything; pull only from registries you trust.",
        "List the registries you trust in the profile's `trusted-registries` and pull only from them; verify signatures with `palisade verify`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.3",
        "Ensure that unnecessary packages are not installed in the container",
        Level::One,
        I,
        S4,
        "Shells for remote login, compilers, debuggers and network tools help an intruder more than the application.",
        "Remove them from the final stage (multi-stage builds) or use a minimal base image.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.6",
        "Ensure that HEALTHCHECK instructions have been added to container images",
        Level::One,
        I,
        S4,
        "A health check lets the engine and orchestrators notice a hung service.",
        "Add `HEALTHCHECK CMD …` to the Dockerfile.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.7",
        "Ensure update instructions are not used alone in the Dockerfile",
        Level::One,
        I,
        S4,
        "`apt-get update` in its own layer is cached and later installs use stale package lists.",
        "Combine update and install in one RUN: `apt-get update && apt-get install -y …`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.8",
        "Ensure setuid and setgid permissions are removed",
        Level::Two,
        I,
        S4,
        "setuid and setgid binaries are the usual way to escalate privileges inside a container.",
        "Remove the bits in the Dockerfile: `RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +`.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.9",
        "Ensure that COPY is used instead of ADD in Dockerfiles",
        Level::One,
        I,
        S4,
        "ADD fetches URLs without verification and unpacks archives implicitly.",
        "Use COPY for local files; download with a checksum check in RUN instead of ADD URL.",
    ),
    CheckDef::new(
        "CIS-DOCKER-4.10",
        "Ensure secrets are not stored in Dockerfiles",
        Level::One,
        I,
        S4,
        "ENV and build arguments end up in the image configuration and history, readable by anyone who pulls it.",
        "Pass secrets at run time (secrets, mounted files) or with `RUN --mount=type=secret`; never ENV or ARG.",
    ),
    CheckDef::new(
        "PAL-IMAGE-1",
        "Ensure no private keys or credential files are stored in the image",
        Level::One,
        I,
        SI,
        "Private keys, `.env` files and cloud credentials in a layer are readable by anyone who pulls the image, even when a later layer deletes them.",
        "Remove the file from the build context (.dockerignore) and rebuild; rotate the exposed credential.",
    ),
    CheckDef::new(
        "PAL-IMAGE-2",
        "Ensure package-manager caches are not left in the image",
        Level::One,
        I,
        SI,
        "Package lists and caches make the image bigger and carry stale metadata.",
        "Clean in the same RUN: `rm -rf /var/lib/apt/lists/*`, `apk add --no-cache`, `pip install --no-cache-dir`, `yum clean all`.",
    ),
    CheckDef::new(
        "PAL-IMAGE-3",
        "Ensure no account has an empty password",
        Level::One,
        I,
        SI,
        "An account with an empty password field in /etc/shadow can log in without one.",
        "Lock the account (`passwd -l NAME`) or set `*` as its password field.",
    ),
    CheckDef::new(
        "PAL-IMAGE-4",
        "Ensure user and group IDs are unique",
        Level::One,
        I,
        SI,
        "Two accounts with one UID share every file and permission; one of them is usually a backdoor.",
        "Give every account in /etc/passwd and every group in /etc/group its own ID.",
    ),
];

/// A file of the merged image filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileFact {
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Size in bytes.
    pub size: u64,
    /// The content, for the few files the checks read.
    pub content: Option<Vec<u8>>,
    /// The file starts like a PEM private key.
    pub private_key: bool,
}

/// What the image checks look at.
#[derive(Clone, Debug, Default)]
pub struct ImageFacts {
    /// The image as named on the command line.
    pub name: String,
    /// The image's registry reference (`registry.example/app:1.0`), when it came from one.
    pub reference: Option<String>,
    /// `config.User`.
    pub user: Option<String>,
    /// `config.Env`.
    pub env: Vec<String>,
    /// `config.Healthcheck.Test`, when set.
    pub healthcheck: Option<Vec<String>>,
    /// `history[].created_by`, oldest first (empty strings for steps without one).
    pub history: Vec<String>,
    /// Files of the merged filesystem: (path without leading `/`, layer, fact).
    pub files: Vec<(String, usize, FileFact)>,
}

fn wants_content(path: &str) -> Option<u64> {
    match path {
        "etc/passwd" | "etc/shadow" | "etc/group" => Some(MAX_ACCOUNT_BYTES),
        p if p.ends_with(".pem") || p.ends_with(".key") || is_key_name(base(p)) => {
            Some(KEY_HEAD_BYTES)
        }
        _ => None,
    }
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn is_key_name(name: &str) -> bool {
    matches!(name, "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519")
}

fn looks_like_private_key(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.contains("PRIVATE KEY-----")
}

impl ImageFacts {
    /// Reads an image: its configuration and, streaming each layer once, its merged files.
    ///
    /// # Errors
    /// When a layer cannot be read or fails its digest check.
    pub fn from_image(image: &Image, name: &str) -> Result<ImageFacts, Error> {
        let config = image.config();
        let raw: Value = serde_json::from_slice(image.config_bytes()).unwrap_or(Value::Null);
        let c = raw.get("config").or_else(|| raw.get("Config"));
        let healthcheck = c
            .and_then(|c| c.get("Healthcheck"))
            .and_then(|h| h.get("Test"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        let mut facts = ImageFacts {
            name: name.to_owned(),
            // Only a registry's reference says where the image is from (CIS 4.2): a local
            // archive's or layout's own tag is words anyone can write.
            reference: image.registry_reference().map(str::to_owned),
            user: config.config.as_ref().and_then(|c| c.user.clone()),
            env: config
                .config
                .as_ref()
                .and_then(|c| c.env.clone())
                .unwrap_or_default(),
            healthcheck,
            history: config
                .history
                .iter()
                .map(|h| h.created_by.clone().unwrap_or_default())
                .collect(),
            files: Vec::new(),
        };
        let mut view: MergedView<FileFact> = MergedView::new();
        for layer in image.layers() {
            let mut nodes: Vec<(String, Node<FileFact>)> = Vec::new();
            image.walk_layer(
                layer.index,
                &mut |entry: &palisade_image::Entry<'_>, content: &mut dyn Read| {
                    let node = match entry.kind {
                        EntryKind::File => {
                            let mut fact = FileFact {
                                mode: entry.mode,
                                uid: entry.uid,
                                gid: entry.gid,
                                size: entry.size,
                                content: None,
                                private_key: false,
                            };
                            if let Some(limit) = wants_content(entry.path) {
                                let mut buf = Vec::new();
                                content.take(limit).read_to_end(&mut buf)?;
                                fact.private_key = looks_like_private_key(&buf);
                                fact.content = Some(buf);
                            }
                            Node::File(fact)
                        }
                        EntryKind::Dir => Node::Dir,
                        EntryKind::Symlink(t) => Node::Symlink(t.to_owned()),
                        EntryKind::HardLink(t) => Node::HardLink(t.to_owned()),
                        EntryKind::Whiteout => Node::Whiteout,
                        EntryKind::OpaqueDir => Node::Opaque,
                        EntryKind::Other => return Ok(()),
                    };
                    nodes.push((entry.path.to_owned(), node));
                    Ok(())
                },
            )?;
            view.apply_layer(layer.index, nodes);
        }
        facts.files = view
            .files()
            .map(|(p, l, f)| (p.to_owned(), l, f.clone()))
            .collect();
        Ok(facts)
    }

    fn file(&self, path: &str) -> Option<&FileFact> {
        self.files.iter().find(|f| f.0 == path).map(|f| &f.2)
    }

    fn text(&self, path: &str) -> Option<String> {
        self.file(path)
            .and_then(|f| f.content.as_ref())
            .map(|c| String::from_utf8_lossy(c).into_owned())
    }
}

/// Whether an environment or argument name looks like it holds a secret.
#[must_use]
pub fn secret_name(name: &str) -> bool {
    let u = name.to_ascii_uppercase();
    if u.ends_with("_FILE")
        || u.ends_with("_PATH")
        || u.ends_with("_DIR")
        || u.ends_with("_URL")
        || u.ends_with("_VERSION")
        || u == "GPG_KEY"
        || u == "GPG_KEYS"
        || u.ends_with("_SHA256")
    {
        return false;
    }
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| u.contains(w))
}

fn assignments(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(['"', '\'']).to_owned()))
        .collect()
}

/// The shell commands of a history step, split at `&&`, `||` and `;`.
fn commands(created_by: &str) -> Vec<String> {
    created_by
        .replace("&&", ";")
        .replace("||", ";")
        .split(';')
        .map(|s| s.trim().to_owned())
        .collect()
}

fn is_update(cmd: &str) -> bool {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    w.windows(2)
        .any(|p| matches!(p[0], "apt-get" | "apt" | "apk") && p[1] == "update")
}

fn is_install(cmd: &str) -> bool {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    w.iter()
        .any(|x| matches!(*x, "install" | "upgrade" | "dist-upgrade" | "add"))
}

/// Files whose presence CIS 4.3 questions: remote shells, compilers, debuggers, network tools.
pub const UNNEEDED_FILES: &[&str] = &[
    "usr/sbin/sshd",
    "usr/bin/sudo",
    "usr/bin/gcc",
    "usr/bin/g++",
    "usr/bin/make",
    "usr/bin/gdb",
    "usr/bin/strace",
    "usr/bin/telnet",
    "usr/bin/ftp",
    "usr/bin/nc",
    "usr/bin/netcat",
    "usr/bin/nmap",
    "usr/bin/tcpdump",
    "usr/sbin/tcpdump",
];

/// The image target: the report names the image as given ([`ImageFacts::name`]).
impl Target for ImageFacts {
    fn kind(&self) -> TargetKind {
        TargetKind::Image
    }

    fn subject(&self) -> String {
        self.name.clone()
    }

    fn check(&self, profile: &Profile) -> Result<Vec<CheckResult>, Error> {
        Ok(check_image(self, profile))
    }
}

/// Runs every image check; `profile` gives the trusted registries (CIS 4.2).
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn check_image(f: &ImageFacts, profile: &crate::profile::Profile) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let name = f.name.as_str();
    let passwd = f.text("etc/passwd");

    // 4.2 trusted registries
    let trusted = &profile.trusted_registries;
    out.push(match (&f.reference, trusted.is_empty()) {
        (_, true) => CheckResult::one(
            "CIS-DOCKER-4.2",
            Status::Manual,
            Evidence::new(name, "no `trusted-registries` in the profile"),
        ),
        (None, false) => CheckResult::one(
            "CIS-DOCKER-4.2",
            Status::Warn,
            Evidence::new(
                name,
                "read from a local file: no registry to compare with `trusted-registries`",
            ),
        ),
        (Some(r), false) => {
            let ok = trusted.iter().any(|t| {
                palisade_image::glob_match(t, r, palisade_image::Case::Insensitive)
                    || r.starts_with(&format!("{}/", t.trim_end_matches('/')))
            });
            CheckResult::one(
                "CIS-DOCKER-4.2",
                if ok { Status::Pass } else { Status::Fail },
                Evidence::new(
                    name,
                    format!(
                        "reference {r} {} trusted-registries {trusted:?}",
                        if ok { "matches" } else { "matches none of" }
                    ),
                ),
            )
        }
    });

    // 4.3 unneeded packages
    let unneeded: Vec<String> = f
        .files
        .iter()
        .filter(|(p, _, _)| UNNEEDED_FILES.contains(&p.as_str()))
        .map(|(p, _, _)| format!("/{p}"))
        .collect();
    out.push(if unneeded.is_empty() {
        CheckResult::one(
            "CIS-DOCKER-4.3",
            if f.files.is_empty() {
                Status::NotApplicable
            } else {
                Status::Pass
            },
            Evidence::new(name, "no remote shell, compiler, debugger or network tool"),
        )
    } else {
        CheckResult::one(
            "CIS-DOCKER-4.3",
            Status::Warn,
            Evidence::new(name, format!("review: {}", unneeded.join(", "))),
        )
    });

    // 4.1 USER
    let user = f.user.clone().unwrap_or_default();
    let (st, detail) = if is_root_user(&user) {
        (Status::Fail, format!("config.User={user:?} is root"))
    } else {
        let uname = user.split(':').next().unwrap_or("");
        if uname.chars().all(|c| c.is_ascii_digit()) {
            (Status::Pass, format!("config.User={user:?}"))
        } else {
            let uid = passwd.as_deref().and_then(|p| {
                p.lines().find_map(|l| {
                    let fs: Vec<&str> = l.split(':').collect();
                    (fs.first() == Some(&uname))
                        .then(|| fs.get(2).and_then(|u| u.parse::<u32>().ok()))
                        .flatten()
                })
            });
            match uid {
                Some(0) => (
                    Status::Fail,
                    format!("config.User={user:?} has uid 0 in /etc/passwd"),
                ),
                Some(u) => (Status::Pass, format!("config.User={user:?} (uid {u})")),
                None => (
                    Status::Warn,
                    format!("config.User={user:?} is not in the image's /etc/passwd"),
                ),
            }
        }
    };
    out.push(CheckResult::one(
        "CIS-DOCKER-4.1",
        st,
        Evidence::new(name, detail),
    ));

    // 4.6 HEALTHCHECK
    let hc = f.healthcheck.clone().unwrap_or_default();
    let ok = hc.first().is_some_and(|t| t != "NONE");
    out.push(CheckResult::one(
        "CIS-DOCKER-4.6",
        if ok { Status::Pass } else { Status::Fail },
        Evidence::new(
            name,
            if hc.is_empty() {
                "config.Healthcheck not set".to_owned()
            } else {
                format!("config.Healthcheck.Test={hc:?}")
            },
        ),
    ));

    // 4.7 update alone
    if f.history.is_empty() {
        out.push(CheckResult::one(
            "CIS-DOCKER-4.7",
            Status::NotApplicable,
            Evidence::new(name, "no history in the image configuration"),
        ));
    } else {
        let mut bad = Vec::new();
        for (i, h) in f.history.iter().enumerate() {
            let cmds = commands(h);
            for (j, c) in cmds.iter().enumerate() {
                if is_update(c) && !cmds[j + 1..].iter().any(|n| is_install(n)) {
                    bad.push(format!("step {}: {}", i + 1, short(h)));
                    break;
                }
            }
        }
        out.push(if bad.is_empty() {
            CheckResult::one(
                "CIS-DOCKER-4.7",
                Status::Pass,
                Evidence::new(
                    name,
                    format!(
                        "{} history step(s), no update without install",
                        f.history.len()
                    ),
                ),
            )
        } else {
            CheckResult {
                id: "CIS-DOCKER-4.7",
                status: Status::Fail,
                evidence: bad.into_iter().map(|b| Evidence::new(name, b)).collect(),
            }
        });
    }

    // 4.8 setuid / setgid
    let suid: Vec<String> = f
        .files
        .iter()
        .filter(|(_, _, x)| x.mode & 0o6000 != 0)
        .map(|(p, _, x)| format!("/{p} ({:04o})", x.mode))
        .collect();
    out.push(if suid.is_empty() {
        CheckResult::one(
            "CIS-DOCKER-4.8",
            if f.files.is_empty() {
                Status::NotApplicable
            } else {
                Status::Pass
            },
            Evidence::new(
                name,
                format!("{} file(s), none setuid or setgid", f.files.len()),
            ),
        )
    } else {
        CheckResult::one(
            "CIS-DOCKER-4.8",
            Status::Warn,
            Evidence::new(
                name,
                format!("{} setuid/setgid file(s): {}", suid.len(), list(&suid)),
            ),
        )
    });

    // 4.9 ADD
    let mut url = Vec::new();
    let mut local = Vec::new();
    for (i, h) in f.history.iter().enumerate() {
        let body = h.split("#(nop)").last().unwrap_or(h).trim();
        let Some(rest) = body.strip_prefix("ADD ") else {
            continue;
        };
        let args: Vec<&str> = rest
            .split_whitespace()
            .filter(|a| !a.starts_with("--"))
            .collect();
        if args
            .iter()
            .any(|a| a.starts_with("http://") || a.starts_with("https://") || a.starts_with("git@"))
        {
            url.push(format!("step {}: {}", i + 1, short(h)));
        } else if i > 0 {
            local.push(format!("step {}: {}", i + 1, short(h)));
        }
    }
    out.push(if !url.is_empty() {
        CheckResult::one(
            "CIS-DOCKER-4.9",
            Status::Fail,
            Evidence::new(name, format!("ADD from a URL: {}", url.join("; "))),
        )
    } else if !local.is_empty() {
        CheckResult::one(
            "CIS-DOCKER-4.9",
            Status::Warn,
            Evidence::new(
                name,
                format!("ADD of local files (COPY is enough): {}", local.join("; ")),
            ),
        )
    } else {
        CheckResult::one(
            "CIS-DOCKER-4.9",
            Status::Pass,
            Evidence::new(name, "no ADD after the base layer"),
        )
    });

    // 4.10 secrets in ENV and history
    let mut secrets = Vec::new();
    for e in &f.env {
        if let Some((k, v)) = e.split_once('=')
            && secret_name(k)
            && !v.is_empty()
        {
            secrets.push(format!("config.Env {k}"));
        }
    }
    for (i, h) in f.history.iter().enumerate() {
        let body = h.split("#(nop)").last().unwrap_or(h).trim();
        // Classic builder: `|2 K=V … /bin/sh -c …`; BuildKit: `RUN |2 K=V … /bin/sh -c …`.
        let body = body.strip_prefix("RUN ").unwrap_or(body).trim_start();
        let relevant =
            body.starts_with("ENV ") || body.starts_with("ARG ") || body.starts_with('|');
        if !relevant {
            continue;
        }
        let scope = if body.starts_with('|') {
            body.split("/bin/sh").next().unwrap_or(body)
        } else {
            body
        };
        for (k, v) in assignments(scope) {
            if secret_name(&k) && !v.is_empty() {
                secrets.push(format!("history step {} {k}", i + 1));
            }
        }
    }
    secrets.dedup();
    out.push(CheckResult::one(
        "CIS-DOCKER-4.10",
        if secrets.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        Evidence::new(
            name,
            if secrets.is_empty() {
                "no secret-looking ENV or build argument".to_owned()
            } else {
                format!("secret-looking values (not shown): {}", secrets.join(", "))
            },
        ),
    ));

    // PAL-IMAGE-1 secret files
    let mut found = Vec::new();
    for (p, _, x) in &f.files {
        if p.starts_with("usr/share/doc/") {
            continue;
        }
        let b = base(p);
        let named = is_key_name(b)
            || b == ".env"
            || (b.starts_with(".env.")
                && !matches!(
                    b,
                    ".env.example" | ".env.sample" | ".env.template" | ".env.dist"
                ))
            || matches!(
                b,
                ".git-credentials" | ".netrc" | ".pgpass" | "application_default_credentials.json"
            )
            || p.ends_with(".aws/credentials")
            || p.ends_with(".docker/config.json")
            || p.ends_with(".kube/config")
            || p.ends_with("gcloud/credentials.db")
            || p.ends_with(".azure/accessTokens.json")
            || [".p12", ".pfx", ".jks", ".keystore", ".ovpn"]
                .iter()
                .any(|e| b.ends_with(e));
        if named || x.private_key {
            found.push(format!(
                "/{p}{}",
                if x.private_key { " (private key)" } else { "" }
            ));
        }
    }
    out.push(if found.is_empty() {
        CheckResult::one(
            "PAL-IMAGE-1",
            if f.files.is_empty() {
                Status::NotApplicable
            } else {
                Status::Pass
            },
            Evidence::new(name, "no private key or credential file"),
        )
    } else {
        CheckResult {
            id: "PAL-IMAGE-1",
            status: Status::Fail,
            evidence: found
                .iter()
                .take(MAX_LISTED)
                .map(|p| Evidence::new(name, format!("credential file {p}")).at(p.clone(), None))
                .collect(),
        }
    });

    // PAL-IMAGE-2 package caches
    let caches: &[(&str, &[&str])] = &[
        ("var/lib/apt/lists/", &["lock"]),
        ("var/cache/apt/archives/", &["lock"]),
        ("var/cache/apk/", &[]),
        ("var/cache/yum/", &[]),
        ("var/cache/dnf/", &[]),
        ("root/.cache/pip/", &[]),
        ("root/.npm/_cacache/", &[]),
    ];
    let mut left = Vec::new();
    for (prefix, ignore) in caches {
        let (n, bytes) = f
            .files
            .iter()
            .filter(|(p, _, _)| p.starts_with(prefix) && !ignore.contains(&base(p)))
            .fold((0u64, 0u64), |(n, b), (_, _, x)| (n + 1, b + x.size));
        if n > 0 {
            left.push(format!("/{prefix} ({n} files, {bytes} bytes)"));
        }
    }
    out.push(if left.is_empty() {
        CheckResult::one(
            "PAL-IMAGE-2",
            if f.files.is_empty() {
                Status::NotApplicable
            } else {
                Status::Pass
            },
            Evidence::new(name, "no package-manager cache left"),
        )
    } else {
        CheckResult::one(
            "PAL-IMAGE-2",
            Status::Fail,
            Evidence::new(name, format!("caches left: {}", left.join(", "))),
        )
    });

    // PAL-IMAGE-3 empty passwords
    match f.text("etc/shadow") {
        None => out.push(CheckResult::one(
            "PAL-IMAGE-3",
            Status::NotApplicable,
            Evidence::new(name, "no /etc/shadow"),
        )),
        Some(shadow) => {
            let mut ev = Vec::new();
            for (n, l) in shadow.lines().enumerate() {
                let fs: Vec<&str> = l.split(':').collect();
                if fs.len() >= 2 && !fs[0].is_empty() && fs[1].is_empty() {
                    ev.push(
                        Evidence::new(name, format!("account {} has an empty password", fs[0]))
                            .at("/etc/shadow", u32::try_from(n + 1).ok()),
                    );
                }
            }
            out.push(if ev.is_empty() {
                CheckResult::one(
                    "PAL-IMAGE-3",
                    Status::Pass,
                    Evidence::new(
                        name,
                        "every account in /etc/shadow has a password or is locked",
                    ),
                )
            } else {
                CheckResult {
                    id: "PAL-IMAGE-3",
                    status: Status::Fail,
                    evidence: ev,
                }
            });
        }
    }

    // PAL-IMAGE-4 duplicate IDs
    let group = f.text("etc/group");
    if passwd.is_none() && group.is_none() {
        out.push(CheckResult::one(
            "PAL-IMAGE-4",
            Status::NotApplicable,
            Evidence::new(name, "no /etc/passwd or /etc/group"),
        ));
    } else {
        let mut ev = Vec::new();
        for (file, text, what) in [
            ("/etc/passwd", passwd.as_deref(), "UID"),
            ("/etc/group", group.as_deref(), "GID"),
        ] {
            let Some(text) = text else { continue };
            let mut seen: Vec<(String, String)> = Vec::new();
            for (n, l) in text.lines().enumerate() {
                let fs: Vec<&str> = l.split(':').collect();
                let (Some(nm), Some(id)) = (fs.first(), fs.get(2)) else {
                    continue;
                };
                if nm.is_empty() || nm.starts_with('+') || nm.starts_with('-') {
                    continue;
                }
                if let Some((other, _)) = seen.iter().find(|(_, i)| i == id) {
                    ev.push(
                        Evidence::new(name, format!("{what} {id} of {nm} is also {other}'s"))
                            .at(file, u32::try_from(n + 1).ok()),
                    );
                } else {
                    seen.push(((*nm).to_owned(), (*id).to_owned()));
                }
            }
        }
        out.push(if ev.is_empty() {
            CheckResult::one(
                "PAL-IMAGE-4",
                Status::Pass,
                Evidence::new(name, "every UID and GID is unique"),
            )
        } else {
            CheckResult {
                id: "PAL-IMAGE-4",
                status: Status::Fail,
                evidence: ev,
            }
        });
    }
    out
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn list(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED {
        s.push_str(&format!(", … ({} more)", items.len() - MAX_LISTED));
    }
    s
}
