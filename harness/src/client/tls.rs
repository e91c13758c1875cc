//! rustls client configurations for the control and data channels, built from knobs.
//!
//! Resumption in rustls is keyed by the `ClientConfig`'s session store plus the
//! `ServerName`, so the data channel resumes the control session only when it uses the very
//! same `Arc<ClientConfig>` and name. "Resume off" gives the data channel a config without
//! a session store.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, Tls12Resumption};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use crate::transcript::{Handshake, HandshakeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// Which certificates the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verify {
    /// The endpoint's CA (the run's generated CA, or `--ca`).
    #[default]
    Ca,
    /// Accept any certificate (handshake signatures are still checked).
    None,
    /// Trust only a CA that did not sign the server certificate: verification must fail.
    UnknownCa,
}

/// What the client trusts and presents, supplied by the endpoint.
#[derive(Clone, Default)]
pub struct Trust {
    pub roots: Vec<CertificateDer<'static>>,
    pub unrelated_root: Option<CertificateDer<'static>>,
    pub client_identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

#[derive(Debug, Clone)]
pub struct TlsKnobs {
    pub min: TlsVersion,
    pub max: TlsVersion,
    pub resume: bool,
    pub verify: Verify,
    pub alpn: Vec<String>,
    pub sni: bool,
    pub server_name: String,
    pub client_cert: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls.min {min:?} is above tls.max {max:?}")]
    VersionRange { min: TlsVersion, max: TlsVersion },
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("no CA to verify the server with (give --ca, or set tls.verify: none)")]
    NoRoots,
    #[error("tls.client_cert is set but the endpoint has no client certificate")]
    NoClientIdentity,
    #[error("verify: unknown-ca needs an unrelated CA, and the endpoint has none")]
    NoUnrelatedRoot,
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The configs one session uses: the control channel's, and the data channel's (the same
/// `Arc` when resuming).
#[derive(Clone)]
pub struct TlsContext {
    pub control: Arc<ClientConfig>,
    pub data: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn versions(min: TlsVersion, max: TlsVersion) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut out = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    out
}

impl TlsContext {
    pub fn build(knobs: &TlsKnobs, trust: &Trust) -> Result<Self, TlsSetupError> {
        if knobs.min > knobs.max {
            return Err(TlsSetupError::VersionRange {
                min: knobs.min,
                max: knobs.max,
            });
        }
        let name = ServerName::try_from(knobs.server_name.clone())
            .map_err(|_| TlsSetupError::ServerName(knobs.server_name.clone()))?;
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions(knobs.min, knobs.max))?;
        let builder = match knobs.verify {
            Verify::Ca | Verify::UnknownCa => {
                let certs: Vec<_> = if knobs.verify == Verify::Ca {
                    trust.roots.clone()
                } else {
                    vec![
                        trust
                            .unrelated_root
                            .clone()
                            .ok_or(TlsSetupError::NoUnrelatedRoot)?,
                    ]
                };
                if certs.is_empty() {
                    return Err(TlsSetupError::NoRoots);
                }
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots.add(cert)?;
                }
                builder.with_root_certificates(roots)
            }
            Verify::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(
                    provider.signature_verification_algorithms,
                ))),
        };
        let mut config = if knobs.client_cert {
            let (chain, key) = trust
                .client_identity
                .clone()
                .ok_or(TlsSetupError::NoClientIdentity)?;
            builder.with_client_auth_cert(chain, key.clone_key())?
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = knobs.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.enable_sni = knobs.sni;
        config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(64)))
            .tls12_resumption(Tls12Resumption::SessionIdOrTickets);
        let control = Arc::new(config);
        let data = if knobs.resume {
            control.clone()
        } else {
            let mut fresh = (*control).clone();
            fresh.resumption = Resumption::disabled();
            Arc::new(fresh)
        };
        Ok(TlsContext {
            control,
            data,
            name,
        })
    }
}

/// Summarizes a finished handshake for the transcript.
pub fn describe(conn: &rustls::ClientConnection) -> Handshake {
    let kind = match conn.handshake_kind() {
        Some(rustls::HandshakeKind::Resumed) => HandshakeKind::Resumed,
        Some(rustls::HandshakeKind::FullWithHelloRetryRequest) => HandshakeKind::FullWithHelloRetry,
        _ => HandshakeKind::Full,
    };
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(other) => format!("{other:?}"),
        None => "?".to_string(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "?".to_string());
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Handshake {
        version,
        cipher,
        kind,
        alpn,
        peer_certificate: conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.to_vec()),
    }
}

/// `verify: none`: accepts any certificate but still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
