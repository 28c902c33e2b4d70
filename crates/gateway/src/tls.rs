//! TLS for STARTTLS: the operator's certificate and key in PEM, or a self-signed
//! certificate for the configured hostname (subject CN and DNS subjectAltName), valid for a
//! year, kept in the data directory so that its fingerprint stays stable across restarts, and
//! replaced at start when it is within 30 days of expiry or names another hostname.
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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

pub mod problems;

/// Where the server's certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files given by the operator.
    Files { cert_file: PathBuf, key_file: PathBuf },
    /// Generate (once) a self-signed certificate for `hostname` under `dir`.
    SelfSigned { dir: PathBuf, hostname: String },
}

/// A TLS setup problem. Each text names the file and says what is wrong in words (never
/// rustls' debug text); none has a `source()`, the text holds the cause.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error(
        "cannot generate a self-signed certificate: the system clock is outside the range a certificate can hold"
    )]
    Clock,
    #[error("client CA bundle {path}: {reason}")]
    ClientCa { path: PathBuf, reason: String },
    /// The extra CA bundle for verifying servers on outbound STARTTLS.
    #[error("CA bundle {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("{cert_file} and {key_file} do not form a usable TLS configuration: {reason}")]
    Config { cert_file: PathBuf, key_file: PathBuf, reason: String },
}

impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        TlsError::Generate(e.to_string())
    }
}

/// A client certificate that does not identify a connector, and why.
#[derive(Debug, thiserror::Error)]
#[error("{reason} (client CA bundle {path})")]
pub struct ClientCertError {
    pub path: PathBuf,
    pub reason: String,
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
    let key = load_key(&key_file)?;
    let config_error = |e: rustls::Error| TlsError::Config {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        reason: problems::rustls_problem(&e),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?;
    let builder = match client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            builder.with_client_cert_verifier(Arc::new(AskClientCert(ClientCa::load(path)?.verifier)))
        }
    };
    Ok(Arc::new(builder.with_single_cert(certs, key).map_err(config_error)?))
}

/// The private key (PEM: PKCS #8, PKCS #1 or SEC1) at `path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        reason: problems::pem_problem(&e, "private key"),
    })
}

/// The CA bundle client certificates must chain to for their names to count.
#[derive(Debug)]
pub struct ClientCa {
    path: PathBuf,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCa {
    /// Reads the PEM bundle at `path`.
    pub fn load(path: &Path) -> Result<ClientCa, TlsError> {
        let ca_error = |reason: String| TlsError::ClientCa { path: path.to_path_buf(), reason };
        let mut roots = rustls::RootCertStore::empty();
        for (i, ca) in load_certs(path)?.into_iter().enumerate() {
            roots.add(ca).map_err(|e| {
                ca_error(format!("certificate {} of the bundle: {}", i + 1, problems::rustls_problem(&e)))
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| ca_error(e.to_string()))?;
        Ok(ClientCa { path: path.to_path_buf(), verifier })
    }

    /// The names of a presented chain (end entity first) that chains to the bundle and is
    /// valid now; the reason when it does not.
    pub fn verified_names(&self, chain: &[CertificateDer<'_>]) -> Result<Vec<String>, ClientCertError> {
        let refused = |reason: String| ClientCertError { path: self.path.clone(), reason };
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return Err(refused("no certificate was presented".into()));
        };
        self.verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map_err(|e| refused(problems::rustls_problem(&e)))?;
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

/// The certificates (PEM) at `path`; at least one.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_error = |e: pem::Error| TlsError::Read {
        path: path.to_path_buf(),
        reason: problems::pem_problem(&e, "certificate"),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    if certs.is_empty() {
        return Err(read_error(pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// How long a generated certificate is valid.
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// A generated certificate this close to its end is replaced at start.
const SELF_SIGNED_RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// `notBefore` this far in the past, so a client whose clock is slightly behind accepts it.
const SELF_SIGNED_BACKDATE: Duration = Duration::from_secs(3600);

/// Returns the paths of the generated certificate and key, (re)creating them when missing,
/// unreadable, not for `hostname`, or within [`SELF_SIGNED_RENEW_BEFORE`] of expiry.
fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    ensure_self_signed_at(dir, hostname, SystemTime::now())
}

fn ensure_self_signed_at(
    dir: &Path,
    hostname: &str,
    now: SystemTime,
) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    if cert_file.exists() && key_file.exists() {
        match self_signed_replacement_reason(&cert_file, hostname, now) {
            None => return Ok((cert_file, key_file)),
            Some(reason) => {
                tracing::info!(cert = %cert_file.display(), "replacing the self-signed TLS certificate: {reason}")
            }
        }
    }
    fs::create_dir_all(dir).map_err(|error| TlsError::Write { path: dir.to_path_buf(), error })?;
    let (cert_pem, key_pem) = generate_self_signed(hostname, now)?;
    write_file(&key_file, key_pem.as_bytes(), 0o600)?;
    write_file(&cert_file, cert_pem.as_bytes(), 0o644)?;
    tracing::info!(
        cert = %cert_file.display(),
        "generated a self-signed TLS certificate for {hostname}, valid for {} days",
        SELF_SIGNED_VALIDITY.as_secs() / 86_400
    );
    Ok((cert_file, key_file))
}

/// Why the generated certificate at `path` must be replaced; `None` when it is fine.
fn self_signed_replacement_reason(path: &Path, hostname: &str, now: SystemTime) -> Option<String> {
    let Ok(Some(cert)) = load_certs(path).map(|certs| certs.into_iter().next()) else {
        return Some("it cannot be read".into());
    };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Some("it cannot be parsed".into());
    };
    let common_names: Vec<&str> =
        parsed.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).collect();
    if common_names != [hostname] || !certificate_names(&cert).iter().any(|n| n == hostname) {
        return Some(format!("it is not for the hostname {hostname}"));
    }
    let not_after = parsed.validity().not_after.timestamp();
    if not_after < unix_seconds(now + SELF_SIGNED_RENEW_BEFORE) {
        return Some(format!("it expires {}", parsed.validity().not_after));
    }
    if not_after > unix_seconds(now + SELF_SIGNED_VALIDITY + SELF_SIGNED_RENEW_BEFORE) {
        return Some("it is valid for longer than a year".into());
    }
    None
}

/// A certificate (PEM) for `hostname` as subject CN and DNS subjectAltName, valid from an
/// hour before `now` for [`SELF_SIGNED_VALIDITY`], and its private key (PEM).
fn generate_self_signed(hostname: &str, now: SystemTime) -> Result<(String, String), TlsError> {
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, hostname);
    params.not_before = asn1_time(now.checked_sub(SELF_SIGNED_BACKDATE).unwrap_or(now))?.to_datetime();
    params.not_after = asn1_time(now + SELF_SIGNED_VALIDITY)?.to_datetime();
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn asn1_time(at: SystemTime) -> Result<x509_parser::time::ASN1Time, TlsError> {
    x509_parser::time::ASN1Time::from_timestamp(unix_seconds(at)).map_err(|_| TlsError::Clock)
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|error| TlsError::Write { path: path.to_path_buf(), error })
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

    /// (subject CNs, DNS names, notBefore, notAfter) of the generated certificate.
    fn generated(dir: &Path) -> (Vec<String>, Vec<String>, i64, i64) {
        let cert = load_certs(&dir.join("cert.pem")).unwrap().remove(0);
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
        let cns = parsed.subject().iter_common_name().map(|cn| cn.as_str().unwrap().to_string()).collect();
        let validity = parsed.validity();
        (cns, certificate_names(&cert), validity.not_before.timestamp(), validity.not_after.timestamp())
    }

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(unix_s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix_s)
    }

    #[test]
    fn self_signed_names_the_hostname_and_lasts_a_year() {
        let dir = tempfile::tempdir().unwrap();
        let now = at(1_900_000_000);
        ensure_self_signed_at(dir.path(), "mx.example.test", now).unwrap();
        let (cns, names, not_before, not_after) = generated(dir.path());
        assert_eq!(cns, ["mx.example.test"]);
        assert_eq!(names, ["mx.example.test"]);
        assert_eq!(not_before, 1_900_000_000 - 3600);
        assert_eq!(not_after, 1_900_000_000 + 365 * 86_400);
    }

    #[test]
    fn self_signed_is_kept_until_a_month_before_expiry_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let start = at(1_900_000_000);
        ensure_self_signed_at(dir.path(), "mx.example.test", start).unwrap();
        let first = fs::read(dir.path().join("cert.pem")).unwrap();
        ensure_self_signed_at(dir.path(), "mx.example.test", start + 300 * DAY).unwrap();
        assert_eq!(first, fs::read(dir.path().join("cert.pem")).unwrap(), "65 days left: kept");
        let renewal = start + 340 * DAY;
        ensure_self_signed_at(dir.path(), "mx.example.test", renewal).unwrap();
        let (_, _, _, not_after) = generated(dir.path());
        assert_eq!(not_after, unix_seconds(renewal + 365 * DAY), "25 days left: replaced");
    }

    #[test]
    fn self_signed_is_replaced_when_the_hostname_changes() {
        let dir = tempfile::tempdir().unwrap();
        let now = at(1_900_000_000);
        ensure_self_signed_at(dir.path(), "old.example.test", now).unwrap();
        ensure_self_signed_at(dir.path(), "new.example.test", now + DAY).unwrap();
        let (cns, names, _, _) = generated(dir.path());
        assert_eq!(
            (cns, names),
            (vec!["new.example.test".to_string()], vec!["new.example.test".to_string()])
        );
    }

    #[test]
    fn a_certificate_of_an_earlier_release_is_replaced() {
        // rcgen's defaults: CN "rcgen self signed cert", valid until 4096.
        let dir = tempfile::tempdir().unwrap();
        let old = rcgen::generate_simple_self_signed(vec!["mx.example.test".to_string()]).unwrap();
        fs::write(dir.path().join("cert.pem"), old.cert.pem()).unwrap();
        fs::write(dir.path().join("key.pem"), old.signing_key.serialize_pem()).unwrap();
        let now = at(1_900_000_000);
        ensure_self_signed_at(dir.path(), "mx.example.test", now).unwrap();
        let (cns, _, _, not_after) = generated(dir.path());
        assert_eq!(cns, ["mx.example.test"]);
        assert_eq!(not_after, unix_seconds(now + 365 * DAY));
    }

    #[test]
    fn a_key_of_another_certificate_is_named_with_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["one.test".to_string()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["two.test".to_string()]).unwrap();
        let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        fs::write(&cert_file, one.cert.pem()).unwrap();
        fs::write(&key_file, two.signing_key.serialize_pem()).unwrap();
        let err = server_config(
            &TlsSource::Files { cert_file: cert_file.clone(), key_file: key_file.clone() },
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&*cert_file.to_string_lossy()) && err.contains(&*key_file.to_string_lossy()),
            "{err}"
        );
        assert!(err.ends_with("the private key does not belong to the certificate"), "{err}");
    }

    #[test]
    fn a_damaged_certificate_file_is_described_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        fs::write(&path, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        let err = load_certs(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "cannot read {}: a PEM block is not closed (no \"-----END CERTIFICATE-----\" line)",
                path.display()
            )
        );
        fs::write(&path, "not pem at all\n").unwrap();
        let err = load_certs(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("cannot read {}: it holds no certificate (no PEM block of that kind)", path.display())
        );
    }

    /// Issue seen: a client presenting the CA itself was logged as
    /// `invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`.
    #[test]
    fn a_client_presenting_the_ca_itself_is_told_in_words_naming_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["ca.partner.test".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        let bundle = dir.path().join("partners-ca.pem");
        fs::write(&bundle, ca.pem()).unwrap();
        let client_ca = ClientCa::load(&bundle).unwrap();
        let err = client_ca.verified_names(&[ca.der().clone()]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "a CA certificate was presented as the end-entity certificate; present a certificate \
                 issued by the CA instead (client CA bundle {})",
                bundle.display()
            )
        );
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
