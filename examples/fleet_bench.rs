//! The fleet benchmark: `cargo run --release --example fleet_bench`.
//!
//! Builds the release binary, makes three real reports with the embedded lab (`sipa-check lab
//! --json`: a pass, a fail with `one-domain-unanchored`, an inconclusive run with
//! `echo-garbage`), and from them a fleet of 500 branch reports, one file each (`branch-001` to
//! `branch-500`, each with its own start time; 8 in 10 pass, 1 fails, 1 is inconclusive). Then
//! it times `sipa-check report merge` of the 500 files writing the merged JSON, JUnit and HTML
//! (median and min of 5 runs, with peak RSS), prints the size of each output, and how long
//! headless Chromium takes to load the 500-run page (when /usr/bin/chromium exists; its own
//! requests go to a closed loopback port).
//!
//! Only loopback is contacted. Not a test: it prints figures and the target (under 2 s), and
//! fails only when a tool cannot run or a merge does not give the fleet's verdict.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

const RUNS: usize = 5;
const BRANCHES: usize = 500;
const TARGET: Duration = Duration::from_secs(2);

fn main() -> anyhow::Result<()> {
    let bin = build_release_binary()?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let sources = [
        lab_report(&bin, d, &[])?,
        lab_report(&bin, d, &["one-domain-unanchored"])?,
        lab_report(&bin, d, &["echo-garbage"])?,
    ];
    let fleet = d.join("fleet");
    std::fs::create_dir(&fleet)?;
    let mut inputs = Vec::new();
    let mut input_bytes = 0;
    for i in 1..=BRANCHES {
        let source = match i % 10 {
            3 => &sources[1],
            7 => &sources[2],
            _ => &sources[0],
        };
        let mut report = source.clone();
        let run = &mut report["runs"][0];
        run["vantage"]["name"] = format!("branch-{i:03}").into();
        run["vantage"]["hostname"] = format!("branch-{i:03}-box").into();
        run["vantage"]["started_at"] =
            format!("2026-11-30T{:02}:{:02}:00Z", i / 60 % 24, i % 60).into();
        let path = fleet.join(format!("branch-{i:03}.json"));
        let text = serde_json::to_string_pretty(&report)?;
        input_bytes += text.len();
        std::fs::write(&path, text)?;
        inputs.push(path);
    }
    let checks: usize = sources
        .iter()
        .map(|s| s["runs"][0]["checks"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    println!(
        "fleet: {BRANCHES} report files, one run each ({checks} checks a run), {:.1} MB of JSON",
        mb(input_bytes)
    );

    let out = d.join("out");
    std::fs::create_dir(&out)?;
    let mut times = Vec::new();
    let mut peak_rss_kib = 0;
    for _ in 0..RUNS {
        let mut cmd = Command::new(&bin);
        cmd.args(["report", "merge", "-q"])
            .args(&inputs)
            .arg("--json")
            .arg(out.join("fleet.json"))
            .arg("--junit")
            .arg(out.join("fleet.xml"))
            .arg("--html")
            .arg(out.join("fleet.html"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let started = Instant::now();
        let child = cmd.spawn().context("sipa-check report merge")?;
        let (status, rss) = wait_with_rss(child.id())?;
        times.push(started.elapsed());
        peak_rss_kib = peak_rss_kib.max(rss);
        // 50 failing branches: the fleet fails.
        if status.code() != Some(1) {
            bail!("report merge exited with {status}, expected 1 (the fleet fails)");
        }
    }
    times.sort();
    let median = times[RUNS / 2];
    let size = |name: &str| std::fs::metadata(out.join(name)).map(|m| m.len() as usize);
    println!(
        "report merge of {BRANCHES} runs, writing JSON + JUnit + HTML: median {} ms, min {} ms \
         ({RUNS} runs), peak RSS {:.1} MB",
        median.as_millis(),
        times[0].as_millis(),
        peak_rss_kib as f64 / 1024.0
    );
    println!(
        "outputs: HTML {:.2} MB, JSON {:.1} MB, JUnit {:.1} MB",
        mb(size("fleet.html")?),
        mb(size("fleet.json")?),
        mb(size("fleet.xml")?)
    );
    println!(
        "target: under {} s: {}",
        TARGET.as_secs(),
        if median < TARGET { "met" } else { "NOT met" }
    );

    if Path::new("/usr/bin/chromium").exists() {
        let profile = tempfile::tempdir()?;
        let started = Instant::now();
        let dom = Command::new("/usr/bin/chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--proxy-server=http://127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("file://{}", out.join("fleet.html").display()))
            .stderr(Stdio::null())
            .output()
            .context("chromium")?;
        let took = started.elapsed();
        let dom = String::from_utf8_lossy(&dom.stdout);
        let ready = dom.contains("<body data-ready=\"ok\">");
        println!(
            "headless Chromium loads the {BRANCHES}-run page and runs its script in {} ms \
             (start-up included){}",
            took.as_millis(),
            if ready {
                ""
            } else {
                ": the page did NOT mark itself ready"
            }
        );
    } else {
        println!("note: /usr/bin/chromium is missing: the page's load time is not measured");
    }
    Ok(())
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn build_release_binary() -> anyhow::Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "--bin", "sipa-check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/sipa-check"))
}

/// A real report of the embedded lab with `faults`, as JSON.
fn lab_report(bin: &Path, dir: &Path, faults: &[&str]) -> anyhow::Result<Value> {
    let path = dir.join(format!("lab-{}.json", faults.join("+")));
    let mut cmd = Command::new(bin);
    cmd.arg("lab")
        .arg("--json")
        .arg(&path)
        .stdout(Stdio::null());
    for f in faults {
        cmd.args(["--fault", f]);
    }
    let status = cmd.status().context("sipa-check lab")?;
    if !matches!(status.code(), Some(0 | 1 | 3)) {
        bail!("sipa-check lab {faults:?} exited with {status}");
    }
    Ok(serde_json::from_str(&std::fs::read_to_string(&path)?)?)
}

/// Waits for the child and returns its status and peak RSS (KiB), from `wait4`.
fn wait_with_rss(pid: u32) -> anyhow::Result<(std::process::ExitStatus, i64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = i32::try_from(pid)?;
    // SAFETY: pid is our own child; status and usage point to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    Ok((std::process::ExitStatus::from_raw(status), usage.ru_maxrss))
}
