//! The run's trust anchors: public web PKI roots, the OS store and the declared `--ca-file`s,
//! and the verifiers every TLS probe of the run shares.

use std::path::Path as FsPath;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::sync::watch;

use crate::observation::ChainTrust;

/// The trust anchors of a run: public web PKI roots, the OS store, and the declared `--ca-file`s.
pub struct TrustStore {
    /// Built once: a verifier per anchor set, shared by every TLS probe of the run.
    anchors: Arc<Anchors>,
    /// The TLS check's client configuration, shared by every TLS probe: it accepts any chain
    /// so that the chain can be recorded and judged, and never resumes a session, so that each
    /// handshake shows the server's certificates.
    pub(super) probe: Arc<ClientConfig>,
    /// The echo probe's client configuration: every anchor trusted, HTTP/1.1 only. It is ready
    /// at once: the OS store is waited for only when a chain is checked that neither the public
    /// roots nor a declared anchor covers, so a connection (and a CONNECT) never waits for it.
    /// Its sessions are resumed where the server allows, as a browser's are.
    http: Arc<ClientConfig>,
}

/// The anchor sets, each with its verifier.
struct Anchors {
    public: Option<Arc<WebPkiServerVerifier>>,
    declared: Option<Arc<WebPkiServerVerifier>>,
    os: Arc<OsStore>,
}

/// The OS store, read by a thread of its own: reading and parsing it is the slowest step before
/// the first probe (milliseconds), and most chains never need it.
struct OsStore {
    /// Set exactly once by the loader, `None` when loading failed: for the check inside a
    /// handshake, which cannot await.
    loaded: OnceLock<Option<Arc<WithOsStore>>>,
    /// Turns true once `loaded` is set: for probes, which wait without blocking the runtime.
    ready: watch::Receiver<bool>,
}

/// Reads the OS trust store (rustls-native-certs, or a stand-in in tests).
type NativeLoader = fn() -> rustls_native_certs::CertificateResult;

/// What is built on the OS store.
struct WithOsStore {
    all: Option<Arc<WebPkiServerVerifier>>,
    problems: Vec<String>,
}

impl WithOsStore {
    fn load(
        mut all: RootCertStore,
        provider: &Arc<CryptoProvider>,
        native: NativeLoader,
    ) -> WithOsStore {
        let (certs, problems) = match std::panic::catch_unwind(native) {
            Ok(native) => (
                native.certs,
                native.errors.iter().map(|e| e.to_string()).collect(),
            ),
            Err(_) => (
                Vec::new(),
                vec!["reading the OS trust store panicked".into()],
            ),
        };
        let (_, _ignored) = all.add_parsable_certificates(certs);
        WithOsStore {
            all: verifier(&Arc::new(all), provider),
            problems,
        }
    }
}

impl OsStore {
    /// Starts reading the store: on a thread of its own, or here when no thread can be had.
    /// Whatever happens while loading, `loaded` ends up set and `ready` true.
    fn start(
        all: RootCertStore,
        provider: Arc<CryptoProvider>,
        native: NativeLoader,
    ) -> Arc<OsStore> {
        let (filler, ready) = watch::channel(false);
        let store = Arc::new(OsStore {
            loaded: OnceLock::new(),
            ready,
        });
        let load = {
            let store = store.clone();
            move || {
                let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    WithOsStore::load(all, &provider, native)
                }));
                let _ = store.loaded.set(loaded.ok().map(Arc::new));
                let _ = filler.send(true);
            }
        };
        let spawned = std::thread::Builder::new()
            .name("os-trust-store".into())
            .spawn(load.clone());
        if spawned.is_err() {
            load();
        }
        store
    }

    /// What is built on the store, once read; `None` when reading it failed.
    async fn get(&self) -> Option<Arc<WithOsStore>> {
        let mut ready = self.ready.clone();
        // The loader sets `loaded` before it says so; a closed channel means it is set too.
        let _ = ready.wait_for(|ready| *ready).await;
        self.loaded.get().cloned().flatten()
    }
}

/// A `--ca-file` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read CA file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("CA file {path} holds no PEM certificate")]
    Empty { path: String },
    #[error("CA file {path}: certificate {index} is not a usable trust anchor: {reason}")]
    Unusable {
        path: String,
        index: usize,
        reason: String,
    },
    #[error("cannot set up TLS")]
    Setup(#[source] rustls::Error),
}

impl TrustStore {
    pub fn load(ca_files: &[std::path::PathBuf]) -> Result<TrustStore, TrustError> {
        Self::load_with(ca_files, rustls_native_certs::load_native_certs)
    }

    /// As [`TrustStore::load`], reading the OS store with `native`.
    fn load_with(
        ca_files: &[std::path::PathBuf],
        native: NativeLoader,
    ) -> Result<TrustStore, TrustError> {
        let mut public = RootCertStore::empty();
        public.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut declared = RootCertStore::empty();
        for path in ca_files {
            add_pem_file(&mut declared, path)?;
        }
        let provider = Arc::new(client_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TrustError::Setup)?;
        let mut public_and_declared = public.clone();
        public_and_declared
            .roots
            .extend(declared.roots.iter().cloned());
        let anchors = Arc::new(Anchors {
            public: verifier(&Arc::new(public), &provider),
            declared: verifier(&Arc::new(declared), &provider),
            os: OsStore::start(public_and_declared, provider.clone(), native),
        });
        let mut http = builder
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AllAnchors {
                anchors: anchors.clone(),
                signatures: AnyChain::new(provider.clone()),
            }))
            .with_no_client_auth();
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut probe = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyChain::new(provider.clone())))
            .with_no_client_auth();
        probe.resumption = rustls::client::Resumption::disabled();
        probe.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TrustStore {
            anchors,
            probe: Arc::new(probe),
            http: Arc::new(http),
        })
    }

    /// Problems met while loading the OS store, without waiting for it. A store not read by the
    /// end of the run was not needed by any check, and is no problem.
    pub fn os_store_problems(&self) -> Vec<String> {
        match self.anchors.os.loaded.get() {
            Some(Some(loaded)) => loaded.problems.clone(),
            Some(None) => vec!["the OS trust store could not be read: its loader failed".into()],
            None => Vec::new(),
        }
    }

    /// The client configuration for HTTP: every anchor trusted, HTTP/1.1 only.
    pub fn http_config(&self) -> ClientConfig {
        (*self.http).clone()
    }

    /// The same configuration, shared: the echo samples' handshakes, which resume one another's
    /// sessions.
    pub fn echo_config(&self) -> Arc<ClientConfig> {
        self.http.clone()
    }

    /// The QUIC probe's client configuration: TLS 1.3 only (QUIC has no other), ALPN `h3`, and a
    /// verifier that checks the chain against every anchor as the echo's does but lets the
    /// handshake complete either way, writing what was wrong with the chain into the slot it
    /// returns: a QUIC handshake that gets through is what the check is about, and whether a
    /// browser would accept its certificate is said beside it.
    pub fn quic_probe_config(&self) -> Result<(ClientConfig, ChainProblem), rustls::Error> {
        let problem = ChainProblem::default();
        let verifier = Recording {
            inner: self.all_anchors(),
            problem: problem.clone(),
        };
        let config = self.quic_config(Arc::new(verifier))?;
        Ok((config, problem))
    }

    /// The HTTP/3 echo's client configuration: TLS 1.3, ALPN `h3`, every anchor trusted.
    pub fn quic_echo_config(&self) -> Result<ClientConfig, rustls::Error> {
        self.quic_config(Arc::new(self.all_anchors()))
    }

    fn all_anchors(&self) -> AllAnchors {
        AllAnchors {
            anchors: self.anchors.clone(),
            signatures: AnyChain::new(Arc::new(client_provider())),
        }
    }

    fn quic_config(
        &self,
        verifier: Arc<dyn ServerCertVerifier>,
    ) -> Result<ClientConfig, rustls::Error> {
        let mut config = ClientConfig::builder_with_provider(Arc::new(client_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h3".to_vec()];
        Ok(config)
    }

    /// Which anchor the chain ends at: public root, declared anchor, OS store only, or none.
    /// Only a chain that neither the public roots nor a declared anchor covers waits for the OS
    /// store, without blocking the runtime.
    pub(super) async fn classify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
    ) -> ChainTrust {
        let verify = |verifier: &Option<Arc<WebPkiServerVerifier>>| {
            check(verifier, end_entity, intermediates, name, UnixTime::now())
        };
        if verify(&self.anchors.public).is_ok() {
            return ChainTrust::PublicRoot;
        }
        if verify(&self.anchors.declared).is_ok() {
            return ChainTrust::DeclaredAnchor;
        }
        let all = self
            .anchors
            .os
            .get()
            .await
            .and_then(|loaded| loaded.all.clone());
        match verify(&all) {
            Ok(_) => ChainTrust::OsStoreOnly,
            Err(error) => ChainTrust::Untrusted {
                error: error.to_string(),
            },
        }
    }
}

/// The probes' cryptography: ring's, with the TLS 1.3 and 1.2 cipher suites each in a
/// browser's order, AES-128-GCM before AES-256-GCM (as Chrome and Firefox offer them). A server
/// that honours the client's order then picks what a user's browser gets, and its SHA-256 key
/// schedule costs less than SHA-384's on every handshake.
pub fn client_provider() -> CryptoProvider {
    use rustls::CipherSuite::{
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TLS13_AES_256_GCM_SHA384,
    };
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        let tls12 = matches!(suite, rustls::SupportedCipherSuite::Tls12(_));
        let aes256 = matches!(
            suite.suite(),
            TLS13_AES_256_GCM_SHA384
                | TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        );
        (tls12, aes256)
    });
    provider
}

/// Checks a chain against one anchor set's verifier (none: no anchors at all).
fn check(
    verifier: &Option<Arc<WebPkiServerVerifier>>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    match verifier {
        Some(v) => v.verify_server_cert(end_entity, intermediates, name, &[], now),
        None => Err(rustls::Error::General("no trust anchors".into())),
    }
}

/// The echo probe's verifier: the public roots, the declared anchors, then the OS store. Only a
/// chain neither of the first two covers waits for the store, inside the handshake (which cannot
/// await): by then it has had a round trip or more to load, and the loader always finishes.
#[derive(Debug)]
struct AllAnchors {
    anchors: Arc<Anchors>,
    /// Checks the handshake's signatures, as every verifier of the run does.
    signatures: AnyChain,
}

impl std::fmt::Debug for Anchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anchors")
            .field("os_store_loaded", &self.os.loaded.get().is_some())
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for AllAnchors {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |verifier: &Option<Arc<WebPkiServerVerifier>>| {
            check(verifier, end_entity, intermediates, server_name, now)
        };
        verify(&self.anchors.public)
            .or_else(|_| verify(&self.anchors.declared))
            .or_else(|first| match self.anchors.os.loaded.wait() {
                Some(loaded) => verify(&loaded.all),
                None => Err(first),
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

/// What a recording verifier found wrong with a chain: `None` while nothing was.
pub type ChainProblem = Arc<std::sync::Mutex<Option<String>>>;

/// Checks the chain with `inner`, writes down a failure instead of failing the handshake.
/// Handshake signatures are still verified.
#[derive(Debug)]
struct Recording {
    inner: AllAnchors,
    problem: ChainProblem,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(e) = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            let mut slot = self.problem.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(e.to_string());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verifier for one anchor set, or none when the set is empty.
fn verifier(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    if roots.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .ok()
}

fn add_pem_file(store: &mut RootCertStore, path: &FsPath) -> Result<(), TrustError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut count = 0;
    for (index, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| TrustError::Unusable {
            path: shown.clone(),
            index: index + 1,
            reason: e.to_string(),
        })?;
        store.add(cert).map_err(|e| TrustError::Unusable {
            path: shown.clone(),
            index: index + 1,
            reason: e.to_string(),
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(TrustError::Empty { path: shown });
    }
    Ok(())
}

/// Accepts any chain so the handshake completes and the chain can be read from the session,
/// then judged against each anchor set. Handshake signatures are still verified. A request is
/// sent on the connection only once the chain is trusted; nothing secret is ever sent.
#[derive(Debug)]
pub struct AnyChain {
    provider: Arc<CryptoProvider>,
}

impl AnyChain {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> AnyChain {
        AnyChain { provider }
    }
}

impl ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicking_store() -> rustls_native_certs::CertificateResult {
        panic!("the OS trust store is unreadable")
    }

    #[test]
    fn the_probes_offer_aes_128_first_as_browsers_do_in_each_version() {
        use rustls::CipherSuite::*;
        let offered: Vec<_> = client_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let at = |suite| offered.iter().position(|s| *s == suite).unwrap();
        assert_eq!(offered[0], TLS13_AES_128_GCM_SHA256, "{offered:?}");
        assert!(at(TLS13_AES_128_GCM_SHA256) < at(TLS13_AES_256_GCM_SHA384));
        assert!(at(TLS13_CHACHA20_POLY1305_SHA256) < at(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256));
        assert!(
            at(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
                < at(TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
        );
        assert!(
            at(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) < at(TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
        );
        // Nothing offered is lost by the reordering.
        assert_eq!(
            offered.len(),
            rustls::crypto::ring::default_provider().cipher_suites.len()
        );
    }

    /// A self-signed leaf for `host`, its chain in DER.
    fn unknown_chain(host: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().expect("a key");
        let params = rcgen::CertificateParams::new(vec![host.to_string()]).expect("params");
        params
            .self_signed(&key)
            .expect("a certificate")
            .der()
            .clone()
    }

    #[tokio::test]
    async fn a_failing_os_store_never_holds_up_a_run() {
        let store = TrustStore::load_with(&[], panicking_store).expect("the store loads");
        let leaf = unknown_chain("login.windows.net");
        let name = ServerName::try_from("login.windows.net").expect("a name");
        let trust = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.classify(&leaf, &[], &name),
        )
        .await
        .expect("a chain is judged without the OS store");
        assert!(matches!(trust, ChainTrust::Untrusted { .. }), "{trust:?}");
        assert_eq!(
            store.os_store_problems(),
            vec!["reading the OS trust store panicked".to_string()]
        );
        // The echo probe's verifier ends too, refusing the unknown chain.
        let verifier = AllAnchors {
            anchors: store.anchors.clone(),
            signatures: AnyChain::new(Arc::new(rustls::crypto::ring::default_provider())),
        };
        let refused = tokio::task::spawn_blocking(move || {
            verifier
                .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
                .is_err()
        });
        let refused = tokio::time::timeout(std::time::Duration::from_secs(5), refused)
            .await
            .expect("the verifier does not hang")
            .expect("the verifier does not panic");
        assert!(refused, "an unknown chain is refused");
    }

    #[test]
    fn a_store_nothing_waited_for_is_no_problem() {
        let (_filler, ready) = watch::channel(false);
        let os = OsStore {
            loaded: OnceLock::new(),
            ready,
        };
        let store = TrustStore::load_with(&[], panicking_store).expect("the store loads");
        let store = TrustStore {
            anchors: Arc::new(Anchors {
                public: store.anchors.public.clone(),
                declared: None,
                os: Arc::new(os),
            }),
            ..store
        };
        assert!(store.os_store_problems().is_empty(), "still being read");
        let _ = store.anchors.os.loaded.set(None);
        assert_eq!(
            store.os_store_problems(),
            vec!["the OS trust store could not be read: its loader failed".to_string()]
        );
    }
}
