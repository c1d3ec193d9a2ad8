//! Several vantages in one run, as a user meets them: `scenarios/lab-places.toml` (the lab's
//! trusted office and guest network, each bound to its place's loopback address) run against
//! the embedded lab by the binary; the reports keep each vantage's facts; `--vantage` selects;
//! a vantage that cannot be used here is exit 2 before any probe.

use common::cli::{Tripwire, sipa, text, xmllint};
use std::path::PathBuf;
use std::process::Output;

mod common;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sipa-check-vantages-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A lab for the binary to reach, on a runtime of its own; `run` the binary against it.
struct LabForCli {
    lab: Option<sipa_check::lab::Lab>,
    runtime: tokio::runtime::Runtime,
}

impl LabForCli {
    fn start() -> LabForCli {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let lab = runtime.block_on(async {
            sipa_check::lab::Lab::start(sipa_check::lab::LabConfig::default())
                .await
                .expect("the lab starts")
        });
        LabForCli {
            lab: Some(lab),
            runtime,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let lab = self.lab.as_ref().unwrap();
        sipa()
            .arg("run")
            .args(args)
            .args(lab.run_flags())
            .args(["--timeout", "3s"])
            .output()
            .expect("sipa-check runs")
    }
}

impl Drop for LabForCli {
    fn drop(&mut self) {
        if let Some(lab) = self.lab.take() {
            self.runtime.block_on(lab.shutdown());
        }
    }
}

fn started(run: &serde_json::Value) -> time::OffsetDateTime {
    let at = run["vantage"]["started_at"].as_str().expect("started_at");
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
}

#[test]
fn two_vantages_run_at_once_each_with_its_facts_its_suite_and_its_source_address() {
    let lab = LabForCli::start();
    let dir = scratch("two");
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let out = lab.run(&[
        "scenarios/lab-places.toml",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));

    // The human report: a heading per vantage, and the verdict of both.
    let office_at = stdout
        .find("scenario lab-places · vantage office (")
        .expect("an office heading");
    let guest_at = stdout
        .find("scenario lab-places · vantage guest (")
        .expect("a guest heading");
    assert!(office_at < guest_at, "{stdout}");
    assert!(stdout.contains("bind: address 127.0.0.10"), "{stdout}");
    assert!(stdout.contains("expects anchoring: no"), "{stdout}");
    assert!(
        stdout.contains("PASS (all 2 runs): 72 checks, 72 passed"),
        "{stdout}"
    );

    // JSON: one run per vantage, each with its own facts.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, name, ip, anchored) in [
        (&runs[0], "office", "127.0.0.10", true),
        (&runs[1], "guest", "127.0.0.20", false),
    ] {
        let v = &run["vantage"];
        assert_eq!(run["scenario"], "lab-places");
        assert_eq!(v["name"], name);
        assert_eq!(v["expect_anchored"], anchored, "{name}");
        assert_eq!(v["bind"], format!("address {ip}"), "{name}");
        assert_eq!(v["local_addresses"], serde_json::json!([ip]), "{name}");
        assert_eq!(run["checks"].as_array().unwrap().len(), 36, "{name}");
    }
    // The guest's login traffic left from the ZIA edge, the office's through the connector.
    let observed = |run: &serde_json::Value, check: &str| -> String {
        run["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == check)
            .unwrap_or_else(|| panic!("no {check}"))["observed"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let check = "login.windows.net:443 egress anchored (ipv4)";
    assert!(observed(&runs[0], check).starts_with("127.0.0.2 ×3"));
    assert!(observed(&runs[1], check).starts_with("127.0.0.3 ×3"));

    // At once: each run started before the other had finished.
    let (a, b) = (started(&runs[0]), started(&runs[1]));
    let gap = (a - b).abs();
    let shortest = runs
        .iter()
        .map(|r| r["elapsed_ms"].as_f64().expect("elapsed_ms"))
        .fold(f64::INFINITY, f64::min);
    assert!(
        (gap.whole_milliseconds() as f64) < shortest,
        "started {gap} apart, the shorter run took {shortest} ms: not concurrent"
    );

    // JUnit: one testsuite per vantage, valid against the schema.
    xmllint(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert!(xml.contains("name=\"lab-places @ office\""), "{xml}");
    assert!(xml.contains("name=\"lab-places @ guest\""), "{xml}");
    assert!(xml.contains("bind: address 127.0.0.20"), "{xml}");
}

#[test]
fn vantage_flags_select_the_vantages_to_check() {
    let lab = LabForCli::start();
    let out = lab.run(&[
        "scenarios/lab-places.toml",
        "--vantage",
        "guest",
        "--json",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only JSON");
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["vantage"]["name"], "guest");
    assert_eq!(
        runs[0]["vantage"]["local_addresses"],
        serde_json::json!(["127.0.0.20"])
    );
}

#[test]
fn an_unknown_vantage_is_exit_2_naming_the_declared_ones_before_any_probe() {
    let wire = Tripwire::new();
    let out = sipa()
        .args(["run", "scenarios/lab-places.toml", "--vantage", "lobby"])
        .args(wire.flags())
        .args(["--expect-ip", "127.0.0.2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "vantage: `lobby` is not a vantage of this scenario: it declares `office`, `guest`"
        ),
        "{err}"
    );
    assert!(!wire.tripped(), "a probe ran");
}

#[test]
fn a_bind_address_this_machine_lacks_is_exit_2_before_any_probe() {
    let dir = scratch("missing-bind");
    let file = dir.join("places.toml");
    // The guest's address is not on this machine; the office's is, and must not run either.
    let text_in = std::fs::read_to_string("scenarios/lab-places.toml")
        .unwrap()
        .replace("bind = \"127.0.0.20\"", "bind = \"10.254.254.254\"");
    std::fs::write(&file, text_in).unwrap();
    let wire = Tripwire::new();
    let out = sipa()
        .arg("run")
        .arg(&file)
        .args(wire.flags())
        .args(["--expect-ip", "127.0.0.2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("vantage guest: bind = \"10.254.254.254\" is not an address of this machine"),
        "{err}"
    );
    assert!(text(&out.stdout).is_empty(), "a report was written");
    assert!(!wire.tripped(), "a probe ran");
}

#[test]
fn validate_and_dry_run_list_the_vantages_and_what_each_expects() {
    let out = sipa()
        .args(["validate", "scenarios/lab-places.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("vantage office  expects login traffic anchored, from address 127.0.0.10"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "vantage guest   expects login traffic NOT anchored, from address 127.0.0.20"
        ),
        "{stdout}"
    );

    let wire = Tripwire::new();
    let out = sipa()
        .args(["run", "scenarios/lab-places.toml", "--dry-run"])
        .args(wire.flags())
        .args(["--expect-ip", "127.0.0.2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("scenario lab-places (scenarios/lab-places.toml), vantage office: 36 checks"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("scenario lab-places (scenarios/lab-places.toml), vantage guest: 36 checks"),
        "{stdout}"
    );
    assert!(stdout.contains("  bind address 127.0.0.20"), "{stdout}");
    assert!(stdout.contains("  expects anchoring: no"), "{stdout}");
    assert!(!wire.tripped(), "a dry run touched the network");
}

#[test]
fn a_place_fault_names_the_vantage_it_hits_and_the_one_it_spares() {
    let out = sipa()
        .args(["lab", "--fault", "trust-criteria-too-broad"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let across = stdout
        .split("Problems by cause, across vantages")
        .nth(1)
        .unwrap_or_else(|| panic!("no cross-vantage section: {stdout}"));
    assert!(
        across.contains("login traffic is anchored from a vantage outside the trusted locations"),
        "{across}"
    );
    assert!(
        across.contains("hit        lab-places @ guest\n"),
        "{across}"
    );
    assert!(
        across.contains("no problem from: lab-places @ office"),
        "{across}"
    );
    assert!(
        stdout.contains("FAIL (all 2 runs): 72 checks, 64 passed, 8 failed"),
        "{stdout}"
    );
}

#[test]
fn lab_places_passes_on_the_clean_lab() {
    let out = sipa().args(["lab", "--places"]).output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("PASS (all 2 runs): 72 checks, 72 passed"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_places_run_through_the_library_keeps_both_runs_in_order() {
    let runs = common::run_lab_places(&[], sipa_check::scenario::Overrides::default()).await;
    let names: Vec<&str> = runs.iter().map(|r| r.vantage.name.as_str()).collect();
    assert_eq!(names, ["office", "guest"]);
    assert!(
        runs.iter()
            .all(|r| r.tally.overall() == sipa_check::outcome::Status::Pass)
    );
}

#[test]
fn a_vantage_bound_to_an_interface_sends_everything_through_it() {
    let lab = LabForCli::start();
    let dir = scratch("interface");
    let file = dir.join("lo.toml");
    let text_in = std::fs::read_to_string("scenarios/lab.toml")
        .unwrap()
        .replace(
            "[vantage]\nname = \"lab\"",
            "[vantage]\nname = \"lab\"\ninterface = \"lo\"",
        );
    assert!(text_in.contains("interface = \"lo\""));
    std::fs::write(&file, text_in).unwrap();
    let out = lab.run(&[file.to_str().unwrap(), "--json", "-"]);
    let err = text(&out.stderr);
    if out.status.code() == Some(2) {
        // Without CAP_NET_RAW, SO_BINDTODEVICE is refused: said so, before any probe.
        assert!(
            err.contains("vantage lab: cannot bind to interface lo: binding to an interface needs CAP_NET_RAW"),
            "{err}"
        );
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only JSON");
    let v = &doc["runs"][0]["vantage"];
    assert_eq!(v["bind"], "interface lo");
    assert_eq!(v["local_addresses"], serde_json::json!(["127.0.0.1"]));
}

#[test]
fn an_interface_this_machine_lacks_is_exit_2_before_any_probe() {
    let dir = scratch("no-interface");
    let file = dir.join("nosuch.toml");
    let text_in = std::fs::read_to_string("scenarios/lab.toml")
        .unwrap()
        .replace(
            "[vantage]\nname = \"lab\"",
            "[vantage]\nname = \"lab\"\ninterface = \"nosuchif0\"",
        );
    std::fs::write(&file, text_in).unwrap();
    let wire = Tripwire::new();
    let out = sipa()
        .arg("run")
        .arg(&file)
        .args(wire.flags())
        .args(["--expect-ip", "127.0.0.2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("vantage lab: cannot bind to interface nosuchif0"),
        "{err}"
    );
    assert!(!wire.tripped(), "a probe ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vantage_bound_to_an_ipv4_address_has_no_ipv6_route() {
    use sipa_check::outcome::Status;
    // IPv6 reaches the login hosts in this lab, but not from a socket bound to 127.0.0.10:
    // those checks have nothing to verify here, and say why, rather than fail on a refusal.
    let extra = sipa_check::scenario::Overrides {
        family: Some(sipa_check::scenario::FamilySelection::Both),
        ..Default::default()
    };
    let runs = common::run_lab_places(&[sipa_check::lab::Fault::Ipv6Bypass], extra).await;
    let office = &runs[0];
    let v6: Vec<_> = office
        .checks
        .iter()
        // The login hosts have AAAA records under this fault; the canary has none.
        .filter(|o| o.name.starts_with("login.") && o.name.ends_with("egress anchored (ipv6)"))
        .collect();
    assert!(!v6.is_empty());
    for o in v6 {
        assert_eq!(o.status, Status::Skip, "{}: {}", o.name, o.reason);
        assert!(
            o.reason.contains("no ipv6 route"),
            "{}: {}",
            o.name,
            o.reason
        );
    }
    assert!(
        office.checks.iter().all(|o| o.status != Status::Fail),
        "{:#?}",
        office
            .checks
            .iter()
            .filter(|o| o.status == Status::Fail)
            .map(|o| (&o.name, &o.reason))
            .collect::<Vec<_>>()
    );
}
