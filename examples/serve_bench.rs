//! The cost of `sipa-check serve`: `cargo run --release --example serve_bench`.
//!
//! Starts the embedded lab in this process, builds the release binary, and runs
//! `sipa-check serve` as a child with 100 scenarios (the bundled lab scenario, 36 checks each)
//! on a compressed interval (10 s by default: three times the load of 100 at 30 s; the lab
//! answering them runs in this process, so at 3 s a 2-core machine saturates and runs time out). Over 120 intervals it samples, once per interval, the child's CPU time
//! (/proc/PID/stat utime + stime), its RSS (/proc/PID/status VmRSS) and its open descriptors
//! (/proc/PID/fd), and counts the runs from its own `sipa_check_runs_total`. It prints the
//! CPU-seconds per scenario run, and from them the share of one core that 100 scenarios at 30 s
//! cost; the RSS and descriptors at the start, middle and end (flat means no leak); and the time
//! of a `/metrics` scrape with 100 scenarios (median and worst of 50).
//!
//! `SERVE_BENCH_INTERVALS`, `SERVE_BENCH_INTERVAL_SECS` and `SERVE_BENCH_SCENARIOS` change it;
//! `SERVE_BENCH_BINARY` runs that binary instead of building one (to compare two builds);
//! `SERVE_BENCH_VERBOSE` prints every interval's sample. `SERVE_BENCH_FAULTS=1` switches the
//! lab's forwarding faults on and off while it runs, as an admin's changes would (every fourth
//! interval one of the faults that break the lab scenario goes on, two intervals later the lab
//! heals), and times how long each switch takes to show in `/metrics`: every scenario's
//! `sipa_check_run_success` must turn 0 after a fault and 1 after the heal, within one interval
//! plus a run; a switch not shown one interval and 3 s after it is printed with what the
//! scenarios behind said (their runs' status, their checks that did not pass). Only loopback is
//! contacted. Not a test: it prints figures beside their targets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sipa_check::lab::{Fault, Lab, LabConfig};

const DEFAULT_SCENARIOS: u64 = 100;
/// The interval the targets are stated for.
const TARGET_INTERVAL_SECS: f64 = 30.0;

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").context("no HTTP head")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {head}");
    }
    Ok(body.to_owned())
}

/// CPU seconds (user + system) of `pid` so far.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    // USER_HZ is 100 on Linux.
    Ok((utime + stime) / 100.0)
}

fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb / 1024.0)
}

fn open_fds(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// The open descriptors of `pid` by kind (socket, anon_inode:[eventpoll], pipe, a file...).
fn fd_kinds(pid: u32) -> String {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(entry.path())
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        let kind = match target.split_once(':') {
            Some((kind, rest)) if kind == "anon_inode" => format!("{kind}:{rest}"),
            Some((kind, _)) => kind.to_owned(),
            None => "file".to_owned(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn runs_total(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("sipa_check_runs_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The faults that break the bundled lab scenario (the places' faults spare it), switched in turn.
const BREAKING: [Fault; 7] = [
    Fault::OneDomainUnanchored,
    Fault::Port80Unanchored,
    Fault::NothingAnchored,
    Fault::WrongConnector,
    Fault::OverAnchored,
    Fault::ConnectorsDown,
    Fault::AccessDenied,
];

/// How many scenarios' last runs passed, and how many have a last run at all.
fn passing(metrics: &str) -> (usize, usize) {
    let runs: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sipa_check_run_success{"))
        .collect();
    (
        runs.iter().filter(|l| l.ends_with(" 1.0")).count(),
        runs.len(),
    )
}

/// One switch of the lab: what was switched, when, and when every scenario showed it.
struct Switch {
    what: String,
    seen_after: Option<Duration>,
    /// Why some scenarios had not shown it one interval and 3 s after the switch, if so.
    lagging: Option<String>,
}

/// The value of label `name` in an OpenMetrics sample line.
fn label<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The scenarios whose last run does not show the switch yet, and what they say: their runs'
/// status, and their checks that did not pass, counted over those scenarios.
fn lagging(metrics: &str, must_fail: bool) -> String {
    let shown = if must_fail { " 0.0" } else { " 1.0" };
    let behind: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sipa_check_run_success{") && !l.ends_with(shown))
        .filter_map(|l| label(l, "scenario"))
        .collect();
    let mut said = std::collections::BTreeMap::<String, usize>::new();
    for line in metrics.lines() {
        let Some(scenario) = label(line, "scenario") else {
            continue;
        };
        if !behind.contains(scenario) {
            continue;
        }
        let what = if line.starts_with("sipa_check_run_status{") && line.ends_with(" 1.0") {
            label(line, "status").map(|s| format!("run {s}"))
        } else if line.starts_with("sipa_check_check_status{") && !line.contains("status=\"pass\"")
        {
            Some(format!(
                "{} {} {}:{}",
                label(line, "status").unwrap_or("?"),
                label(line, "check").unwrap_or("?"),
                label(line, "host").unwrap_or("?"),
                label(line, "port").unwrap_or("?"),
            ))
        } else {
            None
        };
        if let Some(what) = what {
            *said.entry(what).or_default() += 1;
        }
    }
    let said: Vec<String> = said.iter().map(|(w, n)| format!("{w} ({n})")).collect();
    format!("{} scenario(s) behind: {}", behind.len(), said.join(", "))
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let intervals = env_or("SERVE_BENCH_INTERVALS", 120);
    #[allow(non_snake_case)]
    let SCENARIOS = usize::try_from(env_or("SERVE_BENCH_SCENARIOS", DEFAULT_SCENARIOS))?;
    let interval_secs = env_or("SERVE_BENCH_INTERVAL_SECS", 10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = match std::env::var_os("SERVE_BENCH_BINARY") {
        Some(b) => std::path::PathBuf::from(b),
        None => {
            let built = Command::new(env!("CARGO"))
                .args(["build", "--release", "--locked", "--bin", "sipa-check"])
                .current_dir(root)
                .status()?;
            if !built.success() {
                bail!("cargo build --release failed");
            }
            root.join("target/release/sipa-check")
        }
    };
    let lab = Lab::start(LabConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let mut config = String::new();
    for i in 0..SCENARIOS {
        config.push_str(&format!(
            "[[scenario]]\nname = \"lab-{i:03}\"\nfile = \"{}\"\ninterval = \"{interval_secs}s\"\ndns = [\"{}\"]\nconnect_to = [\":80::{}\", \":443::{}\"]\nca_files = [\"{}\"]\nexpect_ip = [\"{}\"]\nvantage = \"branch-{i:03}\"\ntimeout = \"3s\"\ndeadline = \"8s\"\n\n",
            root.join("scenarios/lab.toml").display(),
            lab.dns_addr(),
            lab.transparent_http_addr().port(),
            lab.transparent_https_addr().port(),
            lab.ca_file().display(),
            lab.anchor_ip(),
        ));
    }
    let config_path = dir.path().join("serve.toml");
    std::fs::write(&config_path, config)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let child = Command::new(&binary)
        .args(["serve", "--listen", &addr.to_string()])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let child = Guard(child);
    let pid = child.0.id();
    let start = Instant::now();
    while get(addr, "/-/healthy").is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("serve did not come up");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Warm-up: one interval, so every scenario has run once.
    let interval = Duration::from_secs(interval_secs);
    tokio::time::sleep(interval + interval / 2).await;
    let cpu0 = cpu_seconds(pid)?;
    let runs0 = runs_total(&get(addr, "/metrics")?);
    let t0 = Instant::now();
    let mut samples: Vec<(u64, f64, f64, usize)> = Vec::new();
    let mut kinds = Vec::new();
    let verbose = std::env::var_os("SERVE_BENCH_VERBOSE").is_some();
    let mid = (intervals / 2).max(1);
    let faults = std::env::var_os("SERVE_BENCH_FAULTS").is_some();
    let mut switches: Vec<Switch> = Vec::new();
    // The switch being waited for: since when, and whether the scenarios must fail or pass.
    let mut pending: Option<(Instant, bool)> = None;
    let mut next_fault = 0;
    for k in 1..=intervals {
        let due = t0 + interval * u32::try_from(k)?;
        if faults {
            // Poll /metrics once a second until every scenario shows the switch.
            while Instant::now() < due {
                if let Some((since, must_fail)) = pending {
                    let metrics = get(addr, "/metrics")?;
                    let (pass, all) = passing(&metrics);
                    let shown = all == SCENARIOS && if must_fail { pass == 0 } else { pass == all };
                    if let Some(last) = switches.last_mut() {
                        if shown {
                            last.seen_after = Some(since.elapsed());
                            pending = None;
                        } else if last.lagging.is_none()
                            && since.elapsed() > interval + Duration::from_secs(3)
                        {
                            last.lagging = Some(lagging(&metrics, must_fail));
                        }
                    }
                }
                let pause =
                    Duration::from_secs(1).min(due.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
            }
        }
        tokio::time::sleep_until(due.into()).await;
        // No switch in the last intervals: each has time to show before the bench ends.
        if faults && pending.is_none() && k + 3 <= intervals {
            if k % 4 == 1 {
                let fault = BREAKING[next_fault % BREAKING.len()];
                next_fault += 1;
                lab.switch_faults(&[fault])?;
                switches.push(Switch {
                    what: format!("{} on", fault.name()),
                    seen_after: None,
                    lagging: None,
                });
                pending = Some((Instant::now(), true));
            } else if k % 4 == 3 {
                lab.switch_faults(&[])?;
                switches.push(Switch {
                    what: "healed".into(),
                    seen_after: None,
                    lagging: None,
                });
                pending = Some((Instant::now(), false));
            }
        }
        samples.push((k, cpu_seconds(pid)?, rss_mb(pid)?, open_fds(pid)?));
        if k == 1 || k == mid || k == intervals {
            kinds.push((k, fd_kinds(pid)));
        }
        if verbose && let Some((k, cpu, rss, fds)) = samples.last() {
            eprintln!("interval {k}: CPU {cpu:.2} s, RSS {rss:.1} MB, descriptors {fds}");
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let metrics = get(addr, "/metrics")?;
    let cpu = cpu_seconds(pid)? - cpu0;
    let runs = runs_total(&metrics) - runs0;
    let skipped: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("sipa_check_runs_skipped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();

    // Scrape time with 100 scenarios' results in.
    let mut scrapes = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let body = get(addr, "/metrics")?;
        scrapes.push(t.elapsed());
        if !body.ends_with("# EOF\n") {
            bail!("a scrape did not end with # EOF");
        }
    }
    scrapes.sort();
    let series = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();

    let mut durations: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("sipa_check_run_duration_seconds{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    durations.sort_by(f64::total_cmp);
    let passing = metrics
        .lines()
        .filter(|l| l.starts_with("sipa_check_run_success{") && l.ends_with(" 1.0"))
        .count();
    let per_run = cpu / runs.max(1.0);
    let core_share_at_target = per_run * SCENARIOS as f64 / TARGET_INTERVAL_SECS * 100.0;
    let measured_share = cpu / wall * 100.0;
    println!(
        "sipa-check serve, {SCENARIOS} lab scenarios (36 checks each) every {interval_secs} s, {intervals} intervals ({wall:.0} s wall):"
    );
    println!(
        "  runs finished {runs:.0}, skipped {skipped:.0}; CPU {cpu:.2} s = {measured_share:.1} % of one core at {interval_secs} s intervals"
    );
    println!(
        "  CPU per scenario run {:.2} ms -> {SCENARIOS} scenarios at {TARGET_INTERVAL_SECS:.0} s: {core_share_at_target:.2} % of one core (target < 2 %)",
        per_run * 1000.0
    );
    if let (Some(first), Some(last)) = (durations.first(), durations.last()) {
        println!(
            "  last runs: {passing} of {SCENARIOS} passed; run duration {:.0} ms median ({:.0}..{:.0} ms)",
            durations[durations.len() / 2] * 1000.0,
            first * 1000.0,
            last * 1000.0
        );
    }
    let at = |k: u64| samples.iter().find(|s| s.0 == k).copied();
    for (k, kinds) in kinds {
        if let Some((k, _, rss, fds)) = at(k) {
            println!("  interval {k:>3}: RSS {rss:.1} MB, open descriptors {fds} ({kinds})");
        }
    }
    let rss_min = samples.iter().map(|s| s.2).fold(f64::MAX, f64::min);
    let rss_max = samples.iter().map(|s| s.2).fold(0.0, f64::max);
    let fd_min = samples.iter().map(|s| s.3).min().unwrap_or(0);
    let fd_max = samples.iter().map(|s| s.3).max().unwrap_or(0);
    let mut rss_sorted: Vec<f64> = samples.iter().map(|s| s.2).collect();
    rss_sorted.sort_by(f64::total_cmp);
    let mut fd_sorted: Vec<usize> = samples.iter().map(|s| s.3).collect();
    fd_sorted.sort_unstable();
    let half = samples.len() / 2;
    let max_of = |part: &[(u64, f64, f64, usize)]| {
        (
            part.iter().map(|s| s.2).fold(0.0, f64::max),
            part.iter().map(|s| s.3).max().unwrap_or(0),
        )
    };
    let (rss_first, fd_first) = max_of(&samples[..half]);
    let (rss_second, fd_second) = max_of(&samples[half..]);
    println!(
        "  RSS {rss_min:.1}..{rss_max:.1} MB over all intervals, median {:.1} MB (target < 50 MB, flat); descriptors {fd_min}..{fd_max}, median {}",
        rss_sorted.get(rss_sorted.len() / 2).copied().unwrap_or(0.0),
        fd_sorted.get(fd_sorted.len() / 2).copied().unwrap_or(0)
    );
    println!(
        "  highest in the first half: RSS {rss_first:.1} MB, {fd_first} descriptors; in the second half: RSS {rss_second:.1} MB, {fd_second} descriptors"
    );
    println!(
        "  /metrics scrape ({series} series, {} KB): median {:.1} ms, worst {:.1} ms of 50 (target < 50 ms)",
        metrics.len() / 1024,
        scrapes[scrapes.len() / 2].as_secs_f64() * 1000.0,
        scrapes[scrapes.len() - 1].as_secs_f64() * 1000.0
    );
    if faults {
        let seen: Vec<Duration> = switches.iter().filter_map(|s| s.seen_after).collect();
        let unseen: Vec<&str> = switches
            .iter()
            .filter(|s| s.seen_after.is_none())
            .map(|s| s.what.as_str())
            .collect();
        let worst = seen.iter().max().copied().unwrap_or_default();
        println!(
            "  faults switched {} times ({} on, {} healed); every scenario showed {} of them, the slowest after {:.1} s (one interval is {interval_secs} s, plus the run); not shown: {}",
            switches.len(),
            switches.iter().filter(|s| s.what != "healed").count(),
            switches.iter().filter(|s| s.what == "healed").count(),
            seen.len(),
            worst.as_secs_f64(),
            if unseen.is_empty() {
                "none".to_string()
            } else {
                unseen.join(", ")
            }
        );
        for s in switches.iter().filter(|s| s.lagging.is_some()) {
            println!(
                "  slow: {}, one interval and 3 s after the switch: {}",
                s.what,
                s.lagging.as_deref().unwrap_or_default()
            );
        }
        if verbose {
            for s in &switches {
                match s.seen_after {
                    Some(d) => {
                        eprintln!("  {}: shown by all after {:.1} s", s.what, d.as_secs_f64())
                    }
                    None => eprintln!("  {}: not shown by all", s.what),
                }
            }
        }
    }
    drop(child);
    lab.shutdown().await;
    Ok(())
}
