//! The Microsoft clouds: which authority (login) hosts go with which Graph host. Plain data a
//! scenario names (`entra.authority_host`) and the Entra client uses.

use serde::Serialize;

/// A Microsoft cloud: where tokens come from, and where Graph answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cloud {
    /// The authority (login) host, e.g. `login.microsoftonline.com`.
    pub authority_host: String,
    /// The Graph host, e.g. `graph.microsoft.com`.
    pub graph_host: String,
}

impl Default for Cloud {
    fn default() -> Self {
        Cloud::public()
    }
}

impl Cloud {
    /// The public (global) cloud.
    pub fn public() -> Cloud {
        Cloud::new("login.microsoftonline.com", "graph.microsoft.com")
    }

    /// Azure US Government.
    pub fn us_government() -> Cloud {
        Cloud::new("login.microsoftonline.us", "graph.microsoft.us")
    }

    /// Azure China (21Vianet).
    pub fn china() -> Cloud {
        Cloud::new("login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn")
    }

    /// Any pair of hosts (lower-cased, without a trailing dot).
    pub fn new(authority_host: &str, graph_host: &str) -> Cloud {
        Cloud {
            authority_host: normalize(authority_host),
            graph_host: normalize(graph_host),
        }
    }

    /// The cloud whose authority is `authority_host` (a host, or an `https://` URL as
    /// `AZURE_AUTHORITY_HOST` is written): a known authority brings its Graph host; an unknown
    /// one needs `graph_host`, else it is refused.
    pub fn from_authority(
        authority_host: &str,
        graph_host: Option<&str>,
    ) -> Result<Cloud, CloudError> {
        let authority = normalize(authority_host);
        if authority.is_empty() || authority.contains('/') || authority.contains(' ') {
            return Err(CloudError::BadAuthorityHost {
                given: authority_host.to_owned(),
            });
        }
        let known = [Cloud::public(), Cloud::us_government(), Cloud::china()]
            .into_iter()
            .find(|cloud| cloud.login_hosts().contains(&authority));
        match (known, graph_host) {
            (_, Some(graph)) => Ok(Cloud::new(&authority, graph)),
            (Some(cloud), None) => Ok(Cloud {
                authority_host: authority,
                ..cloud
            }),
            (None, None) => Err(CloudError::UnknownCloud { authority }),
        }
    }

    /// The login hosts SIPA must anchor for this cloud: the public cloud's three, the
    /// national clouds' own, or the authority alone.
    pub fn login_hosts(&self) -> Vec<String> {
        let hosts: &[&str] = match self.graph_host.as_str() {
            "graph.microsoft.com" => &[
                "login.microsoftonline.com",
                "login.windows.net",
                "login.microsoft.com",
            ],
            "graph.microsoft.us" => &["login.microsoftonline.us"],
            "microsoftgraph.chinacloudapi.cn" => {
                &["login.chinacloudapi.cn", "login.partner.microsoftonline.cn"]
            }
            _ => &[],
        };
        let mut out: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        if !out.contains(&self.authority_host) {
            out.insert(0, self.authority_host.clone());
        }
        out
    }

    /// The client-credentials scope for Graph in this cloud.
    pub fn graph_scope(&self) -> String {
        format!("https://{}/.default", self.graph_host)
    }

    /// The v2 token endpoint of `tenant` on `host` (one of [`Cloud::login_hosts`]).
    pub fn token_endpoint(host: &str, tenant: &str) -> String {
        format!("https://{host}/{tenant}/oauth2/v2.0/token")
    }
}

/// `https://Login.MicrosoftOnline.US/` → `login.microsoftonline.us`.
fn normalize(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host);
    host.trim_end_matches('/')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why an authority host names no cloud.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// Not a host name.
    #[error("AZURE_AUTHORITY_HOST `{given}` is not a host name")]
    BadAuthorityHost { given: String },
    /// An authority whose Graph host is not known.
    #[error(
        "unknown cloud with authority {authority}: set SIPA_CHECK_GRAPH_HOST to its Graph host"
    )]
    UnknownCloud { authority: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_clouds_pair_authority_and_graph() {
        let gov = Cloud::from_authority("https://login.microsoftonline.us/", None).unwrap();
        assert_eq!(gov, Cloud::us_government());
        assert_eq!(gov.graph_scope(), "https://graph.microsoft.us/.default");
        assert_eq!(gov.login_hosts(), vec!["login.microsoftonline.us"]);
        let china = Cloud::from_authority("login.chinacloudapi.cn", None).unwrap();
        assert_eq!(china.graph_host, "microsoftgraph.chinacloudapi.cn");
        assert_eq!(china.login_hosts()[0], "login.chinacloudapi.cn");
    }

    #[test]
    fn the_public_login_hosts_follow_the_authority() {
        let public = Cloud::from_authority("Login.Windows.Net", None).unwrap();
        assert_eq!(public.graph_host, "graph.microsoft.com");
        assert_eq!(public.authority_host, "login.windows.net");
        assert_eq!(
            public.login_hosts(),
            vec![
                "login.microsoftonline.com",
                "login.windows.net",
                "login.microsoft.com"
            ]
        );
        assert_eq!(Cloud::default(), Cloud::public());
    }

    #[test]
    fn an_unknown_authority_needs_its_graph_host() {
        assert!(matches!(
            Cloud::from_authority("login.example.test", None),
            Err(CloudError::UnknownCloud { .. })
        ));
        let custom =
            Cloud::from_authority("login.example.test", Some("graph.example.test")).unwrap();
        assert_eq!(custom.login_hosts(), vec!["login.example.test"]);
        assert!(matches!(
            Cloud::from_authority("https://a/b", None),
            Err(CloudError::BadAuthorityHost { .. })
        ));
    }

    #[test]
    fn token_endpoints_are_v2() {
        assert_eq!(
            Cloud::token_endpoint("login.microsoft.com", "contoso.onmicrosoft.com"),
            "https://login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }
}
