//! Create and exec requests (see the parent module's documentation for how the engine reads
//! them): mapping a create body to the inspect shape, the exec checks, and the strict body
//! parser. The checks themselves are the parent's, shared with the inspect path.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{Container, Origin, check_one, is_root_user};
use crate::check::{CheckResult, Evidence, Status};
use crate::error::Error;

/// How deep objects and arrays may nest in a create body, counting the body itself as level 1
/// (scalars add no level). A real body is at most 6 deep
/// (`NetworkingConfig.EndpointsConfig.NAME.IPAMConfig.LinkLocalIPs`).
pub const MAX_CREATE_DEPTH: usize = 32;

/// The most JSON values (objects, arrays and scalars; keys do not count) in a create body. The
/// engine forwards bodies below 1 MiB to an authorization plugin; a real one has a few hundred
/// values, a thousand published ports a few thousand.
pub const MAX_CREATE_VALUES: usize = 100_000;

/// The most mounts a create request may ask for: `HostConfig.Binds` and `HostConfig.Mounts`
/// together, and the mounts added by [`Container::add_volumes_from`]. A real container has a
/// few dozen at most.
pub const MAX_CREATE_MOUNTS: usize = 1_000;

/// The fields of a create body's top level: the container configuration (`Config` in the
/// inspect document) and the wrapper's own.
const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// The wrapper's fields beside the container configuration.
const WRAPPER_FIELDS: &[&str] = &["HostConfig", "NetworkingConfig", "Cpuset"];

/// `HostConfig` and its embedded `Resources` (moby `api/types/container/host_config.go`).
const HOST_FIELDS: &[&str] = &[
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "ConsoleSize",
    "Annotations",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "StorageOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "Isolation",
    "Mounts",
    "MaskedPaths",
    "ReadonlyPaths",
    "Init",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
];

/// Top-level `HostConfig` fields that fill in zero values of a given `HostConfig` (moby
/// `runconfig/config_unix.go`, `getHostConfig`, before moby 29).
const HOST_FALLBACKS: &[&str] = &[
    "Memory",
    "MemorySwap",
    "CpuShares",
    "CpusetCpus",
    "VolumeDriver",
];

const HEALTH_FIELDS: &[&str] = &[
    "Test",
    "Interval",
    "Timeout",
    "StartPeriod",
    "StartInterval",
    "Retries",
];
const MOUNT_FIELDS: &[&str] = &[
    "Type",
    "Source",
    "Target",
    "ReadOnly",
    "Consistency",
    "BindOptions",
    "VolumeOptions",
    "TmpfsOptions",
    "ImageOptions",
    "ClusterOptions",
];
const BIND_OPTION_FIELDS: &[&str] = &[
    "Propagation",
    "NonRecursive",
    "CreateMountpoint",
    "ReadOnlyNonRecursive",
    "ReadOnlyForceRecursive",
];
const DEVICE_FIELDS: &[&str] = &["PathOnHost", "PathInContainer", "CgroupPermissions"];
const RESTART_FIELDS: &[&str] = &["Name", "MaximumRetryCount"];
const ULIMIT_FIELDS: &[&str] = &["Name", "Hard", "Soft"];
const PORT_FIELDS: &[&str] = &["HostIp", "HostPort"];
const EXEC_FIELDS: &[&str] = &[
    "User",
    "Privileged",
    "Tty",
    "ConsoleSize",
    "AttachStdin",
    "AttachStderr",
    "AttachStdout",
    "Detach",
    "DetachKeys",
    "Env",
    "WorkingDir",
    "Cmd",
];

/// The propagation modes a bind spec may carry (`src:dst:rshared`).
const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Parses an Engine API request body (create, exec, update) the way the engine will read it
/// where serde_json would differ: a key given twice in one object is refused, since Go merges
/// the two objects and `serde_json::Value` keeps only the last (`{"HostConfig":
/// {"Privileged": true}, "HostConfig": {}}` creates a privileged container). Nesting is limited
/// by serde_json's recursion limit (128); [`Container::from_create`] applies its own limits.
///
/// # Errors
/// [`Error::Invalid`] naming `input` when the bytes are not one JSON value (trailing data
/// included) or an object holds a key twice.
pub fn parse_api_body(bytes: &[u8], input: &str) -> Result<Value, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de
        .deserialize_any(StrictValue)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| Error::invalid(input, e.to_string()))?;
    Ok(value)
}

/// Builds a `serde_json::Value`, refusing an object that holds a key twice.
struct StrictValue;

impl<'de> de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictValue)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "key {key:?} appears twice in one object (the engine would merge both, \
                     serde_json keep the last); refused"
                )));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

impl Container {
    /// Maps a Docker Engine API create body (`POST /containers/create`) to the `docker
    /// inspect` shape the container checks read, reading it as the engine does (see the
    /// [module docs](super)): `name` is the `?name=` query parameter, `image_config` the
    /// engine's `GET /images/{name}/json` document for the body's image, when known.
    ///
    /// - `Config`: the body without `HostConfig`, `NetworkingConfig` and top-level host fields;
    ///   known keys under their canonical spelling. As the engine merges them at create,
    ///   `User` (when empty) and `Healthcheck` (when absent, or its empty `Test`) come from the
    ///   image's `Config`, and its `ExposedPorts` are added.
    /// - `HostConfig`: as given, known keys canonical, `CapAdd`/`CapDrop` as arrays,
    ///   `NetworkMode` `default` when empty, `label=disable` added to `SecurityOpt` where the
    ///   engine adds it.
    /// - `Mounts`: one entry per `HostConfig.Mounts` item (`Target` → `Destination`,
    ///   `ReadOnly` → `RW: !ReadOnly`, `BindOptions.Propagation` → `Propagation`, `Type`,
    ///   `Source`; a volume's `Source` is its `Name`) and per `HostConfig.Binds` entry
    ///   (`src:dst[:opts]`; a volume when `src` is not an absolute path, options `ro`/`rw`,
    ///   `z`/`Z`, `nocopy`, propagation such as `rshared`; binds default to `rprivate`).
    ///
    /// Without `image_config`, the checks that depend on the image's defaults (CIS 4.1 when the
    /// request sets no `User`, 5.27 when it sets no `Healthcheck`) are not applicable. The
    /// body's image is [`Container::image`] of a first mapping without it.
    ///
    /// # Errors
    /// [`Error::Invalid`] (input `create request`, with the name when given) when the body is
    /// not a JSON object, nests deeper than [`MAX_CREATE_DEPTH`], holds more than
    /// [`MAX_CREATE_VALUES`] values or more than [`MAX_CREATE_MOUNTS`] mounts, names a field
    /// twice in two spellings, has a field the checks read of a type the engine would refuse,
    /// or a bind spec the engine would refuse (more than two `:`, empty source); also when
    /// `image_config` is not a JSON object.
    pub fn from_create(
        body: &Value,
        name: Option<&str>,
        image_config: Option<&Value>,
    ) -> Result<Container, Error> {
        let name = name
            .map(|n| n.trim_start_matches('/'))
            .filter(|n| !n.is_empty());
        let input = match name {
            Some(n) => format!("create request for {n:?}"),
            None => "create request".to_owned(),
        };
        let err = |message: String| Error::invalid(input.clone(), message);
        let Some(top) = body.as_object() else {
            return Err(err("a create body must be a JSON object".into()));
        };
        bounds(body).map_err(err)?;
        let image = match image_config {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                return Err(err(
                    "the image's configuration must be a JSON object (GET /images/{name}/json)"
                        .into(),
                ));
            }
        };
        let doc = create_doc(top, name, image).map_err(err)?;
        Ok(Container {
            name: name.unwrap_or("<unnamed>").to_owned(),
            file: None,
            doc,
            origin: Origin::Create {
                image: image.is_some(),
            },
        })
    }

    /// The image the container runs (`Config.Image`), when it is a non-empty string. For a
    /// create request, the reference as the request gives it (a name, a digest or an ID).
    #[must_use]
    pub fn image(&self) -> Option<&str> {
        let image = self.str_at(&["Config", "Image"]);
        (!image.trim().is_empty()).then_some(image)
    }

    /// The entries of `HostConfig.VolumesFrom`, as written (`container[:ro|rw]`). For each,
    /// the caller fetches the named container's inspect document and passes it to
    /// [`Container::add_volumes_from`].
    #[must_use]
    pub fn volumes_from(&self) -> Vec<String> {
        self.strings_at(&["HostConfig", "VolumesFrom"])
    }

    /// Adds the mounts of `source` (the inspect document of the container `entry` names) as
    /// the engine does for `--volumes-from entry`: each mount as in `source`, read-only when
    /// it is there or when `entry` ends in `:ro` (or has `ro` among its options).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the mounts would number more than [`MAX_CREATE_MOUNTS`].
    pub fn add_volumes_from(&mut self, entry: &str, source: &Container) -> Result<(), Error> {
        let read_only = entry
            .split_once(':')
            .is_some_and(|(_, mode)| mode.split(',').any(|o| o == "ro"));
        let theirs = source
            .at(&["Mounts"])
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let have = self
            .at(&["Mounts"])
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if have + theirs.len() > MAX_CREATE_MOUNTS {
            return Err(Error::invalid(
                format!("volumes from {entry:?}"),
                format!("more than {MAX_CREATE_MOUNTS} mounts; refused"),
            ));
        }
        let added: Vec<Value> = theirs
            .iter()
            .filter(|m| m.is_object())
            .cloned()
            .map(|mut m| {
                if let (true, Some(o)) = (read_only, m.as_object_mut()) {
                    o.insert("RW".into(), Value::Bool(false));
                }
                m
            })
            .collect();
        let Some(doc) = self.doc.as_object_mut() else {
            return Ok(());
        };
        let mounts = doc
            .entry("Mounts")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !mounts.is_array() {
            *mounts = Value::Array(Vec::new());
        }
        if let Value::Array(list) = mounts {
            list.extend(added);
        }
        Ok(())
    }
}

/// Runs every container check on one container of a create request ([`Container::from_create`]),
/// with the same code as [`super::check_containers`]: one result per check of
/// [`super::CHECKS`]. `daemon_no_new_privileges` is the daemon-wide setting (CIS 5.26).
///
/// What only a live container shows is judged from the request where it can be, else not
/// applicable with the reason: CIS 5.2 fails on `--privileged` or `apparmor=unconfined` and
/// passes on another `apparmor=` option (the profile the engine applies otherwise,
/// `AppArmorProfile`, depends on the host); 5.3 fails on `label=disable` and passes on a
/// `label=` option (the engine's `ProcessLabel` depends on `--selinux-enabled`); 5.27 reads
/// the health check of the request and the image (`State.Health` does not exist yet). With
/// `PublishAllPorts`, each exposed port without a binding counts as published on every
/// interface (CIS 5.9, 5.14), as the engine will at start.
///
/// On a container read from an inspect document it gives what [`super::check_containers`]
/// gives for that container.
#[must_use]
pub fn check_create(container: &Container, daemon_no_new_privileges: bool) -> Vec<CheckResult> {
    let mut out = Vec::new();
    check_one(container, daemon_no_new_privileges, &mut out);
    out
}

/// Judges an exec request body (`POST /containers/{id}/exec`) for CIS 5.23 and 5.24, which
/// [`crate::check_list`] lists as live-only for inspect documents: one result each, subject
/// `exec request`.
///
/// - CIS-DOCKER-5.23 fails when `Privileged` is true.
/// - CIS-DOCKER-5.24 fails when `User` names root (`root`, `0`, with any group, as
///   [`is_root_user`]); an empty or absent `User` passes, since the benchmark's rule is about
///   `--user root` and the command then runs as the container's own user, which CIS 4.1
///   judges on the container.
///
/// Keys are read case-insensitively, as the engine does. A body that is not a JSON object,
/// names a field in two spellings or gives `Privileged` or `User` a type the engine would
/// refuse fails both checks, with the reason: refused, not guessed.
#[must_use]
pub fn check_exec(body: &Value) -> Vec<CheckResult> {
    let ev = |detail: String| Evidence::new("exec request", detail);
    let fields = body
        .as_object()
        .ok_or_else(|| "an exec body must be a JSON object".to_owned())
        .and_then(|m| canonical(m, EXEC_FIELDS, "the exec body"))
        .and_then(|m| {
            let privileged = bool_field(&m, "Privileged", "")?;
            let user = str_field(&m, "User", "")?;
            Ok((privileged, user.to_owned()))
        });
    let (privileged, user) = match fields {
        Ok(f) => f,
        Err(e) => {
            let detail = format!("exec request not understood: {e}; refused rather than guessed");
            return vec![
                CheckResult::one("CIS-DOCKER-5.23", Status::Fail, ev(detail.clone())),
                CheckResult::one("CIS-DOCKER-5.24", Status::Fail, ev(detail)),
            ];
        }
    };
    let user_result = if user.is_empty() {
        CheckResult::one(
            "CIS-DOCKER-5.24",
            Status::Pass,
            ev(
                "User=\"\": runs as the container's own user (Config.User, judged by CIS 4.1)"
                    .into(),
            ),
        )
    } else {
        CheckResult::one(
            "CIS-DOCKER-5.24",
            if is_root_user(&user) {
                Status::Fail
            } else {
                Status::Pass
            },
            ev(format!("User={user:?}")),
        )
    };
    vec![
        CheckResult::one(
            "CIS-DOCKER-5.23",
            if privileged {
                Status::Fail
            } else {
                Status::Pass
            },
            ev(format!("Privileged={privileged}")),
        ),
        user_result,
    ]
}

/// Refuses a body nested deeper than [`MAX_CREATE_DEPTH`] or holding more than
/// [`MAX_CREATE_VALUES`] values. Iterative: a deep body built in memory cannot exhaust the
/// stack here.
fn bounds(body: &Value) -> Result<(), String> {
    let mut stack = vec![(body, 1usize)];
    let mut values = 0usize;
    while let Some((v, depth)) = stack.pop() {
        values += 1;
        if values > MAX_CREATE_VALUES {
            return Err(format!("more than {MAX_CREATE_VALUES} values; refused"));
        }
        if depth > MAX_CREATE_DEPTH && matches!(v, Value::Array(_) | Value::Object(_)) {
            return Err(format!(
                "nested deeper than {MAX_CREATE_DEPTH} levels; refused"
            ));
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// Whether a key names a field as Go's `encoding/json` matches them: ASCII letters in either
/// case, and the two non-ASCII letters whose simple case folding reaches ASCII (`ſ` U+017F long
/// s for `s`, `K` U+212A Kelvin sign for `k`). Field names are ASCII, so no other character can
/// make a key match one.
fn names_field(key: &str, field: &str) -> bool {
    if key.is_ascii() {
        return key.eq_ignore_ascii_case(field);
    }
    let mut key = key.chars();
    for f in field.chars() {
        let matches = match key.next() {
            Some('\u{17F}') => f.eq_ignore_ascii_case(&'s'),
            Some('\u{212A}') => f.eq_ignore_ascii_case(&'k'),
            Some(k) => k.eq_ignore_ascii_case(&f),
            None => false,
        };
        if !matches {
            return false;
        }
    }
    key.next().is_none()
}

/// `obj` with every key that names one of `fields` (case-insensitively, as the engine reads
/// it) under the field's spelling; other keys as they are.
fn canonical(
    obj: &Map<String, Value>,
    fields: &[&str],
    at: &str,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut spelled: Vec<(&str, &str)> = Vec::new();
    for (key, v) in obj {
        let name = fields.iter().find(|f| names_field(key, f)).copied();
        let Some(name) = name else {
            out.insert(key.clone(), v.clone());
            continue;
        };
        if let Some((_, first)) = spelled.iter().find(|(f, _)| *f == name) {
            return Err(format!(
                "{at}: {first:?} and {key:?} both name the field {name} (the engine reads keys \
                 case-insensitively and would use both); refused"
            ));
        }
        spelled.push((name, key));
        out.insert(name.to_owned(), v.clone());
    }
    Ok(out)
}

/// Where a field is, for messages: `HostConfig.Privileged`, or `Privileged` at the top.
fn path(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

fn type_error(at: &str, field: &str, want: &str, v: &Value) -> String {
    let got = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!(
        "{}: {got} where the engine wants {want} (it would refuse the request)",
        path(at, field)
    )
}

fn bool_field(m: &Map<String, Value>, field: &str, at: &str) -> Result<bool, String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_error(at, field, "a boolean", v)),
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, field: &str, at: &str) -> Result<&'a str, String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(type_error(at, field, "a string", v)),
    }
}

fn int_field(m: &Map<String, Value>, field: &str, at: &str) -> Result<i64, String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| type_error(at, field, "a 64-bit integer", v)),
    }
}

/// A list of strings; `string_too` accepts one string for a one-element list (Go's
/// `strslice.StrSlice`, used by `CapAdd` and `CapDrop`), which becomes an array in `m`.
fn strings_field(
    m: &mut Map<String, Value>,
    field: &str,
    at: &str,
    string_too: bool,
) -> Result<(), String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if string_too => {
            let one = Value::Array(vec![Value::String(s.clone())]);
            m.insert(field.to_owned(), one);
            Ok(())
        }
        Some(Value::Array(a)) => match a.iter().position(|x| !x.is_string()) {
            None => Ok(()),
            Some(i) => Err(type_error(at, &format!("{field}[{i}]"), "a string", &a[i])),
        },
        Some(v) => Err(type_error(
            at,
            field,
            if string_too {
                "an array of strings or a string"
            } else {
                "an array of strings"
            },
            v,
        )),
    }
}

/// An optional object, its known keys canonical.
fn object_field(
    m: &mut Map<String, Value>,
    field: &str,
    at: &str,
    fields: &[&str],
) -> Result<Option<Map<String, Value>>, String> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let o = canonical(o, fields, &path(at, field))?;
            m.insert(field.to_owned(), Value::Object(o.clone()));
            Ok(Some(o))
        }
        Some(v) => Err(type_error(at, field, "an object", v)),
    }
}

/// An optional array of objects, each with its known keys canonical.
fn objects_field(
    m: &mut Map<String, Value>,
    field: &str,
    at: &str,
    fields: &[&str],
) -> Result<Vec<Map<String, Value>>, String> {
    let items = match m.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(type_error(at, field, "an array of objects", v)),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = format!("{field}[{i}]");
        match item {
            Value::Object(o) => out.push(canonical(o, fields, &path(at, &here))?),
            v => return Err(type_error(at, &here, "an object", v)),
        }
    }
    m.insert(
        field.to_owned(),
        Value::Array(out.iter().cloned().map(Value::Object).collect()),
    );
    Ok(out)
}

/// The inspect-shaped document of a create body.
fn create_doc(
    top: &Map<String, Value>,
    name: Option<&str>,
    image: Option<&Map<String, Value>>,
) -> Result<Value, String> {
    let all: Vec<&str> = CONFIG_FIELDS
        .iter()
        .chain(WRAPPER_FIELDS)
        .chain(HOST_FIELDS)
        .copied()
        .collect();
    let top = canonical(top, &all, "the create body")?;
    let mut config = Map::new();
    let mut top_host = Map::new();
    let mut inner = None;
    for (k, v) in top {
        match k.as_str() {
            "HostConfig" => inner = Some(v),
            // Networks are not checked; `Cpuset` is a CPU set, not a limit.
            "NetworkingConfig" | "Cpuset" => {}
            _ if HOST_FIELDS.contains(&k.as_str()) => {
                top_host.insert(k, v);
            }
            _ => {
                config.insert(k, v);
            }
        }
    }
    let top_host_given = !top_host.is_empty();
    let mut top_host = host_config(top_host, "")?;
    let mut host = match inner {
        None | Some(Value::Null) => top_host,
        Some(Value::Object(m)) => {
            let mut host = host_config(canonical(&m, HOST_FIELDS, "HostConfig")?, "HostConfig")?;
            if top_host_given {
                for f in HOST_FALLBACKS {
                    let zero = |v: Option<&Value>| {
                        v.is_none_or(|v| v.is_null() || v == &Value::from(0) || v == "")
                    };
                    if zero(host.get(*f))
                        && !zero(top_host.get(*f))
                        && let Some(v) = top_host.remove(*f)
                    {
                        host.insert((*f).to_owned(), v);
                    }
                }
            }
            host
        }
        Some(v) => return Err(type_error("", "HostConfig", "an object", &v)),
    };
    if str_field(&host, "NetworkMode", "HostConfig")?.is_empty() {
        host.insert("NetworkMode".into(), Value::from("default"));
    }
    disable_labels(&mut host);
    let mounts = mounts(&host)?;

    config_fields(&mut config, image)?;

    let mut doc = Map::new();
    if let Some(n) = name {
        doc.insert("Name".into(), Value::String(format!("/{n}")));
    }
    if let Some(id) = image.and_then(|i| i.get("Id")).filter(|id| id.is_string()) {
        doc.insert("Image".into(), id.clone());
    }
    doc.insert("Config".into(), Value::Object(config));
    doc.insert("HostConfig".into(), Value::Object(host));
    doc.insert("Mounts".into(), Value::Array(mounts));
    Ok(Value::Object(doc))
}

/// Adds `label=disable` to `SecurityOpt` where the engine does at create (moby
/// `daemon/create.go`, `generateSecurityOpt`): for a privileged container, or one sharing the
/// host's IPC or PID namespace, unless the request gives a `label=` option itself.
fn disable_labels(host: &mut Map<String, Value>) {
    let is = |f: &str, want: &str| host.get(f).and_then(Value::as_str) == Some(want);
    let shares_host = host.get("Privileged").and_then(Value::as_bool) == Some(true)
        || is("IpcMode", "host")
        || is("PidMode", "host");
    let opts = host
        .entry("SecurityOpt")
        .or_insert_with(|| Value::Array(Vec::new()));
    if opts.is_null() {
        *opts = Value::Array(Vec::new());
    }
    let Value::Array(opts) = opts else {
        return;
    };
    let labelled = opts
        .iter()
        .filter_map(Value::as_str)
        .any(|o| o.split('=').next() == Some("label"));
    if shares_host && !labelled {
        opts.push(Value::from("label=disable"));
    }
}

/// Checks the types of the host fields the checks read and makes their nested keys canonical.
/// `at` is `HostConfig`, or empty for the fields at the top of the body.
fn host_config(mut m: Map<String, Value>, at: &str) -> Result<Map<String, Value>, String> {
    for f in ["Privileged", "PublishAllPorts", "ReadonlyRootfs"] {
        bool_field(&m, f, at)?;
    }
    for f in [
        "NetworkMode",
        "PidMode",
        "IpcMode",
        "UTSMode",
        "UsernsMode",
        "CgroupParent",
        "CpusetCpus",
        "VolumeDriver",
    ] {
        str_field(&m, f, at)?;
    }
    for f in [
        "Memory",
        "MemorySwap",
        "PidsLimit",
        "CpuShares",
        "NanoCpus",
        "CpuQuota",
    ] {
        int_field(&m, f, at)?;
    }
    strings_field(&mut m, "CapAdd", at, true)?;
    strings_field(&mut m, "CapDrop", at, true)?;
    for f in ["SecurityOpt", "Binds", "VolumesFrom"] {
        strings_field(&mut m, f, at, false)?;
    }
    for d in objects_field(&mut m, "Devices", at, DEVICE_FIELDS)? {
        str_field(&d, "PathOnHost", &path(at, "Devices[]"))?;
    }
    objects_field(&mut m, "Ulimits", at, ULIMIT_FIELDS)?;
    if let Some(rp) = object_field(&mut m, "RestartPolicy", at, RESTART_FIELDS)? {
        str_field(&rp, "Name", &path(at, "RestartPolicy"))?;
        int_field(&rp, "MaximumRetryCount", &path(at, "RestartPolicy"))?;
    }
    let mounts = objects_field(&mut m, "Mounts", at, MOUNT_FIELDS)?;
    for (i, mut mount) in mounts.into_iter().enumerate() {
        let here = path(at, &format!("Mounts[{i}]"));
        str_field(&mount, "Type", &here)?;
        str_field(&mount, "Source", &here)?;
        str_field(&mount, "Target", &here)?;
        bool_field(&mount, "ReadOnly", &here)?;
        if let Some(b) = object_field(&mut mount, "BindOptions", &here, BIND_OPTION_FIELDS)? {
            str_field(&b, "Propagation", &path(&here, "BindOptions"))?;
        }
        if let Some(Value::Array(list)) = m.get_mut("Mounts") {
            list[i] = Value::Object(mount);
        }
    }
    port_bindings(&mut m, at)?;
    Ok(m)
}

/// `PortBindings`: an object of container ports to null or arrays of `{HostIp, HostPort}`.
fn port_bindings(m: &mut Map<String, Value>, at: &str) -> Result<(), String> {
    let here = path(at, "PortBindings");
    let ports = match m.get("PortBindings") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(p)) => p,
        Some(v) => return Err(type_error(at, "PortBindings", "an object", v)),
    };
    let mut out = Map::new();
    for (port, binds) in ports {
        let binds = match binds {
            Value::Null => Value::Null,
            Value::Array(list) => {
                let mut canon = Vec::with_capacity(list.len());
                for (i, b) in list.iter().enumerate() {
                    let at_b = format!("{here}[{port:?}][{i}]");
                    let Value::Object(b) = b else {
                        return Err(type_error("", &at_b, "an object", b));
                    };
                    let b = canonical(b, PORT_FIELDS, &at_b)?;
                    str_field(&b, "HostIp", &at_b)?;
                    str_field(&b, "HostPort", &at_b)?;
                    canon.push(Value::Object(b));
                }
                Value::Array(canon)
            }
            v => return Err(type_error(&here, port, "an array of bindings", v)),
        };
        out.insert(port.clone(), binds);
    }
    m.insert("PortBindings".into(), Value::Object(out));
    Ok(())
}

/// The inspect `Mounts` of a host configuration: `Mounts` items, then `Binds` entries.
fn mounts(host: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let list = |f: &str| {
        host.get(f)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
    };
    let (items, binds) = (list("Mounts"), list("Binds"));
    if items.len() + binds.len() > MAX_CREATE_MOUNTS {
        return Err(format!(
            "HostConfig: {} Mounts and {} Binds, more than {MAX_CREATE_MOUNTS} mounts; refused",
            items.len(),
            binds.len()
        ));
    }
    let mut out = Vec::with_capacity(items.len() + binds.len());
    for m in items {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
        let kind = s("Type");
        let propagation = m
            .get("BindOptions")
            .and_then(|b| b.get("Propagation"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let read_only = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
        out.push(inspect_mount(
            kind,
            s("Source"),
            s("Target"),
            "",
            !read_only,
            propagation,
        ));
    }
    for (i, b) in binds.iter().enumerate() {
        let spec = b.as_str().unwrap_or("");
        out.push(bind(spec).map_err(|m| format!("HostConfig.Binds[{i}] {spec:?}: {m}"))?);
    }
    Ok(out)
}

/// One bind spec, `src:dst[:opts]` or `dst`, as the engine's Linux parser reads it.
fn bind(spec: &str) -> Result<Value, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts[..] {
        [""] | ["", ..] => return Err("empty source; the engine would refuse it".into()),
        [dst] => ("", dst, ""),
        [src, dst] => (src, dst, ""),
        [src, dst, mode] => (src, dst, mode),
        _ => {
            return Err(
                "not src:dst[:opts] (more than two ':'); the engine would refuse it".into(),
            );
        }
    };
    let kind = if source.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    let opts: Vec<&str> = mode.split(',').collect();
    let propagation = opts
        .iter()
        .find(|o| PROPAGATIONS.contains(o))
        .copied()
        .unwrap_or("");
    Ok(inspect_mount(
        kind,
        source,
        destination,
        mode,
        !opts.contains(&"ro"),
        propagation,
    ))
}

/// A mount as `docker inspect` shows it. A volume's host path is not known before the engine
/// creates it: `Name` holds the volume's name and `Source` is empty. Bind mounts without a
/// propagation get the engine's default, `rprivate`.
fn inspect_mount(
    kind: &str,
    source: &str,
    destination: &str,
    mode: &str,
    rw: bool,
    propagation: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("Type".into(), Value::from(kind));
    if kind == "volume" {
        m.insert("Name".into(), Value::from(source));
        m.insert("Source".into(), Value::from(""));
    } else {
        m.insert("Source".into(), Value::from(source));
    }
    m.insert("Destination".into(), Value::from(destination));
    m.insert("Mode".into(), Value::from(mode));
    m.insert("RW".into(), Value::Bool(rw));
    let propagation = if propagation.is_empty() && kind == "bind" {
        "rprivate"
    } else {
        propagation
    };
    m.insert("Propagation".into(), Value::from(propagation));
    Value::Object(m)
}

/// Checks the container fields the checks read and merges the image's defaults into them, as
/// the engine does at create (moby `daemon/commit.go`, `merge`).
fn config_fields(
    config: &mut Map<String, Value>,
    image: Option<&Map<String, Value>>,
) -> Result<(), String> {
    str_field(config, "Image", "")?;
    str_field(config, "User", "")?;
    if let Some(h) = object_field(config, "Healthcheck", "", HEALTH_FIELDS)? {
        match h.get("Test") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            Some(v) => return Err(type_error("Healthcheck", "Test", "an array of strings", v)),
        }
    }
    match config.get("ExposedPorts") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(v) => return Err(type_error("", "ExposedPorts", "an object", v)),
    }
    let Some(image) = image
        .and_then(|i| i.get("Config"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    if str_field(config, "User", "")?.is_empty()
        && let Some(user) = image.get("User").filter(|u| u.is_string())
    {
        config.insert("User".into(), user.clone());
    }
    if let Some(ports) = image.get("ExposedPorts").and_then(Value::as_object) {
        let mine = config
            .entry("ExposedPorts")
            .or_insert_with(|| Value::Object(Map::new()));
        if mine.is_null() {
            *mine = Value::Object(Map::new());
        }
        if let Value::Object(mine) = mine {
            for (p, v) in ports {
                mine.entry(p.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    if let Some(theirs) = image.get("Healthcheck").and_then(Value::as_object) {
        match config.get_mut("Healthcheck") {
            Some(Value::Object(mine)) => {
                for f in HEALTH_FIELDS {
                    let unset = mine.get(*f).is_none_or(|v| {
                        v.is_null()
                            || v == &Value::from(0)
                            || v.as_array().is_some_and(Vec::is_empty)
                    });
                    if unset && let Some(v) = theirs.get(*f) {
                        mine.insert((*f).to_owned(), v.clone());
                    }
                }
            }
            _ => {
                config.insert("Healthcheck".into(), Value::Object(theirs.clone()));
            }
        }
    }
    Ok(())
}
