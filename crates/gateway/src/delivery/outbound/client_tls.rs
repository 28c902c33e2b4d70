//! TLS for outbound STARTTLS: the modes an outbound connector can demand, the trust roots
//! (webpki roots plus the operator's extra CA bundle), and one certificate verifier per
//! connection that enforces the mode and keeps the server's certificate so a probe can show
//! it even when verification failed.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::tls::TlsError;
use crate::tls::problems::{io_problem, rustls_problem};

/// How much TLS a destination gets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// STARTTLS when offered, unauthenticated (as RFC 7435 opportunistic security).
    Opportunistic,
    /// STARTTLS must succeed, else the attempt fails temporarily; the certificate is not
    /// checked.
    Required,
    /// STARTTLS with a certificate that chains to a trusted root and is valid for the host
    /// name connected to (MX host or smart host).
    VerifyCertificate,
    /// As `VerifyCertificate`, and the certificate must be valid for this domain.
    VerifyDomain(String),
    /// Plain text only.
    Off,
}

impl TlsMode {
    /// Whether the session must end up encrypted.
    pub fn requires_tls(&self) -> bool {
        !matches!(self, TlsMode::Opportunistic | TlsMode::Off)
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsMode::Opportunistic => f.write_str("opportunistic"),
            TlsMode::Required => f.write_str("required"),
            TlsMode::VerifyCertificate => f.write_str("verify-certificate"),
            TlsMode::VerifyDomain(d) => write!(f, "verify-domain {d}"),
            TlsMode::Off => f.write_str("off"),
        }
    }
}

impl From<&directory::OutboundTls> for TlsMode {
    fn from(tls: &directory::OutboundTls) -> TlsMode {
        match tls {
            directory::OutboundTls::Opportunistic => TlsMode::Opportunistic,
            directory::OutboundTls::Required => TlsMode::Required,
            directory::OutboundTls::VerifyCertificate => TlsMode::VerifyCertificate,
            directory::OutboundTls::VerifyDomain(d) => TlsMode::VerifyDomain(d.to_string()),
        }
    }
}

/// The roots server certificates are checked against: the webpki (Mozilla) roots and, when
/// the operator gives one (`[delivery] tls_ca_file`), every CA in a PEM bundle, e.g. a
/// private CA for partners' relays. Build once and share.
pub fn trust_roots(extra_ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra_ca_file {
        for ca in crate::tls::load_certs(path)? {
            roots
                .add(ca)
                .map_err(|e| TlsError::CaFile { path: path.to_path_buf(), reason: rustls_problem(&e) })?;
        }
    }
    Ok(Arc::new(roots))
}

/// What a verifier must check besides the handshake signatures.
#[derive(Debug)]
enum Check {
    Nothing,
    /// Chain and the name connected to (rustls passes it in as the SNI name).
    Chain(Arc<WebPkiServerVerifier>),
    /// Chain and this name, whatever name was connected to.
    ChainFor(Arc<WebPkiServerVerifier>, ServerName<'static>),
}

/// One connection's certificate verifier: enforces the mode, remembers the certificate.
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    check: Check,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

/// A rustls client configuration for one STARTTLS under `mode`, with its verifier.
pub(crate) fn setup(
    mode: &TlsMode,
    roots: &Arc<RootCertStore>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<PeerVerifier>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = || {
        WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| format!("{mode}: no usable trust roots: {e}"))
    };
    let check = match mode {
        TlsMode::Opportunistic | TlsMode::Required | TlsMode::Off => Check::Nothing,
        TlsMode::VerifyCertificate => Check::Chain(webpki()?),
        TlsMode::VerifyDomain(domain) => {
            let name = ServerName::try_from(domain.clone())
                .map_err(|_| format!("{mode}: {domain:?} is not a DNS name"))?;
            Check::ChainFor(webpki()?, name)
        }
    };
    let verifier = Arc::new(PeerVerifier { check, provider: Arc::clone(&provider), seen: Mutex::new(None) });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{mode}: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    Ok((Arc::new(config), verifier))
}

impl PeerVerifier {
    /// The server's end-entity certificate, once the handshake got that far.
    pub(crate) fn certificate(&self) -> Option<CertificateDer<'static>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(end_entity.clone().into_owned());
        match &self.check {
            // Opportunistic encryption authenticates nobody (RFC 7435); the handshake
            // signatures are still checked below.
            Check::Nothing => Ok(ServerCertVerified::assertion()),
            Check::Chain(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            Check::ChainFor(v, name) => v.verify_server_cert(end_entity, intermediates, name, ocsp, now),
        }
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
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a handshake failed, in an admin's words, naming the mode that demanded it.
pub(crate) fn handshake_failure(mode: &TlsMode, server_name: &str, error: &std::io::Error) -> String {
    let rustls_error = error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    let what = match rustls_error {
        Some(rustls::Error::InvalidCertificate(cert)) => certificate_problem(mode, server_name, cert),
        _ => io_problem(error),
    };
    format!("{mode}: {what}")
}

fn certificate_problem(mode: &TlsMode, server_name: &str, error: &CertificateError) -> String {
    let name = match mode {
        TlsMode::VerifyDomain(d) => d.as_str(),
        _ => server_name,
    };
    match error {
        CertificateError::UnknownIssuer => {
            "the server's certificate does not chain to a trusted root (unknown issuer)".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("the server's certificate is not valid for {name}")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet".into()
        }
        other => crate::tls::problems::certificate_problem(other),
    }
}

/// Subject, names, issuer and expiry of a certificate, for people.
pub(crate) fn describe_certificate(cert: &CertificateDer<'_>) -> String {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return "an unparsable certificate".into();
    };
    let names = crate::tls::certificate_names(cert);
    format!(
        "subject {}, names [{}], issuer {}, expires {}",
        parsed.subject(),
        names.join(", "),
        parsed.issuer(),
        parsed.validity().not_after
    )
}
