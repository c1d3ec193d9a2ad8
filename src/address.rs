//! Where a name and port are reached: curl-style `--connect-to` rules and addresses written
//! literally. Plan and probes both read these; they depend on nothing but the scenario's types.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::scenario::model::Port;

/// The address a host names literally (`127.0.0.1`, `::1`, or `[::1]` as a URL writes it).
pub fn literal_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// A curl-style `--connect-to HOST1:PORT1:HOST2:PORT2` rule. Empty parts match any host or
/// port (left) and keep the original (right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub from_host: Option<String>,
    pub from_port: Option<u16>,
    pub to_host: Option<String>,
    pub to_port: Option<u16>,
}

impl ConnectTo {
    pub fn matches(&self, host: &str, port: Port) -> bool {
        self.from_host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.from_port.is_none_or(|p| p == port.get())
    }
}

impl fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |h: &Option<String>| match h {
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.clone(),
            None => String::new(),
        };
        let port = |p: &Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
        write!(
            f,
            "{}:{}:{}:{}",
            host(&self.from_host),
            port(&self.from_port),
            host(&self.to_host),
            port(&self.to_port)
        )
    }
}

/// A `--connect-to` rule that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectToError {
    #[error(
        "`{0}` is not HOST1:PORT1:HOST2:PORT2 (IPv6 addresses in brackets, empty parts allowed)"
    )]
    Shape(String),
    #[error("`{rule}`: {which} `{written}` is not a port in 1-65535")]
    Port {
        rule: String,
        which: &'static str,
        written: String,
    },
}

impl FromStr for ConnectTo {
    type Err = ConnectToError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split_connect_to(s).ok_or_else(|| ConnectToError::Shape(s.to_string()))?;
        let host = |h: &str| -> Option<String> {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            (!h.is_empty()).then(|| h.to_ascii_lowercase())
        };
        let port = |p: &str, which: &'static str| -> Result<Option<u16>, ConnectToError> {
            if p.is_empty() {
                return Ok(None);
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(ConnectToError::Port {
                    rule: s.to_string(),
                    which,
                    written: p.to_string(),
                }),
            }
        };
        Ok(ConnectTo {
            from_host: host(parts[0]),
            from_port: port(parts[1], "PORT1")?,
            to_host: host(parts[2]),
            to_port: port(parts[3], "PORT2")?,
        })
    }
}

/// Splits on ':' outside brackets into exactly four parts.
fn split_connect_to(s: &str) -> Option<[&str; 4]> {
    let mut parts = Vec::with_capacity(4);
    let mut start = 0;
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_to_like_curl() {
        let c: ConnectTo = ":80::41080".parse().unwrap();
        assert_eq!(c.from_host, None);
        assert_eq!(c.from_port, Some(80));
        assert_eq!(c.to_host, None);
        assert_eq!(c.to_port, Some(41080));
        assert!(c.matches("login.windows.net", Port::HTTP));
        assert!(!c.matches("login.windows.net", Port::HTTPS));

        let c: ConnectTo = "login.windows.net:443:[::1]:8443".parse().unwrap();
        assert_eq!(c.to_host.as_deref(), Some("::1"));
        assert!(c.matches("LOGIN.windows.net", Port::HTTPS));
        assert!(!c.matches("login.microsoft.com", Port::HTTPS));
        assert_eq!(c.to_string(), "login.windows.net:443:[::1]:8443");
    }

    #[test]
    fn literal_addresses_with_or_without_brackets() {
        assert_eq!(literal_ip("127.0.0.1"), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(literal_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("::1"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("login.windows.net"), None);
        assert_eq!(literal_ip("[login.windows.net]"), None);
    }

    #[test]
    fn rejects_malformed_connect_to() {
        assert!("a:80:b".parse::<ConnectTo>().is_err());
        assert!(
            "a:80:b:0"
                .parse::<ConnectTo>()
                .unwrap_err()
                .to_string()
                .contains("PORT2 `0`")
        );
        assert!(
            "a:x:b:1"
                .parse::<ConnectTo>()
                .unwrap_err()
                .to_string()
                .contains("PORT1 `x`")
        );
        assert!("a:1:b:2:3".parse::<ConnectTo>().is_err());
    }
}
