//! Manifests, indexes and image configurations (OCI and Docker schema 2), and platforms.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Error;

/// Media types this reader understands.
pub mod media_type {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image configuration.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker image configuration.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker schema 1 manifests, which are refused.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// Layer media types, compressed or not.
    pub const LAYERS: &[&str] = &[
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ];

    /// The `Accept` list for manifest requests.
    pub const ACCEPT_MANIFESTS: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
}

/// The most bytes a manifest, index or config may have (registries use 4 MiB too).
pub const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Platform, in indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Schema version; must be 2.
    pub schema_version: u32,
    /// Media type, when stated.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest or Docker schema 2 manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Schema version; must be 2.
    pub schema_version: u32,
    /// Media type, when stated.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The configuration blob.
    pub config: Descriptor,
    /// Layers, lowest first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image configuration (the parts this project reads; the raw bytes are kept by the image).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// Architecture variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Creation time (RFC 3339), as the image states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The container defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layer diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// History, one entry per build step (some without a layer).
    #[serde(default)]
    pub history: Vec<History>,
}

/// The `config` object of an image configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Default user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment, `KEY=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The `rootfs` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, lowest first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One history entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// When the step ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default)]
    pub empty_layer: bool,
}

/// An OS/architecture pair, with an optional variant: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system (`linux`, `windows`).
    pub os: String,
    /// Variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/amd64`.
    #[must_use]
    pub fn linux_amd64() -> Platform {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        }
    }

    /// Whether an image for `other` runs as this platform. A missing variant on our side
    /// matches any variant; `arm64` without variant equals `arm64/v8`.
    #[must_use]
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        match (&self.variant, &other.variant) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(a), None) => self.architecture == "arm64" && a == "v8",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(format!(
                "invalid platform {s:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64"
            )),
        }
    }
}

/// A parsed manifest-like document.
#[derive(Debug, Clone)]
pub(crate) enum Document {
    Index(Index),
    Manifest(Manifest),
}

/// Parses a manifest or index, using the declared media type when there is one and the
/// document's own `mediaType` or shape otherwise.
pub(crate) fn parse_document(
    bytes: &[u8],
    declared: Option<&str>,
    what: &str,
) -> Result<Document, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        schema_version: Option<u32>,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| Error::malformed(what, format!("not valid JSON: {e}")))?;
    let media_type = declared
        .filter(|m| !m.is_empty() && *m != "application/json" && *m != "application/octet-stream")
        .map(str::to_owned)
        .or(probe.media_type.clone());
    if probe.schema_version == Some(1) || media_type.as_deref() == Some(media_type::DOCKER_SCHEMA1)
    {
        return Err(Error::UnsupportedMediaType {
            what: what.into(),
            media_type: media_type.unwrap_or_else(|| "Docker schema 1".into()),
        });
    }
    let is_index = match media_type.as_deref() {
        Some(media_type::OCI_INDEX | media_type::DOCKER_LIST) => true,
        Some(media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST) => false,
        Some(other) => {
            return Err(Error::UnsupportedMediaType {
                what: what.into(),
                media_type: other.into(),
            });
        }
        None => probe.manifests.is_some() && probe.config.is_none(),
    };
    if probe.schema_version != Some(2) {
        return Err(Error::malformed(what, "schemaVersion must be 2"));
    }
    if is_index {
        let index: Index = serde_json::from_slice(bytes).map_err(|e| Error::malformed(what, e))?;
        Ok(Document::Index(index))
    } else {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed(what, e))?;
        for (i, layer) in manifest.layers.iter().enumerate() {
            if !media_type::LAYERS.contains(&layer.media_type.as_str()) {
                return Err(Error::UnsupportedMediaType {
                    what: format!("{what}: layer {i} ({})", layer.digest),
                    media_type: layer.media_type.clone(),
                });
            }
        }
        Ok(Document::Manifest(manifest))
    }
}

/// Picks the manifest for `platform` from an index.
pub(crate) fn select_platform<'a>(
    index: &'a Index,
    platform: &Platform,
    source: &str,
) -> Result<&'a Descriptor, Error> {
    // Attestation manifests (BuildKit) carry platform unknown/unknown: never candidates.
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.platform.as_ref().is_none_or(|p| p.os != "unknown"))
        .collect();
    if let Some(d) = candidates
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
    {
        return Ok(d);
    }
    // An index of exactly one manifest without platform information (as umoci and skopeo
    // write OCI layouts) is taken as it is.
    if candidates.len() == 1 && candidates[0].platform.is_none() {
        return Ok(candidates[0]);
    }
    let mut available: Vec<String> = candidates
        .iter()
        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
        .collect();
    available.sort();
    available.dedup();
    Err(Error::PlatformNotFound {
        source_name: source.into(),
        wanted: platform.to_string(),
        available,
    })
}

/// With `options.require_platform`, checks that the image configuration states the platform
/// asked for; an index's descriptor may say otherwise, and a single-platform image has no
/// index to choose from.
pub(crate) fn check_config_platform(
    config: &ImageConfig,
    options: &crate::image::OpenOptions,
    source: &str,
) -> Result<(), Error> {
    if !options.require_platform {
        return Ok(());
    }
    let has = Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone().filter(|v| !v.is_empty()),
    };
    let stated = !has.os.is_empty() && !has.architecture.is_empty();
    if stated && options.platform.matches(&has) {
        return Ok(());
    }
    Err(Error::PlatformNotFound {
        source_name: source.into(),
        wanted: options.platform.to_string(),
        available: if stated {
            vec![has.to_string()]
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parsing_and_matching() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        let bare: Platform = "linux/arm64".parse().unwrap();
        assert!(bare.matches(&p));
        assert!(p.matches(&bare));
        assert!(!Platform::linux_amd64().matches(&p));
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
    }

    #[test]
    fn unknown_layer_media_type_is_refused() {
        let doc = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
          "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},
          "layers":[{"mediaType":"application/x-evil","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}"#;
        let err = parse_document(doc, None, "manifest").unwrap_err();
        assert!(err.to_string().contains("application/x-evil"), "{err}");
    }

    /// Issue 12.6: a platform asked for must be the one the configuration states.
    #[test]
    fn a_required_platform_is_checked_against_the_config() {
        let config = |os: &str, arch: &str, variant: Option<&str>| ImageConfig {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            ..ImageConfig::default()
        };
        let want = |p: &str, required: bool| crate::image::OpenOptions {
            platform: p.parse().unwrap(),
            require_platform: required,
            ..crate::image::OpenOptions::default()
        };
        let amd64 = config("linux", "amd64", None);
        let err =
            check_config_platform(&amd64, &want("linux/arm64", true), "registry:x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "registry:x: no image for platform linux/arm64; the image has: linux/amd64"
        );
        assert!(check_config_platform(&amd64, &want("linux/amd64", true), "x").is_ok());
        // Not asked for: the default only picks from indexes.
        assert!(check_config_platform(&amd64, &want("linux/arm64", false), "x").is_ok());
        let arm = config("linux", "arm64", Some("v8"));
        assert!(check_config_platform(&arm, &want("linux/arm64", true), "x").is_ok());
        assert!(check_config_platform(&arm, &want("linux/arm64/v8", true), "x").is_ok());
        assert!(check_config_platform(&arm, &want("linux/arm/v7", true), "x").is_err());
        // A configuration without a platform cannot confirm one.
        let none = config("", "", None);
        let err = check_config_platform(&none, &want("linux/amd64", true), "x").unwrap_err();
        assert!(
            err.to_string().ends_with("no platform information"),
            "{err}"
        );
    }

    #[test]
    fn missing_platform_lists_the_available_ones() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let index: Index = serde_json::from_str(&format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"{m}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"{m}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"s390x"}}}},
              {{"mediaType":"{m}","digest":"{d}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}}}}]}}"#,
            m = media_type::OCI_MANIFEST
        ))
        .unwrap();
        let err = select_platform(&index, &Platform::linux_amd64(), "registry:x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "registry:x: no image for platform linux/amd64; the image has: linux/arm64/v8, linux/s390x"
        );
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert!(select_platform(&index, &arm, "registry:x").is_ok());
    }

    #[test]
    fn schema1_is_refused() {
        let err = parse_document(br#"{"schemaVersion":1,"name":"x"}"#, None, "m").unwrap_err();
        assert!(matches!(err, Error::UnsupportedMediaType { .. }));
    }
}
