//! `sipa-check validate` as a user meets it: every problem of a file in one pass, counts in
//! words, files that cannot be read, standard input, and warnings for a scenario that can only
//! be inconclusive. Nothing here touches the network.

use std::io::Write;
use std::process::{Output, Stdio};

mod common;
use common::cli::{run, sipa, text};

fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = sipa()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipa-check starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("sipa-check ends")
}

#[test]
fn every_unknown_key_and_type_error_is_printed_in_one_pass() {
    let out = run(&[
        "validate",
        "tests/fixtures/invalid/many-unknown-keys.toml",
        "tests/fixtures/invalid/many-type-errors.toml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let expected = [
        std::fs::read_to_string("tests/fixtures/invalid/many-unknown-keys.expected").unwrap(),
        std::fs::read_to_string("tests/fixtures/invalid/many-type-errors.expected").unwrap(),
    ]
    .concat();
    assert_eq!(text(&out.stderr), expected);
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn counts_are_in_words_singular_and_plural() {
    let one = with_stdin(
        &["validate", "-"],
        b"name = \"one\"\n[login]\nhosts = [\"login.windows.net\"]\nports = [443]\n\
          [anchor]\nexpect = [\"127.0.0.2\"]\n\
          [[observer]]\nname = \"control\"\nrole = \"control\"\nurl = \"https://c.test/ip\"\n",
    );
    assert_eq!(
        text(&one.stdout),
        "<stdin>: valid, but cannot pass as written (1 login host, 1 port, 1 observer)\n\
         \x20 login.windows.net (ipv4)  443 path only\n\
         \x20 login.windows.net (ipv6)  443 path only\n"
    );
    let lab = run(&["validate", "scenarios/lab.toml"]);
    assert_eq!(
        text(&lab.stdout),
        "scenarios/lab.toml: ok (3 login hosts, 2 ports, 10 observers)\n\
         \x20 login.microsoftonline.com (ipv4)  80 echo · 443 echo\n\
         \x20 login.windows.net (ipv4)          80 echo · 443 echo\n\
         \x20 login.microsoft.com (ipv4)        80 echo · 443 echo\n"
    );
    assert_eq!(text(&lab.stderr), "");
    assert_eq!(lab.status.code(), Some(0));
}

#[test]
fn a_directory_or_a_missing_file_gets_a_message_without_a_position() {
    let out = run(&["validate", "scenarios", "no/such/scenario.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "scenarios: is a directory: name the scenario files in it, e.g. scenarios/*.toml\n\
         no/such/scenario.toml: cannot read scenario: no such file (check the path, or create one from the template with `sipa-check init FILE`)\n"
    );
}

#[test]
fn a_dash_reads_the_scenario_from_standard_input() {
    let toml = std::fs::read("scenarios/lab.toml").unwrap();
    let out = with_stdin(&["validate", "-"], &toml);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "<stdin>: ok (3 login hosts, 2 ports, 10 observers)\n\
         \x20 login.microsoftonline.com (ipv4)  80 echo · 443 echo\n\
         \x20 login.windows.net (ipv4)          80 echo · 443 echo\n\
         \x20 login.microsoft.com (ipv4)        80 echo · 443 echo\n"
    );

    let json = std::fs::read("scenarios/examples/branch-explicit-proxy.json").unwrap();
    let out = with_stdin(&["validate", "-"], &json);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "<stdin>: ok (3 login hosts, 2 ports, 3 observers)\n\
         \x20 login.microsoftonline.com (proxy)  80 path only · 443 path only\n\
         \x20 login.windows.net (proxy)          80 path only · 443 path only\n\
         \x20 login.microsoft.com (proxy)        80 path only · 443 path only\n"
    );

    let out = with_stdin(&["validate", "-"], b"name = \"x\"\ncolour = 1\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "<stdin>:1:1: missing required key `login`: add a [login] table listing the login hosts\n\
         <stdin>:2:1: unknown key `colour`: valid keys at the top level are `name`, `description`, `login`, `anchor`, `observer`, `vantage`, `limits` and `entra`\n"
    );
}

/// Exit 0 (the file is valid), but not "ok": a warning per shortfall on stderr.
#[test]
fn a_scenario_that_can_only_be_inconclusive_is_valid_with_warnings() {
    let out = run(&["validate", "scenarios/office365.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "scenarios/office365.toml: valid, but cannot pass as written (3 login hosts, 2 ports, 0 observers)\n\
         \x20 login.microsoftonline.com (ipv4)  80 path only · 443 path only\n\
         \x20 login.microsoftonline.com (ipv6)  80 path only · 443 path only\n\
         \x20 login.windows.net (ipv4)          80 path only · 443 path only\n\
         \x20 login.windows.net (ipv6)          80 path only · 443 path only\n\
         \x20 login.microsoft.com (ipv4)        80 path only · 443 path only\n\
         \x20 login.microsoft.com (ipv6)        80 path only · 443 path only\n"
    );
    let f = "scenarios/office365.toml: warning:";
    assert_eq!(
        text(&out.stderr),
        format!(
            "{f} no expected App Connector IP: list them in [anchor] expect, or `run` stops until --expect-ip gives them\n\
             {f} no anchored observer on login port 80: anchoring on 80 cannot be verified, so a run can only be inconclusive; add an [[observer]] with role = \"anchored\" and a URL on port 80\n\
             {f} no anchored observer on login port 443: anchoring on 443 cannot be verified, so a run can only be inconclusive; add an [[observer]] with role = \"anchored\" and a URL on port 443\n\
             {f} no control observer: that non-login traffic stays unanchored cannot be verified, so a run can only be inconclusive; add an [[observer]] with role = \"control\" (an echo host outside the SIPA segment)\n"
        )
    );
}

#[test]
fn shipped_examples_validate_ok_without_warnings() {
    let out = run(&[
        "validate",
        "scenarios/examples/branch-explicit-proxy.toml",
        "scenarios/examples/branch-explicit-proxy.json",
        "scenarios/examples/outside-trusted-location.toml",
        "scenarios/examples/public-echo-services.toml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout).matches(": ok (").count(), 4);
}
