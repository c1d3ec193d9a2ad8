//! Conditional Access's IP named locations.

use super::*;

impl GraphClient {
    /// The tenant's IP named locations (other kinds are left out).
    pub async fn named_locations(&self) -> Result<Vec<NamedLocation>, GraphError> {
        #[derive(Deserialize)]
        struct RawRange {
            #[serde(rename = "cidrAddress")]
            cidr_address: Option<String>,
        }
        #[derive(Deserialize)]
        struct RawLocation {
            #[serde(rename = "@odata.type", default)]
            kind: String,
            #[serde(default)]
            id: String,
            #[serde(rename = "displayName", default)]
            display_name: String,
            #[serde(rename = "isTrusted", default)]
            is_trusted: bool,
            #[serde(rename = "ipRanges", default)]
            ip_ranges: Vec<RawRange>,
        }
        let url = self.url("v1.0/identity/conditionalAccess/namedLocations")?;
        let deadline = Instant::now() + self.inner.settings.timeout;
        let raw: Vec<RawLocation> = self.pages(url.clone(), deadline).await?;
        raw.into_iter()
            .filter(|l| l.kind == "#microsoft.graph.ipNamedLocation")
            .map(|l| {
                let ranges = l
                    .ip_ranges
                    .iter()
                    .filter_map(|r| r.cidr_address.as_deref())
                    .map(|cidr| {
                        cidr.parse::<IpNet>().map_err(|e| GraphError::BadJson {
                            url: url.to_string(),
                            detail: format!(
                                "named location {} has a range {cidr:?} that is not a CIDR: {e}",
                                l.display_name
                            ),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(NamedLocation {
                    id: l.id,
                    display_name: l.display_name,
                    is_trusted: l.is_trusted,
                    ranges,
                })
            })
            .collect()
    }
}
