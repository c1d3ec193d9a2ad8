//! The Entra evidence against the embedded lab: token requests through the lab's transparent
//! gateway, then the lab Graph's sign-in log, named locations and What If, read by the Graph
//! client on its own route. Everything stays on loopback.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipa_check::entra::{
    AnchorCoverage, ClientAuth, Cloud, EntraCredentials, GraphClient, GraphError, GraphSettings,
    PendingSignIn, Secret, SignInLookup, WhatIfRequest, WhatIfSubject, check_anchors,
};
use sipa_check::lab::{
    ANCHOR_IP, CaStatus, EDGE_IP, EntraLabConfig, Fault, GRAPH_HOST, GraphQuirk, LAB_CA_POLICY_ID,
    LAB_CLIENT_ID, LAB_CLIENT_SECRET, LAB_NAMED_LOCATION_NAME, LAB_SERVICE_PRINCIPAL_ID,
    LOGIN_HOSTS, Lab, LabConfig, WhatIfShape,
};
use sipa_check::probe::token::{self, Rejection, TokenObservation, TokenOutcome};
use sipa_check::probe::{DnsClient, Path, ProbeCtx, TrustStore};

const TENANT: &str = "contoso.onmicrosoft.com";

fn credentials(secret: &str) -> Arc<EntraCredentials> {
    Arc::new(EntraCredentials {
        tenant_id: TENANT.into(),
        client_id: LAB_CLIENT_ID.into(),
        auth: ClientAuth::Secret(Secret::new(secret)),
        cloud: Cloud::public(),
    })
}

async fn lab(faults: &[Fault], entra: EntraLabConfig) -> Lab {
    Lab::start_with(
        LabConfig {
            faults: faults.to_vec(),
            ..LabConfig::default()
        },
        entra,
    )
    .await
    .expect("the lab starts")
}

fn ctx(lab: &Lab) -> ProbeCtx {
    ProbeCtx {
        dns: DnsClient::new(&[lab.dns_addr()], Duration::from_secs(3)).expect("a DNS client"),
        trust: Arc::new(TrustStore::load(&[lab.ca_file().to_path_buf()]).expect("trust")),
        connect_to: Vec::new(),
        proxy: None,
        timeout: Duration::from_secs(5),
        entra: None,
        bind: None,
    }
}

/// A token request to `host` through the lab's transparent gateway (port 443).
async fn token_request(lab: &Lab, host: &str, secret: &str) -> TokenObservation {
    let spec = token::Spec {
        host: host.into(),
        path: Path::Direct(vec![lab.transparent_https_addr()]),
        credentials: credentials(secret),
    };
    token::run(&spec, &ctx(lab)).await
}

fn graph_settings(lab: &Lab) -> GraphSettings {
    let mut settings = GraphSettings::new(credentials(LAB_CLIENT_SECRET));
    settings.graph_base = Some(lab.graph_url());
    settings.token_url = Some(
        lab.graph_url()
            .join(&format!("{TENANT}/oauth2/v2.0/token"))
            .unwrap(),
    );
    settings.resolve = vec![(GRAPH_HOST.to_owned(), lab.graph_addr())];
    settings.extra_roots_pem = vec![lab.ca_pem().to_owned()];
    settings.timeout = Duration::from_secs(5);
    settings.first_poll_interval = Duration::from_millis(200);
    settings
}

fn graph(lab: &Lab) -> GraphClient {
    GraphClient::new(graph_settings(lab)).expect("a Graph client")
}

fn pending(seen: &TokenObservation) -> PendingSignIn {
    PendingSignIn {
        correlation_id: seen.correlation_id.clone(),
        request_id: seen.request_id.clone(),
    }
}

/// The one result of a one-sign-in lookup.
async fn lookup_one(lab: &Lab, seen: &TokenObservation, wait: Duration) -> SignInLookup {
    let mut results = graph(lab).find_sign_ins(&[pending(seen)], wait).await;
    assert_eq!(results.len(), 1);
    let (correlation_id, result) = results.remove(0);
    assert_eq!(correlation_id, seen.correlation_id);
    result
}

fn failed(result: SignInLookup) -> GraphError {
    match result {
        SignInLookup::Failed { error } => error,
        other => panic!("expected a failed lookup, got {other:?}"),
    }
}

#[tokio::test]
async fn an_anchored_sign_in_is_found_by_correlation_id_with_the_anchor_ip() {
    let lab = lab(&[], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    assert_eq!(seen.outcome, TokenOutcome::Issued, "{seen:?}");
    assert!(uuid::Uuid::parse_str(&seen.correlation_id).is_ok());
    let request_id = seen.request_id.clone().expect("x-ms-request-id is kept");
    let logged = lab.sign_ins();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].correlation_id, seen.correlation_id);
    assert_eq!(logged[0].ip_address, IpAddr::V4(ANCHOR_IP));

    match lookup_one(&lab, &seen, Duration::ZERO).await {
        SignInLookup::Found(record) => {
            assert_eq!(record.ip_address, IpAddr::V4(ANCHOR_IP));
            assert_eq!(record.correlation_id, seen.correlation_id);
            assert_eq!(record.id, request_id);
            assert_eq!(record.status_code, 0);
            assert_eq!(record.conditional_access_status, "notApplied");
            assert_eq!(
                record.network_location_details[0].network_names,
                vec![LAB_NAMED_LOCATION_NAME.to_owned()]
            );
        }
        other => panic!("not found: {other:?}"),
    }
    assert_eq!(lab.graph_traffic().sign_in_queries, 1);
}

#[tokio::test]
async fn one_unanchored_domain_shows_the_edge_ip_in_its_sign_in_and_one_request_covers_all() {
    let lab = lab(&[Fault::OneDomainUnanchored], EntraLabConfig::default()).await;
    let mut seen = Vec::new();
    for host in LOGIN_HOSTS {
        let observed = token_request(&lab, host, LAB_CLIENT_SECRET).await;
        assert_eq!(observed.outcome, TokenOutcome::Issued, "{host}");
        seen.push(observed);
    }
    let pending: Vec<PendingSignIn> = seen.iter().map(pending).collect();
    let results = graph(&lab).find_sign_ins(&pending, Duration::ZERO).await;
    for (observed, (correlation_id, result)) in seen.iter().zip(&results) {
        assert_eq!(correlation_id, &observed.correlation_id);
        let SignInLookup::Found(record) = result else {
            panic!("{}: {result:?}", observed.host);
        };
        let expected = if observed.host == "login.windows.net" {
            EDGE_IP
        } else {
            ANCHOR_IP
        };
        assert_eq!(record.ip_address, IpAddr::V4(expected), "{}", observed.host);
    }
    assert_eq!(
        lab.graph_traffic().sign_in_queries,
        1,
        "one request for every pending correlation id"
    );
}

#[tokio::test]
async fn an_ingestion_delay_with_no_wait_is_not_yet_ingested() {
    let entra = EntraLabConfig {
        ingestion_delay: Duration::from_secs(600),
        ..EntraLabConfig::default()
    };
    let lab = lab(&[], entra).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    let result = lookup_one(&lab, &seen, Duration::ZERO).await;
    assert!(
        matches!(result, SignInLookup::NotYetIngested { waited } if waited < Duration::from_secs(5)),
        "{result:?}"
    );
    // By correlation id, then the fallback by x-ms-request-id: one round.
    assert_eq!(lab.graph_traffic().sign_in_queries, 2);
}

#[tokio::test]
async fn polling_finds_a_sign_in_once_it_is_ingested() {
    let entra = EntraLabConfig {
        ingestion_delay: Duration::from_millis(700),
        ..EntraLabConfig::default()
    };
    let lab = lab(&[], entra).await;
    let seen = token_request(&lab, LOGIN_HOSTS[2], LAB_CLIENT_SECRET).await;
    let result = lookup_one(&lab, &seen, Duration::from_secs(10)).await;
    assert!(
        matches!(&result, SignInLookup::Found(r) if r.ip_address == IpAddr::V4(ANCHOR_IP)),
        "{result:?}"
    );
    assert!(
        lab.graph_traffic().sign_in_queries >= 3,
        "polled more than once"
    );
}

#[tokio::test]
async fn a_sign_in_never_ingested_stays_not_yet_ingested_until_the_wait() {
    let lab = lab(&[Fault::SignInNeverIngested], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    assert_eq!(lab.sign_ins().len(), 1, "the login host did log it");
    let started = Instant::now();
    let result = lookup_one(&lab, &seen, Duration::from_millis(900)).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    let SignInLookup::NotYetIngested { waited } = result else {
        panic!("{result:?}");
    };
    assert!(waited >= Duration::from_millis(900));
}

#[tokio::test]
async fn graph_403_names_the_permissions() {
    let lab = lab(&[Fault::GraphForbidden], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    let error = failed(lookup_one(&lab, &seen, Duration::from_secs(5)).await);
    assert!(matches!(error, GraphError::Forbidden { .. }), "{error:?}");
    let text = error.to_string();
    // The permissions a read needs are named by the verdict for that read (tests/entra_run.rs).
    for words in ["403", "admin consent", "Authorization_RequestDenied"] {
        assert!(text.contains(words), "{words} missing from: {text}");
    }
}

#[tokio::test]
async fn a_429_storm_honours_retry_after_and_gives_up_at_the_wait() {
    let lab = lab(&[Fault::GraphThrottled], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    let started = Instant::now();
    let error = failed(lookup_one(&lab, &seen, Duration::from_millis(2500)).await);
    let elapsed = started.elapsed();
    let GraphError::Throttled {
        answers, waited, ..
    } = error
    else {
        panic!("{error:?}");
    };
    let throttled = lab.graph_traffic().throttled;
    assert_eq!(u64::from(answers), throttled, "every 429 the lab sent");
    assert!((2..=3).contains(&answers), "{answers} answers in 2.5 s");
    // Retry-After: 1 was honoured between answers, and the wait was not overrun.
    assert_eq!(waited, Duration::from_secs(u64::from(answers) - 1));
    assert!(elapsed >= waited, "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(2500) + Duration::from_secs(1),
        "{elapsed:?}"
    );
}

/// A lab whose Graph misbehaves as `quirk`, with one sign-in in its log, and the lookup's error.
async fn quirk_error(quirk: GraphQuirk) -> GraphError {
    let lab = lab(
        &[],
        EntraLabConfig {
            quirk: Some(quirk),
            page_size: 1,
            ..EntraLabConfig::default()
        },
    )
    .await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    failed(lookup_one(&lab, &seen, Duration::ZERO).await)
}

#[tokio::test]
async fn an_html_answer_is_named() {
    let error = quirk_error(GraphQuirk::Html).await;
    assert!(
        matches!(error, GraphError::Html { status: 200, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTML page"), "{error}");
}

#[tokio::test]
async fn truncated_json_is_named() {
    let error = quirk_error(GraphQuirk::TruncatedJson).await;
    assert!(
        matches!(error, GraphError::TruncatedJson { bytes, .. } if bytes > 0),
        "{error:?}"
    );
    assert!(error.to_string().contains("truncated JSON"), "{error}");
}

#[tokio::test]
async fn a_record_without_ip_address_is_named() {
    let error = quirk_error(GraphQuirk::MissingIpAddress).await;
    assert!(
        matches!(error, GraphError::MissingIpAddress { ref id, .. } if !id.is_empty()),
        "{error:?}"
    );
    assert!(error.to_string().ends_with("has no ipAddress"), "{error}");
}

#[tokio::test]
async fn a_page_loop_is_named() {
    let error = quirk_error(GraphQuirk::PageLoop).await;
    assert!(matches!(error, GraphError::PageLoop { .. }), "{error:?}");
    assert!(error.to_string().starts_with("page loop"), "{error}");
}

#[tokio::test]
async fn paging_follows_next_links_to_the_record() {
    let lab = lab(
        &[],
        EntraLabConfig {
            page_size: 1,
            ..EntraLabConfig::default()
        },
    )
    .await;
    let mut seen = Vec::new();
    for host in LOGIN_HOSTS {
        seen.push(token_request(&lab, host, LAB_CLIENT_SECRET).await);
    }
    let pending: Vec<PendingSignIn> = seen.iter().map(pending).collect();
    let results = graph(&lab).find_sign_ins(&pending, Duration::ZERO).await;
    assert!(
        results
            .iter()
            .all(|(_, r)| matches!(r, SignInLookup::Found(_))),
        "{results:?}"
    );
    assert_eq!(
        lab.graph_traffic().sign_in_queries,
        3,
        "one page per record"
    );
}

#[tokio::test]
async fn at_most_two_connections_reach_graph_at_once() {
    let lab = Lab::start_with(
        LabConfig {
            latency: Duration::from_millis(150),
            ..LabConfig::default()
        },
        EntraLabConfig::default(),
    )
    .await
    .unwrap();
    let client = graph(&lab);
    let subject = WhatIfSubject {
        app_id: LAB_CLIENT_ID.into(),
        object_id: None,
        resource_app_id: "00000003-0000-0000-c000-000000000000".into(),
    };
    let ips: Vec<IpAddr> = (2..10).map(|n| IpAddr::from([127, 0, 0, n])).collect();
    let (what_if, locations) = tokio::join!(
        client.what_if_each(&subject, &ips),
        client.named_locations()
    );
    assert!(locations.is_ok(), "{locations:?}");
    assert_eq!(what_if.len(), ips.len());
    for (ip, result) in &what_if {
        let (asked, policies) = result.as_ref().expect("What If answers");
        assert_eq!(*asked, WhatIfRequest::DocumentedV1);
        let anchored = *ip == IpAddr::V4(ANCHOR_IP);
        assert_eq!(policies[0].id, LAB_CA_POLICY_ID);
        assert_eq!(policies[0].applies, !anchored, "{ip}");
        if anchored {
            assert_eq!(policies[0].analysis_reasons, "location");
        }
    }
    let traffic = lab.graph_traffic();
    assert!(traffic.requests >= 10, "{traffic:?}");
    assert_eq!(
        traffic.max_concurrent_connections, 2,
        "two at once, never more: {traffic:?}"
    );
}

/// What If as Microsoft documents it: `/v1.0` first, the `servicePrincipalSignIn` subject
/// whose `servicePrincipalId` is the app id. The lab refuses the object id there, as Graph
/// does, so only the documented request can be answered.
#[tokio::test]
async fn what_if_sends_the_documented_request_on_v1_first() {
    let documented = lab(&[], EntraLabConfig::default()).await;
    let subject = WhatIfSubject {
        app_id: LAB_CLIENT_ID.into(),
        object_id: Some(LAB_SERVICE_PRINCIPAL_ID.into()),
        resource_app_id: "app".into(),
    };
    let (asked, policies) = graph(&documented)
        .what_if(&subject, IpAddr::V4(EDGE_IP))
        .await
        .expect("the documented request answers");
    assert_eq!(asked, WhatIfRequest::DocumentedV1);
    assert!(policies[0].applies);
    // One request: the first one sent is the one answered (plus the Graph token).
    assert_eq!(documented.graph_traffic().requests, 2);
    // The object id where the app id belongs is refused, as Graph refuses it: every request
    // that carries it fails, and What If names each refusal.
    let wrong = WhatIfSubject {
        app_id: LAB_SERVICE_PRINCIPAL_ID.into(),
        object_id: None,
        resource_app_id: "app".into(),
    };
    let error = graph(&documented)
        .what_if(&wrong, IpAddr::V4(EDGE_IP))
        .await
        .unwrap_err();
    let GraphError::WhatIfUnavailable { refusals } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals[0].starts_with("v1.0 documented: 400"),
        "{refusals:?}"
    );
    assert!(
        refusals[0].contains(LAB_SERVICE_PRINCIPAL_ID),
        "{refusals:?}"
    );
    assert!(
        refusals[1].starts_with("beta documented: 400"),
        "{refusals:?}"
    );
    documented.shutdown().await;
}

#[tokio::test]
async fn what_if_falls_back_to_beta_then_to_the_older_shape_and_names_its_absence() {
    let subject = WhatIfSubject {
        app_id: LAB_CLIENT_ID.into(),
        object_id: Some(LAB_SERVICE_PRINCIPAL_ID.into()),
        resource_app_id: "app".into(),
    };
    let beta_only = lab(
        &[],
        EntraLabConfig {
            what_if: WhatIfShape::DocumentedBetaOnly,
            ..EntraLabConfig::default()
        },
    )
    .await;
    let (asked, _) = graph(&beta_only)
        .what_if(&subject, IpAddr::V4(EDGE_IP))
        .await
        .expect("beta answers the documented request");
    assert_eq!(asked, WhatIfRequest::DocumentedBeta);
    let older = lab(
        &[],
        EntraLabConfig {
            what_if: WhatIfShape::Older,
            ..EntraLabConfig::default()
        },
    )
    .await;
    let (asked, policies) = graph(&older)
        .what_if(&subject, IpAddr::V4(EDGE_IP))
        .await
        .expect("the older shape answers");
    assert_eq!(asked, WhatIfRequest::OlderShapeBeta);
    assert!(policies[0].applies);
    // Without the object id the older shapes are not tried.
    let error = graph(&older)
        .what_if(
            &WhatIfSubject {
                object_id: None,
                ..subject.clone()
            },
            IpAddr::V4(EDGE_IP),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GraphError::WhatIfUnavailable { refusals } if refusals.len() == 2),
        "{error:?}"
    );
    let neither = lab(
        &[],
        EntraLabConfig {
            what_if: WhatIfShape::Neither,
            ..EntraLabConfig::default()
        },
    )
    .await;
    let error = graph(&neither)
        .what_if(&subject, IpAddr::V4(ANCHOR_IP))
        .await
        .unwrap_err();
    let GraphError::WhatIfUnavailable { refusals } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    assert!(
        error
            .to_string()
            .starts_with("Conditional Access What If is unavailable")
    );
}

#[tokio::test]
async fn the_anchor_lies_in_a_trusted_named_location_unless_it_was_left_out() {
    let anchor: Vec<ipnet::IpNet> = vec!["127.0.0.2/32".parse().unwrap()];
    let good = lab(&[], EntraLabConfig::default()).await;
    let locations = graph(&good).named_locations().await.unwrap();
    assert_eq!(
        check_anchors(&anchor, &locations),
        vec![(
            anchor[0],
            AnchorCoverage::Trusted {
                location: LAB_NAMED_LOCATION_NAME.into()
            }
        )]
    );
    let stale = lab(
        &[Fault::NamedLocationMissingConnector],
        EntraLabConfig::default(),
    )
    .await;
    let locations = graph(&stale).named_locations().await.unwrap();
    assert_eq!(
        check_anchors(&anchor, &locations),
        vec![(anchor[0], AnchorCoverage::NotCovered)]
    );
}

#[tokio::test]
async fn conditional_access_blocks_an_unanchored_caller_with_its_policy_id() {
    let lab = lab(
        &[Fault::CaBlocks, Fault::OneDomainUnanchored],
        EntraLabConfig::default(),
    )
    .await;
    let blocked = token_request(&lab, "login.windows.net", LAB_CLIENT_SECRET).await;
    assert_eq!(
        blocked.outcome,
        TokenOutcome::Blocked {
            policy_ids: vec![LAB_CA_POLICY_ID.into()]
        }
    );
    let through = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    assert_eq!(through.outcome, TokenOutcome::Issued);
    let logged = lab.sign_ins();
    assert_eq!(logged[0].conditional_access, CaStatus::Failure);
    assert_eq!(logged[1].conditional_access, CaStatus::Success);

    // The lab's policy refuses Graph's own route: Graph is read with the token issued through
    // the anchored path, as a run does.
    let client = graph(&lab);
    client
        .use_token(through.issued.clone().expect("the issued token"))
        .await;
    let found = client
        .find_sign_ins(&[pending(&blocked)], Duration::ZERO)
        .await;
    match found.into_iter().next().map(|(_, lookup)| lookup).unwrap() {
        SignInLookup::Found(record) => {
            assert_eq!(record.ip_address, IpAddr::V4(EDGE_IP));
            assert_eq!(record.status_code, 53003);
            assert_eq!(record.conditional_access_status, "failure");
            assert_eq!(record.applied_policies[0].id, LAB_CA_POLICY_ID);
            assert_eq!(record.applied_policies[0].result, "failure");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_with_its_meaning() {
    let lab = lab(&[], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[1], "not-the-lab-secret").await;
    assert_eq!(
        seen.outcome,
        TokenOutcome::Rejected {
            code: Some(7000215),
            known: Some(Rejection::InvalidClientSecret),
            meaning: Rejection::InvalidClientSecret.meaning().into(),
        }
    );
    assert!(seen.request_id.is_some());
}

#[tokio::test]
async fn an_untrusted_chain_gets_no_credentials() {
    let lab = lab(&[Fault::TlsIntercept], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    assert!(
        matches!(&seen.outcome, TokenOutcome::NotSent { why } if why.contains("not trusted")),
        "{seen:?}"
    );
    assert!(lab.sign_ins().is_empty(), "nothing reached the login host");
}

#[tokio::test]
async fn a_refused_connection_is_data() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = closed.local_addr().unwrap();
    drop(closed);
    let lab = lab(&[], EntraLabConfig::default()).await;
    let spec = token::Spec {
        host: LOGIN_HOSTS[0].into(),
        path: Path::Direct(vec![addr]),
        credentials: credentials(LAB_CLIENT_SECRET),
    };
    let seen = token::run(&spec, &ctx(&lab)).await;
    assert!(
        matches!(&seen.outcome, TokenOutcome::NotSent { why } if why == "no connection to the login host"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn the_token_request_goes_through_the_explicit_proxy_too() {
    let lab = lab(&[Fault::OneDomainUnanchored], EntraLabConfig::default()).await;
    let mut ctx = ctx(&lab);
    ctx.proxy = Some(sipa_check::scenario::ProxySpec {
        url: url::Url::parse(&format!("http://{}", lab.proxy_addr())).unwrap(),
        username: None,
        password: None,
    });
    let mut seen = Vec::new();
    for host in ["login.microsoft.com", "login.windows.net"] {
        let spec = token::Spec {
            host: host.into(),
            path: Path::Proxy(ctx.proxy.clone().into_iter().collect()),
            credentials: credentials(LAB_CLIENT_SECRET),
        };
        let observed = token::run(&spec, &ctx).await;
        assert_eq!(observed.outcome, TokenOutcome::Issued, "{observed:?}");
        assert!(observed.via.starts_with("proxy "), "{}", observed.via);
        assert_eq!(
            observed.connect.attempts[0].tunnel.as_deref(),
            Some(format!("{host}:443").as_str())
        );
        seen.push(observed);
    }
    let logged = lab.sign_ins();
    assert_eq!(logged[0].ip_address, IpAddr::V4(ANCHOR_IP));
    assert_eq!(logged[1].ip_address, IpAddr::V4(EDGE_IP));
}

#[tokio::test]
async fn a_sign_in_missing_by_correlation_id_is_found_by_its_request_id() {
    let lab = lab(&[], EntraLabConfig::default()).await;
    let seen = token_request(&lab, LOGIN_HOSTS[0], LAB_CLIENT_SECRET).await;
    // As if Entra had logged another correlation id than the one sent.
    let stray = PendingSignIn {
        correlation_id: uuid::Uuid::new_v4().to_string(),
        request_id: seen.request_id.clone(),
    };
    let results = graph(&lab).find_sign_ins(&[stray], Duration::ZERO).await;
    match &results[0].1 {
        SignInLookup::Found(record) => {
            assert_eq!(Some(&record.id), seen.request_id.as_ref());
            assert_eq!(record.correlation_id, seen.correlation_id);
            assert_eq!(record.ip_address, IpAddr::V4(ANCHOR_IP));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lab.graph_traffic().sign_in_queries, 2);
}

#[tokio::test]
async fn a_registered_certificate_gets_a_token_and_another_does_not() {
    // Test-only RSA certificates (tests/fixtures/entra): Entra takes RSA assertions only.
    let registered = include_str!("fixtures/entra/test-only-app-rsa.pem").to_owned();
    let stranger = include_str!("fixtures/entra/test-only-other-rsa.pem").to_owned();
    let registered_cert =
        registered[..registered.find("-----BEGIN PRIVATE KEY-----").unwrap()].to_owned();
    let lab = lab(
        &[],
        EntraLabConfig {
            client_certificates: vec![registered_cert],
            ..EntraLabConfig::default()
        },
    )
    .await;
    let with = |pem: &str| {
        Arc::new(EntraCredentials {
            tenant_id: TENANT.into(),
            client_id: LAB_CLIENT_ID.into(),
            auth: ClientAuth::Certificate(
                sipa_check::entra::ClientCertificate::from_pem(pem.as_bytes()).unwrap(),
            ),
            cloud: Cloud::public(),
        })
    };
    for (pem, expected) in [
        (registered.as_str(), None),
        (
            stranger.as_str(),
            Some(Rejection::BadClientAssertionSignature),
        ),
    ] {
        let spec = token::Spec {
            host: LOGIN_HOSTS[1].into(),
            path: Path::Direct(vec![lab.transparent_https_addr()]),
            credentials: with(pem),
        };
        let seen = token::run(&spec, &ctx(&lab)).await;
        match expected {
            None => assert_eq!(seen.outcome, TokenOutcome::Issued),
            Some(rejection) => assert!(
                matches!(seen.outcome, TokenOutcome::Rejected { known: Some(k), .. } if k == rejection),
                "{seen:?}"
            ),
        }
    }
}
