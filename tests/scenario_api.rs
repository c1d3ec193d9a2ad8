//! The scenario API as the rest of sipa-check uses it: load_str, overrides, value parsers.

use std::path::Path;
use std::time::Duration;

use sipa_check::scenario::{
    self, Extract, FamilySelection, Format, ObserverRole, Overrides, Port, Require,
};

const MINIMAL: &str = "name = \"m\"\n[login]\nhosts = [\"login.microsoftonline.com\"]\n";

fn minimal() -> scenario::Scenario {
    scenario::load_str(MINIMAL, Path::new("m.toml"), Format::Toml).expect("minimal scenario")
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let s = minimal();
    assert_eq!(s.login.ports, [Port::HTTP, Port::HTTPS]);
    assert_eq!(
        s.login.openid_path,
        "/common/.well-known/openid-configuration"
    );
    assert!(s.anchors.is_empty() && s.observers.is_empty());
    assert_eq!(s.vantage.name, "default");
    assert!(s.vantage.expect_anchored);
    assert_eq!(s.limits, scenario::Limits::default());
    assert_eq!(s.limits.family, FamilySelection::Both);
    assert_eq!(s.source, Path::new("m.toml"));
}

#[test]
fn observers_take_the_scenario_samples_unless_they_set_their_own() {
    let text = r#"
name = "s"
[login]
hosts = ["LOGIN.Windows.net."]
[[observer]]
name = "a"
role = "anchored"
url = "http://canary.example.com/ip"
[[observer]]
name = "b"
role = "control"
url = "https://control.example.com/ip"
extract = { regex = 'ip=(\S+)' }
samples = 7
[limits]
samples = 4
family = 6
"#;
    let s = scenario::load_str(text, Path::new("s.toml"), Format::Toml).expect("valid");
    assert_eq!(s.login.hosts[0].as_str(), "login.windows.net");
    assert_eq!(s.observers[0].samples, 4);
    assert_eq!(s.observers[0].extract, Extract::Text);
    assert_eq!(s.observers[1].samples, 7);
    assert_eq!(s.observers[1].role, ObserverRole::Control);
    assert!(matches!(&s.observers[1].extract, Extract::Regex(re) if re.as_str() == r"ip=(\S+)"));
    assert_eq!(s.limits.family, FamilySelection::V6);
}

#[test]
fn relative_ca_files_resolve_next_to_the_scenario() {
    let text = format!("{MINIMAL}[vantage]\nca_files = [\"root.pem\", \"/etc/ssl/zscaler.pem\"]\n");
    let s = scenario::load_str(&text, Path::new("sites/lyon/s.toml"), Format::Toml).expect("valid");
    assert_eq!(
        s.vantage.ca_files,
        [
            Path::new("sites/lyon/root.pem"),
            Path::new("/etc/ssl/zscaler.pem")
        ]
    );
}

#[test]
fn overrides_replace_lists_and_options() {
    let text = format!(
        "{MINIMAL}[anchor]\nexpect = [\"203.0.113.10\"]\n[[observer]]\nname = \"a\"\nrole = \"anchored\"\nurl = \"http://c.example.com/ip\"\nsamples = 9\n[vantage]\ndns = [\"10.0.0.53\"]\n"
    );
    let mut s = scenario::load_str(&text, Path::new("s.toml"), Format::Toml).expect("valid");
    let untouched = s.clone();
    s.apply(&Overrides::default()).expect("no overrides");
    assert_eq!(s, untouched);

    let o = Overrides {
        expect_ips: vec![scenario::parse_anchor("127.0.0.2").unwrap()],
        vantage: vec!["lab".into()],
        dns: vec![scenario::parse_dns_server("127.0.0.1:5353").unwrap()],
        proxy: Some(scenario::parse_proxy("http://127.0.0.1:3128").unwrap()),
        decision: None,
        ca_files: vec!["/tmp/lab-ca.pem".into()],
        family: Some(FamilySelection::V4),
        require: Some(Require::PerHost),
        samples: Some(2),
        timeout: Some(Duration::from_secs(1)),
        deadline: Some(Duration::from_secs(10)),
        entra_wait: None,
    };
    s.apply(&o).expect("valid overrides");
    assert_eq!(s.limits.require, Require::PerHost);
    assert_eq!(s.anchors.to_string(), "{127.0.0.2}");
    assert_eq!(s.vantage.name, "lab");
    assert_eq!(s.vantage.dns, ["127.0.0.1:5353".parse().unwrap()]);
    assert_eq!(
        s.vantage.proxy.as_ref().map(|p| p.url.as_str()),
        Some("http://127.0.0.1:3128/")
    );
    assert_eq!(s.vantage.ca_files, [Path::new("/tmp/lab-ca.pem")]);
    assert_eq!(s.limits.family, FamilySelection::V4);
    assert_eq!(s.limits.samples, 2);
    assert_eq!(s.observers[0].samples, 2);
    assert_eq!(
        (s.limits.timeout, s.limits.deadline),
        (Duration::from_secs(1), Duration::from_secs(10))
    );
}

/// `--deadline` is checked against the timeout in force: the scenario file's `limits.timeout`
/// when no `--timeout` is given, as the flag's when it is. A deadline that ends before one probe
/// may time out is refused, and the scenario is left as it was.
#[test]
fn a_deadline_shorter_than_the_scenarios_own_timeout_is_refused() {
    let mut s = minimal();
    s.limits.timeout = Duration::from_secs(5);
    s.limits.deadline = Duration::from_secs(60);
    let before = s.clone();
    let err = s
        .apply(&Overrides {
            deadline: Some(Duration::from_secs(2)),
            ..Overrides::default()
        })
        .expect_err("a 2s deadline under the scenario's 5s timeout");
    assert_eq!(
        err,
        "the run deadline `2s` is shorter than the scenario's per-probe timeout `5s` (limits.timeout): raise --deadline, or lower the timeout (--timeout or limits.timeout)"
    );
    assert_eq!(s, before);
    // The same deadline with a timeout that fits it (flag), or equal to the file's, is fine.
    let mut lowered = before.clone();
    lowered
        .apply(&Overrides {
            timeout: Some(Duration::from_secs(2)),
            deadline: Some(Duration::from_secs(2)),
            ..Overrides::default()
        })
        .expect("timeout and deadline both 2s");
    assert_eq!(
        (lowered.limits.timeout, lowered.limits.deadline),
        (Duration::from_secs(2), Duration::from_secs(2))
    );
    let mut equal = before.clone();
    equal
        .apply(&Overrides {
            deadline: Some(Duration::from_secs(5)),
            ..Overrides::default()
        })
        .expect("a deadline equal to the scenario's timeout");
    assert_eq!(equal.limits.deadline, Duration::from_secs(5));
}

#[test]
fn overrides_that_break_the_limits_are_refused_and_change_nothing() {
    let mut s = minimal();
    let before = s.clone();
    let o = Overrides {
        timeout: Some(Duration::from_secs(90)),
        expect_ips: vec!["10.0.0.0/8".parse().unwrap()],
        ..Overrides::default()
    };
    let err = s
        .apply(&o)
        .expect_err("90s timeout with the 60s default deadline");
    assert_eq!(
        err,
        "the run deadline `1m` is shorter than the per-probe timeout `1m 30s`: raise --deadline or lower --timeout"
    );
    assert_eq!(s, before);
    assert!(
        s.apply(&Overrides {
            samples: Some(0),
            ..Overrides::default()
        })
        .is_err()
    );
    assert!(
        s.apply(&Overrides {
            deadline: Some(Duration::from_secs(7200)),
            ..Overrides::default()
        })
        .is_err()
    );
    for blank in ["", " \t "] {
        assert_eq!(
            s.apply(&Overrides {
                vantage: vec![blank.into()],
                ..Overrides::default()
            }),
            Err("vantage: the vantage name must not be empty or only blanks".to_string())
        );
    }
    assert_eq!(s, before);
}

#[test]
fn command_line_parsers_share_the_file_messages() {
    let file = format!("{MINIMAL}[anchor]\nexpect = [\"10.0.0.1/24\"]\n");
    let errors =
        scenario::load_str(&file, Path::new("f.toml"), Format::Toml).expect_err("host bits");
    let flag = scenario::parse_anchor("10.0.0.1/24").expect_err("host bits");
    assert_eq!(
        errors.to_string(),
        format!("f.toml:5:11: anchor.expect[0]: {flag}")
    );

    let file = format!("{MINIMAL}[vantage]\nproxy = \"http://u:p@proxy:8080\"\n");
    let errors =
        scenario::load_str(&file, Path::new("f.toml"), Format::Toml).expect_err("password");
    assert!(errors.to_string().ends_with("not in the scenario"));
    assert!(
        scenario::parse_proxy("http://u:p@proxy:8080")
            .unwrap_err()
            .ends_with("not on the command line")
    );
    assert_eq!(scenario::parse_family("ipv4"), Ok(FamilySelection::V4));
    assert_eq!(scenario::parse_samples("5"), Ok(5));
    assert_eq!(
        scenario::parse_duration("250ms"),
        Ok(Duration::from_millis(250))
    );
}

#[test]
fn errors_display_one_per_line_in_file_order() {
    let text = "name = \"\"\n[login]\nhosts = [\"a_b\"]\nports = [0]\n";
    let errors =
        scenario::load_str(text, Path::new("x.toml"), Format::Toml).expect_err("three problems");
    assert_eq!(errors.len(), 3);
    let lines: Vec<String> = errors
        .iter()
        .map(|e| e.at.expect("a position in the text").to_string())
        .collect();
    assert_eq!(lines, ["1:8", "3:10", "4:10"]);
    assert_eq!(errors.to_string().lines().count(), 3);
    let boxed: Box<dyn std::error::Error> = Box::new(errors);
    assert!(
        boxed
            .to_string()
            .starts_with("x.toml:1:8: name: must not be empty")
    );
}

/// Arbitrary text never panics: cut every example at every character and parse the pieces.
#[test]
fn load_str_is_total_on_truncated_and_mangled_input() {
    let sources = [
        scenario::OFFICE365_TOML,
        scenario::LAB_TOML,
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/examples/branch-explicit-proxy.json"
        )),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/examples/public-echo-services.toml"
        )),
    ];
    for (i, text) in sources.iter().enumerate() {
        let format = if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Toml
        };
        for (cut, _) in text.char_indices().step_by(7) {
            let _ = scenario::load_str(&text[..cut], Path::new("t"), format);
            let mangled: String = text
                .chars()
                .enumerate()
                .map(|(j, c)| if j == cut % 97 + i { '"' } else { c })
                .collect();
            let _ = scenario::load_str(&mangled, Path::new("t"), format);
        }
    }
    for junk in [
        "",
        "\u{feff}",
        "[[",
        "{",
        "null",
        "[1]",
        "\"x\"",
        "name = 1e400",
        "a = 99999999999999999999999999999999999999999999",
    ] {
        let _ = scenario::load_str(junk, Path::new("t"), Format::Toml);
        let _ = scenario::load_str(junk, Path::new("t"), Format::Json);
    }
}

#[test]
fn json_root_that_is_not_an_object() {
    let errors =
        scenario::load_str("\n  [1, 2]", Path::new("x.json"), Format::Json).expect_err("array");
    assert_eq!(
        errors.to_string(),
        "x.json:2:3: the scenario: expected a table, found an array"
    );
}

#[test]
fn concurrency_fits_the_descriptor_limit() {
    let mut limits = minimal().limits;
    assert_eq!(limits.concurrency, 512);
    // Room enough: unchanged, and nothing to say.
    assert_eq!(limits.fit_descriptors(1024, 1), None);
    assert_eq!(limits.concurrency, 512);
    // The lab serves each probe in the same process: four descriptors a probe.
    let note = limits.fit_descriptors(1024, 4).expect("lowered");
    assert_eq!(limits.concurrency, 240);
    assert_eq!(
        note,
        "concurrency 512 lowered to 240: this process may open only 1024 files (ulimit -n)"
    );
    // Never below one probe at a time.
    assert!(limits.fit_descriptors(10, 1).is_some());
    assert_eq!(limits.concurrency, 1);
}

#[test]
fn an_entra_table_is_optional_and_defaults_to_a_twenty_minute_wait() {
    assert_eq!(minimal().entra, None);
    let with = |table: &str| {
        scenario::load_str(
            &format!("{MINIMAL}[entra]\n{table}"),
            Path::new("e.toml"),
            Format::Toml,
        )
        .expect("an [entra] scenario")
        .entra
        .expect("the [entra] table")
    };
    let defaults = with("");
    assert_eq!(defaults.wait, std::time::Duration::from_secs(20 * 60));
    assert_eq!(defaults.graph_url, None);
    assert_eq!(defaults.authority_host, None);
    let set = with(
        "wait = \"0s\"\ngraph_url = \"https://graph.proxy.example/v\"\nauthority_host = \"https://Login.MicrosoftOnline.US/\"\n",
    );
    assert_eq!(set.wait, std::time::Duration::ZERO);
    assert_eq!(
        set.graph_url.unwrap().as_str(),
        "https://graph.proxy.example/v/"
    );
    assert_eq!(
        set.authority_host.as_deref(),
        Some("login.microsoftonline.us")
    );
    let mut s = scenario::load_str(
        &format!("{MINIMAL}[entra]\n"),
        Path::new("e.toml"),
        Format::Toml,
    )
    .unwrap();
    s.apply(&scenario::Overrides {
        entra_wait: Some(std::time::Duration::from_secs(5)),
        ..scenario::Overrides::default()
    })
    .unwrap();
    assert_eq!(s.entra.unwrap().wait, std::time::Duration::from_secs(5));
    let mut plain = minimal();
    let refused = plain.apply(&scenario::Overrides {
        entra_wait: Some(std::time::Duration::from_secs(5)),
        ..scenario::Overrides::default()
    });
    assert!(refused.unwrap_err().contains("[entra]"));
}

/// `http3 = true` marks an echo observer to ask over HTTP/3 (QUIC): off unless set, and only on
/// an https:// URL, since HTTP/3 runs over TLS alone.
#[test]
fn http3_observers_are_https_only() {
    let observer = |url: &str, http3: &str| {
        format!(
            "{MINIMAL}[[observer]]\nname = \"canary\"\nrole = \"anchored\"\nurl = \"{url}\"\n{http3}"
        )
    };
    let s = scenario::load_str(
        &observer("https://canary.example.com/ip", "http3 = true\n"),
        Path::new("h.toml"),
        Format::Toml,
    )
    .expect("valid");
    assert!(s.observers[0].http3);
    let s = scenario::load_str(
        &observer("https://canary.example.com/ip", ""),
        Path::new("h.toml"),
        Format::Toml,
    )
    .expect("valid");
    assert!(!s.observers[0].http3);
    let e = scenario::load_str(
        &observer("http://canary.example.com/ip", "http3 = true\n"),
        Path::new("h.toml"),
        Format::Toml,
    )
    .expect_err("http3 on http://");
    let text = e.to_string();
    assert!(text.contains("observer[0].http3"), "{text}");
    assert!(text.contains("https://"), "{text}");
    let e = scenario::load_str(
        &observer("https://canary.example.com/ip", "http3 = \"yes\"\n"),
        Path::new("h.toml"),
        Format::Toml,
    )
    .expect_err("http3 is a boolean");
    assert!(e.to_string().contains("http3"), "{e}");
}
