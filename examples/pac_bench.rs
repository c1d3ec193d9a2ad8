//! The cost of following a PAC file: a realistic PAC (a ZIA hosted PAC's shape with a
//! Microsoft 365 bypass list of 150 patterns, walked in full for every URL before the login
//! hosts go through ZIA: the worst place for them) compiled once,
//! then `FindProxyForURL` asked for every probe of a 100-host scenario (100 hosts × 80/443,
//! plus a canary and a control), exactly as a run does it (`pac::decide_all`, which also
//! parses each answer and looks for its line). Prints the figures; fails above the 10 ms budget.
//!
//! ```sh
//! cargo run --release --example pac_bench
//! ```

use std::time::{Duration, Instant};

use sipa_check::pac::{DecisionSource, Engine, EngineLimits, HostEnv, decide_all};
use sipa_check::scenario::{self, Format};

const BUDGET: Duration = Duration::from_millis(10);
const ROUNDS: usize = 25;

/// The PAC file; with `all_direct`, its bypass list catches every host of the scenario (the
/// failing case, where each login host's deciding `return` is traced among two).
fn pac(all_direct: bool) -> String {
    let mut bypass = String::new();
    if all_direct {
        bypass.push_str("        shExpMatch(h, \"*.sipa-lab.test\") ||\n");
    }
    for i in 0..150 {
        bypass.push_str(&format!(
            "        shExpMatch(h, \"*.m365-endpoint-{i:03}.example.com\") ||\n"
        ));
    }
    format!(
        "// ZIA hosted PAC shape, with a Microsoft 365 bypass list.\n\
         function FindProxyForURL(url, host) {{\n\
         \x20   var h = host.toLowerCase();\n\
         \x20   if (isPlainHostName(h) || /^(10|127|192\\.168)\\./.test(h)) return \"DIRECT\";\n\
         \x20   if (\n{bypass}        shExpMatch(h, \"*.sharepoint.com\"))\n\
         \x20       return \"DIRECT\";\n\
         \x20   if (dnsDomainIs(h, \"login.microsoftonline.com\") || dnsDomainIs(h, \"login.windows.net\") ||\n\
         \x20       dnsDomainIs(h, \"login.microsoft.com\") || dnsDomainIs(h, \".sipa-lab.test\"))\n\
         \x20       return \"PROXY 127.0.0.1:9400; PROXY 127.0.0.1:9401; DIRECT\";\n\
         \x20   return \"PROXY 127.0.0.1:80; DIRECT\";\n\
         }}\n"
    )
}

fn scenario_text() -> String {
    let hosts: Vec<String> = (0..100)
        .map(|i| format!("\"scale-{i:03}.sipa-lab.test\""))
        .collect();
    format!(
        "name = \"pac-bench\"\n[login]\nhosts = [{}]\nports = [80, 443]\n\
         [anchor]\nexpect = [\"127.0.0.2\"]\n\
         [[observer]]\nname = \"canary\"\nrole = \"anchored\"\nurl = \"https://canary.sipa-lab.test/echo/ip\"\n\
         [[observer]]\nname = \"control\"\nrole = \"control\"\nurl = \"https://control.sipa-lab.test/echo/ip\"\n",
        hosts.join(", ")
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let s = scenario::load_str(
        &scenario_text(),
        std::path::Path::new("pac-bench.toml"),
        Format::Toml,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let targets = sipa_check::probe::pac::targets(&s);
    for all_direct in [false, true] {
        let script = pac(all_direct);
        let source = DecisionSource::Pac {
            location: "pac-bench.pac".into(),
        };
        let env = || HostEnv::offline(vec!["127.0.0.9".parse().unwrap()]);
        let (mut compiles, mut decides, mut totals) = (Vec::new(), Vec::new(), Vec::new());
        let mut decided = 0;
        let mut traced = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let engine = Engine::compile(&script, env(), EngineLimits::default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let compiled = started.elapsed();
            let asked = Instant::now();
            let decisions = decide_all(&engine, &script, source.clone(), &targets);
            decides.push(asked.elapsed());
            compiles.push(compiled);
            totals.push(started.elapsed());
            decided = decisions.targets.values().filter(|d| d.is_ok()).count();
            traced = decisions
                .targets
                .values()
                .filter(|d| d.as_ref().is_ok_and(|d| d.line.is_some()))
                .count();
            assert_eq!(decided, decisions.targets.len(), "every target decided");
        }
        let per_call = median(decides.clone()) / targets.len() as u32;
        let total = median(totals);
        println!(
            "{}: PAC file of {} bytes; {} URLs ({decided} targets: 100 hosts × 80/443, canary and control on 443; {traced} with the deciding line)",
            if all_direct {
                "every host DIRECT (the failing case, its line traced)"
            } else {
                "every login host through the proxy"
            },
            script.len(),
            targets.len()
        );
        println!(
            "  compile: median {:.2} ms; FindProxyForURL for every target: median {:.2} ms ({:.1} µs a URL); together: median {:.2} ms ({ROUNDS} rounds); budget {} ms",
            median(compiles).as_secs_f64() * 1e3,
            median(decides).as_secs_f64() * 1e3,
            per_call.as_secs_f64() * 1e6,
            total.as_secs_f64() * 1e3,
            BUDGET.as_millis()
        );
        if !all_direct {
            anyhow::ensure!(
                total < BUDGET,
                "the PAC decisions take {total:?}, over the {BUDGET:?} budget"
            );
        }
    }
    Ok(())
}
