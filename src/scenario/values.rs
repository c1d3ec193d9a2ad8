//! Pure parsers for single values, shared by scenario validation and the command line's value
//! parsers so that a bad value reads the same wherever it was written. Messages name the bad
//! value in backticks and what would be right; the caller adds where it was (key path or flag).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use super::model::{FamilySelection, LoginHost, ObserverRole, Port, ProxySpec, Require};

/// Environment variable that carries the proxy password (never a file or a flag).
pub const PROXY_PASSWORD_ENV: &str = "SIPA_CHECK_PROXY_PASSWORD";

/// Longest per-probe timeout accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Longest whole-run deadline accepted.
pub const MAX_DEADLINE: Duration = Duration::from_secs(60 * 60);
/// Accepted samples per echo observer.
pub const SAMPLES: std::ops::RangeInclusive<u32> = 1..=100;
/// Accepted probes in flight at once.
pub const CONCURRENCY: std::ops::RangeInclusive<usize> = 1..=1024;

const ANCHOR_EXAMPLE: &str = "write e.g. `203.0.113.10` or `198.51.100.0/29`";

/// An App Connector public IP or CIDR (`--expect-ip`, `anchor.expect`). A CIDR with host bits
/// set is refused: it is usually a typo for either the network or the single address.
pub fn parse_anchor(s: &str) -> Result<IpNet, String> {
    let shown = shorten(s);
    let Some((addr, prefix)) = s.split_once('/') else {
        return IpAddr::from_str(s)
            .map(IpNet::from)
            .map_err(|_| format!("`{shown}` is not an IP address or CIDR: {ANCHOR_EXAMPLE}"));
    };
    let addr = IpAddr::from_str(addr)
        .map_err(|_| format!("`{shown}` is not an IP address or CIDR: {ANCHOR_EXAMPLE}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
    let net = prefix
        .parse::<u8>()
        .ok()
        .filter(|&p| prefix.bytes().all(|b| b.is_ascii_digit()) && p <= max)
        .and_then(|p| IpNet::new(addr, p).ok())
        .ok_or_else(|| {
            format!("`{shown}` has an invalid prefix length: an {family} prefix is /0 to /{max}")
        })?;
    if net.network() != addr {
        return Err(format!(
            "`{shown}` has host bits set: write `{}` for the network or `{addr}` for the single address",
            net.trunc()
        ));
    }
    // App Connectors' public IPs are a handful of addresses: a range much wider than a
    // provider's block counts nearly every egress as anchored, and `/0` every one.
    let widest = if addr.is_ipv4() { 16 } else { 32 };
    if net.prefix_len() == 0 {
        return Err(format!(
            "`{shown}` is a default route: every address would count as anchored; list the App \
             Connectors' public IPs ({ANCHOR_EXAMPLE})"
        ));
    }
    if net.prefix_len() < widest {
        return Err(format!(
            "`{shown}` is wider than /{widest}: the anchor set names the App Connectors' public \
             IPs, a handful of addresses, and a range this wide counts nearly any egress as \
             anchored; list them ({ANCHOR_EXAMPLE})"
        ));
    }
    Ok(net)
}

/// A vantage's local address (`vantage.bind`): an IP address of this machine, such as
/// `192.168.1.20` or `fe80::1`; whether this machine has it is checked before a run.
pub fn parse_bind_address(s: &str) -> Result<IpAddr, String> {
    let shown = shorten(s);
    let ip = IpAddr::from_str(s.trim_start_matches('[').trim_end_matches(']')).map_err(|_| {
        format!(
            "`{shown}` is not an IP address: write a local address of this machine, e.g. \
             \"192.168.1.20\" (or use interface = \"eth1\")"
        )
    })?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!(
            "`{shown}` is not one local address: write the address the vantage's traffic leaves \
             from, e.g. \"192.168.1.20\""
        ));
    }
    Ok(ip)
}

/// A vantage's network interface (`vantage.interface`): a name such as `eth1`, as the
/// kernel spells it (at most 15 bytes, no `/`, no blanks).
pub fn check_interface_name(s: &str) -> Result<String, String> {
    let shown = shorten(s);
    if s.is_empty() {
        return Err("must not be empty: write an interface name such as \"eth1\"".into());
    }
    if s.len() > 15 || s.contains('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{shown}` is not an interface name: write one as `ip link` shows it, e.g. \"eth1\""
        ));
    }
    Ok(s.to_owned())
}

/// A resolver address (`--dns`, `vantage.dns`): `10.0.0.53`, `10.0.0.53:5353`, `::1`,
/// `[::1]` or `[::1]:53`. The port defaults to 53.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    let shown = shorten(s);
    // `::1:53` is both the address ::1:53 and port 53 of ::1: refuse to guess, as a wrong
    // guess sends every query to a server that does not exist.
    if let Ok(IpAddr::V6(_)) = IpAddr::from_str(s)
        && let Some((head, tail)) = s.rsplit_once(':')
        && !tail.is_empty()
        && tail.bytes().all(|b| b.is_ascii_digit())
        && tail.parse::<u16>().is_ok_and(|p| p > 0)
        && IpAddr::from_str(head).is_ok()
    {
        return Err(format!(
            "`{shown}` is ambiguous: write `[{head}]:{tail}` for port {tail} of {head}, \
             or `[{shown}]` for the address {shown} on port 53"
        ));
    }
    let addr = SocketAddr::from_str(s)
        .ok()
        .or_else(|| IpAddr::from_str(s).ok().map(|ip| SocketAddr::new(ip, 53)))
        .or_else(|| {
            let inner = s.strip_prefix('[')?.strip_suffix(']')?;
            IpAddr::from_str(inner)
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .ok_or_else(|| {
            format!(
                "`{shown}` is not a DNS server address: write an IP address with an optional port, \
                 e.g. `10.0.0.53`, `10.0.0.53:5353` or `[2001:db8::53]:53`"
            )
        })?;
    if addr.port() == 0 {
        return Err(format!(
            "`{shown}` has port 0: use a port from 1 to 65535, or leave it out for 53"
        ));
    }
    Ok(addr)
}

/// Where a proxy URL was written, for the message about passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Scenario,
    CommandLine,
    Environment,
}

/// An explicit proxy given on the command line (`--proxy`): `http://[user@]host[:port]`.
pub fn parse_proxy(s: &str) -> Result<ProxySpec, String> {
    parse_proxy_written(s, Written::CommandLine)
}

/// A proxy from the environment (`HTTPS_PROXY`), as curl reads it: `http://` (or no scheme),
/// a user and password in the URL allowed, since the environment is where secrets go. The
/// password is kept as a [`Secret`]; messages never repeat it.
pub fn parse_env_proxy(s: &str) -> Result<ProxySpec, String> {
    let written = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let shown = shorten(&redact_userinfo(&written));
    let mut url = Url::parse(&written).map_err(|e| format!("`{shown}` is not a valid URL: {e}"))?;
    let password = url
        .password()
        .map(percent_decode)
        .filter(|p| !p.is_empty())
        .map(crate::scenario::model::Secret::new);
    // Cannot fail for a URL with a host; one without is refused below.
    let _ = url.set_password(None);
    let mut spec = parse_proxy_written(url.as_str(), Written::Environment)?;
    spec.password = password;
    Ok(spec)
}

/// Where a PAC file is: an `http://` or `https://` URL, a `file://` URL, or a path.
pub fn parse_pac_location(s: &str) -> Result<super::model::PacLocation, String> {
    use super::model::PacLocation;
    let s = s.trim();
    if s.is_empty() {
        return Err(
            "the PAC location is empty: give a URL (http://host/proxy.pac) or a file".into(),
        );
    }
    if !s.contains("://") {
        return Ok(PacLocation::File(std::path::PathBuf::from(s)));
    }
    let shown = shorten(&redact_userinfo(s));
    let url = Url::parse(s).map_err(|e| format!("`{shown}` is not a valid URL: {e}"))?;
    if url.password().is_some() || !url.username().is_empty() {
        return Err(format!("`{shown}`: a PAC URL carries no credentials"));
    }
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(PacLocation::Url(url))
        }
        "http" | "https" => Err(format!("`{shown}` has no host")),
        "file" => url
            .to_file_path()
            .map(PacLocation::File)
            .map_err(|_| format!("`{shown}` is not a local file")),
        other => Err(format!(
            "`{shown}` has scheme `{other}`: a PAC file is fetched over http:// or https://, or read from a file"
        )),
    }
}

/// An explicit proxy: only `http://`, a user name allowed, a password never (it belongs in
/// [`PROXY_PASSWORD_ENV`]). Messages never repeat a password, even from an invalid URL.
pub(crate) fn parse_proxy_written(s: &str, written: Written) -> Result<ProxySpec, String> {
    let shown = shorten(&redact_userinfo(s));
    let url = match Url::parse(s) {
        Ok(_) if !s.contains("://") => {
            return Err(format!("`{shown}` has no scheme: write http://host:port"));
        }
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(format!("`{shown}` has no scheme: write http://host:port"));
        }
        Err(url::ParseError::EmptyHost) => {
            return Err(format!("`{shown}` has no host: write http://host:port"));
        }
        Err(e) => return Err(format!("`{shown}` is not a valid URL: {e}")),
    };
    if url.password().is_some() {
        let place = match written {
            Written::Scenario => "in the scenario",
            Written::CommandLine => "on the command line",
            // Taken out before: never here.
            Written::Environment => "in the environment",
        };
        return Err(format!(
            "the proxy URL contains a password: put the proxy password in {PROXY_PASSWORD_ENV}, not {place}"
        ));
    }
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(format!(
                "`{shown}` is an https:// proxy: only http:// proxies are supported (TLS to the login hosts still runs end to end through CONNECT)"
            ));
        }
        scheme if scheme.starts_with("socks") => {
            return Err(format!(
                "`{shown}` is a SOCKS proxy: only http:// proxies are supported"
            ));
        }
        scheme => {
            return Err(format!(
                "`{shown}` has scheme `{scheme}`: only http:// proxies are supported"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host: write http://host:port"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{shown}` has a path: a proxy URL is just http://[user@]host[:port]"
        ));
    }
    let username = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
    let mut bare = url;
    // Cannot fail for an http URL with a host.
    let _ = bare.set_username("");
    Ok(ProxySpec {
        url: bare,
        username,
        password: None,
    })
}

/// A value shown inside a one-line message: a URL password redacted (whatever key it was
/// written under), control characters escaped, long values cut.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    let s = &redact_userinfo(s);
    let mut shown = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            shown.push('…');
            break;
        }
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// `http://user:secret@host` → `http://user:REDACTED@host`, on the raw text, so that even an
/// unparsable URL can be shown.
pub(crate) fn redact_userinfo(s: &str) -> String {
    // Up to the last '@', not only within the authority as a URL parser would cut it: a
    // password with an unencoded '/', '?', '#' or '\' would otherwise be shown. Without
    // `scheme://` (`u:pw@host`, `https:u:pw@host`) the first ':' starts what is hidden.
    let Some(at) = s.rfind('@') else {
        return s.to_owned();
    };
    let head = &s[..at];
    let start = head.find("://").map_or(0, |i| i + 3);
    let Some(colon) = head[start..].find(':') else {
        return s.to_owned();
    };
    format!("{}:REDACTED{}", &s[..start + colon], &s[at..])
}

/// `%40` → `@`; anything that is not valid percent-encoded UTF-8 is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(decoded) if b == b'%' => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// `4`, `6` or `both` (also `ipv4`, `ipv6`; any case).
pub fn parse_family(s: &str) -> Result<FamilySelection, String> {
    match s.to_ascii_lowercase().as_str() {
        "4" | "ipv4" | "v4" => Ok(FamilySelection::V4),
        "6" | "ipv6" | "v6" => Ok(FamilySelection::V6),
        "both" => Ok(FamilySelection::Both),
        _ => Err(format!(
            "`{}` is not an IP family: use \"4\", \"6\" or \"both\"",
            shorten(s)
        )),
    }
}

/// `path` or `per-host`: what each login host's evidence must be.
pub fn parse_require(s: &str) -> Result<Require, String> {
    match s.to_ascii_lowercase().as_str() {
        "path" => Ok(Require::Path),
        "per-host" => Ok(Require::PerHost),
        _ => Err(format!(
            "`{}` is not a requirement: use \"path\" or \"per-host\"",
            shorten(s)
        )),
    }
}

/// A duration such as `5s`, `500ms` or `1m 30s`, greater than zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let shown = shorten(s);
    let d = humantime::parse_duration(s).map_err(|e| {
        format!("`{shown}` is not a duration ({e}): write e.g. `5s`, `500ms` or `1m 30s`")
    })?;
    if d.is_zero() {
        return Err(format!("`{shown}` is zero: use a duration greater than 0"));
    }
    Ok(d)
}

/// A per-probe timeout: a duration up to [`MAX_TIMEOUT`].
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s).and_then(|d| check_duration(d, s, Bound::Timeout))
}

/// A whole-run deadline: a duration up to [`MAX_DEADLINE`].
pub fn parse_deadline(s: &str) -> Result<Duration, String> {
    parse_duration(s).and_then(|d| check_duration(d, s, Bound::Deadline))
}

/// What a duration limits, with its largest allowed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The per-probe timeout.
    Timeout,
    /// The whole run's deadline.
    Deadline,
}

impl Bound {
    fn max(self) -> Duration {
        match self {
            Bound::Timeout => MAX_TIMEOUT,
            Bound::Deadline => MAX_DEADLINE,
        }
    }

    fn limit(self) -> &'static str {
        match self {
            Bound::Timeout => "the 10m maximum for a per-probe timeout",
            Bound::Deadline => "the 1h maximum for a run deadline",
        }
    }
}

/// A timeout or deadline within its bounds: more than zero, at most its maximum.
pub(crate) fn check_duration(d: Duration, written: &str, bound: Bound) -> Result<Duration, String> {
    if d.is_zero() {
        return Err(format!(
            "`{}` is zero: use a duration greater than 0",
            shorten(written)
        ));
    }
    if d > bound.max() {
        return Err(format!(
            "`{}` is longer than {}",
            shorten(written),
            bound.limit()
        ));
    }
    Ok(d)
}

/// A duration in the units scenarios are written in (`1m 30s`), to show a value back.
pub(crate) fn as_written(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Samples per echo observer, 1 to 100.
pub fn parse_samples(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i128>() {
        Ok(n) => check_samples(n),
        Err(_) => Err(format!(
            "`{}` is not a number of samples: use 1 to 100",
            shorten(s)
        )),
    }
}

pub(crate) fn check_samples(n: i128) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|n| SAMPLES.contains(n))
        .ok_or_else(|| format!("`{n}` is out of range: use 1 to 100 samples"))
}

pub(crate) fn check_concurrency(n: i128) -> Result<usize, String> {
    usize::try_from(n)
        .ok()
        .filter(|n| CONCURRENCY.contains(n))
        .ok_or_else(|| format!("`{n}` is out of range: use 1 to 1024 probes in flight"))
}

pub(crate) fn check_port(n: i128) -> Result<Port, String> {
    u16::try_from(n)
        .ok()
        .and_then(Port::new)
        .ok_or_else(|| format!("`{n}` is out of range: a port is 1 to 65535"))
}

/// A login host: a DNS name, lower-cased, without a trailing dot.
pub(crate) fn parse_login_host(s: &str) -> Result<LoginHost, String> {
    let shown = shorten(s);
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let invalid = |why: String| Err(format!("`{shown}` is not a valid DNS name: {why}"));
    if name.is_empty() {
        return Err(
            "a login host must not be empty: write e.g. `login.microsoftonline.com`".into(),
        );
    }
    if s.contains("://") || s.contains('/') {
        return Err(format!(
            "`{shown}` is a URL: write only the host name, e.g. `login.microsoftonline.com`"
        ));
    }
    if IpAddr::from_str(&name).is_ok() {
        return Err(format!(
            "`{shown}` is an IP address: login hosts are DNS names such as `login.microsoftonline.com`"
        ));
    }
    if name.len() > 253 {
        return invalid("it is longer than 253 characters".into());
    }
    for label in name.split('.') {
        let shown_label = shorten(label);
        if label.is_empty() {
            return invalid("it has an empty label (two dots in a row, or a leading dot)".into());
        }
        if label.len() > 63 {
            return invalid(format!(
                "label `{shown_label}` is longer than 63 characters"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return invalid(format!(
                "`{}` is not allowed: use only a-z, 0-9, '-' and '.'",
                c.escape_default()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return invalid(format!("label `{shown_label}` starts or ends with '-'"));
        }
    }
    Ok(LoginHost::checked(name))
}

pub(crate) fn check_openid_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "`{}` does not start with '/': write e.g. `/common/.well-known/openid-configuration`",
            shorten(s)
        ))
    }
}

pub(crate) fn parse_role(s: &str) -> Result<ObserverRole, String> {
    match s {
        "anchored" => Ok(ObserverRole::Anchored),
        "control" => Ok(ObserverRole::Control),
        _ => Err(format!(
            "`{}` is not a role: use \"anchored\" (must show an anchor IP) or \"control\" (must not)",
            shorten(s)
        )),
    }
}

/// An echo observer's URL: http or https, with a host, without a password.
pub(crate) fn parse_observer_url(s: &str) -> Result<Url, String> {
    let shown = shorten(&redact_userinfo(s));
    let no_scheme = || format!("`{shown}` has no scheme: write http:// or https://");
    let no_host = || format!("`{shown}` has no host: write e.g. `http://canary.example.com/ip`");
    if s.is_empty() {
        return Err("the URL is empty: write e.g. `http://canary.example.com/ip`".into());
    }
    let url = match Url::parse(s) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(no_scheme()),
        Err(url::ParseError::EmptyHost) => return Err(no_host()),
        Err(e) => return Err(format!("`{shown}` is not a valid URL: {e}")),
    };
    let scheme = url.scheme();
    let written_in_full = s
        .get(..scheme.len() + 3)
        .is_some_and(|head| head.eq_ignore_ascii_case(&format!("{scheme}://")));
    if !written_in_full {
        // `canary.example.com:8080/ip` parses with the scheme `canary.example.com`.
        return Err(no_scheme());
    }
    if s.get(scheme.len() + 3..)
        .is_some_and(|rest| rest.starts_with(['/', '\\']))
    {
        // `https:///ip` would otherwise quietly become `https://ip/`.
        return Err(no_host());
    }
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "`{shown}` has scheme `{scheme}`: use http:// or https://"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    if url.password().is_some() {
        return Err(format!(
            "`{shown}` contains a password: echo observers take no credentials"
        ));
    }
    Ok(url)
}

/// `[entra] mode`: `log`, `ca` or `both`.
pub fn parse_entra_mode(s: &str) -> Result<crate::scenario::model::EntraMode, String> {
    use crate::scenario::model::EntraMode;
    match s.trim() {
        "log" => Ok(EntraMode::Log),
        "ca" => Ok(EntraMode::Ca),
        "both" => Ok(EntraMode::Both),
        _ => Err(format!(
            "`{}` is not a mode: write \"log\" (the sign-in log), \"ca\" (Conditional Access's answer) or \"both\"",
            shorten(s)
        )),
    }
}

/// `[entra] what_if_control_ip`: one IP address (not a range: What If evaluates one sign-in).
pub fn parse_what_if_control_ip(s: &str) -> Result<IpAddr, String> {
    IpAddr::from_str(s.trim()).map_err(|_| {
        format!(
            "`{}` is not an IP address: write the ZIA egress IP a non-anchored sign-in comes from, e.g. `198.51.100.7`",
            shorten(s)
        )
    })
}

/// A GUID such as an Entra object or application id, lower-cased; `what` says which.
pub fn parse_guid(s: &str, what: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(s.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("`{}` is not a GUID: write {what}", shorten(s)))
}

/// How long `[entra]` waits for the sign-in log: a duration, zero allowed (look once), at most
/// [`MAX_DEADLINE`].
pub fn parse_entra_wait(s: &str) -> Result<Duration, String> {
    let shown = shorten(s);
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{shown}` is not a duration ({e}): write e.g. `20m`, `90s` or `0s`")
    })?;
    if d > MAX_DEADLINE {
        return Err(format!(
            "`{shown}` is longer than the 1h maximum for the sign-in log wait"
        ));
    }
    Ok(d)
}

/// Graph's base URL for `[entra]`: https, with a host, no credentials; a path always ends in
/// `/`, so that Graph's paths go below it.
pub(crate) fn parse_graph_url(s: &str) -> Result<Url, String> {
    let shown = shorten(&redact_userinfo(s));
    let mut url = parse_observer_url(s).map_err(|e| {
        e.replace("echo observers", "Graph")
            .replace("write http:// or https://", "write https://")
            .replace(
                "`http://canary.example.com/ip`",
                "`https://graph.microsoft.com/`",
            )
    })?;
    if url.scheme() != "https" {
        return Err(format!(
            "`{shown}` is not https: Graph is only reached over https"
        ));
    }
    if !url.username().is_empty() {
        return Err(format!(
            "`{shown}` contains a user: Graph takes no credentials in its URL"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{shown}` has a query or fragment: give Graph's base URL only"
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A JSON pointer (RFC 6901): empty, or `/`-separated tokens with `~0`/`~1` escapes.
pub(crate) fn check_json_pointer(s: &str) -> Result<String, String> {
    let shown = shorten(s);
    if !s.is_empty() && !s.starts_with('/') {
        return Err(format!(
            "`{shown}` is not a JSON pointer: it must be empty or start with '/', e.g. `/ip`"
        ));
    }
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "`{shown}` is not a JSON pointer: '~' must be followed by 0 or 1 (`~0` is '~', `~1` is '/')"
            ));
        }
    }
    Ok(s.to_owned())
}

/// An HTTP header name (an RFC 9110 token).
pub(crate) fn check_header_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("the header name is empty: name the header that carries the address, e.g. `X-Client-IP`".into());
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if let Some(c) = s.chars().find(|&c| !token(c)) {
        return Err(format!(
            "`{}` is not a valid header name: `{}` is not allowed (letters, digits and '-' as in `X-Client-IP`)",
            shorten(s),
            c.escape_default()
        ));
    }
    Ok(s.to_owned())
}

/// A regex whose first capture group (or whole match) is the address.
pub(crate) fn parse_extract_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| {
        let text = e.to_string();
        // regex's message draws a caret under the pattern; keep only its last "error:" line.
        let summary = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .map_or_else(
                || text.split_whitespace().collect::<Vec<_>>().join(" "),
                str::to_owned,
            );
        format!("`{}` is not a valid regex: {summary}", shorten(s))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn pac_locations_are_urls_or_files() {
        use super::super::model::PacLocation;
        assert!(matches!(
            super::parse_pac_location("http://pac.example/proxy.pac"),
            Ok(PacLocation::Url(_))
        ));
        assert_eq!(
            super::parse_pac_location("file:///etc/proxy.pac"),
            Ok(PacLocation::File("/etc/proxy.pac".into()))
        );
        assert_eq!(
            super::parse_pac_location("proxy.pac"),
            Ok(PacLocation::File("proxy.pac".into()))
        );
        assert!(super::parse_pac_location("ftp://pac.example/proxy.pac").is_err());
        assert!(super::parse_pac_location("").is_err());
        let refused = super::parse_pac_location("http://u:hunter2@pac.example/p.pac").unwrap_err();
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    use super::*;

    #[test]
    fn anchors_addresses_and_networks() {
        assert_eq!(
            parse_anchor("203.0.113.10"),
            Ok("203.0.113.10/32".parse().unwrap())
        );
        assert_eq!(
            parse_anchor("198.51.100.0/29"),
            Ok("198.51.100.0/29".parse().unwrap())
        );
        assert_eq!(
            parse_anchor("2001:db8::/32"),
            Ok("2001:db8::/32".parse().unwrap())
        );
        assert_eq!(
            parse_anchor("2001:db8::1"),
            Ok("2001:db8::1/128".parse().unwrap())
        );
    }

    #[test]
    fn anchors_refused_with_the_probable_intent() {
        assert_eq!(
            parse_anchor("10.0.0.1/24").unwrap_err(),
            "`10.0.0.1/24` has host bits set: write `10.0.0.0/24` for the network or `10.0.0.1` for the single address"
        );
        assert_eq!(
            parse_anchor("10.0.0.0/33").unwrap_err(),
            "`10.0.0.0/33` has an invalid prefix length: an IPv4 prefix is /0 to /32"
        );
        assert!(parse_anchor("10.0.0.0/+8").is_err());
        assert!(
            parse_anchor("")
                .unwrap_err()
                .contains("is not an IP address or CIDR")
        );
        assert!(
            parse_anchor("zscaler.example")
                .unwrap_err()
                .contains("is not an IP address or CIDR")
        );
    }

    #[test]
    fn dns_servers_with_and_without_ports() {
        assert_eq!(
            parse_dns_server("10.0.0.53"),
            Ok("10.0.0.53:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("10.0.0.54:5353"),
            Ok("10.0.0.54:5353".parse().unwrap())
        );
        assert_eq!(parse_dns_server("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(parse_dns_server("[::1]"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_dns_server("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert!(
            parse_dns_server("dns.example.com")
                .unwrap_err()
                .contains("is not a DNS server address")
        );
        assert!(
            parse_dns_server("10.0.0.53:0")
                .unwrap_err()
                .contains("has port 0")
        );
        assert!(parse_dns_server("10.0.0.53:65536").is_err());
    }

    #[test]
    fn a_bare_ipv6_address_ending_like_a_port_is_ambiguous() {
        assert_eq!(
            parse_dns_server("::1:53"),
            Err(
                "`::1:53` is ambiguous: write `[::1]:53` for port 53 of ::1, \
                 or `[::1:53]` for the address ::1:53 on port 53"
                    .to_string()
            )
        );
        assert!(
            parse_dns_server("fe80::1:5353")
                .unwrap_err()
                .contains("`[fe80::1]:5353`")
        );
        // Unambiguous forms keep working.
        assert_eq!(
            parse_dns_server("[::1:53]"),
            Ok("[::1:53]:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("2001:db8::53"),
            Ok("[2001:db8::53]:53".parse().unwrap())
        );
        assert_eq!(parse_dns_server("::1"), Ok("[::1]:53".parse().unwrap()));
    }

    #[test]
    fn proxies() {
        let p = parse_proxy("http://proxy.example.com:8080").unwrap();
        assert_eq!(p.url.as_str(), "http://proxy.example.com:8080/");
        assert_eq!(p.username, None);
        let p = parse_proxy("http://svc%40corp@proxy.example.com:3128/").unwrap();
        assert_eq!(p.username.as_deref(), Some("svc@corp"));
        assert_eq!(p.url.as_str(), "http://proxy.example.com:3128/");
        assert!(
            parse_proxy("https://proxy:8443")
                .unwrap_err()
                .contains("only http:// proxies")
        );
        assert!(
            parse_proxy("socks5://proxy:1080")
                .unwrap_err()
                .contains("SOCKS")
        );
        assert!(
            parse_proxy("proxy.example.com:8080")
                .unwrap_err()
                .contains("has no scheme")
        );
        assert!(
            parse_proxy("http://proxy:8080/pac")
                .unwrap_err()
                .contains("has a path")
        );
    }

    #[test]
    fn proxy_passwords_are_refused_and_never_shown() {
        let err = parse_proxy("http://u:hunter2@proxy:8080").unwrap_err();
        assert_eq!(
            err,
            "the proxy URL contains a password: put the proxy password in SIPA_CHECK_PROXY_PASSWORD, not on the command line"
        );
        let err =
            parse_proxy_written("http://u:hunter2@proxy:8080", Written::Scenario).unwrap_err();
        assert!(err.ends_with("not in the scenario"));
        // Invalid URLs with a password do not show it either.
        let err = parse_proxy("http://u:hunter2@pro xy:8080").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("u:REDACTED@"), "{err}");
    }

    #[test]
    fn an_environment_proxy_keeps_its_password_as_a_secret_and_never_shows_it() {
        let p = parse_env_proxy("http://svc%40corp:p%40ss%3Aw@proxy.example.com:3128").unwrap();
        assert_eq!(p.url.as_str(), "http://proxy.example.com:3128/");
        assert_eq!(p.username.as_deref(), Some("svc@corp"));
        assert_eq!(p.password.as_ref().map(|s| s.expose()), Some("p@ss:w"));
        assert!(!p.display_url().contains("p%40ss"), "{}", p.display_url());
        // As curl: no scheme means http://.
        let p = parse_env_proxy("proxy.example.com:8080").unwrap();
        assert_eq!(p.url.as_str(), "http://proxy.example.com:8080/");
        assert!(p.password.is_none());
        // Refusals never repeat the password.
        for bad in [
            "https://u:hunter2@proxy:8443",
            "socks5://u:hunter2@proxy:1080",
            "http://u:hunter2@pro xy:8080",
            "http://u:hunter2@proxy:8080/path",
        ] {
            let err = parse_env_proxy(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn redaction_of_raw_urls() {
        assert_eq!(redact_userinfo("http://a:b@h/p@q"), "http://a:REDACTED@q");
        assert_eq!(
            redact_userinfo("http://a:b/c?d#e\\f@h:1"),
            "http://a:REDACTED@h:1"
        );
        assert_eq!(redact_userinfo("http://a@h"), "http://a@h");
        assert_eq!(redact_userinfo("h:1"), "h:1");
        assert_eq!(redact_userinfo("u:pw@h"), "u:REDACTED@h");
        assert_eq!(redact_userinfo("https:u:pw@h/ip"), "https:REDACTED@h/ip");
        assert_eq!(redact_userinfo("x://"), "x://");
    }

    #[test]
    fn families() {
        assert_eq!(parse_family("4"), Ok(FamilySelection::V4));
        assert_eq!(parse_family("IPv6"), Ok(FamilySelection::V6));
        assert_eq!(parse_family("both"), Ok(FamilySelection::Both));
        assert_eq!(
            parse_family("5").unwrap_err(),
            "`5` is not an IP family: use \"4\", \"6\" or \"both\""
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").unwrap_err().contains("is zero"));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("unknown time unit")
        );
        assert!(
            parse_duration("5")
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(parse_timeout("11m").unwrap_err().contains("10m maximum"));
        assert!(parse_deadline("2h").unwrap_err().contains("1h maximum"));
        assert_eq!(parse_deadline("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn samples() {
        assert_eq!(parse_samples("3"), Ok(3));
        assert_eq!(parse_samples("100"), Ok(100));
        assert!(parse_samples("0").unwrap_err().contains("out of range"));
        assert!(parse_samples("-1").unwrap_err().contains("out of range"));
        assert!(parse_samples("many").unwrap_err().contains("not a number"));
    }

    #[test]
    fn login_hosts() {
        assert_eq!(
            parse_login_host("Login.Windows.NET."),
            Ok(LoginHost::checked("login.windows.net".into()))
        );
        assert!(
            parse_login_host("login_ms.com")
                .unwrap_err()
                .contains("`_` is not allowed")
        );
        assert!(
            parse_login_host("-a.com")
                .unwrap_err()
                .contains("starts or ends with '-'")
        );
        assert!(
            parse_login_host("a..com")
                .unwrap_err()
                .contains("empty label")
        );
        assert!(
            parse_login_host(&"a".repeat(64))
                .unwrap_err()
                .contains("longer than 63")
        );
        let long = vec!["a".repeat(60); 5].join(".");
        assert!(
            parse_login_host(&long)
                .unwrap_err()
                .contains("longer than 253")
        );
        assert!(
            parse_login_host("https://login.microsoft.com")
                .unwrap_err()
                .contains("is a URL")
        );
        assert!(
            parse_login_host("10.0.0.1")
                .unwrap_err()
                .contains("is an IP address")
        );
        assert!(parse_login_host("").is_err());
        assert!(parse_login_host(".").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(check_port(443), Ok(Port::HTTPS));
        assert!(check_port(0).is_err());
        assert!(check_port(65536).is_err());
        assert!(check_port(-80).is_err());
    }

    #[test]
    fn observer_urls() {
        assert!(parse_observer_url("https://canary.example.com/ip").is_ok());
        assert!(parse_observer_url("http://127.0.0.1:8080/ip").is_ok());
        for no_scheme in [
            "canary.example.com/ip",
            "canary.example.com:8080/ip",
            "localhost:80",
        ] {
            assert!(
                parse_observer_url(no_scheme)
                    .unwrap_err()
                    .contains("has no scheme"),
                "{no_scheme}"
            );
        }
        assert!(
            parse_observer_url("ftp://x/ip")
                .unwrap_err()
                .contains("has scheme `ftp`")
        );
        assert!(
            parse_observer_url("http://")
                .unwrap_err()
                .contains("has no host")
        );
        assert!(
            parse_observer_url("https:///ip")
                .unwrap_err()
                .contains("has no host")
        );
        assert!(
            parse_observer_url("http://exa mple.com/")
                .unwrap_err()
                .contains("is not a valid URL")
        );
        let err = parse_observer_url("http://u:pw@x/").unwrap_err();
        assert!(err.contains("password") && !err.contains("pw@"), "{err}");
    }

    #[test]
    fn extractors() {
        assert!(check_json_pointer("").is_ok());
        assert!(check_json_pointer("/a~1b/0").is_ok());
        assert!(check_json_pointer("ip").is_err());
        assert!(check_json_pointer("/a~2").is_err());
        assert!(check_header_name("X-Client-IP").is_ok());
        assert!(check_header_name("").is_err());
        assert!(
            check_header_name("X Client")
                .unwrap_err()
                .contains("` ` is not allowed")
        );
        let err = parse_extract_regex("ip=(\\S+").unwrap_err();
        assert_eq!(err, "`ip=(\\S+` is not a valid regex: unclosed group");
        assert!(parse_extract_regex("ip=(\\S+) (x)").is_ok());
    }
}
