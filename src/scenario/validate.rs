//! Raw scenario → validated model: fills defaults, checks every value and combination, and
//! reports all problems at once, each at the value it is about.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_spanned::Spanned;

use super::de::Diag;
use super::model::{
    AnchorSet, DecisionSpec, EchoObserver, EntraMode, EntraSpec, Extract, Limits, LocalBind,
    LoginSpec, PacLocation, Port, Scenario, Vantage,
};
use super::position::LineIndex;
use super::raw::{
    Checked, Field, RawEntra, RawExtract, RawLimits, RawLogin, RawObserver, RawScenario,
    RawVantage, RawVantages,
};
use super::values::{self, Bound, Written};

/// The ports the vendor guide puts in the application segment.
const DEFAULT_PORTS: [Port; 2] = [Port::HTTP, Port::HTTPS];
/// Where Entra ID publishes the OpenID configuration for any tenant.
const DEFAULT_OPENID_PATH: &str = "/common/.well-known/openid-configuration";

/// Collects problems while validation goes on.
struct Checker<'a> {
    index: &'a LineIndex<'a>,
    diags: Vec<Diag>,
}

impl Checker<'_> {
    fn report(&mut self, offset: usize, message: String) {
        self.diags.push(Diag { offset, message });
    }

    /// Runs a value parser; a failure becomes `path: message` at the value.
    fn check<S: ?Sized, T>(
        &mut self,
        value: &Spanned<impl AsRef<S>>,
        path: &str,
        parse: impl FnOnce(&S) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value.get_ref().as_ref()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.report(value.span().start, format!("{path}: {message}"));
                None
            }
        }
    }

    fn int<T>(
        &mut self,
        value: &Spanned<i128>,
        path: &str,
        check: impl FnOnce(i128) -> Result<T, String>,
    ) -> Option<T> {
        match check(*value.get_ref()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.report(value.span().start, format!("{path}: {message}"));
                None
            }
        }
    }

    fn non_empty(&mut self, value: &Spanned<String>, path: &str) -> Option<String> {
        let text = value.get_ref();
        if text.is_empty() {
            self.report(value.span().start, format!("{path}: must not be empty"));
            None
        } else if text.trim().is_empty() {
            self.report(
                value.span().start,
                format!("{path}: is only blanks: write something a reader can see"),
            );
            None
        } else {
            Some(text.clone())
        }
    }

    fn missing(&mut self, offset: usize, key: &str, hint: &str) {
        self.report(offset, format!("missing required key `{key}`: {hint}"));
    }

    fn position(&self, offset: usize) -> String {
        self.index.line_col(offset).to_string()
    }
}

/// A key's value, if it is there and of the right type.
fn value<T>(field: &Field<T>) -> Option<&Spanned<T>> {
    field.as_ref().and_then(Checked::valid)
}

/// Whether a key was given with the wrong type (already reported).
fn is_invalid<T>(field: &Field<T>) -> bool {
    matches!(field, Some(Checked::Invalid))
}

/// Validates a raw scenario. `root` is where the document starts (for keys missing at the top).
pub(crate) fn validate(
    raw: RawScenario,
    root: usize,
    source: &Path,
    index: &LineIndex<'_>,
) -> Result<Scenario, Vec<Diag>> {
    let mut c = Checker {
        index,
        diags: Vec::new(),
    };

    let name = match &raw.name {
        Some(Checked::Valid(name)) => c.non_empty(name, "name"),
        Some(Checked::Invalid) => None,
        None => {
            c.missing(root, "name", "give the scenario a name, e.g. \"office365\"");
            None
        }
    };
    let description = value(&raw.description).map(|d| d.get_ref().clone());
    let login = match &raw.login {
        Some(Checked::Valid(login)) => login_spec(&mut c, login),
        Some(Checked::Invalid) => None,
        None => {
            c.missing(root, "login", "add a [login] table listing the login hosts");
            None
        }
    };
    let anchors = anchor_set(&mut c, &raw);
    let limits = match &raw.limits {
        Some(Checked::Valid(limits)) => limits_of(&mut c, limits),
        Some(Checked::Invalid) => None,
        None => Some(Limits::default()),
    };
    // Observers default to the scenario's samples; if those are invalid, to the built-in one,
    // so observer problems are still reported.
    let default_samples = limits
        .as_ref()
        .map_or(Limits::default().samples, |l| l.samples);
    let observers = observers(&mut c, &raw, default_samples);
    let vantages = match &raw.vantage {
        Some(Checked::Valid(vantages)) => vantages_of(&mut c, vantages, source),
        Some(Checked::Invalid) => None,
        None => Some(vec![Vantage {
            name: "default".into(),
            dns: Vec::new(),
            proxy: None,
            ca_files: Vec::new(),
            expect_anchored: true,
            bind: None,
            decision: None,
        }]),
    };
    let (vantage, more_vantages) = match vantages {
        Some(mut all) if !all.is_empty() => {
            let first = all.remove(0);
            (Some(first), all)
        }
        _ => (None, Vec::new()),
    };
    let entra = match &raw.entra {
        Some(Checked::Valid(entra)) => entra_of(&mut c, entra).map(Some),
        Some(Checked::Invalid) => None,
        None => Some(None),
    };

    match (name, login, anchors, observers, vantage, limits, entra) {
        (
            Some(name),
            Some(login),
            Some(anchors),
            Some(observers),
            Some(vantage),
            Some(limits),
            Some(entra),
        ) if c.diags.is_empty() => Ok(Scenario {
            name,
            description,
            source: source.to_path_buf(),
            login,
            anchors,
            observers,
            vantage,
            more_vantages,
            limits,
            entra,
        }),
        _ => Err(c.diags),
    }
}

fn login_spec(c: &mut Checker<'_>, login: &Spanned<RawLogin>) -> Option<LoginSpec> {
    let table = login.span().start;
    let login = login.get_ref();

    let hosts = match &login.hosts {
        Some(Checked::Invalid) => None,
        None => {
            c.missing(
                table,
                "login.hosts",
                "list the login hosts, e.g. [\"login.microsoftonline.com\", \"login.windows.net\", \"login.microsoft.com\"]",
            );
            None
        }
        Some(Checked::Valid(list)) if list.get_ref().is_empty() => {
            c.report(
                list.span().start,
                "login.hosts: must list at least one login host, e.g. [\"login.microsoftonline.com\"]".into(),
            );
            None
        }
        Some(Checked::Valid(list)) => {
            let mut ok = true;
            let mut hosts = Vec::new();
            let mut first_at: HashMap<String, usize> = HashMap::new();
            for (i, host) in list.get_ref().iter().enumerate() {
                let Checked::Valid(host) = host else {
                    ok = false;
                    continue;
                };
                let path = format!("login.hosts[{i}]");
                let Some(parsed) = c.check(host, &path, values::parse_login_host) else {
                    ok = false;
                    continue;
                };
                if let Some(&first) = first_at.get(parsed.as_str()) {
                    let at = c.position(first);
                    c.report(
                        host.span().start,
                        format!("{path}: duplicate login host `{parsed}` (first listed at {at})"),
                    );
                    ok = false;
                    continue;
                }
                first_at.insert(parsed.as_str().to_string(), host.span().start);
                hosts.push(parsed);
            }
            ok.then_some(hosts)
        }
    };

    let ports = match &login.ports {
        None => Some(DEFAULT_PORTS.to_vec()),
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(list)) if list.get_ref().is_empty() => {
            c.report(
                list.span().start,
                "login.ports: must list at least one port, e.g. [80, 443]".into(),
            );
            None
        }
        Some(Checked::Valid(list)) => {
            let mut ok = true;
            let mut ports: Vec<Port> = Vec::new();
            let mut first_at: HashMap<Port, usize> = HashMap::new();
            for (i, port) in list.get_ref().iter().enumerate() {
                let Checked::Valid(port) = port else {
                    ok = false;
                    continue;
                };
                let path = format!("login.ports[{i}]");
                let Some(parsed) = c.int(port, &path, values::check_port) else {
                    ok = false;
                    continue;
                };
                if let Some(&first) = first_at.get(&parsed) {
                    let at = c.position(first);
                    c.report(
                        port.span().start,
                        format!("{path}: duplicate port `{parsed}` (first listed at {at})"),
                    );
                    ok = false;
                    continue;
                }
                first_at.insert(parsed, port.span().start);
                ports.push(parsed);
            }
            ok.then_some(ports)
        }
    };

    let openid_path = match &login.openid_path {
        None => Some(DEFAULT_OPENID_PATH.to_owned()),
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(path)) => c.check(path, "login.openid_path", values::check_openid_path),
    };

    Some(LoginSpec {
        hosts: hosts?,
        ports: ports?,
        openid_path: openid_path?,
    })
}

fn anchor_set(c: &mut Checker<'_>, raw: &RawScenario) -> Option<AnchorSet> {
    let expect = match &raw.anchor {
        None => return Some(AnchorSet::default()),
        Some(Checked::Invalid) => return None,
        Some(Checked::Valid(anchor)) => match &anchor.get_ref().expect {
            None => return Some(AnchorSet::default()),
            Some(Checked::Invalid) => return None,
            Some(Checked::Valid(expect)) => expect,
        },
    };
    let mut ok = true;
    let mut nets = Vec::new();
    for (i, entry) in expect.get_ref().iter().enumerate() {
        let Checked::Valid(entry) = entry else {
            ok = false;
            continue;
        };
        match c.check(entry, &format!("anchor.expect[{i}]"), values::parse_anchor) {
            Some(net) => nets.push(net),
            None => ok = false,
        }
    }
    ok.then_some(AnchorSet(nets))
}

fn observers(
    c: &mut Checker<'_>,
    raw: &RawScenario,
    default_samples: u32,
) -> Option<Vec<EchoObserver>> {
    let list = match &raw.observer {
        None => return Some(Vec::new()),
        Some(Checked::Invalid) => return None,
        Some(Checked::Valid(list)) => list,
    };
    let mut ok = true;
    let mut observers = Vec::new();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, observer) in list.get_ref().iter().enumerate() {
        let Checked::Valid(observer) = observer else {
            ok = false;
            continue;
        };
        let path = format!("observer[{i}]");
        let table = observer.span().start;
        let observer_ref = observer.get_ref();
        if let Some(name) = value(&observer_ref.name)
            && !name.get_ref().is_empty()
        {
            let name_text = name.get_ref();
            if let Some(&first) = first_at.get(name_text) {
                let at = c.position(first);
                c.report(
                    name.span().start,
                    format!(
                        "{path}.name: duplicate observer name `{}` (first used at {at})",
                        super::values::shorten(name_text)
                    ),
                );
                ok = false;
            } else {
                first_at.insert(name_text.clone(), name.span().start);
            }
        }
        match observer_of(c, observer_ref, &path, table, default_samples) {
            Some(o) => observers.push(o),
            None => ok = false,
        }
    }
    ok.then_some(observers)
}

fn observer_of(
    c: &mut Checker<'_>,
    raw: &RawObserver,
    path: &str,
    table: usize,
    default_samples: u32,
) -> Option<EchoObserver> {
    let name = match &raw.name {
        Some(Checked::Valid(name)) => c.non_empty(name, &format!("{path}.name")),
        Some(Checked::Invalid) => None,
        None => {
            c.missing(
                table,
                &format!("{path}.name"),
                "give each observer a unique name, e.g. \"canary-http\"",
            );
            None
        }
    };
    let role = match &raw.role {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(role)) => c.check(role, &format!("{path}.role"), values::parse_role),
        None => {
            c.missing(
                table,
                &format!("{path}.role"),
                "say \"anchored\" (a canary in the SIPA segment) or \"control\"",
            );
            None
        }
    };
    let url = match &raw.url {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(url)) => {
            c.check(url, &format!("{path}.url"), values::parse_observer_url)
        }
        None => {
            c.missing(
                table,
                &format!("{path}.url"),
                "give the URL of an IP-echo service, e.g. \"http://canary.example.com/ip\"",
            );
            None
        }
    };
    let extract = match raw
        .extract
        .as_ref()
        .map(|e| e.valid().map(Spanned::get_ref))
    {
        Some(None) => None,
        None | Some(Some(RawExtract::Text)) => Some(Extract::Text),
        Some(Some(RawExtract::Json(pointer))) => c
            .check(
                pointer,
                &format!("{path}.extract.json"),
                values::check_json_pointer,
            )
            .map(Extract::JsonPointer),
        Some(Some(RawExtract::Header(name))) => c
            .check(
                name,
                &format!("{path}.extract.header"),
                values::check_header_name,
            )
            .map(Extract::Header),
        Some(Some(RawExtract::Regex(re))) => c
            .check(
                re,
                &format!("{path}.extract.regex"),
                values::parse_extract_regex,
            )
            .map(Extract::Regex),
    };
    let samples = match &raw.samples {
        Some(Checked::Valid(samples)) => {
            c.int(samples, &format!("{path}.samples"), values::check_samples)
        }
        Some(Checked::Invalid) => None,
        None => Some(default_samples),
    };
    let http3 = value(&raw.http3).is_some_and(|b| *b.get_ref());
    if let (Some(flag), Some(url)) = (value(&raw.http3), &url)
        && *flag.get_ref()
        && url.scheme() != "https"
    {
        c.report(
            flag.span().start,
            format!(
                "{path}.http3: HTTP/3 runs over TLS only: the observer's URL must be https://, not {}://",
                url.scheme()
            ),
        );
        return None;
    }
    let url = url?;
    // The URL's scheme was checked to be http or https, so it always has a port.
    let port = Port::new(url.port_or_known_default()?)?;
    Some(EchoObserver {
        name: name?,
        role: role?,
        url,
        extract: extract?,
        samples: samples?,
        port,
        http3,
    })
}

/// `[vantage]` (one) or `[[vantage]]` (several, each named, no name twice).
fn vantages_of(
    c: &mut Checker<'_>,
    vantages: &Spanned<RawVantages>,
    source: &Path,
) -> Option<Vec<Vantage>> {
    let list = match vantages.get_ref() {
        RawVantages::One(table) => {
            return vantage_of(c, table, "vantage", source, false).map(|v| vec![v]);
        }
        RawVantages::Many(list) => list,
    };
    if list.is_empty() {
        c.report(
            vantages.span().start,
            "vantage: must declare at least one vantage, e.g. [[vantage]] name = \"office\"".into(),
        );
        return None;
    }
    let mut ok = true;
    let mut out = Vec::new();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, entry) in list.iter().enumerate() {
        let Checked::Valid(entry) = entry else {
            ok = false;
            continue;
        };
        let path = format!("vantage[{i}]");
        if let Some(name) = value(&entry.get_ref().name)
            && !name.get_ref().trim().is_empty()
        {
            let text = name.get_ref();
            if let Some(&first) = first_at.get(text) {
                let at = c.position(first);
                c.report(
                    name.span().start,
                    format!(
                        "{path}.name: duplicate vantage name `{}` (first used at {at})",
                        values::shorten(text)
                    ),
                );
                ok = false;
            } else {
                first_at.insert(text.clone(), name.span().start);
            }
        }
        match vantage_of(c, entry, &path, source, true) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One vantage; `named`: the `[[vantage]]` form, whose entries must each have a name.
fn vantage_of(
    c: &mut Checker<'_>,
    vantage: &Spanned<RawVantage>,
    path: &str,
    source: &Path,
    named: bool,
) -> Option<Vantage> {
    let table = vantage.span().start;
    let vantage = vantage.get_ref();
    let name = match &vantage.name {
        Some(Checked::Valid(name)) => c.non_empty(name, &format!("{path}.name")),
        Some(Checked::Invalid) => None,
        None if named => {
            c.missing(
                table,
                &format!("{path}.name"),
                "give each [[vantage]] a unique name, e.g. \"office\" or \"guest-wifi\"",
            );
            None
        }
        None => Some("default".to_owned()),
    };

    let mut ok = !is_invalid(&vantage.dns)
        && !is_invalid(&vantage.ca_files)
        && !is_invalid(&vantage.expect_anchored)
        && !is_invalid(&vantage.bind)
        && !is_invalid(&vantage.interface);
    let mut dns = Vec::new();
    for (i, server) in value(&vantage.dns)
        .into_iter()
        .flat_map(|l| l.get_ref().iter())
        .enumerate()
    {
        let Checked::Valid(server) = server else {
            ok = false;
            continue;
        };
        match c.check(
            server,
            &format!("{path}.dns[{i}]"),
            values::parse_dns_server,
        ) {
            Some(addr) => dns.push(addr),
            None => ok = false,
        }
    }

    let proxy = match &vantage.proxy {
        Some(Checked::Invalid) => {
            ok = false;
            None
        }
        Some(Checked::Valid(proxy)) => match c.check(proxy, &format!("{path}.proxy"), |s: &str| {
            values::parse_proxy_written(s, Written::Scenario)
        }) {
            Some(p) => Some(p),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };

    // Relative trust anchors and PAC files live next to the scenario, wherever it is run from.
    let base = source.parent().unwrap_or(Path::new(""));
    let pac = match &vantage.pac {
        Some(Checked::Invalid) => {
            ok = false;
            None
        }
        Some(Checked::Valid(text)) => match c.check(text, &format!("{path}.pac"), |s: &str| {
            values::parse_pac_location(s)
        }) {
            Some(PacLocation::File(file)) => Some(PacLocation::File(base.join(file))),
            Some(url) => Some(url),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };
    if let (Some(_), Some(Checked::Valid(text))) = (&proxy, &vantage.pac) {
        c.report(
            text.span().start,
            format!("{path}.pac: give either proxy (one explicit proxy) or pac (the browser's PAC file), not both"),
        );
        ok = false;
    }
    let mut ca_files: Vec<PathBuf> = Vec::new();
    for (i, file) in value(&vantage.ca_files)
        .into_iter()
        .flat_map(|l| l.get_ref().iter())
        .enumerate()
    {
        let Checked::Valid(file) = file else {
            ok = false;
            continue;
        };
        match c.non_empty(file, &format!("{path}.ca_files[{i}]")) {
            Some(file) => ca_files.push(base.join(file)),
            None => ok = false,
        }
    }

    let bind = match (value(&vantage.bind), value(&vantage.interface)) {
        (Some(_), Some(interface)) => {
            c.report(
                interface.span().start,
                format!(
                    "{path}.interface: give either bind (a local address) or interface, not both"
                ),
            );
            ok = false;
            None
        }
        (Some(address), None) => {
            match c.check(address, &format!("{path}.bind"), values::parse_bind_address) {
                Some(ip) => Some(LocalBind::Address(ip)),
                None => {
                    ok = false;
                    None
                }
            }
        }
        (None, Some(interface)) => match c.check(
            interface,
            &format!("{path}.interface"),
            values::check_interface_name,
        ) {
            Some(name) => Some(LocalBind::Interface(name)),
            None => {
                ok = false;
                None
            }
        },
        (None, None) => None,
    };

    let expect_anchored = value(&vantage.expect_anchored).is_none_or(|b| *b.get_ref());
    if !ok {
        return None;
    }
    Some(Vantage {
        name: name?,
        dns,
        proxy,
        ca_files,
        expect_anchored,
        bind,
        decision: pac.map(DecisionSpec::Pac),
    })
}

fn limits_of(c: &mut Checker<'_>, limits: &Spanned<RawLimits>) -> Option<Limits> {
    let limits = limits.get_ref();
    let defaults = Limits::default();

    let timeout = match &limits.timeout {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(t)) => c
            .check(t, "limits.timeout", values::parse_duration)
            .and_then(|d| {
                c.check(t, "limits.timeout", |s: &str| {
                    values::check_duration(d, s, Bound::Timeout)
                })
            }),
        None => Some(defaults.timeout),
    };
    let deadline = match &limits.deadline {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(t)) => c
            .check(t, "limits.deadline", values::parse_duration)
            .and_then(|d| {
                c.check(t, "limits.deadline", |s: &str| {
                    values::check_duration(d, s, Bound::Deadline)
                })
            }),
        None => Some(defaults.deadline),
    };
    let ordered = match (timeout, deadline) {
        (Some(timeout), Some(deadline)) if deadline < timeout => {
            report_deadline_before_timeout(c, limits, timeout, deadline);
            None
        }
        _ => Some(()),
    };
    let samples = match &limits.samples {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(n)) => c.int(n, "limits.samples", values::check_samples),
        None => Some(defaults.samples),
    };
    let family = match &limits.family {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(f)) => c.check(f, "limits.family", values::parse_family),
        None => Some(defaults.family),
    };
    let concurrency = match &limits.concurrency {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(n)) => c.int(n, "limits.concurrency", values::check_concurrency),
        None => Some(defaults.concurrency),
    };
    let require = match &limits.require {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(r)) => c.check(r, "limits.require", values::parse_require),
        None => Some(defaults.require),
    };
    ordered?;
    Some(Limits {
        timeout: timeout?,
        deadline: deadline?,
        samples: samples?,
        family: family?,
        concurrency: concurrency?,
        require: require?,
    })
}

fn entra_of(c: &mut Checker<'_>, entra: &Spanned<RawEntra>) -> Option<EntraSpec> {
    let entra = entra.get_ref();
    let wait = match &entra.wait {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(w)) => c.check(w, "entra.wait", values::parse_entra_wait),
        None => Some(EntraSpec::DEFAULT_WAIT),
    };
    let graph_url = match &entra.graph_url {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(u)) => c
            .check(u, "entra.graph_url", values::parse_graph_url)
            .map(Some),
        None => Some(None),
    };
    let authority_host = match &entra.authority_host {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(a)) => {
            // An authority of a cloud this crate does not know needs its Graph: graph_url.
            let graph_host = graph_url
                .as_ref()
                .and_then(|g| g.as_ref())
                .and_then(|g| g.host_str().map(str::to_owned));
            c.check(a, "entra.authority_host", |s: &str| {
                super::cloud::Cloud::from_authority(s, graph_host.as_deref())
                    .map(|cloud| cloud.authority_host)
                    .map_err(|e| match e {
                        super::cloud::CloudError::UnknownCloud { authority } => format!(
                            "`{}` is not a cloud sipa-check knows: set entra.graph_url to its Graph",
                            values::shorten(&authority)
                        ),
                        _ => format!(
                            "`{}` is not a host name: write e.g. \"login.microsoftonline.us\"",
                            values::shorten(s)
                        ),
                    })
            })
            .map(Some)
        }
        None => Some(None),
    };
    let mode = match &entra.mode {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(m)) => c.check(m, "entra.mode", values::parse_entra_mode),
        None => Some(EntraMode::default()),
    };
    let what_if = value(&entra.what_if).map(|b| *b.get_ref());
    let what_if_control_ip = match &entra.what_if_control_ip {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(ip)) => c
            .check(
                ip,
                "entra.what_if_control_ip",
                values::parse_what_if_control_ip,
            )
            .map(Some),
        None => Some(None),
    };
    let mut guid = |field: &Field<String>, path: &str, what: &str| match field {
        Some(Checked::Invalid) => None,
        Some(Checked::Valid(id)) => c
            .check(id, path, |s: &str| values::parse_guid(s, what))
            .map(Some),
        None => Some(None),
    };
    let what_if_service_principal_id = guid(
        &entra.what_if_service_principal_id,
        "entra.what_if_service_principal_id",
        "the object id of the probe app's service principal (Enterprise applications, Object ID)",
    );
    let what_if_resource_app_id = guid(
        &entra.what_if_resource_app_id,
        "entra.what_if_resource_app_id",
        "the application id of the resource the sign-in asks for (Microsoft Graph: 00000003-0000-0000-c000-000000000000)",
    );
    Some(EntraSpec {
        wait: wait?,
        graph_url: graph_url?,
        authority_host: authority_host?,
        mode: mode?,
        what_if,
        what_if_control_ip: what_if_control_ip?,
        what_if_service_principal_id: what_if_service_principal_id?,
        what_if_resource_app_id: what_if_resource_app_id?,
    })
}

/// Points at whichever of the two the file set: the deadline if both were.
fn report_deadline_before_timeout(
    c: &mut Checker<'_>,
    limits: &RawLimits,
    timeout: Duration,
    deadline: Duration,
) {
    let (timeout_text, deadline_text) = (values::as_written(timeout), values::as_written(deadline));
    match (value(&limits.deadline), value(&limits.timeout)) {
        (Some(d), _) => {
            let timeout_origin = if limits.timeout.is_some() { "" } else { ", the default" };
            c.report(
                d.span().start,
                format!(
                    "limits.deadline: `{deadline_text}` is shorter than limits.timeout (`{timeout_text}`{timeout_origin}): the run deadline must be at least the per-probe timeout"
                ),
            );
        }
        (None, Some(t)) => c.report(
            t.span().start,
            format!(
                "limits.timeout: `{timeout_text}` is longer than limits.deadline (`{deadline_text}`, the default): raise limits.deadline or lower the timeout"
            ),
        ),
        // Both defaults: never shorter.
        (None, None) => {}
    }
}
