//! `sipa-check lab`: the embedded lab, with the bundled lab scenario run against it (and its
//! fake admin APIs audited with `--audit`), or served for another shell with `--serve`.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use super::run::{fit_descriptors, run_loaded};
use super::{
    CommandResult, Env, Exit, Interrupt, ReportFiles, absolute, invalid, shell_words, with_causes,
};
use crate::address::ConnectTo;
use crate::cli::LabArgs;
use crate::entra::EntraCredentials;
use crate::lab::{Fault, Lab, LabConfig};
use crate::runner::EntraAccess;
use crate::scenario::model::{EntraMode, Scenario, Secret};
use crate::scenario::{self, Overrides};

/// `sipa-check lab`: the embedded lab, with the bundled lab scenario run against it.
pub async fn lab(
    args: &LabArgs,
    env: &Env,
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    if args.list_faults {
        for fault in Fault::ALL {
            let _ = writeln!(out, "{:<24} {}", fault.name(), fault.description());
        }
        if args.audit {
            super::audit::list_faults(out);
        }
        return Ok(Exit::Passed);
    }
    let mut faults = Vec::new();
    for name in &args.faults {
        match name.parse::<Fault>() {
            Ok(f) => faults.push(f),
            Err(e) if !name.starts_with("audit-") => {
                return invalid(format!("--fault {name}: {e}"));
            }
            Err(_) => {}
        }
    }
    // Audit faults (and --audit) start the lab's fake ZPA and ZIA APIs beside its network.
    let (audit_network, audit_faults) = match super::audit::split_faults(&args.faults) {
        Ok(split) => split,
        Err(e) => {
            return invalid(e);
        }
    };
    faults = audit_network;
    let admin_api = if args.audit
        || !audit_faults.is_empty()
        || args.audit_json.is_some()
        || args.audit_junit.is_some()
    {
        if args.serve {
            return invalid("audit faults need a run: they cannot be served");
        }
        match crate::lab::admin_api::AdminApi::start(&faults, &audit_faults, Default::default())
            .await
        {
            Ok(api) => Some(api),
            Err(e) => {
                return invalid(format!(
                    "cannot start the lab's admin APIs: {}",
                    with_causes(&e)
                ));
            }
        }
    } else {
        None
    };
    // Report paths are proven writable before the lab starts: a bad path runs nothing.
    let files = if args.serve {
        None
    } else {
        match ReportFiles::open(&args.reports) {
            Ok(f) => Some(f),
            Err(e) => {
                return invalid(e);
            }
        }
    };
    let config_faults = faults.clone();
    let config = LabConfig {
        faults,
        latency: args.latency.unwrap_or_default(),
    };
    let lab = match Lab::start(config).await {
        Ok(lab) => lab,
        Err(e) => {
            return invalid(format!("cannot start the lab: {}", with_causes(&e)));
        }
    };
    let Some(files) = files else {
        let exit = serve(&lab, &config_faults, interrupt, out, err).await;
        // Stops the lab and removes its temporary directory, on Ctrl-C and SIGTERM alike.
        lab.shutdown().await;
        return exit;
    };
    let use_entra =
        args.entra || args.entra_mode.is_some() || config_faults.iter().any(|f| f.needs_entra());
    let use_places = args.places || config_faults.iter().any(|f| f.needs_places());
    if use_entra && use_places {
        lab.shutdown().await;
        return invalid(
            "the lab checks its places (--places, or a place fault) or Entra (--entra, or an Entra fault), not both in one run",
        );
    }
    let (mut s, entra) = if use_places {
        (scenario::bundled_lab_places(), None)
    } else if use_entra {
        let (mut s, access) = lab_entra(&lab);
        if let (Some(mode), Some(spec)) = (args.entra_mode, s.entra.as_mut()) {
            spec.mode = mode;
        }
        if s.entra.as_ref().is_some_and(|e| e.mode != EntraMode::Log) {
            from_both_places(&mut s);
        }
        (s, Some(access))
    } else {
        (scenario::bundled_lab(), None)
    };
    let (mut overrides, connect_to) =
        lab_overrides_with(&lab, &config_faults, args.via_proxy, args.pac);
    overrides.timeout = args.timeout;
    overrides.deadline = args.deadline;
    if let Err(e) = s.apply(&overrides) {
        return invalid(e);
    }
    // The lab serves each probe's connection in this same process: its gateway and origin hold
    // three more descriptors for every one the probe opens (for each vantage running at once).
    let sharing = 4 * (1 + s.more_vantages.len() as u64);
    fit_descriptors(&mut s, env, sharing, err);
    let ran = run_loaded(
        &[s.per_vantage()],
        &connect_to,
        entra,
        files,
        env,
        interrupt,
        out,
        err,
        None,
    )
    .await;
    lab.shutdown().await;
    // A run that could not start still lets the audit go on: its error is said first.
    let mut exit = super::finish(ran, err);
    if let Some(api) = admin_api {
        let reports = crate::cli::ReportFlags {
            json: args.audit_json.clone(),
            junit: args.audit_junit.clone(),
        };
        let audited = super::audit::audit_lab(&api, &reports, env, out, err).await;
        exit = super::audit::combine(exit, super::finish(audited, err));
    }
    Ok(exit)
}

/// The tenant the lab's probe app signs in to.
pub const LAB_TENANT: &str = "sipa-lab.onmicrosoft.com";

/// The bundled lab scenario with `[entra]` pointed at `lab`'s Graph, and the lab's probe app
/// with Graph's route to the lab (its token endpoint, address and CA): no real environment.
pub fn lab_entra(lab: &Lab) -> (Scenario, EntraAccess) {
    let mut s = scenario::bundled_lab_entra();
    if let Some(entra) = &mut s.entra {
        entra.graph_url = Some(lab.graph_url());
    }
    let credentials = EntraCredentials {
        tenant_id: LAB_TENANT.to_owned(),
        client_id: crate::lab::LAB_CLIENT_ID.to_owned(),
        auth: crate::entra::ClientAuth::Secret(Secret::new(crate::lab::LAB_CLIENT_SECRET)),
        cloud: crate::entra::Cloud::public(),
    };
    let access = EntraAccess {
        credentials: Arc::new(credentials),
        graph_token_url: lab
            .graph_url()
            .join(&format!("{LAB_TENANT}/oauth2/v2.0/token"))
            .ok(),
        graph_resolve: vec![(crate::lab::GRAPH_HOST.to_owned(), lab.graph_addr())],
        graph_roots_pem: vec![lab.ca_pem().to_owned()],
        first_poll_interval: Some(std::time::Duration::from_millis(200)),
    };
    (s, access)
}

/// Runs `s` from the lab's two places, the trusted office and the guest network, as
/// Conditional Access mode needs: the guest's refused token is what shows the policy biting,
/// without which the office's issued tokens prove nothing.
pub fn from_both_places(s: &mut Scenario) {
    let places = scenario::bundled_lab_places();
    s.vantage = places.vantage;
    s.more_vantages = places.more_vantages;
}

/// The overrides and `--connect-to` rules that point the bundled lab scenario at `lab`. Faults
/// that only show through the proxy, or only over IPv6, choose that path.
pub fn lab_overrides(lab: &Lab, faults: &[Fault], via_proxy: bool) -> (Overrides, Vec<ConnectTo>) {
    lab_overrides_with(lab, faults, via_proxy, false)
}

/// As [`lab_overrides`]; with `pac` (or a fault in the PAC file) the run follows the lab's PAC
/// file, whose DIRECT goes to the transparent gateway.
pub fn lab_overrides_with(
    lab: &Lab,
    faults: &[Fault],
    via_proxy: bool,
    pac: bool,
) -> (Overrides, Vec<ConnectTo>) {
    let pac = pac || faults.iter().any(|f| f.needs_pac());
    let via_proxy = !pac && (via_proxy || faults.iter().any(|f| f.needs_proxy()));
    let mut overrides = Overrides {
        expect_ips: vec![ipnet::IpNet::from(lab.anchor_ip())],
        dns: vec![lab.dns_addr()],
        ca_files: vec![lab.ca_file().to_path_buf()],
        family: faults
            .iter()
            .any(|f| f.needs_ipv6())
            .then_some(crate::scenario::model::FamilySelection::Both),
        ..Overrides::default()
    };
    let mut connect_to = Vec::new();
    if pac {
        overrides.decision = Some(crate::scenario::DecisionSpec::Pac(
            crate::scenario::PacLocation::Url(lab.pac_url()),
        ));
    }
    if via_proxy {
        overrides.proxy = scenario::parse_proxy(&format!("http://{}", lab.proxy_addr())).ok();
    }
    for (port, addr) in [
        (80, lab.transparent_http_addr()),
        (443, lab.transparent_https_addr()),
    ] {
        // Through the proxy only QUIC reads a rule (proxied TCP never does): UDP 443 goes
        // straight from the vantage, to the lab's listener at the HTTPS door's port number.
        if via_proxy && port != 443 {
            continue;
        }
        connect_to.push(ConnectTo {
            from_host: None,
            from_port: Some(port),
            to_host: None,
            to_port: Some(addr.port()),
        });
    }
    (overrides, connect_to)
}

async fn serve(
    lab: &Lab,
    faults: &[Fault],
    interrupt: Interrupt,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CommandResult {
    // The lab scenario goes beside the lab CA, so the printed command works from any directory
    // and with only the binary; both go when the lab stops.
    let dir = lab.ca_file().parent().unwrap_or(Path::new("."));
    let scenario_file = absolute(&dir.join("lab.toml"));
    if let Err(e) = std::fs::write(&scenario_file, scenario::LAB_TOML) {
        return invalid(format!(
            "cannot write the lab scenario to {}: {e}",
            scenario_file.display()
        ));
    }
    let absolute_flags = |flags: Vec<String>| -> Vec<String> {
        let ca = lab.ca_file().display().to_string();
        let ca_abs = absolute(lab.ca_file()).display().to_string();
        flags
            .into_iter()
            .map(|f| if f == ca { ca_abs.clone() } else { f })
            .collect()
    };
    let scenario_arg = shell_words(&[scenario_file.display().to_string()]);
    let faults = if faults.is_empty() {
        "none".to_string()
    } else {
        faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "sipa-check lab is up on loopback (faults: {faults}). In another shell, run for example:\n"
    );
    let _ = writeln!(
        out,
        "  sipa-check run {scenario_arg} {}\n",
        shell_words(&absolute_flags(lab.run_flags()))
    );
    let _ = writeln!(out, "or through its explicit proxy:\n");
    let _ = writeln!(
        out,
        "  sipa-check run {scenario_arg} {}\n",
        shell_words(&absolute_flags(lab.proxy_run_flags()))
    );
    let places_file = absolute(&dir.join("lab-places.toml"));
    if let Err(e) = std::fs::write(&places_file, scenario::LAB_PLACES_TOML) {
        return invalid(format!(
            "cannot write the places scenario to {}: {e}",
            places_file.display()
        ));
    }
    let _ = writeln!(
        out,
        "or from the lab's two places at once, the trusted office ({}, anchored) and the guest \
         network ({}, not anchored), each vantage bound to its address:\n",
        crate::lab::OFFICE_IP,
        crate::lab::GUEST_IP
    );
    let _ = writeln!(
        out,
        "  sipa-check run {} {}\n",
        shell_words(&[places_file.display().to_string()]),
        shell_words(&absolute_flags(lab.run_flags()))
    );
    let serve_file = absolute(&dir.join("serve.toml"));
    if let Err(e) = std::fs::write(&serve_file, lab_serve_config(lab)) {
        return invalid(format!(
            "cannot write the serve configuration to {}: {e}",
            serve_file.display()
        ));
    }
    let _ = writeln!(
        out,
        "or keep checking both for Prometheus (http://127.0.0.1:9853/metrics; see \
         monitoring/prometheus.yml):\n\n  sipa-check serve {}\n",
        shell_words(&[serve_file.display().to_string()])
    );
    let switchable: Vec<&str> = Fault::SWITCHABLE.iter().map(|f| f.name()).collect();
    let _ = writeln!(
        out,
        "To break the running lab as an admin's change would, type fault names and Enter \
         ({}), or `heal` to switch them off.",
        switchable.join(", ")
    );
    let _ = writeln!(
        out,
        "Anchored traffic leaves from {}, the rest from {}. Ctrl-C (or SIGTERM) stops the lab \
         and removes {}.",
        lab.anchor_ip(),
        lab.edge_ip(),
        absolute(dir).display()
    );
    let _ = out.flush();
    let mut commands = stdin_lines();
    let mut interrupt = std::pin::pin!(interrupt);
    let mut reading = true;
    loop {
        tokio::select! {
            _ = &mut interrupt => break,
            line = commands.recv(), if reading => match line {
                Some(line) => switch_lab_faults(lab, &line, out, err),
                // Standard input closed (or never open): only a signal stops the lab now.
                None => reading = false,
            },
        }
    }
    Ok(Exit::Passed)
}

/// The lines of standard input, read on a thread of their own: a blocking read never holds up
/// the runtime's shutdown, and the thread ends with the process.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = std::thread::Builder::new()
        .name("lab-stdin".into())
        .spawn(move || {
            for line in io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    rx
}

/// One typed line of `lab --serve`: fault names to switch on (the others off), or `heal`.
fn switch_lab_faults(lab: &Lab, line: &str, out: &mut dyn Write, err: &mut dyn Write) {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return;
    }
    let faults = if words == ["heal"] {
        Vec::new()
    } else {
        let mut faults = Vec::new();
        for word in words {
            match word.parse::<Fault>() {
                Ok(f) => faults.push(f),
                Err(e) => {
                    let _ = writeln!(err, "error: {word}: {e}");
                    return;
                }
            }
        }
        faults
    };
    match lab.switch_faults(&faults) {
        Ok(()) if faults.is_empty() => {
            let _ = writeln!(out, "lab: healed (no switchable fault on)");
        }
        Ok(()) => {
            let names: Vec<&str> = faults.iter().map(|f| f.name()).collect();
            let _ = writeln!(out, "lab: faults now {}", names.join(", "));
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
        }
    }
    let _ = out.flush();
}

/// A `sipa-check serve` configuration for this lab: the lab scenario and the places scenario,
/// written beside them, with the flags that reach the lab.
fn lab_serve_config(lab: &Lab) -> String {
    let quoted = |v: &str| format!("{v:?}");
    let flags = lab.run_flags();
    let connect_to: Vec<String> = flags
        .windows(2)
        .filter(|w| w[0] == "--connect-to")
        .map(|w| quoted(&w[1]))
        .collect();
    let ca = quoted(&absolute(lab.ca_file()).display().to_string());
    let dns = quoted(&lab.dns_addr().to_string());
    let anchor = quoted(&lab.anchor_ip().to_string());
    let mut config = String::from(
        "# Written by `sipa-check lab --serve`: the running lab, checked for Prometheus.\n\
         listen = \"127.0.0.1:9853\"\n",
    );
    for (name, file) in [("lab", "lab.toml"), ("lab-places", "lab-places.toml")] {
        config.push_str(&format!(
            "\n[[scenario]]\nname = \"{name}\"\nfile = \"{file}\"\ninterval = \"15s\"\ntimeout = \"3s\"\ndeadline = \"10s\"\n\
             dns = [{dns}]\nconnect_to = [{}]\nca_files = [{ca}]\nexpect_ip = [{anchor}]\n",
            connect_to.join(", ")
        ));
    }
    config
}
