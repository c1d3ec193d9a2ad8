//! The performance benchmark: `cargo run --release --example bench`.
//!
//! Starts the embedded lab in this process with 25 ms of latency, builds the release binary,
//! and against the lab times, in one run:
//! - `sipa-check run scenarios/bench/office365-lab.toml` (median and min of 9 runs, with its
//!   peak RSS sampled from /proc every millisecond and its CPU time read from `wait4`), against
//!   the physical limit of that plan;
//! - the same checks made one after another with dig and curl (`ci/sequential-check.sh`);
//! - a generated 100-host scenario (`scale-NNN.sipa-lab.test` names act as login hosts), at the
//!   default concurrency (512) and with the scenario raising it to the most allowed (1,024),
//!   9 runs each, taking turns with the runs above so that a slow spell weighs on all alike;
//! - the same scenario through the lab's explicit proxy (`--proxy`), beside `curl --parallel`
//!   making the same requests (every login host × port's URL, every echo sample) through the same
//!   proxy, and one HTTPS echo fetch (`scenarios/bench/echo-once.toml`) beside one curl fetch,
//!   taking turns with the runs above (curl missing: skipped with a note); then all of that again
//!   through a relay on loopback that holds every chunk 25 ms each way between client and proxy,
//!   to count the round trips each tool makes to the proxy;
//! - `sipa-check --version`;
//! - a 1,008-check run under the usual descriptor limit of 1,024, to show the default concurrency bounds
//!   the sockets in flight.
//!
//! Only loopback is contacted. The bench is not a test: it prints figures and targets, and
//! fails only if a run does not pass or a tool cannot run.

use std::fmt::Write as _;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sipa_check::address::ConnectTo;
use sipa_check::lab::{Lab, LabConfig};
use sipa_check::outcome::Route;
use sipa_check::plan::{Check, CheckKind, Plan};
use sipa_check::scenario;

const LATENCY: Duration = Duration::from_millis(25);
const SCENARIO: &str = "scenarios/bench/office365-lab.toml";
/// One HTTPS echo sample (and the plain-HTTP login check a scenario must have), run through
/// the proxy beside one curl fetch of the same URL.
const ECHO_ONCE: &str = "scenarios/bench/echo-once.toml";
const SCRIPT: &str = "ci/sequential-check.sh";
const RUNS: usize = 9;
const SCRIPT_RUNS: usize = 3;
const VERSION_RUNS: usize = 20;
const SCALE_HOSTS: usize = 100;
/// The default concurrency, which the scale run and the descriptor check use.
const DEFAULT_CONCURRENCY: usize = sipa_check::scenario::model::Limits::DEFAULT_CONCURRENCY;
/// The raised concurrency of the second scale run: the most a scenario may ask for (the bench
/// lifts its own descriptor limit, which the runs inherit).
const RAISED_CONCURRENCY: usize = 1024;
/// 167 hosts × (resolve, 2 connects, tls, 2 http) + 4 observers + 2 resolves = 1,008 checks.
const FD_CHECK_HOSTS: usize = 167;
/// The limit of the descriptor check: the usual soft limit, which the plan's probes all in flight
/// at once would come close to or exceed (about a thousand sockets).
const FD_CHECK_NOFILE: u64 = 1024;
/// Descriptors beyond one per permit that the check allows: stdio, the runtime, the DNS client.
const FD_CHECK_SLACK: usize = 64;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(root)?;
    let binary = build_release_binary()?;
    raise_own_nofile();

    let runtime = tokio::runtime::Runtime::new()?;
    let lab = runtime.block_on(Lab::start(LabConfig {
        latency: LATENCY,
        ..LabConfig::default()
    }))?;
    let flags = lab.run_flags();
    let proxy_url = format!("http://{}", lab.proxy_addr());
    let proxy_flags = lab.proxy_run_flags();
    let connect_to = [
        (80, lab.transparent_http_addr().port()),
        (443, lab.transparent_https_addr().port()),
    ]
    .map(|(from, to)| ConnectTo {
        from_host: None,
        from_port: Some(from),
        to_host: None,
        to_port: Some(to),
    });
    let tmp = tempfile::tempdir()?;
    let mut report = String::new();
    let machine = machine();
    writeln!(report, "machine: {machine}")?;
    writeln!(
        report,
        "lab latency: {} ms per connection set-up, per HTTP answer and per DNS answer\n",
        LATENCY.as_millis()
    )?;

    // The Office 365 lab scenario.
    let scenario_path = PathBuf::from(SCENARIO);
    let limit = physical_limit(&scenario_path, &connect_to)?;
    let run = |path: &Path| -> anyhow::Result<Sample> {
        let mut cmd = Command::new(&binary);
        cmd.arg("run").arg(path).args(&flags);
        measure(cmd, &format!("sipa-check run {}", path.display()))
    };

    // Scale: 100 hosts × 2 ports, at the default concurrency and with it raised.
    let scale_default = tmp.path().join("scale-100.toml");
    std::fs::write(&scale_default, scale_scenario(SCALE_HOSTS, None))?;
    let scale_raised = tmp.path().join("scale-100-raised.toml");
    std::fs::write(
        &scale_raised,
        scale_scenario(SCALE_HOSTS, Some(RAISED_CONCURRENCY)),
    )?;
    let scale_limit = physical_limit(&scale_default, &connect_to)?;
    let scale_raised_limit = physical_limit(&scale_raised, &connect_to)?;

    // Through the explicit proxy: the same scenario, curl --parallel making the same requests
    // through the same proxy, and one echo fetch by each; then all of it again through a relay
    // that holds every chunk 25 ms each way between client and proxy, as a real network would,
    // so that every round trip a tool makes to the proxy costs 50 ms.
    let curl = missing_curl().is_none();
    let relay_url = format!(
        "http://{}",
        runtime.block_on(wan_relay(lab.proxy_addr(), LATENCY))?
    );
    let relay_flags: Vec<String> = proxy_flags
        .iter()
        .map(|f| {
            if *f == proxy_url {
                relay_url.clone()
            } else {
                f.clone()
            }
        })
        .collect();
    let proxied = Proxied {
        binary: &binary,
        flags: &proxy_flags,
        proxy: &proxy_url,
        ca_file: lab.ca_file().to_path_buf(),
        requests: curl_requests(&scenario_path)?,
        once_requests: curl_requests(Path::new(ECHO_ONCE))?
            .into_iter()
            .filter(|r| r.echo)
            .collect(),
        json: tmp.path().join("echo-once.json"),
        curl,
    };
    let relayed = Proxied {
        flags: &relay_flags,
        proxy: &relay_url,
        ca_file: proxied.ca_file.clone(),
        requests: proxied.requests.clone(),
        once_requests: proxied.once_requests.clone(),
        json: proxied.json.clone(),
        ..proxied
    };
    let proxy_limit = physical_limit_via(&scenario_path, &[], Some(&proxy_url))?;
    let once_limit = physical_limit_via(Path::new(ECHO_ONCE), &[], Some(&proxy_url))?;

    // The scenarios take turns, round after round, so that a slow spell of a shared machine
    // weighs on each of them alike rather than on one whole series.
    let scenarios = [&scenario_path, &scale_default, &scale_raised];
    for path in scenarios {
        run(path)?; // warm-up: page cache, lab's first connections
    }
    proxied.turn()?;
    relayed.turn()?;
    let mut series: [Vec<Sample>; 3] = Default::default();
    let mut proxy_turns = Vec::with_capacity(RUNS);
    let mut relay_turns = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        for (path, samples) in scenarios.iter().zip(series.iter_mut()) {
            samples.push(run(path)?);
        }
        proxy_turns.push(proxied.turn()?);
        relay_turns.push(relayed.turn()?);
    }
    let [office, scale, raised] = series;
    let office_wall = Stats::of(office.iter().map(|s| s.wall));
    let peak_rss = office.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
    let cpu = Stats::of(office.iter().map(|s| s.cpu));

    // The sequential script.
    let script = match missing_tools() {
        Some(missing) => {
            writeln!(
                report,
                "sequential script: SKIPPED, {missing} missing (apt-get install bind9-dnsutils curl)"
            )?;
            None
        }
        None => {
            let samples: Vec<Sample> = (0..SCRIPT_RUNS)
                .map(|_| {
                    let mut cmd = Command::new("bash");
                    cmd.arg(SCRIPT).args(script_args(&lab));
                    measure(cmd, SCRIPT)
                })
                .collect::<Result<_, _>>()?;
            Some(Stats::of(samples.iter().map(|s| s.wall)))
        }
    };

    let scale_wall = Stats::of(scale.iter().map(|s| s.wall));
    let raised_wall = Stats::of(raised.iter().map(|s| s.wall));
    let scale_rss = scale
        .iter()
        .chain(&raised)
        .map(|s| s.max_rss_kib)
        .max()
        .unwrap_or(0);

    // --version.
    let version: Vec<Sample> = (0..VERSION_RUNS)
        .map(|_| {
            let mut cmd = Command::new(&binary);
            cmd.arg("--version");
            measure(cmd, "sipa-check --version")
        })
        .collect::<Result<_, _>>()?;
    let version_wall = Stats::of(version.iter().map(|s| s.wall));

    // 1,008 checks under a descriptor limit of 1,024, default concurrency.
    let fd_path = tmp.path().join("fd-check.toml");
    std::fs::write(&fd_path, scale_scenario(FD_CHECK_HOSTS, None))?;
    let fd_checks = plan_len(&fd_path, &connect_to)?;
    let mut cmd = Command::new(&binary);
    cmd.arg("run").arg(&fd_path).args(&flags);
    let (fd_sample, peak_fds) = measure_fds(cmd, FD_CHECK_NOFILE)?;
    if peak_fds > DEFAULT_CONCURRENCY + FD_CHECK_SLACK {
        bail!(
            "descriptor check: {peak_fds} descriptors open, more than concurrency {DEFAULT_CONCURRENCY} + {FD_CHECK_SLACK}"
        );
    }

    let traffic = lab.origin_traffic();
    runtime.block_on(lab.shutdown());

    // The report.
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    writeln!(
        report,
        "physical limit of {SCENARIO}: {} lab delays × {} ms = {:.0} ms",
        limit.chain,
        LATENCY.as_millis(),
        ms(limit.duration())
    )?;
    writeln!(report, "  {}", limit.derivation)?;
    writeln!(
        report,
        "sipa-check ({} checks, {RUNS} runs): median {:.0} ms, min {:.0} ms = {:.2} × the limit (median; min {:.2} ×)",
        limit.checks,
        ms(office_wall.median),
        ms(office_wall.min),
        office_wall.median.as_secs_f64() / limit.duration().as_secs_f64(),
        office_wall.min.as_secs_f64() / limit.duration().as_secs_f64(),
    )?;
    writeln!(
        report,
        "  peak RSS {:.1} MB, CPU (user+sys) median {:.0} ms",
        peak_rss as f64 / 1024.0,
        ms(cpu.median)
    )?;
    if let Some(script) = &script {
        writeln!(
            report,
            "sequential dig+curl script ({SCRIPT_RUNS} runs): median {:.0} ms, min {:.0} ms; sipa-check is {:.1} × faster (medians)",
            ms(script.median),
            ms(script.min),
            script.median.as_secs_f64() / office_wall.median.as_secs_f64()
        )?;
    }
    proxy_report(
        &mut report,
        &proxy_turns,
        &proxy_limit,
        &once_limit,
        proxied.requests.len(),
    )?;
    relay_report(&mut report, &proxy_turns, &relay_turns)?;
    writeln!(
        report,
        "100 hosts × 2 ports ({} checks), concurrency {DEFAULT_CONCURRENCY} (default): median {:.0} ms = {:.2} × the 3-host run; its limit {:.0} ms ({})",
        scale_limit.checks,
        ms(scale_wall.median),
        scale_wall.median.as_secs_f64() / office_wall.median.as_secs_f64(),
        ms(scale_limit.duration()),
        scale_limit.bound,
    )?;
    writeln!(
        report,
        "100 hosts × 2 ports, concurrency {RAISED_CONCURRENCY} (set in the scenario): median {:.0} ms = {:.2} × the 3-host run; its limit {:.0} ms ({})",
        ms(raised_wall.median),
        raised_wall.median.as_secs_f64() / office_wall.median.as_secs_f64(),
        ms(scale_raised_limit.duration()),
        scale_raised_limit.bound,
    )?;
    let raised_cpu = Stats::of(raised.iter().map(|s| s.cpu));
    let raised_lab_cpu = Stats::of(raised.iter().map(|s| s.lab_cpu));
    writeln!(
        report,
        "  CPU per run (medians): sipa-check {:.0} ms, the lab (this process) {:.0} ms: {:.0} ms of work for 2 cores",
        ms(raised_cpu.median),
        ms(raised_lab_cpu.median),
        ms(raised_cpu.median + raised_lab_cpu.median)
    )?;
    writeln!(
        report,
        "  peak RSS of the 100-host runs {:.1} MB",
        scale_rss as f64 / 1024.0
    )?;
    writeln!(
        report,
        "sipa-check --version ({VERSION_RUNS} runs): median {:.1} ms, min {:.1} ms",
        ms(version_wall.median),
        ms(version_wall.min)
    )?;
    writeln!(
        report,
        "descriptor check: {fd_checks} checks, concurrency {DEFAULT_CONCURRENCY}, RLIMIT_NOFILE {FD_CHECK_NOFILE}: PASS in {:.0} ms, at most {peak_fds} descriptors open (sampled every ms), peak RSS {:.1} MB",
        ms(fd_sample.wall),
        fd_sample.max_rss_kib as f64 / 1024.0
    )?;
    writeln!(
        report,
        "lab origin over the whole bench: {} connections, {} requests, {} on a reused connection",
        traffic.connections, traffic.requests, traffic.requests_on_reused_connections
    )?;

    writeln!(report, "\ntargets:")?;
    let target = |ok: bool| if ok { "met" } else { "MISSED" };
    let ratio = office_wall.median.as_secs_f64() / limit.duration().as_secs_f64();
    writeln!(
        report,
        "  within 1.3 × the physical limit: {} ({ratio:.2} ×)",
        target(ratio <= 1.3)
    )?;
    if let Some(script) = &script {
        let speedup = script.median.as_secs_f64() / office_wall.median.as_secs_f64();
        writeln!(
            report,
            "  ≥ 5 × faster than the script: {} ({speedup:.1} ×)",
            target(speedup >= 5.0)
        )?;
    }
    for (what, wall) in [
        ("default concurrency", &scale_wall),
        ("raised concurrency", &raised_wall),
    ] {
        let r = wall.median.as_secs_f64() / office_wall.median.as_secs_f64();
        writeln!(
            report,
            "  100 hosts within 2 × the 3-host time, {what}: {} ({r:.2} ×)",
            target(r <= 2.0)
        )?;
    }
    writeln!(
        report,
        "  peak RSS < 30 MB: {} ({:.1} MB; 100 hosts {:.1} MB)",
        target(peak_rss < 30 * 1024),
        peak_rss as f64 / 1024.0,
        scale_rss as f64 / 1024.0
    )?;
    writeln!(
        report,
        "  --version < 10 ms: {} ({:.1} ms)",
        target(version_wall.median < Duration::from_millis(10)),
        ms(version_wall.median)
    )?;
    print!("{report}");
    Ok(())
}

/// Builds `target/release/sipa-check` next to this example and returns its path.
fn build_release_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "sipa-check"])
        .status()
        .context("running cargo build --release --bin sipa-check")?;
    if !status.success() {
        bail!("cargo build --release --bin sipa-check failed: {status}");
    }
    // This example runs from target/<profile>/examples/: the binary is two levels up.
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("locating the target directory")?;
    if !cfg!(debug_assertions) && dir.file_name().is_some_and(|n| n == "release") {
        Ok(dir.join("sipa-check"))
    } else {
        bail!("run the bench with --release: cargo run --release --example bench")
    }
}

/// The lab serves thousands of connections at once (three descriptors each): lift this
/// process's soft limit to the hard one. The runs inherit it, except the descriptor check.
fn raise_own_nofile() {
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// One finished child: wall time from spawn to exit, what the kernel accounted to it, and the
/// CPU this process (the lab) used meanwhile.
struct Sample {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    lab_cpu: Duration,
}

/// Runs `cmd` (spawned as plainly as std can, posix_spawn), its output kept for a failure
/// report; fails unless it exits 0.
fn measure(cmd: Command, what: &str) -> anyhow::Result<Sample> {
    Ok(measure_output(cmd, what, &[0])?.0)
}

/// As [`measure`], also returning what the child wrote to stdout and stderr; any exit code in
/// `accept` is a success.
fn measure_output(cmd: Command, what: &str, accept: &[i32]) -> anyhow::Result<(Sample, String)> {
    let lab_before = own_cpu();
    let started = Instant::now();
    let (child, output) = spawn(cmd, None)?;
    let rss = PeakRss::watch(child.id());
    let (status, usage) = wait4(child.id(), 0)?.context("wait4 returned no child")?;
    let wall = started.elapsed();
    let text = finish(status, &output, what, accept)?;
    let lab_cpu = own_cpu().saturating_sub(lab_before);
    Ok((sample(wall, &usage, rss.peak_kib(), lab_cpu), text))
}

/// The peak RSS of a child's own address space (VmHWM), read every millisecond until it exits.
/// wait4's ru_maxrss will not do: a child spawned with vfork, as posix_spawn does, records the
/// peak of this process (the lab's) when it execs, and a 100-host run grows the lab past a
/// 3-host run of sipa-check. A sample can miss only what grows in the last millisecond.
struct PeakRss {
    peak: std::thread::JoinHandle<u64>,
}

impl PeakRss {
    fn watch(pid: u32) -> PeakRss {
        let status = format!("/proc/{pid}/status");
        let peak = std::thread::spawn(move || {
            let mut peak = 0;
            // The file loses its Vm lines when the process exits, and goes when it is reaped.
            while let Ok(text) = std::fs::read_to_string(&status) {
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                match hwm {
                    Some(kib) => peak = peak.max(kib),
                    None if peak > 0 => break,
                    None => {}
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        });
        PeakRss { peak }
    }

    fn peak_kib(self) -> u64 {
        self.peak.join().unwrap_or(0)
    }
}

/// As [`measure`], with RLIMIT_NOFILE `nofile`, counting the child's open descriptors every
/// millisecond.
fn measure_fds(cmd: Command, nofile: u64) -> anyhow::Result<(Sample, usize)> {
    let lab_before = own_cpu();
    let started = Instant::now();
    let (child, output) = spawn(cmd, Some(nofile))?;
    let rss = PeakRss::watch(child.id());
    let fd_dir = format!("/proc/{}/fd", child.id());
    let mut peak = 0;
    loop {
        if let Some((status, usage)) = wait4(child.id(), libc::WNOHANG)? {
            let wall = started.elapsed();
            finish(status, &output, "the descriptor check", &[0])?;
            let lab_cpu = own_cpu().saturating_sub(lab_before);
            return Ok((sample(wall, &usage, rss.peak_kib(), lab_cpu), peak));
        }
        if let Ok(entries) = std::fs::read_dir(&fd_dir) {
            peak = peak.max(entries.count());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn spawn(mut cmd: Command, nofile: Option<u64>) -> anyhow::Result<(std::process::Child, PathBuf)> {
    let output = std::env::temp_dir().join(format!("sipa-check-bench-{}.out", std::process::id()));
    let file = std::fs::File::create(&output)?;
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    // SAFETY: the closure runs between fork and exec and only calls getrlimit and setrlimit,
    // which are async-signal-safe, on a struct it owns.
    if let Some(nofile) = nofile {
        unsafe {
            cmd.pre_exec(move || {
                let mut limit = std::mem::zeroed::<libc::rlimit>();
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
                limit.rlim_cur = (nofile as libc::rlim_t).min(limit.rlim_max);
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    Ok((child, output))
}

/// Reaps `pid` with its resource usage; `None` if WNOHANG and it is still running.
fn wait4(pid: u32, options: i32) -> anyhow::Result<Option<(ExitStatus, libc::rusage)>> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: wait4 writes only to the status and rusage it is given.
    let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, options, &mut usage) };
    match reaped {
        -1 => Err(io::Error::last_os_error()).context("wait4"),
        0 => Ok(None),
        _ => Ok(Some((ExitStatus::from_raw(status), usage))),
    }
}

fn finish(status: ExitStatus, output: &Path, what: &str, accept: &[i32]) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let _ = std::fs::remove_file(output);
    if !status.code().is_some_and(|code| accept.contains(&code)) {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} did not pass ({status}):\n{}", tail.join("\n"));
    }
    Ok(text)
}

fn sample(wall: Duration, usage: &libc::rusage, max_rss_kib: u64, lab_cpu: Duration) -> Sample {
    Sample {
        wall,
        cpu: cpu_time(usage),
        max_rss_kib,
        lab_cpu,
    }
}

fn cpu_time(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time (user + sys) of this process so far: the lab's threads and the bench's own.
fn own_cpu() -> Duration {
    // SAFETY: getrusage writes only to the struct it is given.
    let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    cpu_time(&usage)
}

struct Stats {
    median: Duration,
    min: Duration,
}

impl Stats {
    fn of(values: impl Iterator<Item = Duration>) -> Stats {
        let mut values: Vec<Duration> = values.collect();
        values.sort();
        Stats {
            median: values.get(values.len() / 2).copied().unwrap_or_default(),
            min: values.first().copied().unwrap_or_default(),
        }
    }
}

/// The shortest time a plan can take against the lab: its longest chain of lab delays, or,
/// when the in-flight bound makes it longer, the delays all checks must sit through divided
/// by the probes allowed in flight.
struct Limit {
    chain: u32,
    checks: usize,
    /// Lab delays × in-flight weight summed over all checks, divided by the concurrency.
    work_bound: f64,
    derivation: String,
    bound: &'static str,
}

impl Limit {
    fn duration(&self) -> Duration {
        LATENCY.mul_f64(f64::from(self.chain).max(self.work_bound))
    }
}

/// How many lab delays a check sits through, from src/lab: `conn::spawn_accept_loop` sleeps
/// once after accepting a connection before serving it (gateway and origin alike; the TCP
/// handshake itself completes in the kernel, undelayed), `origin::serve_http` once before each
/// HTTP answer, `dns::LabZone::respond` once before each DNS answer. Through the transparent
/// gateway: TLS = gateway set-up + origin set-up (the handshake needs the origin); HTTP and
/// each echo sample = gateway set-up + origin set-up + answer; a TCP connect = none.
///
/// Through the explicit proxy (`gateway::proxy` and `gateway::tunnel`), nothing waits for a
/// resolve, and the gateway opens the origin connection before it sleeps once more to answer
/// CONNECT, so the origin's set-up runs meanwhile: a connect on a TLS port (the tunnel) = gateway
/// set-up + CONNECT answer = 2, TLS = 2, HTTP and each echo sample = 3 (on port 80: gateway
/// set-up + origin set-up + answer), a connect on port 80 = none.
fn lab_delays(check: &Check) -> u32 {
    let proxied = check.route == Route::Proxy;
    match &check.kind {
        // One DNS answer each (the lab's HTTPS records are no aliases).
        CheckKind::Resolve | CheckKind::HttpsRecord => 1,
        CheckKind::Connect
            if proxied
                && check
                    .port
                    .is_some_and(|p| p != sipa_check::scenario::Port::HTTP) =>
        {
            2
        }
        CheckKind::Connect => 0,
        CheckKind::Tls => 2,
        CheckKind::Http(_) | CheckKind::Egress(_) => 3,
        // Its own connection, handshake and token answer (the bench plans no [entra] scenario).
        CheckKind::EntraSignIn => 5,
        // Graph, read after the probes on its own route, not through the lab.
        CheckKind::EntraNamedLocations | CheckKind::EntraWhatIf => 0,
        // UDP 443 is closed in the lab by default: the kernel's ICMP answer is not delayed.
        CheckKind::Quic { .. } => 0,
        // Made before planning, read back: no connection.
        CheckKind::ProxyDecision { .. } => 0,
    }
}

/// The scenario at `path` as the bench runs it: with `connect_to` rules, or through `proxy`.
fn load_plan(
    path: &Path,
    connect_to: &[ConnectTo],
    proxy: Option<&str>,
) -> anyhow::Result<(Plan, usize)> {
    let mut s = scenario::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(proxy) = proxy {
        s.vantage.proxy = Some(scenario::parse_proxy(proxy).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok((Plan::build(&s, connect_to), s.limits.concurrency))
}

fn plan_len(path: &Path, connect_to: &[ConnectTo]) -> anyhow::Result<usize> {
    Ok(load_plan(path, connect_to, None)?.0.checks.len())
}

fn physical_limit(path: &Path, connect_to: &[ConnectTo]) -> anyhow::Result<Limit> {
    physical_limit_via(path, connect_to, None)
}

/// As [`physical_limit`], through the explicit proxy at `proxy` when given.
fn physical_limit_via(
    path: &Path,
    connect_to: &[ConnectTo],
    proxy: Option<&str>,
) -> anyhow::Result<Limit> {
    let (plan, concurrency) = load_plan(path, connect_to, proxy)?;
    // Dependencies always come earlier in the plan.
    let mut chain: Vec<u32> = Vec::with_capacity(plan.checks.len());
    let mut work = 0u64;
    for check in &plan.checks {
        let before = check.waits_for.iter().map(|&d| chain[d]).max().unwrap_or(0);
        chain.push(before + lab_delays(check));
        let weight = match &check.kind {
            CheckKind::Egress(o) => u64::from(o.samples.max(1)),
            _ => 1,
        };
        work += u64::from(lab_delays(check)) * weight;
    }
    let longest = chain.iter().copied().max().unwrap_or(0);
    let work_bound = work as f64 / concurrency.max(1) as f64;
    let derivation = if proxy.is_some() {
        "longest chain: an HTTP check or echo sample through the explicit proxy (gateway \
         set-up + origin set-up or CONNECT answer, which overlap + HTTP answer = 3); nothing \
         waits for a resolve, as the proxy resolves"
    } else {
        "longest chain: resolve (1 DNS answer) → HTTP or echo sample through the \
         transparent gateway (gateway set-up + origin set-up + HTTP answer = 3); \
         TLS = 2 (gateway + origin set-up), TCP connect = 0 (the kernel completes the \
         handshake; the lab delays the server side)"
    }
    .to_string();
    let bound = if work_bound > f64::from(longest) {
        "bound by concurrency: lab delays × connections / probes in flight"
    } else {
        "bound by the longest chain"
    };
    Ok(Limit {
        chain: longest,
        checks: plan.checks.len(),
        work_bound,
        derivation,
        bound,
    })
}

/// A scenario of `hosts` login-like lab hosts on 80 and 443 with the bench's observers.
fn scale_scenario(hosts: usize, concurrency: Option<usize>) -> String {
    let names: Vec<String> = (0..hosts)
        .map(|i| format!("\"scale-{i:03}.sipa-lab.test\""))
        .collect();
    let mut text = format!(
        "name = \"scale-{hosts}\"\n[login]\nhosts = [{}]\nports = [80, 443]\n\
         [anchor]\nexpect = [\"127.0.0.2\"]\n",
        names.join(", ")
    );
    for (name, role, url) in [
        (
            "canary-80",
            "anchored",
            "http://canary.sipa-lab.test/echo/ip",
        ),
        (
            "canary-443",
            "anchored",
            "https://canary.sipa-lab.test/echo/ip",
        ),
        (
            "control-80",
            "control",
            "http://control.sipa-lab.test/echo/ip",
        ),
        (
            "control-443",
            "control",
            "https://control.sipa-lab.test/echo/ip",
        ),
    ] {
        let _ = write!(
            text,
            "[[observer]]\nname = \"{name}\"\nrole = \"{role}\"\nurl = \"{url}\"\n"
        );
    }
    text.push_str(
        "[vantage]\nname = \"bench\"\n[limits]\ntimeout = \"5s\"\ndeadline = \"60s\"\nsamples = 3\nfamily = \"4\"\n",
    );
    if let Some(n) = concurrency {
        let _ = writeln!(text, "concurrency = {n}");
    }
    text
}

fn script_args(lab: &Lab) -> Vec<String> {
    vec![
        "--dns".into(),
        lab.dns_addr().to_string(),
        "--http-port".into(),
        lab.transparent_http_addr().port().to_string(),
        "--https-port".into(),
        lab.transparent_https_addr().port().to_string(),
        "--cacert".into(),
        lab.ca_file().display().to_string(),
        "--anchor".into(),
        lab.anchor_ip().to_string(),
    ]
}

/// dig and curl, looked up on PATH without running them (a stray dig would ask the system's
/// resolver, which is not on loopback).
fn missing_tools() -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = ["dig", "curl"]
        .into_iter()
        .filter(|tool| !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .collect();
    (!missing.is_empty()).then(|| missing.join(" and "))
}

/// Cores, CPU model and memory, as the README's Performance section states them.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_string();
    format!("{cores} cores, {model}, {mem_gib:.0} GiB RAM, load average {load} at start")
}

/// A relay on loopback in front of `target` that holds every chunk it reads for `one_way`
/// before passing it on, in each direction: a round trip through it costs twice that, as on a
/// real network (the TCP handshake with the relay itself is not delayed, for either tool).
/// Returns its address; it runs until the runtime stops.
async fn wan_relay(
    target: std::net::SocketAddr,
    one_way: Duration,
) -> io::Result<std::net::SocketAddr> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Holds each chunk for `one_way` from when it was read, in order; EOF passes on the same way.
    async fn carry(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        one_way: Duration,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = from.read(&mut buf).await.unwrap_or(0);
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() || n == 0 {
                    break;
                }
            }
        });
        while let Some((read_at, chunk)) = rx.recv().await {
            tokio::time::sleep_until((read_at + one_way).into()).await;
            if chunk.is_empty() {
                let _ = to.shutdown().await;
                break;
            }
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        reader.abort();
    }
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(upstream) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
                let (client_read, client_write) = client.into_split();
                let (upstream_read, upstream_write) = upstream.into_split();
                tokio::join!(
                    carry(client_read, upstream_write, one_way),
                    carry(upstream_read, client_write, one_way)
                );
            });
        }
    });
    Ok(addr)
}

/// One figure of a proxied turn, if the turn has it (curl's only when curl ran).
type Figure = dyn Fn(&ProxyTurn) -> Option<Duration>;

/// Through the relay against straight to the proxy: the extra time of the one-fetch request,
/// in round trips of the relay, says how many times each tool waits on the proxy.
fn relay_report(
    report: &mut String,
    direct: &[ProxyTurn],
    relayed: &[ProxyTurn],
) -> anyhow::Result<()> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let rtt = ms(LATENCY * 2);
    let median = |turns: &[ProxyTurn], f: &Figure| {
        let values: Vec<Duration> = turns.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| Stats::of(values.into_iter()).median)
    };
    writeln!(
        report,
        "through a relay that holds each chunk {} ms each way between client and proxy (round trip {rtt:.0} ms):",
        LATENCY.as_millis()
    )?;
    let rows: [(&str, &Figure); 5] = [
        ("sipa-check run (whole scenario)", &|t| Some(t.sipa.wall)),
        ("curl --parallel (same requests)", &|t| {
            t.curl.as_ref().map(|s| s.wall)
        }),
        ("sipa-check one-fetch process", &|t| Some(t.once.wall)),
        ("sipa-check one echo sample", &|t| Some(t.once_sample)),
        ("curl one fetch (transfer)", &|t| {
            t.once_curl.as_ref().map(|(_, c)| c.total)
        }),
    ];
    for (what, f) in rows {
        if let (Some(d), Some(r)) = (median(direct, f), median(relayed, f)) {
            writeln!(
                report,
                "  {what}: median {:.0} ms (straight to the proxy {:.0} ms): +{:.0} ms = {:.1} round trips",
                ms(r),
                ms(d),
                ms(r.saturating_sub(d)),
                ms(r.saturating_sub(d)) / rtt
            )?;
        }
    }
    let sipa = median(relayed, &|t| Some(t.sipa.wall));
    let curl = median(relayed, &|t| t.curl.as_ref().map(|s| s.wall));
    if let (Some(s), Some(c)) = (sipa, curl) {
        writeln!(
            report,
            "  sipa-check / curl through the relay = {:.2} (medians)",
            s.as_secs_f64() / c.as_secs_f64()
        )?;
    }
    Ok(())
}

/// The proxied series: sipa-check through the lab's explicit proxy, and curl making the same
/// requests through the same proxy.
struct Proxied<'a> {
    binary: &'a Path,
    /// `sipa-check run` flags that reach the lab through its proxy.
    flags: &'a [String],
    proxy: &'a str,
    ca_file: PathBuf,
    /// The bench scenario's requests: every login host × port, every echo sample.
    requests: Vec<CurlRequest>,
    /// The one echo fetch of [`ECHO_ONCE`].
    once_requests: Vec<CurlRequest>,
    /// Where the one-fetch run writes its JSON report.
    json: PathBuf,
    /// Whether curl is on PATH.
    curl: bool,
}

/// One turn of the proxied series.
struct ProxyTurn {
    sipa: Sample,
    curl: Option<Sample>,
    once: Sample,
    /// The one-fetch run's own time, as its JSON report gives it (no process start or exit).
    once_run: Duration,
    /// The echo sample's time, from its client's creation to the answer read.
    once_sample: Duration,
    /// curl's one fetch: the process, and curl's own timings of the transfer.
    once_curl: Option<(Sample, CurlTimes)>,
}

/// A URL curl fetches, with the status the lab must answer.
#[derive(Clone)]
struct CurlRequest {
    url: String,
    status: u16,
    echo: bool,
}

/// curl's `--write-out` timings of one transfer, from its start.
#[derive(Clone, Copy)]
struct CurlTimes {
    connect: Duration,
    appconnect: Duration,
    starttransfer: Duration,
    total: Duration,
}

impl Proxied<'_> {
    fn turn(&self) -> anyhow::Result<ProxyTurn> {
        let mut cmd = Command::new(self.binary);
        cmd.arg("run").arg(SCENARIO).args(self.flags);
        let sipa = measure(cmd, &format!("sipa-check run {SCENARIO} --proxy"))?;
        let curl = if self.curl {
            Some(self.curl_run(&self.requests, "curl --parallel")?.0)
        } else {
            None
        };
        let mut cmd = Command::new(self.binary);
        cmd.arg("run")
            .arg(ECHO_ONCE)
            .args(self.flags)
            .arg("--json")
            .arg(&self.json);
        // Exit 3: a single observer leaves port 80 and the control unverified, which the
        // report says; the sample itself must pass (checked in its JSON).
        let (once, _) = measure_output(cmd, &format!("sipa-check run {ECHO_ONCE} --proxy"), &[3])?;
        let (once_run, once_sample) = echo_once_times(&std::fs::read_to_string(&self.json)?)?;
        let once_curl = if self.curl {
            let (sample, times) = self.curl_run(&self.once_requests, "curl (one fetch)")?;
            Some((sample, times[0]))
        } else {
            None
        };
        Ok(ProxyTurn {
            sipa,
            curl,
            once,
            once_run,
            once_sample,
            once_curl,
        })
    }

    /// curl fetching `requests` through the proxy, all at once, each on a connection of its own
    /// (`Connection: close`, as sipa-check's samples), the chain checked against the lab CA.
    /// Fails unless every answer has its expected status.
    fn curl_run(
        &self,
        requests: &[CurlRequest],
        what: &str,
    ) -> anyhow::Result<(Sample, Vec<CurlTimes>)> {
        let mut cmd = Command::new("curl");
        // -q first: no ~/.curlrc. --proxy overrides any proxy from the environment, so every
        // connection goes to the lab's proxy on loopback, which resolves the lab names itself.
        cmd.args(["-q", "--silent", "--show-error", "--no-progress-meter"])
            .arg("--proxy")
            .arg(self.proxy)
            .arg("--cacert")
            .arg(&self.ca_file)
            .args(["--header", "Connection: close"])
            .args([
                "--write-out",
                "%{http_code} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total} %{url}\\n",
            ]);
        if requests.len() > 1 {
            cmd.args(["--parallel", "--parallel-immediate", "--parallel-max"])
                .arg(requests.len().to_string());
        }
        for request in requests {
            cmd.args(["--output", "/dev/null", &request.url]);
        }
        let (sample, text) = measure_output(cmd, what, &[0])?;
        let mut times = Vec::with_capacity(requests.len());
        let mut left: Vec<&CurlRequest> = requests.iter().collect();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [status, connect, appconnect, starttransfer, total, url] = fields[..] else {
                bail!("{what}: unexpected output line {line:?}");
            };
            let Some(at) = left.iter().position(|r| r.url == url) else {
                bail!("{what}: an answer for {url} that was not asked for, or twice");
            };
            let request = left.swap_remove(at);
            if status != request.status.to_string() {
                bail!("{what}: {url} answered {status}, not {}", request.status);
            }
            let secs = |s: &str| -> anyhow::Result<Duration> {
                Ok(Duration::from_secs_f64(s.parse::<f64>()?))
            };
            times.push(CurlTimes {
                connect: secs(connect)?,
                appconnect: secs(appconnect)?,
                starttransfer: secs(starttransfer)?,
                total: secs(total)?,
            });
        }
        if let Some(missing) = left.first() {
            bail!("{what}: no answer for {}", missing.url);
        }
        Ok((sample, times))
    }
}

/// The requests sipa-check makes for the scenario at `path`: each login host × port's URL (a
/// redirect on 80, the OpenID configuration on 443) and each echo sample.
fn curl_requests(path: &Path) -> anyhow::Result<Vec<CurlRequest>> {
    let s = scenario::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut requests = Vec::new();
    for host in &s.login.hosts {
        for &port in &s.login.ports {
            let tls = port.is_tls();
            let path = if tls {
                s.login.openid_path.as_str()
            } else {
                "/"
            };
            let url = sipa_check::probe::http::login_url(host.as_str(), port, path)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            requests.push(CurlRequest {
                url: url.to_string(),
                status: if tls { 200 } else { 301 },
                echo: false,
            });
        }
    }
    for observer in &s.observers {
        for _ in 0..observer.samples.max(1) {
            requests.push(CurlRequest {
                url: observer.url.to_string(),
                status: 200,
                echo: true,
            });
        }
    }
    Ok(requests)
}

/// The one-fetch run's time and its echo sample's, from its JSON report.
fn echo_once_times(json: &str) -> anyhow::Result<(Duration, Duration)> {
    let doc: serde_json::Value = serde_json::from_str(json)?;
    fn find<'v>(
        v: &'v serde_json::Value,
        hit: &dyn Fn(&serde_json::Map<String, serde_json::Value>) -> bool,
    ) -> Option<&'v serde_json::Map<String, serde_json::Value>> {
        match v {
            serde_json::Value::Object(map) if hit(map) => Some(map),
            serde_json::Value::Object(map) => map.values().find_map(|v| find(v, hit)),
            serde_json::Value::Array(items) => items.iter().find_map(|v| find(v, hit)),
            _ => None,
        }
    }
    let ms = |map: &serde_json::Map<String, serde_json::Value>| {
        map.get("elapsed_ms")
            .and_then(serde_json::Value::as_f64)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
    };
    let run = find(&doc, &|m| {
        m.contains_key("checks") && m.contains_key("elapsed_ms")
    })
    .and_then(ms)
    .context("the JSON report has no run time")?;
    let echo = find(&doc, &|m| {
        m.get("stage").and_then(|s| s.as_str()) == Some("egress") && m.contains_key("observation")
    })
    .context("the JSON report has no echo check")?;
    if echo.get("status").and_then(|s| s.as_str()) != Some("pass") {
        bail!(
            "the echo check of {ECHO_ONCE} did not pass: {}",
            echo["reason"]
        );
    }
    let samples = echo["observation"]["samples"]
        .as_array()
        .context("the JSON report has no echo samples")?;
    let sample = samples
        .first()
        .and_then(|s| s.as_object())
        .and_then(ms)
        .context("the echo sample has no time")?;
    Ok((run, sample))
}

/// curl, looked up on PATH without running it.
fn missing_curl() -> Option<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    (!std::env::split_paths(&path).any(|dir| dir.join("curl").is_file())).then_some("curl")
}

fn proxy_report(
    report: &mut String,
    turns: &[ProxyTurn],
    limit: &Limit,
    once_limit: &Limit,
    requests: usize,
) -> anyhow::Result<()> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let sipa = Stats::of(turns.iter().map(|t| t.sipa.wall));
    writeln!(
        report,
        "through the lab's explicit proxy (--proxy): physical limit {} lab delays × {} ms = {:.0} ms",
        limit.chain,
        LATENCY.as_millis(),
        ms(limit.duration())
    )?;
    writeln!(report, "  {}", limit.derivation)?;
    writeln!(
        report,
        "  sipa-check ({} checks, {} runs): median {:.0} ms, min {:.0} ms = {:.2} × the limit (median)",
        limit.checks,
        turns.len(),
        ms(sipa.median),
        ms(sipa.min),
        ratio(sipa.median, limit.duration())
    )?;
    let once = Stats::of(turns.iter().map(|t| t.once.wall));
    let once_run = Stats::of(turns.iter().map(|t| t.once_run));
    let once_sample = Stats::of(turns.iter().map(|t| t.once_sample));
    let curls: Vec<&Sample> = turns.iter().filter_map(|t| t.curl.as_ref()).collect();
    if curls.is_empty() {
        writeln!(
            report,
            "  curl --parallel through the same proxy: SKIPPED, curl missing (apt-get install curl)"
        )?;
    } else {
        let curl = Stats::of(curls.iter().map(|s| s.wall));
        writeln!(
            report,
            "  curl --parallel --parallel-max {requests}, the same {requests} requests (every login host × port, every echo sample) through the same proxy: median {:.0} ms, min {:.0} ms",
            ms(curl.median),
            ms(curl.min)
        )?;
        writeln!(
            report,
            "  sipa-check / curl = {:.2} (medians; min {:.2})",
            ratio(sipa.median, curl.median),
            ratio(sipa.min, curl.min)
        )?;
    }
    writeln!(
        report,
        "  one HTTPS echo fetch ({ECHO_ONCE}, limit {:.0} ms): sipa-check process median {:.0} ms (its run {:.0} ms, the sample {:.0} ms)",
        ms(once_limit.duration()),
        ms(once.median),
        ms(once_run.median),
        ms(once_sample.median)
    )?;
    let once_curls: Vec<&(Sample, CurlTimes)> =
        turns.iter().filter_map(|t| t.once_curl.as_ref()).collect();
    if !once_curls.is_empty() {
        let process = Stats::of(once_curls.iter().map(|(s, _)| s.wall));
        let pick = |f: fn(&CurlTimes) -> Duration| Stats::of(once_curls.iter().map(|(_, t)| f(t)));
        let total = pick(|t| t.total);
        writeln!(
            report,
            "  one curl fetch of the same URL: process median {:.0} ms (the transfer {:.0} ms: proxy connected {:.1} ms, TLS done {:.0} ms, first byte {:.0} ms)",
            ms(process.median),
            ms(total.median),
            ms(pick(|t| t.connect).median),
            ms(pick(|t| t.appconnect).median),
            ms(pick(|t| t.starttransfer).median),
        )?;
        writeln!(
            report,
            "  one fetch, sipa-check / curl: process {:.2}, request {:.2} (medians)",
            ratio(once.median, process.median),
            ratio(once_sample.median, total.median)
        )?;
    }
    writeln!(
        report,
        "  the whole proxied run / one sipa-check fetch = {:.2} (medians)",
        ratio(sipa.median, once.median)
    )?;
    Ok(())
}
