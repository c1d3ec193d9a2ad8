//! The environment's proxy settings (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`,
//! upper or lower case, as curl reads them) as the same kind of decision a PAC file gives.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Decision, DecisionSource, PacError, ProxyDecisions};

/// The decision for each target (`host`, `port`, URL) from the variables `var` reads.
pub fn decide_all(
    var: &dyn Fn(&str) -> Option<String>,
    targets: &[(String, u16, String)],
) -> ProxyDecisions {
    let read = |name: &str| {
        var(&name.to_ascii_lowercase())
            .or_else(|| var(&name.to_ascii_uppercase()))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let no_proxy = read("no_proxy").unwrap_or_default();
    let mut decisions = ProxyDecisions {
        source: DecisionSource::Environment,
        targets: BTreeMap::new(),
    };
    for (host, port, url) in targets {
        let https = url.starts_with("https:");
        let chosen = if https {
            read("https_proxy")
        } else {
            read("http_proxy")
        }
        .or_else(|| read("all_proxy"));
        let answer = match chosen {
            Some(_) if bypassed(&no_proxy, host) => Ok("DIRECT".to_string()),
            Some(proxy) => answer_for(&proxy),
            None => Ok("DIRECT".to_string()),
        };
        let decision = answer.and_then(|answer| Decision::of_answer(url, host, *port, answer));
        decisions.insert(host, *port, decision);
    }
    decisions
}

/// A proxy variable's value as a PAC answer: `PROXY host:port` for http:// (or no scheme, as
/// curl takes it), `HTTPS`, `SOCKS4`, `SOCKS5` for those schemes.
fn answer_for(value: &str) -> Result<String, PacError> {
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let bad = |why: &str| PacError::Threw {
        url: String::new(),
        message: format!("a proxy variable holds `{value}`: {why}"),
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    let host = url.host_str().ok_or_else(|| bad("no host"))?;
    let (keyword, default_port) = match url.scheme() {
        "http" => ("PROXY", 80),
        "https" => ("HTTPS", 443),
        "socks4" | "socks4a" => ("SOCKS4", 1080),
        "socks5" | "socks5h" | "socks" => ("SOCKS5", 1080),
        other => return Err(bad(&format!("the scheme {other} is no proxy scheme"))),
    };
    Ok(format!(
        "{keyword} {host}:{}",
        url.port().unwrap_or(default_port)
    ))
}

/// Whether `NO_PROXY` covers `host`, as curl reads it: `*` covers every host; a name covers
/// itself and its subdomains (a leading dot is ignored); an IP address or CIDR range covers
/// the addresses in it. Entries are separated by commas (and spaces).
pub fn bypassed(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_matches(['[', ']']).to_ascii_lowercase();
            if let Some(ip) = host_ip {
                if let Ok(net) = entry.parse::<ipnet::IpNet>() {
                    return net.contains(&ip);
                }
                return entry.parse::<IpAddr>().is_ok_and(|e| e == ip);
            }
            let name = entry.trim_start_matches('.').trim_end_matches('.');
            !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_reads_as_curl_reads_it() {
        assert!(bypassed("*", "login.windows.net"));
        assert!(bypassed("windows.net", "login.windows.net"));
        assert!(bypassed(".windows.net", "login.windows.net"));
        assert!(bypassed(
            "a.example, login.windows.net",
            "LOGIN.windows.net"
        ));
        assert!(!bypassed("indows.net", "login.windows.net"));
        assert!(!bypassed("login.windows.net.evil", "login.windows.net"));
        assert!(bypassed("127.0.0.0/8", "127.0.0.9"));
        assert!(bypassed("::1", "[::1]"));
        assert!(!bypassed("10.0.0.0/8", "127.0.0.9"));
        assert!(!bypassed("", "login.windows.net"));
    }

    #[test]
    fn the_environment_gives_the_same_kind_of_decision_as_a_pac_file() {
        let env = |name: &str| match name {
            "HTTPS_PROXY" => Some("http://127.0.0.1:3128".to_string()),
            "no_proxy" => Some("login.windows.net".to_string()),
            _ => None,
        };
        let targets = vec![
            (
                "login.windows.net".to_string(),
                443,
                "https://login.windows.net/".to_string(),
            ),
            (
                "login.microsoftonline.com".to_string(),
                443,
                "https://login.microsoftonline.com/".to_string(),
            ),
            (
                "login.microsoftonline.com".to_string(),
                80,
                "http://login.microsoftonline.com/".to_string(),
            ),
        ];
        let d = decide_all(&env, &targets);
        let answer = |h: &str, p: u16| d.for_target(h, p).unwrap().as_ref().unwrap().answer.clone();
        assert_eq!(answer("login.windows.net", 443), "DIRECT");
        assert_eq!(
            answer("login.microsoftonline.com", 443),
            "PROXY 127.0.0.1:3128"
        );
        // No HTTP_PROXY: plain http goes direct.
        assert_eq!(answer("login.microsoftonline.com", 80), "DIRECT");
        assert_eq!(answer_for("socks5h://s:1080").unwrap(), "SOCKS5 s:1080");
        assert_eq!(
            answer_for("proxy.corp:8080").unwrap(),
            "PROXY proxy.corp:8080"
        );
    }
}
