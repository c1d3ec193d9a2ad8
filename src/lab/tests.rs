//! End-to-end tests of the lab: a small raw HTTP/TLS client and a resolver that knows only the
//! lab's name server check what the harness will see, fault by fault.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::*;
use std::net::Ipv4Addr;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

async fn lab(faults: &[Fault]) -> Lab {
    Lab::start(LabConfig {
        faults: faults.to_vec(),
        latency: Duration::ZERO,
    })
    .await
    .expect("lab starts")
}

fn resolver(lab: &Lab, tcp: bool) -> TokioResolver {
    let mut connection = if tcp {
        ConnectionConfig::tcp()
    } else {
        ConnectionConfig::udp()
    };
    connection.port = lab.dns_addr().port();
    let server = NameServerConfig::new(lab.dns_addr().ip(), true, vec![connection]);
    // Only the lab's server: never the system configuration.
    let config = ResolverConfig::from_parts(None, vec![], vec![server]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    builder.options_mut().attempts = 1;
    builder.options_mut().timeout = Duration::from_secs(2);
    builder.options_mut().cache_size = 0;
    builder.build().expect("resolver builds")
}

async fn addresses(resolver: &TokioResolver, name: &str, record_type: RecordType) -> Vec<IpAddr> {
    match resolver.lookup(name, record_type).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect(),
        Err(error) if error.is_no_records_found() && !error.is_nx_domain() => Vec::new(),
        Err(error) => panic!("{name} {record_type}: {error}"),
    }
}

fn tls_client(ca_pem: &str) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA parses")).expect("CA is usable");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// An HTTP answer as the raw client saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `request` as is and reads the answer until the server closes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> anyhow::Result<Answer> {
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(CLIENT_TIMEOUT, stream.read_to_end(&mut raw)).await;
    match read {
        Ok(Ok(_)) => {}
        // A TLS peer may close without close_notify; what was read is still the answer.
        Ok(Err(error)) if !raw.is_empty() => drop(error),
        Ok(Err(error)) => return Err(error.into()),
        Err(_) => bail!("no answer within {CLIENT_TIMEOUT:?}"),
    }
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> anyhow::Result<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = response.parse(raw)? else {
        bail!("incomplete answer: {:?}", String::from_utf8_lossy(raw));
    };
    Ok(Answer {
        status: response.code.context("no status")?,
        headers: response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&raw[head_len..]).into_owned(),
    })
}

fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    tokio::time::timeout(CLIENT_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("connect timed out")?
        .with_context(|| format!("connect to {addr}"))
}

/// A request through the transparent "port 80".
async fn plain_via(addr: SocketAddr, host: &str, path: &str) -> anyhow::Result<Answer> {
    let mut stream = connect(addr).await?;
    exchange(&mut stream, &get(host, path)).await
}

async fn tls_over<S: AsyncRead + AsyncWrite + Unpin>(
    lab: &Lab,
    stream: S,
    host: &str,
    request: &str,
) -> anyhow::Result<Answer> {
    let server_name = ServerName::try_from(host.to_owned())?;
    let mut tls = tokio::time::timeout(
        CLIENT_TIMEOUT,
        tls_client(lab.ca_pem()).connect(server_name, stream),
    )
    .await
    .context("TLS handshake timed out")??;
    exchange(&mut tls, request).await
}

/// A request through the transparent "port 443".
async fn tls_via(lab: &Lab, host: &str, path: &str) -> anyhow::Result<Answer> {
    let stream = connect(lab.transparent_https_addr()).await?;
    tls_over(lab, stream, host, &get(host, path)).await
}

/// Opens a CONNECT tunnel through the explicit proxy; returns the proxy's refusal if any.
async fn proxy_connect(lab: &Lab, host: &str, port: u16) -> anyhow::Result<TcpStream> {
    let mut stream = connect(lab.proxy_addr()).await?;
    let request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(CLIENT_TIMEOUT, stream.read(&mut byte)).await??;
        if n == 0 {
            bail!("proxy closed: {:?}", String::from_utf8_lossy(&head));
        }
        head.extend_from_slice(&byte);
    }
    let answer = parse_answer(&head)?;
    if answer.status != 200 {
        bail!("proxy answered {}", answer.status);
    }
    Ok(stream)
}

/// The egress IP that `/echo/ip` reports for `host` on `port`, by one of the four routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Transparent,
    ProxyConnect,
    ProxyAbsolute,
}

async fn echo(lab: &Lab, route: Route, host: &str, port: u16) -> anyhow::Result<String> {
    let answer = match (route, port) {
        (Route::Transparent, 80) => plain_via(lab.transparent_http_addr(), host, ECHO_PATH).await?,
        (Route::Transparent, _) => tls_via(lab, host, ECHO_PATH).await?,
        (Route::ProxyConnect, 443) => {
            let tunnel = proxy_connect(lab, host, 443).await?;
            tls_over(lab, tunnel, host, &get(host, ECHO_PATH)).await?
        }
        (Route::ProxyConnect, _) => {
            let mut tunnel = proxy_connect(lab, host, port).await?;
            exchange(&mut tunnel, &get(host, ECHO_PATH)).await?
        }
        (Route::ProxyAbsolute, _) => {
            let mut stream = connect(lab.proxy_addr()).await?;
            let request = format!(
                "GET http://{host}:{port}{ECHO_PATH} HTTP/1.1\r\nHost: {host}\r\n\
                 Proxy-Connection: keep-alive\r\n\r\n"
            );
            exchange(&mut stream, &request).await?
        }
    };
    if answer.status != 200 {
        bail!("echo answered {}: {}", answer.status, answer.body);
    }
    Ok(answer.body)
}

/// Checks the egress IP of every lab host on both ports through every route against `expect`.
async fn assert_egress(lab: &Lab, expect: impl Fn(&str, u16) -> Ipv4Addr) {
    let mut checks = Vec::new();
    for host in LAB_HOSTS {
        for port in [80, 443] {
            let mut routes = vec![Route::Transparent, Route::ProxyConnect];
            if port == 80 {
                routes.push(Route::ProxyAbsolute);
            }
            for route in routes {
                checks.push(async move {
                    let seen = echo(lab, route, host, port).await;
                    (host, port, route, seen)
                });
            }
        }
    }
    for (host, port, route, seen) in futures::future::join_all(checks).await {
        let seen = seen.unwrap_or_else(|error| panic!("{host}:{port} via {route:?}: {error:#}"));
        assert_eq!(
            seen,
            expect(host, port).to_string(),
            "{host}:{port} via {route:?}"
        );
    }
}

fn anchored_host(host: &str) -> bool {
    LOGIN_HOSTS.contains(&host) || host == CANARY_HOST
}

#[test]
fn lab_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Lab>();
    shareable::<LabError>();
}

#[tokio::test]
async fn dns_answers_lab_names_over_udp_and_tcp() {
    let lab = lab(&[]).await;
    for tcp in [false, true] {
        let resolver = resolver(&lab, tcp);
        for host in LAB_HOSTS {
            assert_eq!(
                addresses(&resolver, host, RecordType::A).await,
                vec![IpAddr::V4(ORIGIN_IP)],
                "{host} tcp={tcp}"
            );
            assert_eq!(
                addresses(&resolver, host, RecordType::AAAA).await,
                Vec::<IpAddr>::new()
            );
        }
        let error = resolver
            .lookup("www.example.com", RecordType::A)
            .await
            .unwrap_err();
        assert!(error.is_nx_domain(), "{error}");
    }
}

#[tokio::test]
async fn dns_records_have_a_five_minute_ttl() {
    let lab = lab(&[]).await;
    let lookup = resolver(&lab, false)
        .lookup(CANARY_HOST, RecordType::A)
        .await
        .unwrap();
    assert_eq!(lookup.answers()[0].ttl, 300);
}

#[tokio::test]
async fn healthy_lab_anchors_login_hosts_and_canary_only() {
    let lab = lab(&[]).await;
    assert_egress(&lab, |host, _| {
        if anchored_host(host) {
            ANCHOR_IP
        } else {
            EDGE_IP
        }
    })
    .await;
    assert_eq!(lab.anchor_ip(), IpAddr::V4(ANCHOR_IP));
    assert_eq!(lab.edge_ip(), IpAddr::V4(EDGE_IP));
}

#[tokio::test]
async fn login_hosts_redirect_to_https_on_port_80() {
    let lab = lab(&[]).await;
    for host in LOGIN_HOSTS {
        let answer = plain_via(
            lab.transparent_http_addr(),
            host,
            "/common/oauth2/authorize?x=1",
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 301);
        let expected = format!("https://{host}/common/oauth2/authorize?x=1");
        assert_eq!(answer.header("location"), Some(expected.as_str()));
    }
    let answer = plain_via(lab.transparent_http_addr(), CANARY_HOST, "/other")
        .await
        .unwrap();
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn login_hosts_serve_openid_configuration_with_entra_headers() {
    let lab = lab(&[]).await;
    for host in LOGIN_HOSTS {
        let path = "/common/.well-known/openid-configuration";
        let answer = tls_via(&lab, host, path).await.unwrap();
        assert_eq!(answer.status, 200);
        assert!(
            answer
                .header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let request_id = answer.header("x-ms-request-id").unwrap();
        assert!(uuid::Uuid::parse_str(request_id).is_ok());
        assert_eq!(
            answer.header("x-ms-ests-server"),
            Some("2.1.0 - LAB ProdSlices")
        );
        assert_eq!(
            answer.header("strict-transport-security"),
            Some("max-age=31536000; includeSubDomains")
        );
        let config: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(config["issuer"], "https://sts.windows.net/{tenantid}/");
        assert_eq!(
            config["token_endpoint"],
            format!("https://{host}/common/oauth2/token")
        );
        assert!(config["authorization_endpoint"].is_string());
        assert!(config["jwks_uri"].is_string());

        let missing = tls_via(&lab, host, "/nope").await.unwrap();
        assert_eq!(missing.status, 404);
        assert!(missing.header("x-ms-request-id").is_some());
        assert!(serde_json::from_str::<serde_json::Value>(&missing.body).is_ok());
    }
    let control = tls_via(
        &lab,
        CONTROL_HOST,
        "/common/.well-known/openid-configuration",
    )
    .await
    .unwrap();
    assert_eq!(control.status, 404);
}

#[tokio::test]
async fn token_requests_are_logged_as_sign_ins() {
    let lab = lab(&[]).await;
    let host = "login.microsoftonline.com";
    let body = "client_id=abc&grant_type=client_credentials&client-request-id=form-id";
    let request = format!(
        "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\nHost: {host}\r\n\
         client-request-id: 6f1f0b8e-0000-4000-8000-000000000001\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let stream = connect(lab.transparent_https_addr()).await.unwrap();
    let answer = tls_over(&lab, stream, host, &request).await.unwrap();
    assert_eq!(answer.status, 401);
    let error: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["error"], "invalid_client");
    assert_eq!(
        error["correlation_id"],
        "6f1f0b8e-0000-4000-8000-000000000001"
    );

    let sign_ins = lab.sign_ins();
    assert_eq!(sign_ins.len(), 1);
    let sign_in = &sign_ins[0];
    assert_eq!(
        sign_in.correlation_id,
        "6f1f0b8e-0000-4000-8000-000000000001"
    );
    assert_eq!(Some(sign_in.id.as_str()), answer.header("x-ms-request-id"));
    assert_eq!(sign_in.ip_address, IpAddr::V4(ANCHOR_IP));
    assert_eq!(sign_in.host, host);
    assert_eq!(sign_in.tenant, "contoso.onmicrosoft.com");
    assert_eq!(sign_in.client_id.as_deref(), Some("abc"));
}

/// A client assertion signed by this test with `ring` (never the product's signer): `header`
/// as given, claims for the lab app at `endpoint`, signed by `sign`.
fn hand_signed(
    header: serde_json::Value,
    endpoint: &str,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"aud": endpoint, "iss": graph::LAB_CLIENT_ID,
        "sub": graph::LAB_CLIENT_ID, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + 600});
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64.encode(signature))
}

/// The lab's token endpoint checks assertions as Entra does: RS256 and PS256 from a registered
/// RSA certificate (named by `x5t#S256` or by `x5t`) get a token; ES256, even from a registered
/// EC certificate with a good signature, gets AADSTS5002738.
#[tokio::test]
async fn the_token_endpoint_takes_rsa_assertions_and_refuses_es256_as_entra_does() {
    use base64::Engine as _;
    use ring::signature::{self as sig, KeyPair as _};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rsa_pem = include_str!("../../tests/fixtures/entra/test-only-app-rsa.pem");
    let rsa_cert = CertificateDer::pem_slice_iter(rsa_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let rsa_key = rustls::pki_types::PrivateKeyDer::from_pem_slice(rsa_pem.as_bytes()).unwrap();
    let rsa = sig::RsaKeyPair::from_pkcs8(rsa_key.secret_der()).unwrap();
    let ec_key = rcgen::KeyPair::generate().unwrap();
    let ec_cert = rcgen::CertificateParams::new(vec!["app".into()])
        .unwrap()
        .self_signed(&ec_key)
        .unwrap();
    let rng = ring::rand::SystemRandom::new();
    let ec = sig::EcdsaKeyPair::from_pkcs8(
        &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ec_key.serialize_der(),
        &rng,
    )
    .unwrap();
    let lab = Lab::start_with(
        LabConfig::default(),
        EntraLabConfig {
            client_certificates: vec![
                String::from_utf8_lossy(rsa_pem.as_bytes()).into_owned(),
                ec_cert.pem(),
            ],
            ..EntraLabConfig::default()
        },
    )
    .await
    .unwrap();
    let host = "login.microsoftonline.com";
    let endpoint = format!("https://{host}/contoso.onmicrosoft.com/oauth2/v2.0/token");
    let thumbprints = |der: &[u8]| {
        (
            b64.encode(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
            b64.encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
        )
    };
    let (rsa_s256, rsa_sha1) = thumbprints(rsa_cert.as_ref());
    let (ec_s256, _) = thumbprints(ec_cert.der().as_ref());
    let rsa_sign = |padding: &'static dyn sig::RsaEncoding| {
        let rsa = &rsa;
        let rng = &rng;
        move |input: &[u8]| {
            let mut out = vec![0; rsa.public().modulus_len()];
            rsa.sign(padding, rng, input, &mut out).unwrap();
            out
        }
    };
    let cases = [
        (
            "RS256 named by x5t#S256",
            hand_signed(
                serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": rsa_s256}),
                &endpoint,
                rsa_sign(&sig::RSA_PKCS1_SHA256),
            ),
            200,
            None,
        ),
        (
            "RS256 named by x5t",
            hand_signed(
                serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": rsa_sha1}),
                &endpoint,
                rsa_sign(&sig::RSA_PKCS1_SHA256),
            ),
            200,
            None,
        ),
        (
            "PS256",
            hand_signed(
                serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": rsa_s256}),
                &endpoint,
                rsa_sign(&sig::RSA_PSS_SHA256),
            ),
            200,
            None,
        ),
        (
            "ES256",
            hand_signed(
                serde_json::json!({"alg": "ES256", "typ": "JWT", "x5t#S256": ec_s256}),
                &endpoint,
                |input| ec.sign(&rng, input).unwrap().as_ref().to_vec(),
            ),
            400,
            Some(5002738),
        ),
        (
            "RS256 with a bad signature",
            hand_signed(
                serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": rsa_s256}),
                &endpoint,
                |_| vec![7; 256],
            ),
            401,
            Some(700027),
        ),
    ];
    // The EC certificate's key is good: only its algorithm is refused.
    assert_eq!(ec.public_key().as_ref().len(), 65);
    for (what, assertion, status, code) in cases {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", graph::LAB_CLIENT_ID)
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", "https://graph.microsoft.com/.default")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", &assertion)
            .finish();
        let request = format!(
            "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let stream = connect(lab.transparent_https_addr()).await.unwrap();
        let answer = tls_over(&lab, stream, host, &request).await.unwrap();
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        match code {
            None => assert!(json["access_token"].is_string(), "{what}: {json}"),
            Some(code) => assert_eq!(json["error_codes"][0], code, "{what}: {json}"),
        }
        if code == Some(5002738) {
            let text = json["error_description"].as_str().unwrap();
            assert!(
                text.starts_with(
                    "AADSTS5002738: Invalid JWT token. 'ES256' is not a supported signature algorithm."
                ),
                "{text}"
            );
        }
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn run_flags_point_at_the_lab() {
    let lab = lab(&[]).await;
    let dns = lab.dns_addr().to_string();
    let ca = lab.ca_file().display().to_string();
    assert_eq!(
        lab.run_flags(),
        vec![
            "--dns".to_owned(),
            dns.clone(),
            "--connect-to".to_owned(),
            format!(":80::{}", lab.transparent_http_addr().port()),
            "--connect-to".to_owned(),
            format!(":443::{}", lab.transparent_https_addr().port()),
            "--ca-file".to_owned(),
            ca.clone(),
            "--expect-ip".to_owned(),
            "127.0.0.2".to_owned(),
        ]
    );
    assert_eq!(
        lab.proxy_run_flags(),
        vec![
            "--dns".to_owned(),
            dns,
            "--proxy".to_owned(),
            format!("http://{}", lab.proxy_addr()),
            "--ca-file".to_owned(),
            ca,
            "--expect-ip".to_owned(),
            "127.0.0.2".to_owned(),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(lab.ca_file()).unwrap(),
        lab.ca_pem()
    );
}

#[tokio::test]
async fn shutdown_stops_listeners_and_removes_the_ca_file() {
    let lab = lab(&[]).await;
    let ca_file = lab.ca_file().to_owned();
    let gateway = lab.transparent_http_addr();
    assert!(ca_file.exists());
    lab.shutdown().await;
    assert!(!ca_file.exists());
    assert!(TcpStream::connect(gateway).await.is_err());
}

#[tokio::test]
async fn hostile_clients_do_not_break_the_lab() {
    let lab = lab(&[]).await;
    let garbage: &[&[u8]] = &[
        b"\x16\x03\x01\x00\x05hello",
        b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
        b"CONNECT nocolon HTTP/1.1\r\n\r\n",
        b"CONNECT login.windows.net:99999 HTTP/1.1\r\n\r\n",
        b"\r\n\r\n",
        b"GET /echo/ip HTTP/1.1\r\n\r\n",
    ];
    for addr in [
        lab.transparent_http_addr(),
        lab.transparent_https_addr(),
        lab.proxy_addr(),
    ] {
        for bytes in garbage {
            let mut stream = connect(addr).await.unwrap();
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(CLIENT_TIMEOUT, stream.read_to_end(&mut sink)).await;
        }
    }
    // A non-proxy request to the proxy is refused politely.
    let answer = plain_via(lab.proxy_addr(), CANARY_HOST, ECHO_PATH)
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    // An unknown host or port through the proxy is a 502.
    let mut stream = connect(lab.proxy_addr()).await.unwrap();
    let answer = exchange(&mut stream, "CONNECT example.com:443 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(answer.status, 502);
    let mut stream = connect(lab.proxy_addr()).await.unwrap();
    let answer = exchange(
        &mut stream,
        "CONNECT canary.sipa-lab.test:22 HTTP/1.1\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 502);
    // And the lab still works.
    assert_eq!(
        echo(&lab, Route::Transparent, CANARY_HOST, 443)
            .await
            .unwrap(),
        "127.0.0.2"
    );
}

// ---- phase 1 faults: the egress each one changes ----

#[tokio::test]
async fn fault_one_domain_unanchored() {
    let lab = lab(&[Fault::OneDomainUnanchored]).await;
    assert_egress(&lab, |host, _| {
        if anchored_host(host) && host != "login.windows.net" {
            ANCHOR_IP
        } else {
            EDGE_IP
        }
    })
    .await;
}

#[tokio::test]
async fn fault_port80_unanchored() {
    let lab = lab(&[Fault::Port80Unanchored]).await;
    assert_egress(&lab, |host, port| {
        if anchored_host(host) && port == 443 {
            ANCHOR_IP
        } else {
            EDGE_IP
        }
    })
    .await;
}

#[tokio::test]
async fn fault_nothing_anchored() {
    let lab = lab(&[Fault::NothingAnchored]).await;
    assert_egress(&lab, |_, _| EDGE_IP).await;
}

#[tokio::test]
async fn fault_wrong_connector() {
    let lab = lab(&[Fault::WrongConnector]).await;
    assert_egress(&lab, |host, _| {
        if anchored_host(host) {
            WRONG_CONNECTOR_IP
        } else {
            EDGE_IP
        }
    })
    .await;
}

#[tokio::test]
async fn fault_over_anchored() {
    let lab = lab(&[Fault::OverAnchored]).await;
    assert_egress(&lab, |_, _| ANCHOR_IP).await;
}

#[tokio::test]
async fn faults_combine() {
    let lab = lab(&[Fault::Port80Unanchored, Fault::WrongConnector]).await;
    assert_egress(&lab, |host, port| {
        if anchored_host(host) && port == 443 {
            WRONG_CONNECTOR_IP
        } else {
            EDGE_IP
        }
    })
    .await;
}

// ---- phase 2 faults ----

#[tokio::test]
async fn fault_connectors_down_resets_anchored_connections() {
    let lab = lab(&[Fault::ConnectorsDown]).await;
    let plain = plain_via(lab.transparent_http_addr(), CANARY_HOST, ECHO_PATH).await;
    let error = plain.unwrap_err();
    let reset = error
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind);
    assert_eq!(
        reset,
        Some(std::io::ErrorKind::ConnectionReset),
        "{error:#}"
    );
    assert!(
        tls_via(&lab, "login.microsoft.com", ECHO_PATH)
            .await
            .is_err()
    );
    assert!(
        proxy_connect(&lab, "login.microsoft.com", 443)
            .await
            .is_err()
    );
    // Unanchored traffic is unaffected.
    assert_eq!(
        echo(&lab, Route::Transparent, CONTROL_HOST, 443)
            .await
            .unwrap(),
        "127.0.0.3"
    );
}

#[tokio::test]
async fn fault_access_denied_answers_anchored_requests_with_a_block_page() {
    let lab = lab(&[Fault::AccessDenied]).await;
    let answer = plain_via(lab.transparent_http_addr(), "login.windows.net", "/")
        .await
        .unwrap();
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("Access denied"));
    let refused = proxy_connect(&lab, "login.windows.net", 443)
        .await
        .unwrap_err();
    assert_eq!(refused.to_string(), "proxy answered 403");
    assert!(tls_via(&lab, "login.windows.net", ECHO_PATH).await.is_err());
    assert_eq!(
        echo(&lab, Route::ProxyConnect, CONTROL_HOST, 443)
            .await
            .unwrap(),
        "127.0.0.3"
    );
}

#[tokio::test]
async fn fault_proxy_auth_required() {
    let lab = lab(&[Fault::ProxyAuthRequired]).await;
    let mut stream = connect(lab.proxy_addr()).await.unwrap();
    let answer = exchange(
        &mut stream,
        "CONNECT control.sipa-lab.test:443 HTTP/1.1\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 407);
    assert_eq!(
        answer.header("proxy-authenticate"),
        Some("Basic realm=\"lab\"")
    );
    let mut stream = connect(lab.proxy_addr()).await.unwrap();
    let request =
        format!("GET http://{CANARY_HOST}{ECHO_PATH} HTTP/1.1\r\nHost: {CANARY_HOST}\r\n\r\n");
    assert_eq!(exchange(&mut stream, &request).await.unwrap().status, 407);
    // The transparent path does not authenticate.
    assert_eq!(
        echo(&lab, Route::Transparent, CANARY_HOST, 443)
            .await
            .unwrap(),
        "127.0.0.2"
    );
}

#[tokio::test]
async fn fault_dns_nxdomain_and_servfail_hit_login_windows_net() {
    let lab = lab(&[Fault::DnsNxdomain]).await;
    let udp = resolver(&lab, false);
    let error = udp
        .lookup("login.windows.net", RecordType::A)
        .await
        .unwrap_err();
    assert!(error.is_nx_domain(), "{error}");
    assert_eq!(
        addresses(&udp, "login.microsoft.com", RecordType::A).await,
        vec![IpAddr::V4(ORIGIN_IP)]
    );

    let lab = self::lab(&[Fault::DnsServfail]).await;
    // Over TCP this time, so both transports see the fault.
    let error = resolver(&lab, true)
        .lookup("login.windows.net", RecordType::A)
        .await
        .unwrap_err();
    assert!(!error.is_nx_domain(), "{error}");
    assert!(format!("{error:?}").contains("ServFail"), "{error:?}");
}

#[tokio::test]
async fn fault_blackhole_connect_leaves_syns_unanswered() {
    let lab = lab(&[Fault::BlackholeConnect]).await;
    for addr in [
        lab.transparent_http_addr(),
        lab.transparent_https_addr(),
        lab.proxy_addr(),
    ] {
        let attempt =
            tokio::time::timeout(Duration::from_millis(600), TcpStream::connect(addr)).await;
        assert!(attempt.is_err(), "connect to {addr} did not hang");
    }
}

#[tokio::test]
async fn fault_blackhole_tls_accepts_and_never_answers() {
    let lab = lab(&[Fault::BlackholeTls]).await;
    let stream = connect(lab.transparent_https_addr()).await.unwrap();
    let server_name = ServerName::try_from("login.microsoft.com").unwrap();
    let handshake = tokio::time::timeout(
        Duration::from_millis(600),
        tls_client(lab.ca_pem()).connect(server_name, stream),
    )
    .await;
    assert!(handshake.is_err(), "the TLS handshake got an answer");
    // Plain HTTP is unaffected.
    assert_eq!(
        echo(&lab, Route::Transparent, CANARY_HOST, 80)
            .await
            .unwrap(),
        "127.0.0.2"
    );
}

#[tokio::test]
async fn fault_tls_intercept_presents_an_unknown_ca_for_login_hosts() {
    let lab = lab(&[Fault::TlsIntercept]).await;
    for route in [Route::Transparent, Route::ProxyConnect] {
        let error = echo(&lab, route, "login.microsoftonline.com", 443)
            .await
            .unwrap_err();
        let chain = format!("{error:#}");
        assert!(chain.contains("UnknownIssuer"), "{route:?}: {chain}");
    }
    // Trusting the interception CA (which the harness never does) shows the path still anchors:
    // the gateway proxies intercepted traffic to the origin.
    assert_eq!(
        echo(&lab, Route::Transparent, CANARY_HOST, 443)
            .await
            .unwrap(),
        "127.0.0.2"
    );
    let stream = connect(lab.transparent_https_addr()).await.unwrap();
    let host = "login.microsoft.com";
    // The harness's own verifier, which accepts any chain: only to look behind the interception.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut accept_any = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(crate::probe::tls::AnyChain::new(provider)))
        .with_no_client_auth();
    accept_any.alpn_protocols = vec![b"http/1.1".to_vec()];
    let verifier_seen = Arc::new(accept_any);
    let mut tls = TlsConnector::from(verifier_seen)
        .connect(ServerName::try_from(host).unwrap(), stream)
        .await
        .unwrap();
    let answer = exchange(&mut tls, &get(host, ECHO_PATH)).await.unwrap();
    assert_eq!(answer.body, "127.0.0.2");
    let issuer = tls.get_ref().1.peer_certificates().unwrap()[1].clone();
    let issuer_text = String::from_utf8_lossy(issuer.as_ref()).into_owned();
    assert!(issuer_text.contains(INTERCEPTION_CA_NAME));
}

#[tokio::test]
async fn fault_echo_garbage() {
    let lab = lab(&[Fault::EchoGarbage]).await;
    for route in [Route::Transparent, Route::ProxyConnect] {
        assert_eq!(
            echo(&lab, route, CANARY_HOST, 443).await.unwrap(),
            "not an ip"
        );
    }
}

#[tokio::test]
async fn fault_intermittent_sends_one_in_three_anchored_connections_to_the_edge() {
    let lab = lab(&[Fault::Intermittent]).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(
            echo(&lab, Route::Transparent, CANARY_HOST, 443)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        seen,
        [
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.3"
        ]
    );
}

#[tokio::test]
async fn fault_ipv6_bypass_reaches_the_origin_around_the_gateway() {
    let lab = lab(&[Fault::Ipv6Bypass]).await;
    let resolver = resolver(&lab, false);
    assert_eq!(
        addresses(&resolver, "login.microsoftonline.com", RecordType::AAAA).await,
        vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]
    );
    assert_eq!(
        addresses(&resolver, CANARY_HOST, RecordType::AAAA).await,
        Vec::<IpAddr>::new()
    );
    // The client keeps the resolved ::1 and maps the ports, as `--connect-to :80::P` does.
    let v6 = |port| SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
    let answer = plain_via(
        v6(lab.transparent_http_addr().port()),
        "login.microsoftonline.com",
        ECHO_PATH,
    )
    .await
    .unwrap();
    assert_eq!(answer.body, "::1");
    let stream = connect(v6(lab.transparent_https_addr().port()))
        .await
        .unwrap();
    let host = "login.microsoft.com";
    let answer = tls_over(&lab, stream, host, &get(host, ECHO_PATH))
        .await
        .unwrap();
    assert_eq!(answer.body, "::1");
    // IPv4 still goes through the gateway.
    assert_eq!(
        echo(&lab, Route::Transparent, host, 443).await.unwrap(),
        "127.0.0.2"
    );
}

#[tokio::test]
async fn fault_slow_path_delays_anchored_connections_only() {
    let lab = lab(&[Fault::SlowPath]).await;
    let started = Instant::now();
    echo(&lab, Route::Transparent, CONTROL_HOST, 443)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(
        echo(&lab, Route::Transparent, CANARY_HOST, 443)
            .await
            .unwrap(),
        "127.0.0.2"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn latency_is_added_to_set_up_and_answers() {
    let lab = Lab::start(LabConfig {
        faults: vec![],
        latency: Duration::from_millis(100),
    })
    .await
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        echo(&lab, Route::Transparent, CONTROL_HOST, 80)
            .await
            .unwrap(),
        "127.0.0.3"
    );
    // Gateway accept, origin accept, origin answer: at least three delays.
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    addresses(&resolver(&lab, false), CANARY_HOST, RecordType::A).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn any_name_under_the_lab_domain_is_served_and_scale_names_act_as_login_hosts() {
    let lab = lab(&[]).await;
    let scale = "scale-042.sipa-lab.test";
    let other = "host-042.sipa-lab.test";
    let resolver = resolver(&lab, false);
    for host in [scale, other] {
        assert_eq!(
            addresses(&resolver, host, RecordType::A).await,
            vec![IpAddr::V4(ORIGIN_IP)],
            "{host}"
        );
    }
    // The wildcard covers one label only, as the certificate's does.
    for host in ["a.b.sipa-lab.test", "sipa-lab.test"] {
        let error = resolver.lookup(host, RecordType::A).await.unwrap_err();
        assert!(error.is_nx_domain(), "{host}: {error}");
    }
    // Scale names are in the segment; other names are echo sites outside it. Over 443 the raw
    // client verifies the lab leaf for the name, so this also proves the wildcard SAN.
    for port in [80, 443] {
        let seen = echo(&lab, Route::Transparent, scale, port).await.unwrap();
        assert_eq!(seen, ANCHOR_IP.to_string(), "{scale}:{port}");
        let seen = echo(&lab, Route::Transparent, other, port).await.unwrap();
        assert_eq!(seen, EDGE_IP.to_string(), "{other}:{port}");
    }
    let redirect = plain_via(lab.transparent_http_addr(), scale, "/")
        .await
        .unwrap();
    assert_eq!(redirect.status, 301);
    let path = "/common/.well-known/openid-configuration";
    let openid = tls_via(&lab, scale, path).await.unwrap();
    assert_eq!(openid.status, 200);
    assert!(openid.header("x-ms-request-id").is_some());
    assert_eq!(tls_via(&lab, other, path).await.unwrap().status, 404);
    // Every request above came on a connection of its own.
    let traffic = lab.origin_traffic();
    assert_eq!(traffic.echo_answers, 4);
    assert_eq!(traffic.requests, 7);
    assert_eq!(traffic.requests_on_reused_connections, 0);
}
