//! The DNS HTTPS record probe against real DNS servers on loopback: the lab's (hickory-server),
//! a scripted one answering records with every parameter the verdict reads, an alias, and a
//! hostile one whose HTTPS records are malformed or oversized; and `sipa-check lab` end to end
//! with the `https-hint-bypass` fault. Loopback only.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::rdata::svcb::{
    Alpn, EchConfigList, IpHint, SVCB, SvcParamKey, SvcParamValue,
};
use hickory_server::proto::rr::rdata::{A, AAAA, HTTPS};
use hickory_server::proto::rr::{Name, RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use common::cli::{sipa, text};
use sipa_check::lab::{Fault, Lab, LabConfig};
use sipa_check::observation::{
    HttpsQueryFailure, HttpsRecordObservation, HttpsRecordOutcome, Observation,
};
use sipa_check::outcome::Status;
use sipa_check::probe::{DnsClient, ProbeCtx, TrustStore, https_record};

fn ctx(dns: SocketAddr) -> ProbeCtx {
    ProbeCtx {
        dns: DnsClient::new(&[dns], Duration::from_secs(2)).expect("a DNS client"),
        trust: Arc::new(TrustStore::load(&[]).expect("trust")),
        connect_to: Vec::new(),
        proxy: None,
        timeout: Duration::from_secs(3),
        entra: None,
        bind: None,
    }
}

async fn read_record(dns: SocketAddr, host: &str) -> HttpsRecordObservation {
    let spec = https_record::Spec { host: host.into() };
    match https_record::run(&spec, &ctx(dns)).await {
        Observation::HttpsRecord(r) => r,
        other => panic!("not an HTTPS record observation: {other:?}"),
    }
}

async fn lab(faults: &[Fault]) -> Lab {
    Lab::start(LabConfig {
        faults: faults.to_vec(),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_login_hosts_publish_a_record_and_other_names_none() {
    let lab = lab(&[]).await;
    let r = read_record(lab.dns_addr(), "login.windows.net").await;
    let HttpsRecordOutcome::Records { records } = &r.outcome else {
        panic!("{r:?}");
    };
    assert_eq!(records.len(), 1, "{records:?}");
    let rec = &records[0];
    assert_eq!(rec.priority, 1);
    assert_eq!(rec.target, ".");
    assert_eq!(rec.alpn, ["h2"]);
    assert_eq!(rec.ipv4hint, [Ipv4Addr::new(127, 0, 0, 1)]);
    assert!(rec.ipv6hint.is_empty());
    assert_eq!(rec.port, None);
    assert_eq!(rec.ech_config_bytes, None);
    assert_eq!(rec.ttl, 300);
    assert!(!r.offers_h3());
    assert_eq!(r.resolvers, [lab.dns_addr().to_string()]);

    let none = read_record(lab.dns_addr(), "canary.sipa-lab.test").await;
    assert_eq!(none.outcome, HttpsRecordOutcome::NoRecord);
    let nx = read_record(lab.dns_addr(), "nowhere.example").await;
    assert_eq!(nx.outcome, HttpsRecordOutcome::NxDomain);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_dns_faults_answer_the_https_query_too() {
    let lab = lab(&[Fault::DnsServfail]).await;
    let r = read_record(lab.dns_addr(), "login.windows.net").await;
    assert_eq!(
        r.outcome,
        HttpsRecordOutcome::Failed {
            failure: HttpsQueryFailure::ServFail
        }
    );
    lab.shutdown().await;
    let lab = lab_with_bypass().await;
    let r = read_record(lab.dns_addr(), "login.microsoftonline.com").await;
    assert_eq!(r.records()[0].ipv4hint, [Ipv4Addr::new(127, 0, 0, 99)]);
    lab.shutdown().await;
}

async fn lab_with_bypass() -> Lab {
    lab(&[Fault::HttpsHintBypass]).await
}

/// How a scripted server answers: the raw response to a query's raw bytes.
type Answer = fn(&[u8]) -> Vec<u8>;

/// A DNS server on one loopback port (UDP and TCP) answering every query with `answer(query)`:
/// the raw bytes of the response, built from the query's bytes.
async fn scripted(answer: Answer) -> SocketAddr {
    // The kernel picks the UDP port; its TCP twin may be taken meanwhile: then another.
    let mut attempts = 0;
    let (udp, tcp, addr) = loop {
        attempts += 1;
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = udp.local_addr().expect("addr");
        match TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, tcp, addr),
            Err(e) if attempts >= 8 => panic!("no UDP and TCP port pair on loopback: {e}"),
            Err(_) => continue,
        }
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, from)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&answer(&buf[..len]), from).await;
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                while stream.read_exact(&mut len).await.is_ok() {
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut query).await.is_err() {
                        return;
                    }
                    let out = answer(&query);
                    let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                    framed.extend(out);
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A well-formed answer to `query` with `records` (owned by the question's name).
fn answer_with(query: &[u8], records: Vec<RData>) -> Vec<u8> {
    let request = Message::from_vec(query).expect("a query");
    let name = request.queries[0].name().clone();
    let mut response = request.into_response();
    response.metadata.response_code = ResponseCode::NoError;
    for rdata in records {
        response.add_answer(Record::from_rdata(name.clone(), 60, rdata));
    }
    response.to_vec().expect("encodes")
}

fn full_record(query: &[u8]) -> Vec<u8> {
    let params = vec![
        (
            SvcParamKey::Alpn,
            SvcParamValue::Alpn(Alpn(vec!["h3".into(), "h2".into()])),
        ),
        (SvcParamKey::Port, SvcParamValue::Port(8443)),
        (
            SvcParamKey::Ipv4Hint,
            SvcParamValue::Ipv4Hint(IpHint(vec![
                A(Ipv4Addr::new(127, 0, 0, 7)),
                A(Ipv4Addr::new(127, 0, 0, 8)),
            ])),
        ),
        (
            SvcParamKey::EchConfigList,
            SvcParamValue::EchConfigList(EchConfigList(vec![0xfe; 71])),
        ),
        (
            SvcParamKey::Ipv6Hint,
            SvcParamValue::Ipv6Hint(IpHint(vec![AAAA(Ipv6Addr::LOCALHOST)])),
        ),
    ];
    let second = vec![(
        SvcParamKey::Alpn,
        SvcParamValue::Alpn(Alpn(vec!["h2".into()])),
    )];
    answer_with(
        query,
        vec![
            RData::HTTPS(HTTPS(SVCB::new(
                2,
                Name::from_ascii("backup.example.").unwrap(),
                second,
            ))),
            RData::HTTPS(HTTPS(SVCB::new(1, Name::root(), params))),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_the_verdict_reads_is_parsed_and_the_ech_bytes_are_not_kept() {
    let dns = scripted(full_record).await;
    let r = read_record(dns, "login.microsoftonline.com").await;
    let records = r.records();
    assert_eq!(records.len(), 2, "{r:?}");
    // By priority.
    let first = &records[0];
    assert_eq!(first.priority, 1);
    assert_eq!(first.alpn, ["h3", "h2"]);
    assert_eq!(first.port, Some(8443));
    assert_eq!(
        first.ipv4hint,
        [Ipv4Addr::new(127, 0, 0, 7), Ipv4Addr::new(127, 0, 0, 8)]
    );
    assert_eq!(first.ipv6hint, [Ipv6Addr::LOCALHOST]);
    assert_eq!(first.ech_config_bytes, Some(71));
    assert_eq!(first.ttl, 60);
    assert_eq!(records[1].priority, 2);
    assert_eq!(records[1].target, "backup.example.");
    assert!(r.offers_h3());
    let json = serde_json::to_string(&Observation::HttpsRecord(r.clone())).unwrap();
    assert!(json.contains("\"ech_config_bytes\":71"), "{json}");
    assert!(!json.to_ascii_lowercase().contains("fefe"), "{json}");
    assert_eq!(
        first.show(),
        "1 . alpn=h3,h2 port=8443 ipv4hint=127.0.0.7,127.0.0.8 ipv6hint=::1 ech=(71 bytes)"
    );
}

/// `alias.test` is an AliasMode record to `svc.test`, which has the ServiceMode record;
/// `loop.test` aliases to `loop2.test`, itself an alias.
fn aliases(query: &[u8]) -> Vec<u8> {
    let request = Message::from_vec(query).expect("a query");
    let asked = request.queries[0].name().to_ascii();
    let alias = |to: &str| {
        RData::HTTPS(HTTPS(SVCB::new(
            0,
            Name::from_ascii(to).unwrap(),
            Vec::new(),
        )))
    };
    let record = match asked.as_str() {
        "alias.test." => alias("svc.test."),
        "loop.test." => alias("loop2.test."),
        "loop2.test." => alias("loop3.test."),
        "gone.test." => alias("."),
        _ => RData::HTTPS(HTTPS(SVCB::new(
            1,
            Name::root(),
            vec![(
                SvcParamKey::Ipv4Hint,
                SvcParamValue::Ipv4Hint(IpHint(vec![A(Ipv4Addr::new(127, 0, 0, 5))])),
            )],
        ))),
    };
    answer_with(query, vec![record])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_is_followed_once() {
    let dns = scripted(aliases).await;
    let r = read_record(dns, "alias.test").await;
    assert_eq!(r.alias.as_deref(), Some("svc.test."));
    assert_eq!(r.records()[0].ipv4hint, [Ipv4Addr::new(127, 0, 0, 5)]);
    let r = read_record(dns, "loop.test").await;
    assert_eq!(
        r.outcome,
        HttpsRecordOutcome::AliasChain {
            target: "loop3.test.".into()
        }
    );
    let r = read_record(dns, "gone.test").await;
    assert_eq!(r.outcome, HttpsRecordOutcome::NoRecord);
}

/// A response to `query` whose one answer is an HTTPS record with `rdata` as its bytes and
/// `rdlength` as its announced length.
fn raw_answer(query: &[u8], rdlength: u16, rdata: &[u8]) -> Vec<u8> {
    // The question: the labels after the 12-byte header, their terminating zero, type, class.
    let mut end = 12;
    while query[end] != 0 {
        end += 1 + usize::from(query[end]);
    }
    end += 1 + 4;
    let mut out = query[..2].to_vec();
    out.extend([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend(&query[12..end]);
    out.extend([0xc0, 0x0c, 0x00, 0x41, 0x00, 0x01, 0, 0, 1, 44]);
    out.extend(rdlength.to_be_bytes());
    out.extend(rdata);
    out
}

/// priority 1, target ".", then the parameters.
fn svcb(params: &[u8]) -> Vec<u8> {
    let mut r = vec![0, 1, 0];
    r.extend(params);
    r
}

fn ipv4hint_of_five_bytes(query: &[u8]) -> Vec<u8> {
    let r = svcb(&[0, 4, 0, 5, 127, 0, 0, 1, 127]);
    raw_answer(query, r.len() as u16, &r)
}

fn a_parameter_longer_than_its_record(query: &[u8]) -> Vec<u8> {
    let r = svcb(&[0, 1, 0, 64, 2, b'h', b'2']);
    raw_answer(query, r.len() as u16, &r)
}

fn an_alpn_id_longer_than_its_parameter(query: &[u8]) -> Vec<u8> {
    let r = svcb(&[0, 1, 0, 3, 5, b'h', b'2']);
    raw_answer(query, r.len() as u16, &r)
}

fn a_record_announcing_more_than_the_message_holds(query: &[u8]) -> Vec<u8> {
    let r = svcb(&[0, 1, 0, 3, 2, b'h', b'2']);
    raw_answer(query, u16::MAX, &r)
}

fn an_oversized_ipv6hint(query: &[u8]) -> Vec<u8> {
    // 4000 bytes of hints in a 16-byte-aligned list would be 250 addresses; one byte short.
    let mut params = vec![0, 6];
    params.extend(3999u16.to_be_bytes());
    params.extend(vec![0u8; 3999]);
    let r = svcb(&params);
    raw_answer(query, r.len() as u16, &r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_oversized_record_is_a_typed_failure_never_a_panic() {
    let cases: [(&str, Answer); 5] = [
        ("ipv4hint of 5 bytes", ipv4hint_of_five_bytes),
        (
            "a parameter longer than its record",
            a_parameter_longer_than_its_record,
        ),
        (
            "an alpn id longer than its parameter",
            an_alpn_id_longer_than_its_parameter,
        ),
        (
            "a record announcing more than the message holds",
            a_record_announcing_more_than_the_message_holds,
        ),
        ("an oversized ipv6hint", an_oversized_ipv6hint),
    ];
    for (what, answer) in cases {
        let dns = scripted(answer).await;
        let r = read_record(dns, "login.windows.net").await;
        match &r.outcome {
            HttpsRecordOutcome::Failed {
                failure: HttpsQueryFailure::Malformed { causes },
            } => assert!(!causes.is_empty(), "{what}"),
            other => panic!("{what}: expected a malformed answer, got {other:?}"),
        }
        // How the verdict says it.
        let HttpsRecordOutcome::Failed { failure } = &r.outcome else {
            unreachable!()
        };
        let shown = failure.to_string();
        assert!(shown.starts_with("an unreadable answer"), "{what}: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_never_answers_is_a_timeout_within_the_probes_bound() {
    // Bound on UDP and TCP, answering neither.
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.ok();
    let mut ctx = ctx(addr);
    ctx.dns = DnsClient::new(&[addr], Duration::from_millis(500)).unwrap();
    ctx.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let spec = https_record::Spec {
        host: "login.windows.net".into(),
    };
    let Observation::HttpsRecord(r) = https_record::run(&spec, &ctx).await else {
        panic!("not an HTTPS record observation")
    };
    assert_eq!(
        r.outcome,
        HttpsRecordOutcome::Failed {
            failure: HttpsQueryFailure::Timeout
        }
    );
    assert!(started.elapsed() < Duration::from_millis(1500), "{r:?}");
    drop((udp, tcp));
}

/// A and AAAA answered, the HTTPS query answered with a malformed record.
fn good_addresses_bad_https(query: &[u8]) -> Vec<u8> {
    let request = Message::from_vec(query).expect("a query");
    match u16::from(request.queries[0].query_type()) {
        65 => ipv4hint_of_five_bytes(query),
        1 => answer_with(query, vec![RData::A(A(Ipv4Addr::LOCALHOST))]),
        _ => answer_with(query, vec![]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_dns_sends_a_malformed_https_record_skips_that_check_with_the_reason() {
    let dns = scripted(good_addresses_bad_https).await;
    let text = format!(
        "name = \"hostile\"\n[login]\nhosts = [\"login.windows.net\"]\nports = [443]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[vantage]\ndns = [\"{dns}\"]\n[limits]\ntimeout = \"1s\"\n"
    );
    let s = sipa_check::scenario::load_str(
        &text,
        std::path::Path::new("hostile.toml"),
        sipa_check::scenario::Format::Toml,
    )
    .expect("the scenario");
    let run = common::run_quietly(&s, Vec::new()).await;
    let o = run
        .checks
        .iter()
        .find(|o| o.name == "login.windows.net https record")
        .expect("the https record check");
    assert_eq!(o.status, Status::Skip, "{}", o.reason);
    assert!(
        o.reason
            .starts_with("the HTTPS record could not be read (an unreadable answer"),
        "{}",
        o.reason
    );
    assert!(!o.causes.is_empty());
    let resolve = run
        .checks
        .iter()
        .find(|o| o.name == "login.windows.net resolve (ipv4)")
        .expect("the resolve check");
    assert_eq!(resolve.status, Status::Pass, "{}", resolve.reason);
}

/// A and AAAA answered, the HTTPS query with a record whose alpn ids carry terminal escapes
/// and whose hint lies outside the A answer (so the record's text lands in a failure too).
fn escapes_in_the_alpn(query: &[u8]) -> Vec<u8> {
    let request = Message::from_vec(query).expect("a query");
    match u16::from(request.queries[0].query_type()) {
        65 => answer_with(
            query,
            vec![RData::HTTPS(HTTPS(SVCB::new(
                1,
                Name::root(),
                vec![
                    (
                        SvcParamKey::Alpn,
                        SvcParamValue::Alpn(Alpn(vec![
                            "h2\u{1b}]0;pwned\u{7}".into(),
                            "\u{1b}[2Jh3".into(),
                        ])),
                    ),
                    (
                        SvcParamKey::Ipv4Hint,
                        SvcParamValue::Ipv4Hint(IpHint(vec![A(Ipv4Addr::new(127, 0, 0, 99))])),
                    ),
                ],
            )))],
        ),
        1 => answer_with(query, vec![RData::A(A(Ipv4Addr::LOCALHOST))]),
        _ => answer_with(query, vec![]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_in_a_record_never_reach_the_terminal_or_junit() {
    use sipa_check::outcome::RunReport;
    use sipa_check::report::human::{self, HumanStyle};

    let dns = scripted(escapes_in_the_alpn).await;
    let text = format!(
        "name = \"escapes\"\n[login]\nhosts = [\"login.windows.net\"]\nports = [443]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[vantage]\ndns = [\"{dns}\"]\n[limits]\ntimeout = \"1s\"\n"
    );
    let s = sipa_check::scenario::load_str(
        &text,
        std::path::Path::new("escapes.toml"),
        sipa_check::scenario::Format::Toml,
    )
    .expect("the scenario");
    let run = common::run_quietly(&s, Vec::new()).await;
    let o = run
        .checks
        .iter()
        .find(|o| o.name == "login.windows.net https record")
        .expect("the https record check");
    assert_eq!(o.status, Status::Fail, "{}", o.reason);
    // The record kept what the server said; only the renderers make it safe.
    assert!(o.observed.contains("\u{1b}]0;pwned"), "{}", o.observed);
    let report = RunReport::new(vec![run.clone()]);
    for verbose in [false, true] {
        let mut out = Vec::new();
        let style = HumanStyle {
            color: false,
            verbose,
            ..HumanStyle::default()
        };
        human::write(&report, &mut out, style).expect("the human report");
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("ipv4hint=127.0.0.99"), "{out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out}");
    }
    let mut xml = Vec::new();
    sipa_check::report::junit::write(&report, &mut xml).expect("JUnit");
    let xml = String::from_utf8(xml).unwrap();
    assert!(
        !xml.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
        "a control character in the JUnit XML"
    );
}

#[test]
fn sipa_check_lab_fails_a_hint_around_the_gateway_and_writes_the_record_in_json() {
    let dir = std::env::temp_dir().join(format!("sipa-check-https-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("r.json");
    let out = sipa()
        .args(["lab", "--fault", "https-hint-bypass", "--json"])
        .arg(&json)
        .output()
        .expect("sipa-check runs");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("the HTTPS record's ipv4hint 127.0.0.99 is not among the addresses verified (A 127.0.0.1): a browser may connect there around the anchored path"),
        "{stdout}"
    );
    assert!(stdout.contains("https-hint-off-path"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let checks = doc["runs"][0]["checks"].as_array().unwrap();
    let https: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c["observation"]["kind"] == "https_record")
        .collect();
    assert_eq!(https.len(), 3, "one per login host");
    for c in https {
        let rec = &c["observation"]["outcome"]["records"][0];
        assert_eq!(rec["alpn"], serde_json::json!(["h2"]), "{c}");
        let bypassed = c["name"] == "login.microsoftonline.com https record";
        let hint = if bypassed { "127.0.0.99" } else { "127.0.0.1" };
        assert_eq!(rec["ipv4hint"], serde_json::json!([hint]), "{c}");
        assert_eq!(c["status"], if bypassed { "fail" } else { "pass" }, "{c}");
        if bypassed {
            assert_eq!(c["diagnosis"]["cause"], "https-hint-off-path", "{c}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
