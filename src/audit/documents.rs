//! The raw API answers an audit read, kept as documents: exactly what a snapshot directory holds,
//! one JSON file per endpoint and page, secrets stripped. The fetch layer fills them; a snapshot
//! is read back into them; [`super::parse`] turns them into the typed tenant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Which product an endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Product {
    Zpa,
    Zia,
}

/// How an endpoint pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page` and `pagesize`, an envelope `{totalPages, list}` with string counts.
    Zpa,
    /// `page` and `pageSize`, a bare array; the last page is short.
    Zia,
    /// One object.
    None,
}

/// An endpoint the audit reads (GET only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    ZpaSegments,
    ZpaSegmentGroups,
    ZpaServerGroups,
    ZpaConnectorGroups,
    ZpaConnectors,
    ZpaAccessRules,
    ZpaForwardingRules,
    ZiaGateways,
    ZiaForwardingRules,
    ZiaStatus,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::ZpaSegments,
        Endpoint::ZpaSegmentGroups,
        Endpoint::ZpaServerGroups,
        Endpoint::ZpaConnectorGroups,
        Endpoint::ZpaConnectors,
        Endpoint::ZpaAccessRules,
        Endpoint::ZpaForwardingRules,
        Endpoint::ZiaGateways,
        Endpoint::ZiaForwardingRules,
        Endpoint::ZiaStatus,
    ];

    pub fn product(self) -> Product {
        match self {
            Endpoint::ZiaGateways | Endpoint::ZiaForwardingRules | Endpoint::ZiaStatus => {
                Product::Zia
            }
            _ => Product::Zpa,
        }
    }

    pub fn paging(self) -> Paging {
        match self {
            Endpoint::ZiaStatus => Paging::None,
            Endpoint::ZiaGateways | Endpoint::ZiaForwardingRules => Paging::Zia,
            _ => Paging::Zpa,
        }
    }

    /// The file name stem in a snapshot.
    pub fn stem(self) -> &'static str {
        match self {
            Endpoint::ZpaSegments => "zpa-application",
            Endpoint::ZpaSegmentGroups => "zpa-segmentGroup",
            Endpoint::ZpaServerGroups => "zpa-serverGroup",
            Endpoint::ZpaConnectorGroups => "zpa-appConnectorGroup",
            Endpoint::ZpaConnectors => "zpa-connector",
            Endpoint::ZpaAccessRules => "zpa-policySet-rules-ACCESS_POLICY",
            Endpoint::ZpaForwardingRules => "zpa-policySet-rules-CLIENT_FORWARDING_POLICY",
            Endpoint::ZiaGateways => "zia-zpaGateways",
            Endpoint::ZiaForwardingRules => "zia-forwardingRules",
            Endpoint::ZiaStatus => "zia-status",
        }
    }

    /// The path below the product's base: for ZPA after `/mgmtconfig/v1/admin/customers/{cid}`,
    /// for ZIA after `/api/v1`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ZpaSegments => "/application",
            Endpoint::ZpaSegmentGroups => "/segmentGroup",
            Endpoint::ZpaServerGroups => "/serverGroup",
            Endpoint::ZpaConnectorGroups => "/appConnectorGroup",
            Endpoint::ZpaConnectors => "/connector",
            Endpoint::ZpaAccessRules => "/policySet/rules/policyType/ACCESS_POLICY",
            Endpoint::ZpaForwardingRules => "/policySet/rules/policyType/CLIENT_FORWARDING_POLICY",
            Endpoint::ZiaGateways => "/zpaGateways",
            Endpoint::ZiaForwardingRules => "/forwardingRules",
            Endpoint::ZiaStatus => "/status",
        }
    }

    /// What it holds, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::ZpaSegments => "ZPA application segments",
            Endpoint::ZpaSegmentGroups => "ZPA segment groups",
            Endpoint::ZpaServerGroups => "ZPA server groups",
            Endpoint::ZpaConnectorGroups => "ZPA App Connector groups",
            Endpoint::ZpaConnectors => "ZPA App Connectors",
            Endpoint::ZpaAccessRules => "ZPA access policy rules",
            Endpoint::ZpaForwardingRules => "ZPA client forwarding policy rules",
            Endpoint::ZiaGateways => "ZIA ZPA gateways",
            Endpoint::ZiaForwardingRules => "ZIA forwarding rules",
            Endpoint::ZiaStatus => "ZIA activation status",
        }
    }

    /// The snapshot file of page `page` (1-based); an unpaged endpoint has one file.
    pub fn file_name(self, page: u32) -> String {
        match self.paging() {
            Paging::None => format!("{}.json", self.stem()),
            _ => format!("{}.page-{page}.json", self.stem()),
        }
    }
}

/// Keys never kept in a document, whatever endpoint answered them: credentials and session
/// material an API might echo.
const SECRET_KEYS: [&str; 12] = [
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "apiKey",
    "api_key",
    "obfuscateApiKey",
    "password",
    "client_secret",
    "clientSecret",
    "JSESSIONID",
    "privateKey",
];

/// Removes every secret-bearing key, at any depth.
pub fn strip_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)));
            map.values_mut().for_each(strip_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot create the snapshot directory {}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the snapshot directory {}", .path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not JSON", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} holds no API answer of sipa-check's (no zpa-*.json or zia-*.json file)", .path.display())]
    Empty { path: PathBuf },
}

/// The raw answers, by snapshot file name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Documents {
    files: BTreeMap<String, Value>,
}

impl Documents {
    /// Keeps one answer, secrets stripped.
    pub fn insert(&mut self, endpoint: Endpoint, page: u32, mut body: Value) {
        strip_secrets(&mut body);
        self.files.insert(endpoint.file_name(page), body);
    }

    /// The pages of `endpoint`, in order; `None` when not one was read.
    pub fn pages(&self, endpoint: Endpoint) -> Option<Vec<&Value>> {
        if endpoint.paging() == Paging::None {
            return self.files.get(&endpoint.file_name(1)).map(|v| vec![v]);
        }
        let mut pages = Vec::new();
        for page in 1.. {
            match self.files.get(&endpoint.file_name(page)) {
                Some(v) => pages.push(v),
                None => break,
            }
        }
        (!pages.is_empty()).then_some(pages)
    }

    /// Whether any answer of `product` is held.
    pub fn has(&self, product: Product) -> bool {
        Endpoint::ALL
            .iter()
            .filter(|e| e.product() == product)
            .any(|e| self.pages(*e).is_some())
    }

    /// The file names and answers, for tests and the snapshot writer.
    pub fn files(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.files.iter()
    }

    /// Writes each answer as `DIR/<endpoint>.page-N.json` (pretty JSON), creating `dir`.
    pub fn write_snapshot(&self, dir: &Path) -> Result<(), SnapshotError> {
        std::fs::create_dir_all(dir).map_err(|source| SnapshotError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        for (name, value) in &self.files {
            let path = dir.join(name);
            let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
            text.push('\n');
            std::fs::write(&path, text).map_err(|source| SnapshotError::Write { path, source })?;
        }
        Ok(())
    }

    /// Reads a snapshot directory back: every file named after a known endpoint; other files
    /// are left alone.
    pub fn read_snapshot(dir: &Path) -> Result<Documents, SnapshotError> {
        let entries = std::fs::read_dir(dir).map_err(|source| SnapshotError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut docs = Documents::default();
        for entry in entries {
            let entry = entry.map_err(|source| SnapshotError::ReadDir {
                path: dir.to_path_buf(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !Endpoint::ALL.iter().any(|e| is_file_of(*e, &name)) {
                continue;
            }
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(|source| SnapshotError::Read {
                path: path.clone(),
                source,
            })?;
            let mut value: Value = serde_json::from_str(&text)
                .map_err(|source| SnapshotError::Json { path, source })?;
            strip_secrets(&mut value);
            docs.files.insert(name, value);
        }
        if docs.files.is_empty() {
            return Err(SnapshotError::Empty {
                path: dir.to_path_buf(),
            });
        }
        Ok(docs)
    }
}

fn is_file_of(endpoint: Endpoint, name: &str) -> bool {
    match endpoint.paging() {
        Paging::None => name == endpoint.file_name(1),
        _ => name
            .strip_prefix(endpoint.stem())
            .and_then(|rest| rest.strip_prefix(".page-"))
            .and_then(|rest| rest.strip_suffix(".json"))
            .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_stripped_at_any_depth() {
        let mut v = serde_json::json!({"a": {"access_token": "x", "keep": 1, "list": [{"password": "p", "name": "n"}]}});
        strip_secrets(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": {"keep": 1, "list": [{"name": "n"}]}})
        );
    }

    #[test]
    fn pages_come_back_in_order_and_a_snapshot_round_trips() {
        let mut docs = Documents::default();
        docs.insert(Endpoint::ZpaSegments, 2, serde_json::json!({"p": 2}));
        docs.insert(Endpoint::ZpaSegments, 1, serde_json::json!({"p": 1}));
        docs.insert(
            Endpoint::ZiaStatus,
            1,
            serde_json::json!({"status": "ACTIVE"}),
        );
        let pages = docs.pages(Endpoint::ZpaSegments).unwrap();
        assert_eq!(pages[0]["p"], 1);
        assert_eq!(pages[1]["p"], 2);
        assert!(docs.pages(Endpoint::ZpaConnectors).is_none());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README"), "not an answer").unwrap();
        docs.write_snapshot(dir.path()).unwrap();
        assert!(dir.path().join("zpa-application.page-2.json").exists());
        assert!(dir.path().join("zia-status.json").exists());
        assert_eq!(Documents::read_snapshot(dir.path()).unwrap(), docs);
    }

    #[test]
    fn an_empty_directory_is_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let err = Documents::read_snapshot(dir.path()).unwrap_err();
        assert!(matches!(err, SnapshotError::Empty { .. }));
    }
}
