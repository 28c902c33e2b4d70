//! TLS for STARTTLS: the operator's certificate and key in PEM, or a self-signed
//! certificate generated on first start and kept in the data directory so that its
//! fingerprint stays stable across restarts.
//!
//! Client certificates: with a client CA bundle the server asks every client for one but
//! requires none, and accepts *any* certificate during the handshake (checking only that the
//! client holds its key). Whether it chains to the bundle is decided after the handshake by
//! [`ClientCa::verified_names`]. Refusing the handshake instead would break mail from every
//! MTA that presents a certificate of its own CA (many do, to every server): such a client
//! is served like one without a certificate, never trusted as a connector.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// Where the server's certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files given by the operator.
    Files { cert_file: PathBuf, key_file: PathBuf },
    /// Generate (once) a self-signed certificate for `hostname` under `dir`.
    SelfSigned { dir: PathBuf, hostname: String },
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("client CA bundle {path}: {reason}")]
    ClientCa { path: PathBuf, reason: String },
    /// The extra CA bundle for verifying servers on outbound STARTTLS.
    #[error("CA bundle {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("certificate and key do not form a usable TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the rustls server configuration (TLS 1.2 and 1.3, ring provider). With a client
/// CA bundle the server asks every client for a certificate during STARTTLS, requires none
/// and accepts any (see the module's doc); [`ClientCa`] judges it after the handshake.
pub fn server_config(
    source: &TlsSource,
    client_ca_file: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_file, key_file) = match source {
        TlsSource::Files { cert_file, key_file } => (cert_file.clone(), key_file.clone()),
        TlsSource::SelfSigned { dir, hostname } => ensure_self_signed(dir, hostname)?,
    };
    let certs = load_certs(&cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| TlsError::Read { path: key_file.clone(), reason: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            builder.with_client_cert_verifier(Arc::new(AskClientCert(ClientCa::load(path)?.verifier)))
        }
    };
    Ok(Arc::new(builder.with_single_cert(certs, key)?))
}

/// The CA bundle client certificates must chain to for their names to count.
#[derive(Debug)]
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCa {
    /// Reads the PEM bundle at `path`.
    pub fn load(path: &Path) -> Result<ClientCa, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in load_certs(path)? {
            roots
                .add(ca)
                .map_err(|e| TlsError::ClientCa { path: path.to_path_buf(), reason: e.to_string() })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::ClientCa { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(ClientCa { verifier })
    }

    /// The names of a presented chain (end entity first) that chains to the bundle and is
    /// valid now; the reason when it does not.
    pub fn verified_names(&self, chain: &[CertificateDer<'_>]) -> Result<Vec<String>, rustls::Error> {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        self.verifier.verify_client_cert(end_entity, intermediates, UnixTime::now())?;
        Ok(certificate_names(end_entity))
    }
}

/// Asks for a client certificate and accepts whichever is presented, while still checking
/// the handshake signature (the client holds the certificate's key). The chain is judged
/// after the handshake by [`ClientCa::verified_names`].
#[derive(Debug)]
struct AskClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for AskClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// The bundle's subjects, so that a partner's client picks the certificate we trust.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The names a client certificate vouches for, lower case: its subjectAltName DNS names,
/// then its subject common names. Empty when the certificate cannot be parsed.
pub fn certificate_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    for cn in parsed.subject().iter_common_name() {
        if let Ok(text) = cn.as_str() {
            let text = text.to_ascii_lowercase();
            if !names.contains(&text) {
                names.push(text);
            }
        }
    }
    names
}

pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_error = |reason: String| TlsError::Read { path: path.to_path_buf(), reason };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(certs)
}

/// Returns the paths of the generated certificate and key, creating them if missing.
fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    if cert_file.exists() && key_file.exists() {
        return Ok((cert_file, key_file));
    }
    fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.to_path_buf(), source })?;
    let generated = rcgen::generate_simple_self_signed(vec![hostname.to_string()])?;
    write_file(&key_file, generated.signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert_file, generated.cert.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %cert_file.display(), "generated a self-signed TLS certificate for {hostname}");
    Ok((cert_file, key_file))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|source| TlsError::Write { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned { dir: dir.path().join("tls"), hostname: "mx.test".into() };
        server_config(&source, None).unwrap();
        let first = fs::read(dir.path().join("tls/cert.pem")).unwrap();
        server_config(&source, None).unwrap();
        assert_eq!(first, fs::read(dir.path().join("tls/cert.pem")).unwrap());
    }

    #[test]
    fn missing_file_names_the_path() {
        let source = TlsSource::Files {
            cert_file: "/nonexistent/c.pem".into(),
            key_file: "/nonexistent/k.pem".into(),
        };
        let err = server_config(&source, None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/c.pem"), "{err}");
    }
}
