//! The Entra secrets (client secret, certificate key, client assertion, access tokens) reach
//! the token endpoints and nowhere else: not the `Debug` of any type that holds them, not the
//! JSON of an observation or a lookup, not an error message. Everything runs against the
//! embedded lab on loopback.

use std::sync::Arc;
use std::time::Duration;

use sipa_check::entra::{
    AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID,
    EntraCredentials, GraphClient, GraphSettings, PendingSignIn,
};
use sipa_check::lab::{
    EntraLabConfig, Fault, GRAPH_HOST, LAB_CLIENT_ID, LAB_CLIENT_SECRET, LOGIN_HOSTS, Lab,
    LabConfig,
};
use sipa_check::probe::token::{self, Rejection, TokenOutcome};
use sipa_check::probe::{DnsClient, Path, ProbeCtx, TrustStore};

/// Distinctive enough that any occurrence is a leak.
const PLANTED: &str = "Zq9-entra-s3cr3t-Pw";
/// Tokens the lab hands out start so: none may be shown.
const TOKEN_PREFIXES: [&str; 2] = ["lab-token-", "lab-graph-token-"];
/// The start of a JWS header (`{"alg":`): a client assertion shown anywhere.
const JWS_START: &str = "eyJhbGci";

#[track_caller]
fn assert_clean(what: &str, text: &str, extra: &[&str]) {
    for needle in [PLANTED, LAB_CLIENT_SECRET, JWS_START]
        .iter()
        .chain(TOKEN_PREFIXES.iter())
        .chain(extra)
    {
        assert!(!text.contains(needle), "{what} shows {needle}:\n{text}");
    }
}

fn env(secret: Option<&str>, cert: Option<&str>) -> impl Fn(&str) -> Option<String> {
    let secret = secret.map(str::to_owned);
    let cert = cert.map(str::to_owned);
    move |name| match name {
        AZURE_TENANT_ID => Some("contoso".into()),
        AZURE_CLIENT_ID => Some(LAB_CLIENT_ID.into()),
        AZURE_CLIENT_SECRET => secret.clone(),
        AZURE_CLIENT_CERTIFICATE_PATH => cert.clone(),
        _ => None,
    }
}

fn ctx(lab: &Lab) -> ProbeCtx {
    ProbeCtx {
        dns: DnsClient::new(&[lab.dns_addr()], Duration::from_secs(3)).unwrap(),
        trust: Arc::new(TrustStore::load(&[lab.ca_file().to_path_buf()]).unwrap()),
        connect_to: Vec::new(),
        proxy: None,
        timeout: Duration::from_secs(5),
        entra: None,
        bind: None,
    }
}

fn graph(lab: &Lab, credentials: Arc<EntraCredentials>) -> GraphClient {
    let mut settings = GraphSettings::new(credentials);
    settings.graph_base = Some(lab.graph_url());
    settings.token_url = Some(lab.graph_url().join("contoso/oauth2/v2.0/token").unwrap());
    settings.resolve = vec![(GRAPH_HOST.to_owned(), lab.graph_addr())];
    settings.extra_roots_pem = vec![lab.ca_pem().to_owned()];
    assert_clean("GraphSettings", &format!("{settings:?}"), &[]);
    GraphClient::new(settings).unwrap()
}

#[tokio::test]
async fn a_planted_client_secret_reaches_the_login_host_and_no_output() {
    let lab = Lab::start_with(
        LabConfig {
            faults: vec![Fault::CaBlocks],
            ..LabConfig::default()
        },
        EntraLabConfig::default(),
    )
    .await
    .unwrap();
    let credentials = Arc::new(EntraCredentials::from_env(env(Some(PLANTED), None)).unwrap());
    assert_clean("credentials", &format!("{credentials:?}"), &[]);
    let spec = token::Spec {
        host: LOGIN_HOSTS[0].into(),
        path: Path::Direct(vec![lab.transparent_https_addr()]),
        credentials: credentials.clone(),
    };
    assert_clean("token spec", &format!("{spec:?}"), &[]);
    let seen = token::run(&spec, &ctx(&lab)).await;
    // The secret was in play: the login host refused it.
    assert!(matches!(
        seen.outcome,
        TokenOutcome::Rejected {
            known: Some(Rejection::InvalidClientSecret),
            ..
        }
    ));
    assert_clean("observation", &format!("{seen:?}"), &[]);
    assert_clean(
        "observation JSON",
        &serde_json::to_string(&seen).unwrap(),
        &[],
    );

    // The lab secret is accepted: a token is issued, and shown nowhere.
    let good = Arc::new(EntraCredentials::from_env(env(Some(LAB_CLIENT_SECRET), None)).unwrap());
    let issued = token::run(
        &token::Spec {
            credentials: good.clone(),
            ..spec.clone()
        },
        &ctx(&lab),
    )
    .await;
    assert_eq!(issued.outcome, TokenOutcome::Issued);
    assert_clean("issued", &format!("{issued:?}"), &[]);
    assert_clean("issued JSON", &serde_json::to_string(&issued).unwrap(), &[]);

    // The token issued through the path is what Graph is read with (the lab's policy refuses
    // Graph's own route), and it is shown nowhere.
    let client = graph(&lab, good);
    client
        .use_token(
            issued
                .issued
                .clone()
                .expect("the issued token, kept in memory"),
        )
        .await;
    let pending = [PendingSignIn {
        correlation_id: issued.correlation_id.clone(),
        request_id: issued.request_id.clone(),
    }];
    let found = client.find_sign_ins(&pending, Duration::ZERO).await;
    assert!(format!("{found:?}").contains("127.0.0.2"), "{found:?}");
    assert_clean("lookup", &format!("{found:?} {client:?}"), &[]);
    assert_clean("lookup JSON", &serde_json::to_string(&found).unwrap(), &[]);

    // A Graph token refused for a planted secret: the error names why, not the secret.
    let refused = graph(&lab, credentials);
    let failed = refused.find_sign_ins(&pending, Duration::ZERO).await;
    let shown = format!("{failed:?} {}", serde_json::to_string(&failed).unwrap());
    assert!(shown.contains("no Graph token"), "{shown}");
    assert_clean("refused lookup", &shown, &[]);
}

#[tokio::test]
async fn a_certificate_key_and_its_assertions_reach_no_output() {
    // A test-only RSA certificate and key (tests/fixtures/entra): Entra takes RSA keys only.
    let pem = include_str!("fixtures/entra/test-only-app-rsa.pem");
    let key_pem = &pem[pem.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pem");
    std::fs::write(&path, pem).unwrap();
    let path_text = path.display().to_string();
    let credentials = Arc::new(EntraCredentials::from_env(env(None, Some(&path_text))).unwrap());
    // A line from the middle of the key's base64.
    let key_line = key_pem.lines().nth(2).unwrap().to_owned();
    assert_clean("credentials", &format!("{credentials:?}"), &[&key_line]);

    let lab = Lab::start(LabConfig::default()).await.unwrap();
    let seen = token::run(
        &token::Spec {
            host: LOGIN_HOSTS[2].into(),
            path: Path::Direct(vec![lab.transparent_https_addr()]),
            credentials: credentials.clone(),
        },
        &ctx(&lab),
    )
    .await;
    // The assertion was sent: the lab knows no certificate and says its signature is bad.
    assert!(matches!(
        seen.outcome,
        TokenOutcome::Rejected {
            known: Some(Rejection::BadClientAssertionSignature),
            ..
        }
    ));
    let shown = format!("{seen:?} {}", serde_json::to_string(&seen).unwrap());
    assert_clean("observation", &shown, &[&key_line]);
    let form = credentials
        .token_form(
            "https://login.microsoft.com/contoso/oauth2/v2.0/token",
            "s",
            "c",
        )
        .unwrap();
    assert!(
        form.expose().contains(JWS_START),
        "the form does carry the assertion"
    );
    assert_clean("token form", &format!("{form:?} {form}"), &[&key_line]);
}
