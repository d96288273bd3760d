//! What a volume asks for: the volume attributes of an ephemeral inline volume (or a
//! SecretProviderClass's parameters in provider mode), parsed and validated once at the
//! gRPC boundary into a [`VolumeSpec`], plus the pod facts kubelet adds (`podInfoOnMount`)
//! and the pod's service-account token (`tokenRequests`).
//!
//! Everything here is checked before the driver touches the broker or the node, so a bad
//! volume fails with `InvalidArgument` and a message that names the attribute.

use std::collections::{BTreeMap, HashMap, HashSet};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const ROLE: &str = "role";
pub const AUTH_MOUNT: &str = "authMount";
pub const ADDRESS: &str = "address";
pub const AUDIENCE: &str = "audience";
pub const OBJECTS: &str = "objects";
/// Every attribute a [`VolumeSpec`] is made of.
pub const SPEC_ATTRIBUTES: [&str; 5] = [ROLE, AUTH_MOUNT, ADDRESS, AUDIENCE, OBJECTS];
/// kubelet's own attributes (`podInfoOnMount`, `tokenRequests`, `ephemeral`).
pub const KUBELET_PREFIX: &str = "csi.storage.k8s.io/";

pub const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
pub const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
pub const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
pub const SERVICE_ACCOUNT: &str = "csi.storage.k8s.io/serviceAccount.name";
pub const EPHEMERAL: &str = "csi.storage.k8s.io/ephemeral";
pub const SERVICE_ACCOUNT_TOKENS: &str = "csi.storage.k8s.io/serviceAccount.tokens";

pub const DEFAULT_AUTH_MOUNT: &str = "kubernetes";
pub const DEFAULT_AUDIENCE: &str = "lessor";
/// Kubernetes' default mode for projected secret files.
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// A request the driver refuses before doing anything; becomes `InvalidArgument`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAttributes(pub String);

fn invalid(message: impl Into<String>) -> InvalidAttributes {
    InvalidAttributes(message.into())
}

/// A validated volume: which role to log in as and what to fetch into which files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub role: String,
    pub auth_mount: String,
    /// Overrides the driver's `--broker-address`.
    pub address: Option<String>,
    pub audience: String,
    pub objects: Vec<ObjectSpec>,
}

/// One broker path read into one or more files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    pub path: String,
    pub files: Vec<FileSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub name: String,
    /// A key of the response's data; absent means the whole data as JSON.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub mode: Option<FileMode>,
}

impl FileSpec {
    pub fn mode(&self) -> u32 {
        self.mode.map_or(DEFAULT_FILE_MODE, |mode| mode.0)
    }
}

/// Permission bits. A string is octal (`"0400"`, `"0o400"`, `"400"`); a number is the value
/// itself, as in Kubernetes' JSON (`256` is `0400`), because YAML readers disagree on
/// whether `0400` is octal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawMode", into = "u32")]
pub struct FileMode(u32);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMode {
    Number(u32),
    Text(String),
}

impl TryFrom<RawMode> for FileMode {
    type Error = String;

    fn try_from(raw: RawMode) -> Result<Self, Self::Error> {
        let value = match raw {
            RawMode::Number(value) => value,
            RawMode::Text(text) => {
                let digits = text.trim_start_matches("0o");
                u32::from_str_radix(digits, 8)
                    .map_err(|_| format!("mode {text:?} is not an octal number"))?
            }
        };
        if value > 0o777 {
            return Err(format!(
                "mode {value:#o} has bits beyond 0777 (no setuid, setgid or sticky files)"
            ));
        }
        Ok(Self(value))
    }
}

impl From<FileMode> for u32 {
    fn from(mode: FileMode) -> Self {
        mode.0
    }
}

/// The pod a volume belongs to, from `podInfoOnMount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub service_account: String,
}

/// The pod's service-account token for the volume's audience, as kubelet passed it.
pub struct PodToken {
    pub jwt: SecretString,
    pub expires_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for PodToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodToken")
            .field("jwt", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl VolumeSpec {
    /// Parses CSI volume attributes (or provider-mode parameters). Unknown attributes that
    /// are not kubelet's `csi.storage.k8s.io/*` are refused: a typo must not silently fall
    /// back to a default.
    pub fn from_attributes(
        attributes: &HashMap<String, String>,
    ) -> Result<Self, InvalidAttributes> {
        if let Some(unknown) = attributes.keys().find(|key| {
            !SPEC_ATTRIBUTES.contains(&key.as_str())
                && !key.starts_with(KUBELET_PREFIX)
                && !key.starts_with("secrets-store.csi.k8s.io/")
        }) {
            return Err(invalid(format!(
                "unknown volume attribute {unknown:?} (known: {})",
                SPEC_ATTRIBUTES.join(", ")
            )));
        }
        let get = |key: &str| {
            attributes
                .get(key)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let role = get(ROLE).ok_or_else(|| invalid("volume attribute \"role\" is required"))?;
        check_segment("role", role)?;
        let auth_mount = get(AUTH_MOUNT)
            .unwrap_or(DEFAULT_AUTH_MOUNT)
            .trim_matches('/');
        check_path("authMount", auth_mount)?;
        let address = get(ADDRESS).map(str::to_owned);
        if let Some(address) = &address
            && !(address.starts_with("https://") || address.starts_with("http://"))
        {
            return Err(invalid(
                "volume attribute \"address\" must be an http(s) URL",
            ));
        }
        let audience = get(AUDIENCE).unwrap_or(DEFAULT_AUDIENCE).to_owned();
        let objects = parse_objects(
            get(OBJECTS).ok_or_else(|| invalid("volume attribute \"objects\" is required"))?,
        )?;
        Ok(Self {
            role: role.to_owned(),
            auth_mount: auth_mount.to_owned(),
            address,
            audience,
            objects,
        })
    }

    /// Every file name the volume shows, in order.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.objects
            .iter()
            .flat_map(|object| object.files.iter().map(|file| file.name.as_str()))
    }
}

/// `objects`: a YAML (or JSON, which is YAML) list of `{path, files: [{name, key?, mode?}]}`.
pub fn parse_objects(text: &str) -> Result<Vec<ObjectSpec>, InvalidAttributes> {
    let objects: Vec<ObjectSpec> = serde_yaml_ng::from_str(text)
        .map_err(|error| invalid(format!("volume attribute \"objects\" is invalid: {error}")))?;
    if objects.is_empty() {
        return Err(invalid(
            "volume attribute \"objects\" lists nothing to fetch",
        ));
    }
    let mut names = HashSet::new();
    for object in &objects {
        check_path("objects[].path", &object.path)?;
        if object.files.is_empty() {
            return Err(invalid(format!("object {:?} names no files", object.path)));
        }
        for file in &object.files {
            check_file_name(&file.name)?;
            if !names.insert(file.name.as_str()) {
                return Err(invalid(format!("file {:?} is named twice", file.name)));
            }
            if let Some(key) = &file.key
                && key.is_empty()
            {
                return Err(invalid(format!("file {:?} has an empty key", file.name)));
            }
        }
    }
    Ok(objects)
}

/// A broker path: relative, `/`-separated segments of a safe alphabet, never `.` or `..`.
fn check_path(what: &str, path: &str) -> Result<(), InvalidAttributes> {
    if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
        return Err(invalid(format!("{what} {path:?} must be a relative path")));
    }
    path.split('/')
        .try_for_each(|segment| check_segment(what, segment))
}

fn check_segment(what: &str, segment: &str) -> Result<(), InvalidAttributes> {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':');
    if segment.is_empty() || segment == "." || segment == ".." || !segment.chars().all(safe) {
        return Err(invalid(format!(
            "{what} {segment:?} may hold only letters, digits and - _ . @ :"
        )));
    }
    Ok(())
}

/// A file name is one path component; `..`-prefixed names belong to the atomic writer.
fn check_file_name(name: &str) -> Result<(), InvalidAttributes> {
    if name.is_empty()
        || name.len() > 253
        || name.contains('/')
        || name.contains('\0')
        || name.starts_with("..")
        || name == "."
    {
        return Err(invalid(format!(
            "file name {name:?} must be a single path component not starting with \"..\""
        )));
    }
    Ok(())
}

impl PodInfo {
    pub fn from_attributes(attributes: &HashMap<String, String>) -> Self {
        let get = |key: &str| attributes.get(key).cloned().unwrap_or_default();
        Self {
            name: get(POD_NAME),
            namespace: get(POD_NAMESPACE),
            uid: get(POD_UID),
            service_account: get(SERVICE_ACCOUNT),
        }
    }
}

/// Only ephemeral inline volumes are served; kubelet marks them `ephemeral: "true"`.
pub fn check_ephemeral(attributes: &HashMap<String, String>) -> Result<(), InvalidAttributes> {
    match attributes.get(EPHEMERAL).map(String::as_str) {
        Some("false") => Err(invalid(
            "only ephemeral inline volumes are supported (csi.storage.k8s.io/ephemeral is \"false\")",
        )),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
struct TokenEntry {
    token: String,
    #[serde(default, rename = "expirationTimestamp")]
    expiration_timestamp: Option<String>,
}

/// The token for `audience` from `csi.storage.k8s.io/serviceAccount.tokens`, if kubelet
/// passed one. A malformed map is an error; a missing one is `None` (the driver may not need
/// to log in).
pub fn pod_token(
    attributes: &HashMap<String, String>,
    audience: &str,
) -> Result<Option<PodToken>, InvalidAttributes> {
    let Some(raw) = attributes.get(SERVICE_ACCOUNT_TOKENS) else {
        return Ok(None);
    };
    // Deliberately no serde error text: it could quote part of a token.
    let mut tokens: BTreeMap<String, TokenEntry> = serde_json::from_str(raw).map_err(|_| {
        invalid(format!(
            "{SERVICE_ACCOUNT_TOKENS} is not a JSON map of tokens"
        ))
    })?;
    let Some(entry) = tokens.remove(audience) else {
        return Err(invalid(format!(
            "{SERVICE_ACCOUNT_TOKENS} has no token for audience {audience:?}; add it to the CSIDriver's tokenRequests"
        )));
    };
    let expires_at = entry
        .expiration_timestamp
        .as_deref()
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok());
    Ok(Some(PodToken {
        jwt: SecretString::from(entry.token),
        expires_at,
    }))
}

#[cfg(test)]
mod tests;
