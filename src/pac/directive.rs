//! The directives of a PAC answer (`PROXY a:8080; DIRECT`), parsed into values.

use serde::Serialize;

use crate::scenario::model::ProxySpec;

/// A proxy's host and port as a PAC answer names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyAt {
    pub host: String,
    pub port: u16,
}

impl ProxyAt {
    /// As an explicit HTTP proxy (no credentials: a PAC file names none).
    pub fn spec(&self) -> Option<ProxySpec> {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let url = url::Url::parse(&format!("http://{host}:{}", self.port)).ok()?;
        Some(ProxySpec {
            url,
            username: None,
            password: None,
        })
    }
}

impl std::fmt::Display for ProxyAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One entry of a PAC answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Directive {
    /// Straight to the host.
    Direct,
    /// An HTTP proxy (`PROXY h:p` or `HTTP h:p`).
    Proxy(ProxyAt),
    /// An HTTPS proxy (TLS to the proxy itself): sipa-check cannot probe it.
    Https(ProxyAt),
    /// A SOCKS proxy (`SOCKS`, `SOCKS4`, `SOCKS5`): sipa-check cannot probe it.
    Socks {
        version: Option<u8>,
        #[serde(flatten)]
        at: ProxyAt,
    },
}

impl std::fmt::Display for Directive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Directive::Direct => f.write_str("DIRECT"),
            Directive::Proxy(at) => write!(f, "PROXY {at}"),
            Directive::Https(at) => write!(f, "HTTPS {at}"),
            Directive::Socks { version: None, at } => write!(f, "SOCKS {at}"),
            Directive::Socks {
                version: Some(v),
                at,
            } => write!(f, "SOCKS{v} {at}"),
        }
    }
}

/// Parses a PAC answer; `Err` holds the first entry that is no known directive.
pub fn parse_answer(answer: &str) -> Result<Vec<Directive>, String> {
    answer
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| parse_entry(entry).ok_or_else(|| entry.to_string()))
        .collect()
}

fn parse_entry(entry: &str) -> Option<Directive> {
    let mut words = entry.split_whitespace();
    let keyword = words.next()?.to_ascii_uppercase();
    let target = words.next();
    if words.next().is_some() {
        return None;
    }
    let at = |default_port: u16| target.and_then(|t| proxy_at(t, default_port));
    match (keyword.as_str(), target) {
        ("DIRECT", None) => Some(Directive::Direct),
        ("PROXY" | "HTTP", Some(_)) => at(80).map(Directive::Proxy),
        ("HTTPS", Some(_)) => at(443).map(Directive::Https),
        ("SOCKS", Some(_)) => at(1080).map(|at| Directive::Socks { version: None, at }),
        ("SOCKS4", Some(_)) => at(1080).map(|at| Directive::Socks {
            version: Some(4),
            at,
        }),
        ("SOCKS5", Some(_)) => at(1080).map(|at| Directive::Socks {
            version: Some(5),
            at,
        }),
        _ => None,
    }
}

/// `host:port`, `[v6]:port` or a bare host (the scheme's default port).
fn proxy_at(text: &str, default_port: u16) -> Option<ProxyAt> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (host, port.parse().ok()?),
            None if after.is_empty() => (host, default_port),
            None => return None,
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, port.parse().ok()?),
            Some(_) => return None,
            None => (text, default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return None;
    }
    Some(ProxyAt {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_directives_parse_and_unknown_ones_are_named() {
        let d = parse_answer("PROXY 127.0.0.1:3128; proxy b:8080;DIRECT").unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[2], Directive::Direct);
        assert_eq!(d[0].to_string(), "PROXY 127.0.0.1:3128");
        assert_eq!(
            parse_answer("SOCKS5 [::1]:1080").unwrap()[0].to_string(),
            "SOCKS5 [::1]:1080"
        );
        assert_eq!(
            parse_answer("HTTPS p").unwrap()[0].to_string(),
            "HTTPS p:443"
        );
        assert_eq!(
            parse_answer("PROXY a:1; QUIC q:443"),
            Err("QUIC q:443".into())
        );
        assert_eq!(parse_answer("DIRECT x"), Err("DIRECT x".into()));
        assert_eq!(parse_answer("PROXY a:99999"), Err("PROXY a:99999".into()));
        assert_eq!(parse_answer("PROXY"), Err("PROXY".into()));
    }
}
