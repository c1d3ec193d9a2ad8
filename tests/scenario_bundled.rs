//! Every shipped scenario validates, and the bundled ones load.

use std::path::{Path, PathBuf};

use sipa_check::scenario::{self, FamilySelection, ObserverRole, Port, Shortfall};

const MAIN: &str = env!("CARGO_MANIFEST_DIR");

fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| scenario::Format::from_path(p).is_some())
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_validates() {
    let root = Path::new(MAIN);
    let mut files = scenario_files(&root.join("scenarios"));
    files.extend(scenario_files(&root.join("scenarios/examples")));
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        if let Err(e) = scenario::load(&file) {
            panic!("{} does not validate:\n{e}", file.display());
        }
    }
}

#[test]
fn json_example_means_the_same_as_its_toml_twin() {
    let dir = Path::new(MAIN).join("scenarios/examples");
    let toml = scenario::load(&dir.join("branch-explicit-proxy.toml")).expect("toml");
    let mut json = scenario::load(&dir.join("branch-explicit-proxy.json")).expect("json");
    json.source = toml.source.clone();
    assert_eq!(toml, json);
    assert_eq!(toml.vantage.ca_files, [dir.join("zscaler-root-ca.pem")]);
    let proxy = toml.vantage.proxy.expect("proxy");
    assert_eq!(proxy.username.as_deref(), Some("svc-sipa-check"));
    assert_eq!(proxy.url.as_str(), "http://proxy.lyon.example.com:3128/");
}

#[test]
fn bundled_office365_is_the_guide() {
    let s = scenario::bundled_office365();
    assert_eq!(s.name, "office365");
    let hosts: Vec<_> = s.login.hosts.iter().map(|h| h.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com"
        ]
    );
    assert_eq!(s.login.ports, [Port::HTTP, Port::HTTPS]);
    assert!(s.anchors.is_empty());
    assert!(s.observers.is_empty());
    assert_eq!(s.limits, scenario::Limits::default());
    assert_eq!(s.limits.family, FamilySelection::Both);
    assert!(s.vantage.expect_anchored);
}

#[test]
fn bundled_lab_matches_the_lab() {
    let s = scenario::bundled_lab();
    assert_eq!(s.name, "lab");
    assert_eq!(s.vantage.name, "lab");
    assert!(s.anchors.contains("127.0.0.2".parse().unwrap()));
    assert!(!s.anchors.contains("127.0.0.3".parse().unwrap()));
    assert_eq!(s.limits.family, FamilySelection::V4);
    assert_eq!(s.limits.timeout.as_secs(), 3);
    assert_eq!(s.limits.deadline.as_secs(), 20);
    assert_eq!(s.observers.len(), 10);
    assert!(
        s.observers
            .iter()
            .all(|o| o.samples == 3 && o.url.path() == "/echo/ip")
    );
    let control: Vec<_> = s
        .observers
        .iter()
        .filter(|o| o.role == ObserverRole::Control)
        .map(|o| o.host())
        .collect();
    assert_eq!(control, ["control.sipa-lab.test", "control.sipa-lab.test"]);
    for host in &s.login.hosts {
        for port in [80, 443] {
            let name = format!("{host}-{port}");
            let o = s
                .observers
                .iter()
                .find(|o| o.name == name)
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                (o.host(), o.port()),
                (host.as_str(), Port::new(port).unwrap())
            );
            assert_eq!(o.role, ObserverRole::Anchored);
        }
    }
    assert!(s.vantage.dns.is_empty() && s.vantage.proxy.is_none() && s.vantage.ca_files.is_empty());
}

#[test]
fn bundled_text_is_the_file_on_disk() {
    let on_disk =
        std::fs::read_to_string(Path::new(MAIN).join("scenarios/office365.toml")).expect("read");
    assert_eq!(scenario::OFFICE365_TOML, on_disk);
}

/// "ok" from `validate` means a run can pass: every shipped example and the lab scenario have
/// anchors, an anchored observer on each login port and a control.
#[test]
fn every_shipped_example_and_the_lab_scenario_can_pass() {
    let root = Path::new(MAIN);
    let mut files = scenario_files(&root.join("scenarios/examples"));
    files.push(root.join("scenarios/lab.toml"));
    files.push(root.join("scenarios/bench/office365-lab.toml"));
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let s = scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.shortfalls(),
            [],
            "{} can only be inconclusive",
            file.display()
        );
    }
}

/// The bundled Office 365 scenario is the template a technician fills in: as shipped, it lacks
/// the site's anchors and observers, and `validate` says so rather than "ok".
#[test]
fn the_office365_template_names_what_it_still_lacks() {
    let s = scenario::bundled_office365();
    assert_eq!(
        s.shortfalls(),
        [
            Shortfall::NoAnchors,
            Shortfall::NoAnchoredObserver { port: Port::HTTP },
            Shortfall::NoAnchoredObserver { port: Port::HTTPS },
            Shortfall::NoControl,
        ]
    );
}

/// The template `init` writes does not promise what a canary cannot prove: a canary-only
/// scenario passes with a login host missing from the segment (the lab's
/// `one-domain-unanchored` fault against `scenarios/lab-canary-only.toml`), so the text must say
/// that a canary proves the shared path only, and how each host is proven.
#[test]
fn the_template_says_a_canary_proves_the_path_not_each_login_host() {
    let text = scenario::OFFICE365_TOML;
    // Comments are wrapped at 100 columns; judge the sentences, not the line breaks.
    let prose = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        !prose.contains("so do the login hosts"),
        "the template still claims a canary proves each login host"
    );
    for needed in [
        "proves the shared path",
        "NOT that each login host is in the segment",
        "\"path only\"",
        "add an [entra] table",
        "`--require per-host`",
    ] {
        assert!(prose.contains(needed), "the template lacks {needed:?}");
    }
}
