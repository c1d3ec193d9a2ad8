//! Property tests of the echo-answer parser: whatever an echo service answers (any headers, any
//! bytes), `read_ip` never panics, and it reports an address only when the answer, read the way
//! the observer's extractor says, holds exactly one IP address — that very address.
//!
//! The default case count keeps `cargo test` fast; a campaign sets more:
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz_echo`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sipa_check::observation::SampleOutcome;
use sipa_check::probe::egress::read_ip;
use sipa_check::scenario::Extract;

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- the oracle: an independent statement of what each extractor designates ----

/// The text the extractor points at, or `None` when the answer designates nothing.
fn designated(extract: &Extract, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    match extract {
        Extract::Text => std::str::from_utf8(body).ok().map(str::to_string),
        Extract::Header(name) => {
            // Header names compare case-insensitively; an invalid name names no header.
            let wanted = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let mut values = headers
                .iter()
                .filter(|(n, _)| **n == wanted)
                .map(|(_, v)| v);
            let one = values.next()?;
            if values.next().is_some() {
                return None;
            }
            std::str::from_utf8(one.as_bytes()).ok().map(str::to_string)
        }
        Extract::JsonPointer(pointer) => {
            let text = std::str::from_utf8(body).ok()?;
            let doc: serde_json::Value = serde_json::from_str(text).ok()?;
            doc.pointer(pointer)?.as_str().map(str::to_string)
        }
        Extract::Regex(re) => {
            let text = std::str::from_utf8(body).ok()?;
            let caps = re.captures(text)?;
            // With a group, the address is the first group's text; without one, the match's.
            let group = if re.captures_len() > 1 { 1 } else { 0 };
            caps.get(group).map(|m| m.as_str().to_string())
        }
    }
}

/// The one IP address a designated text is, if it is exactly one (whitespace and commas
/// separate words; anything else is part of a word).
fn exactly_one_ip(text: &str) -> Option<IpAddr> {
    let mut words = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty());
    let one = words.next()?;
    if words.next().is_some() {
        return None;
    }
    one.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn check(extract: &Extract, headers: &HeaderMap, body: &[u8]) -> Result<(), TestCaseError> {
    let got = read_ip(extract, headers, body);
    let want = designated(extract, headers, body)
        .as_deref()
        .and_then(exactly_one_ip);
    match (&got, want) {
        (SampleOutcome::Ip { ip }, Some(want)) => prop_assert_eq!(*ip, want),
        (SampleOutcome::Ip { ip }, None) => {
            return Err(TestCaseError::fail(format!(
                "read {ip} from an answer that does not hold exactly one address: \
                 {extract:?} {headers:?} {:?}",
                String::from_utf8_lossy(body)
            )));
        }
        (other, Some(want)) => {
            return Err(TestCaseError::fail(format!(
                "missed {want}: {other:?} for {extract:?} {headers:?} {:?}",
                String::from_utf8_lossy(body)
            )));
        }
        (SampleOutcome::Unreadable { why, excerpt }, None) => {
            prop_assert!(!why.is_empty());
            prop_assert!(
                excerpt.chars().count() <= 201,
                "excerpt too long: {excerpt:?}"
            );
            prop_assert!(
                !excerpt.chars().any(|c| c.is_control()),
                "control character in the excerpt {excerpt:?}"
            );
        }
        (other, None) => {
            return Err(TestCaseError::fail(format!(
                "read_ip answered {other:?}: only Ip or Unreadable are its outcomes"
            )));
        }
    }
    Ok(())
}

// ---- generators ----

fn ipv4() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        // Out of range, leading zeros, too few or too many octets.
        (0u16..999, 0u16..999, 0u16..999, 0u16..999)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("01.2.3.4".to_string()),
        Just("1.2.3".to_string()),
        Just("1.2.3.4.5".to_string()),
        Just("127.0.0.2".to_string()),
    ]
}

fn ipv6() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u16; 8]>().prop_map(|s| Ipv6Addr::from(s).to_string()),
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_ipv6_mapped().to_string()),
        Just("::1".to_string()),
        Just("fe80::1%eth0".to_string()),
        Just("[::1]".to_string()),
        Just("2001:db8::1/64".to_string()),
        Just("::ffff:127.0.0.2".to_string()),
        Just("1::2::3".to_string()),
    ]
}

fn address_like() -> impl Strategy<Value = String> {
    prop_oneof![4 => ipv4(), 3 => ipv6()]
}

/// Pieces an echo answer is made of: addresses, separators, noise.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => address_like(),
        3 => prop::sample::select(vec![
            " ", "\n", "\r\n", "\t", ",", ", ", ";", ":", "\u{a0}", "\u{2003}", "\u{200b}",
            "\u{feff}", "\0", "\x1b[31m", "\x07",
        ])
        .prop_map(str::to_string),
        2 => prop::sample::select(vec![
            "ip=", "client=", "X-Client-IP: ", "{\"ip\":\"", "\"}", "{", "}", "[", "]", "\"",
            "null", "1", "<html>", "unknown", "ip", "/",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z0-9.:_-]{0,12}",
        1 => any::<String>(),
    ]
}

fn text_answer() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(piece(), 0..6).prop_map(|p| p.concat().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (prop::collection::vec(piece(), 0..4), prop::collection::vec(any::<u8>(), 1..4))
            .prop_map(|(p, junk)| {
                let mut bytes = p.concat().into_bytes();
                bytes.extend(junk);
                bytes
            }),
    ]
}

/// A JSON value with addresses (and other things) at the places pointers look.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        4 => prop::collection::vec(piece(), 0..3).prop_map(|p| serde_json::Value::String(p.concat())),
        1 => Just(serde_json::Value::Null),
        1 => any::<bool>().prop_map(serde_json::Value::Bool),
        1 => any::<i64>().prop_map(|n| serde_json::json!(n)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["ip", "client", "a/b", "a~b", "0", "", "origin"]),
                inner,
                0..3
            )
            .prop_map(|m| serde_json::Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

fn json_answer() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => text_answer(),
        // Deep nesting: serde_json's recursion limit must turn it into an error, not a crash.
        1 => (1usize..400).prop_map(|depth| {
            format!("{}\"1.2.3.4\"{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }),
    ]
}

fn pointer() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "/ip", "/client/ip", "/client", "/0", "/0/ip", "/a~1b", "/a~0b", "/origin", "/",
            "/ip/0", "/ip~", "ip",
        ])
        .prop_map(str::to_string),
        1 => prop::collection::vec(
            prop::sample::select(vec!["ip", "client", "0", "1", "a~1b", "a~0b", "", "origin", "~2"]),
            0..4
        )
        .prop_map(|parts| parts.iter().map(|p| format!("/{p}")).collect::<String>()),
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "X-Client-IP", "x-client-ip", "X-Forwarded-For", "X-Real-IP", "CF-Connecting-IP",
            "content-type",
        ])
        .prop_map(str::to_string),
        1 => "[A-Za-z0-9-]{1,12}",
        // Not valid header names: they name no header.
        1 => prop::sample::select(vec!["", "bad name", "x:y", "é", "X-Client-IP\n"])
            .prop_map(str::to_string),
    ]
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        4 => prop::collection::vec(piece(), 0..4).prop_map(|p| p.concat().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ]
    // Bytes no header value can hold (controls but tab, DEL) become spaces, so nothing is
    // rejected and long campaigns do not run out of inputs.
    .prop_map(|bytes| {
        let bytes: Vec<u8> = bytes
            .into_iter()
            .map(|b| {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    b' '
                } else {
                    b
                }
            })
            .collect();
        HeaderValue::from_bytes(&bytes).expect("a valid header value")
    })
}

fn headers_with(names: impl Strategy<Value = String>) -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((names, header_value()), 0..5).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                map.append(name, value);
            }
        }
        map
    })
}

fn regex_extract() -> impl Strategy<Value = regex::Regex> {
    prop_oneof![
        4 => prop::sample::select(vec![
            r"ip=(\S+)",
            r"ip=(\S+)?",
            r"(?:client=(\S+))?\S+",
            r"(\d+\.\d+\.\d+\.\d+)",
            r"([0-9a-f:.]+)",
            r"\S+",
            r"(?s).*",
            r"(x)?ip=(\S+)",
            r"(a)|(\S+)",
            r"ip=([^,;]*)",
            "",
            "^",
            r"(?m)^(.*)$",
            r"\b(\S+)\b",
        ])
        .prop_map(|p| regex::Regex::new(p).expect("a valid pattern")),
        1 => "[()a-z0-9=.?*+\\\\S|:]{0,12}"
            .prop_map(|p| {
            // A pattern that does not compile is taken literally: no input is ever rejected.
            regex::Regex::new(&p)
                .or_else(|_| regex::Regex::new(&regex::escape(&p)))
                .expect("an escaped pattern compiles")
        }),
    ]
}

fn regex_answer() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(
            prop_oneof![Just("ip=".to_string()), Just("client=".to_string()), piece()],
            0..6
        )
        .prop_map(|p| p.concat().into_bytes()),
        1 => text_answer(),
    ]
}

// ---- the properties ----

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn text_answers(body in text_answer(), headers in headers_with(header_name())) {
        check(&Extract::Text, &headers, &body)?;
    }

    #[test]
    fn json_pointer_answers(pointer in pointer(), body in json_answer()) {
        check(&Extract::JsonPointer(pointer), &HeaderMap::new(), &body)?;
    }

    #[test]
    fn header_answers(
        name in header_name(),
        headers in headers_with(header_name()),
        body in text_answer(),
    ) {
        check(&Extract::Header(name), &headers, &body)?;
    }

    /// The asked-for header among others of the same and other names.
    #[test]
    fn header_answers_with_the_named_header(
        name in prop::sample::select(vec!["X-Client-IP", "x-forwarded-for"]),
        values in prop::collection::vec(header_value(), 0..3),
        others in headers_with(header_name()),
    ) {
        let mut headers = others;
        let header = HeaderName::from_bytes(name.as_bytes()).expect("a valid name");
        for value in values {
            headers.append(header.clone(), value);
        }
        check(&Extract::Header(name.to_string()), &headers, b"")?;
    }

    #[test]
    fn regex_answers(re in regex_extract(), body in regex_answer()) {
        check(&Extract::Regex(re), &HeaderMap::new(), &body)?;
    }
}

// ---- pinned cases the generators found or that matter ----

#[test]
fn a_regex_group_that_did_not_take_part_is_not_replaced_by_the_whole_match() {
    let re = regex::Regex::new(r"(?:client=(\S+))?\S+").unwrap();
    let outcome = read_ip(&Extract::Regex(re), &HeaderMap::new(), b"1.2.3.4");
    assert!(
        matches!(&outcome, SampleOutcome::Unreadable { why, .. } if why.contains("captured nothing")),
        "{outcome:?}"
    );
}

#[test]
fn a_regex_without_groups_reads_the_whole_match() {
    let re = regex::Regex::new(r"\d+\.\d+\.\d+\.\d+").unwrap();
    let outcome = read_ip(
        &Extract::Regex(re),
        &HeaderMap::new(),
        b"you are 10.1.2.3 today",
    );
    assert_eq!(
        outcome,
        SampleOutcome::Ip {
            ip: "10.1.2.3".parse().unwrap()
        }
    );
}
