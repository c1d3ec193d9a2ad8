//! The client assertion a certificate credential signs: header and claims as MSAL makes them,
//! and a signature that the certificate's public key verifies, for an RSA key (RS256). An EC
//! key is refused when the certificate is loaded: Entra accepts RSA assertions only. The
//! assertion never shows in `Debug` or `Display`.

use base64::Engine as _;
use sipa_check::entra::{
    AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_ID, AZURE_TENANT_ID, ClientAuth, ClientCertificate,
    CredentialsError, EntraCredentials,
};

/// A throwaway RSA 2048 test certificate and key, made for this test with
/// `openssl req -x509 -newkey rsa:2048 -nodes`. It signs nothing but test assertions.
const RSA_PEM: &str = concat!(
    "-----BEGIN CERTIFICATE-----\n",
    "MIIDHTCCAgWgAwIBAgIUMHi8GJxypAGfka/xrKMBmBGQmKcwDQYJKoZIhvcNAQEL\n",
    "BQAwHjEcMBoGA1UEAwwTc2lwYS1jaGVjayB0ZXN0IGFwcDAeFw0yNjExMzAxMjQ0\n",
    "NTFaFw0zNjExMjcxMjQ0NTFaMB4xHDAaBgNVBAMME3NpcGEtY2hlY2sgdGVzdCBh\n",
    "cHAwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDSlbRUSYHt1RZpoFgH\n",
    "EBYWEaT/L3fL8ci2wytOFvm5VzGiHcuf5Y0doA5UO33FzmthWQXrdKgQ7VPH9+7o\n",
    "fE5uUUX9I/bQdkkh7LopuHh0Hr0AdKoTcw26VDkKfjBXOAvKzyzeOsz5uDXe+g1G\n",
    "O5Z1XpxPv3f2xcI9MTmBhWZI4FGEJpnkZMwDP+/TtCYFIAy4jtDeGBWYBpVsXbfa\n",
    "9Rhd2jtduxfe59XbX72px4ggI0C1dWhsvluo9jdvycOH8gAwnOIrhWlj7Ezc7g7D\n",
    "LTaT05XxiyJiWwAqxeho83/QF5r/9/MJXig3mcPHKvhthfcx2ghaHTYAj0hpxyfS\n",
    "sQ//AgMBAAGjUzBRMB0GA1UdDgQWBBSLoHiBmxt//HJlR2IjIPviaAtn0DAfBgNV\n",
    "HSMEGDAWgBSLoHiBmxt//HJlR2IjIPviaAtn0DAPBgNVHRMBAf8EBTADAQH/MA0G\n",
    "CSqGSIb3DQEBCwUAA4IBAQBrjEUMGAmBv2CAcQJPVMV9bMtphtwGRP9U3ockYRz3\n",
    "VbsXol6VyIEa+fK61gBtK6L+/ZyMVi5lhKNVdFha4vT3RYSc1cpujsTjWtFKlf+D\n",
    "4qMRuhH/qongZzM9n0ToNl1Qle8V0K9Ndwzvxs69pf6hCq0y23jmRb+guKi2yZoP\n",
    "XXdmU+0assUrZ2THjl/Lq6lCst5HOmt0UvNfunuNb37MJ5+4YmLW+Mh0vtJLT/3Q\n",
    "WaqeeLAKVMa+jjUeNMZ4TcLd795NsHwKpszcF0XznapA1XzPionfmpz8SZHTOKbr\n",
    "EQYPI5lLG65RBawiasbipt0WOwcyWroQ5fadYgVZ0+r1\n",
    "-----END CERTIFICATE-----\n",
    "-----BEGIN PRIVATE KEY-----\n",
    "MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDSlbRUSYHt1RZp\n",
    "oFgHEBYWEaT/L3fL8ci2wytOFvm5VzGiHcuf5Y0doA5UO33FzmthWQXrdKgQ7VPH\n",
    "9+7ofE5uUUX9I/bQdkkh7LopuHh0Hr0AdKoTcw26VDkKfjBXOAvKzyzeOsz5uDXe\n",
    "+g1GO5Z1XpxPv3f2xcI9MTmBhWZI4FGEJpnkZMwDP+/TtCYFIAy4jtDeGBWYBpVs\n",
    "Xbfa9Rhd2jtduxfe59XbX72px4ggI0C1dWhsvluo9jdvycOH8gAwnOIrhWlj7Ezc\n",
    "7g7DLTaT05XxiyJiWwAqxeho83/QF5r/9/MJXig3mcPHKvhthfcx2ghaHTYAj0hp\n",
    "xyfSsQ//AgMBAAECggEABEtiRI/FMwzz6o6HDQnScXvFoiCdME8LeVKsmOiWCiYR\n",
    "kI1MAERFpvODJ0uZSoXlobQXj1AvNz0nxr2zJRGX5d8JbtqjZ2fqION7fmtRJYkU\n",
    "8KPwbfocLw8VpLWjFbxCXU3xS8zmLjeH/baau7JuZJFb3bJ5Z1JsHiRZWF9YkSbc\n",
    "dU/jIQVmIh4dYxj6+J20DscHSm/OstYGQR7hZ/H4vQbXmGZaMQTqdk2rb7d2JCGP\n",
    "/rl7oBBzuvVuCaQi3ImoeVV8WkPjGNHuYPd8YImJQecZijn/2tkPrcTX6qgdckln\n",
    "/IClvSWUmZi/yEDEjLsF0aauQg4BHQpONiNMg22acQKBgQD3r4aSVNrfDLX93df+\n",
    "F1LpVjYvs+yFjdLOJ3S2W06Ksv1i6TOpirE2ZrzDGhDPYSQp7ow+daAJ8FQl/PMn\n",
    "URuqrG/MHbmaWC5VoeWkKa+zCNGyRvxjfd8SxLEJLhiRXo5B+cQ4B/C3qoTvZXY7\n",
    "SxpYd0SjSoyUN26NMPPA/ywODwKBgQDZp1qzlfM+8O/AHjSi+mjtRr9I3n21pqbh\n",
    "Mhzo0pzw41phRI6Yr15Gum34eeWtbVv21GtAdnspg4te6ju+2b4Z8oOIdDoRwnh+\n",
    "GQ8/BMWrfen1CMpM89LiOdSStSaSbMavhjluPEQ1zwB0CLlHJJv5xnWdngY1XNMb\n",
    "e/XZzjrPEQKBgQC7L6s7QefbtCaCQrtu6z+c2qu+53J0CJftd0IsYtr71YPL0cRa\n",
    "eFevbntv024q3BZRnlfdCFY3zKo7v2wgJZsMJJ+lGj3f2I7D5sO/ikWfv6WC30T1\n",
    "B/ajn4TQFEc67cQDNnjFg7K3i6ZFql9tNjgl7ZUw9zFA/peNGxbMn8wynwKBgQCk\n",
    "kPTzdB1HKcUc7bm+wLc1MJjQ7+j8v9TN0KYrI5OmT0C26q8movIVaEBd70zJpDY0\n",
    "mse9JdhZuyxVx6UE2H30AHmTYs3FP9T7AteUPnd3Au0yaEMNjA2XH0Kq6m0PqU9Q\n",
    "x5wEzWyFgs5E7ZOpRvToFjY3xpPLJTQ5Q7DPzi6JAQKBgQDdxOPECuoxz7YcsHFG\n",
    "DKfAyc+D4adqGoYFeNGTlKBHmMpmkW/shDTn5NJiJODSo9VP4ICF5KmS8sO+jwDT\n",
    "rAhiy4Zg/hIfnWoP14/lV+rpSeB/YaqDGswfLPKDMudNHDCg6eHjYqRb7NZLmj3z\n",
    "77Fm0356YmYYnD3ZJEhVwIm41Q==\n",
    "-----END PRIVATE KEY-----\n",
);

const ENDPOINT: &str = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

fn b64(part: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url without padding")
}

fn cert_der(pem: &str) -> Vec<u8> {
    let start = pem.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = pem.find("-----END CERTIFICATE-----").unwrap();
    let body: String = pem[start + 27..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Decodes an assertion, checks its header and claims, and verifies its signature with the
/// certificate's public key under `algorithm`.
fn check_assertion(
    jwt: &str,
    pem: &str,
    alg: &str,
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form");
    let header: serde_json::Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "JWT");
    let der = cert_der(pem);
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &der);
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert_eq!(header["x5t#S256"], url.encode(sha256.as_ref()));
    assert_eq!(header["x5t"], url.encode(sha1.as_ref()));
    assert_eq!(claims["aud"], ENDPOINT);
    assert_eq!(claims["iss"], CLIENT);
    assert_eq!(claims["sub"], CLIENT);
    let jti = claims["jti"].as_str().expect("a jti");
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "jti {jti} is a GUID");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nbf = claims["nbf"].as_u64().unwrap();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(nbf <= now && now <= nbf + 5, "nbf {nbf} is now ({now})");
    assert_eq!(exp, nbf + 600);

    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let public = cert
        .tbs_certificate
        .subject_pki
        .subject_public_key
        .data
        .to_vec();
    let signed = format!("{}.{}", parts[0], parts[1]);
    ring::signature::UnparsedPublicKey::new(algorithm, public)
        .verify(signed.as_bytes(), &b64(parts[2]))
        .expect("the certificate's key verifies the signature");
}

#[test]
fn an_rsa_certificate_signs_an_rs256_assertion() {
    let certificate = ClientCertificate::from_pem(RSA_PEM.as_bytes()).expect("the PEM is usable");
    assert_eq!(certificate.algorithm(), "RS256");
    let first = certificate.assertion(CLIENT, ENDPOINT).unwrap();
    check_assertion(
        first.expose(),
        RSA_PEM,
        "RS256",
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
    );
    let second = certificate.assertion(CLIENT, ENDPOINT).unwrap();
    assert_ne!(
        first.expose(),
        second.expose(),
        "every assertion has its own jti"
    );
    for shown in [
        format!("{first:?}"),
        format!("{first}"),
        format!("{certificate:?}"),
    ] {
        assert!(!shown.contains(&first.expose()[..20]), "{shown}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
    }
}

#[test]
fn an_ec_certificate_is_refused_when_loaded_naming_why() {
    // Entra refuses ES256 client assertions (AADSTS5002738): an EC key is refused up front
    // rather than signing what a real tenant turns down.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sipa-check-app".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    let err = ClientCertificate::from_pem(pem.as_bytes()).unwrap_err();
    assert!(matches!(err, CredentialsError::EcKey { .. }), "{err:?}");
    assert!(err.to_string().contains("AADSTS5002738"), "{err}");
    assert!(err.to_string().contains("RSA key only"), "{err}");
}

#[test]
fn an_ec_certificate_path_is_exit_2_before_anything_runs() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sipa-check-app".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ec-app.pem");
    std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipa-check"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
        .env("AZURE_CLIENT_ID", CLIENT)
        .env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_CERTIFICATE_PATH", &path)
        .stdin(std::process::Stdio::null())
        .args(["run", "--dry-run", "scenarios/lab-entra.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("an EC key"), "{stderr}");
    assert!(stderr.contains("AADSTS5002738"), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn the_certificate_path_makes_assertion_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.pem");
    std::fs::write(&path, RSA_PEM).unwrap();
    let path_text = path.display().to_string();
    let creds = EntraCredentials::from_env(|name| match name {
        AZURE_TENANT_ID => Some("contoso".into()),
        AZURE_CLIENT_ID => Some(CLIENT.into()),
        AZURE_CLIENT_CERTIFICATE_PATH => Some(path_text.clone()),
        _ => None,
    })
    .expect("credentials from a certificate");
    assert!(matches!(creds.auth, ClientAuth::Certificate(_)));
    let form = creds
        .token_form(ENDPOINT, &creds.cloud.graph_scope(), "corr-1")
        .unwrap();
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(form.expose().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        fields["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!fields.contains_key("client_secret"));
    check_assertion(
        &fields["client_assertion"],
        RSA_PEM,
        "RS256",
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
    );
    let shown = format!("{creds:?} {form:?} {form}");
    assert!(
        !shown.contains(&fields["client_assertion"][..40]),
        "{shown}"
    );
}
