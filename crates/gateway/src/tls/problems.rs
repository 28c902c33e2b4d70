//! TLS failures in an operator's words. rustls and webpki print several of their errors as
//! Rust debug text (`invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`,
//! `missing section end marker: [45, 45, ...]`); these functions say what is wrong instead.
//! Callers add which file or which peer, and what to do.

use rustls::{CertificateError, InconsistentKeys};
use rustls_pki_types::pem;

/// What a rustls error means.
pub fn rustls_problem(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(e) => certificate_problem(e),
        rustls::Error::NoCertificatesPresented => "no certificate was presented".into(),
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            "the private key does not belong to the certificate".into()
        }
        rustls::Error::InconsistentKeys(_) => {
            "the private key cannot be checked against the certificate".into()
        }
        rustls::Error::General(text) => text.clone(),
        rustls::Error::AlertReceived(alert) => {
            format!("the peer ended the handshake with the alert {}", words(&format!("{alert:?}")))
        }
        rustls::Error::PeerIncompatible(why) => {
            format!("the peer's TLS is incompatible: {}", words(&format!("{why:?}")))
        }
        rustls::Error::PeerMisbehaved(why) => {
            format!("the peer broke the TLS protocol: {}", words(&format!("{why:?}")))
        }
        rustls::Error::InvalidMessage(_) => "the peer sent a malformed TLS message".into(),
        rustls::Error::InappropriateMessage { .. } | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "the peer sent a TLS message out of order".into()
        }
        other => other.to_string(),
    }
}

/// What a failed TLS read, write or handshake means (rustls hides its error in an I/O one).
pub fn io_problem(error: &std::io::Error) -> String {
    match error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(e) => rustls_problem(e),
        None => error.to_string(),
    }
}

/// What is wrong with a certificate, whoever presented it.
pub fn certificate_problem(error: &CertificateError) -> String {
    match error {
        CertificateError::BadEncoding => {
            "the certificate is not valid DER (damaged or not a certificate)".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the certificate is not valid yet (check the clocks)".into()
        }
        CertificateError::Revoked => "the certificate has been revoked".into(),
        CertificateError::UnknownIssuer => {
            "the certificate does not chain to a trusted CA (unknown issuer)".into()
        }
        CertificateError::BadSignature => {
            "the certificate's signature does not verify with its issuer's key".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            error.to_string().replace("certificate not valid", "the certificate is not valid")
        }
        CertificateError::InvalidPurpose => {
            "the certificate is not meant for this use (extended key usage)".into()
        }
        CertificateError::InvalidPurposeContext { .. } => {
            error.to_string().replace("certificate does", "the certificate does")
        }
        CertificateError::UnhandledCriticalExtension => {
            "the certificate has a critical extension that cannot be checked".into()
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(e) => webpki_problem(e),
            None => format!("the certificate is not acceptable: {}", other.0),
        },
        other => format!("the certificate is not acceptable: {}", words(&format!("{other:?}"))),
    }
}

fn webpki_problem(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::CaUsedAsEndEntity => {
            "a CA certificate was presented as the end-entity certificate; present a certificate issued by the CA instead".into()
        }
        E::EndEntityUsedAsCa => {
            "an end-entity certificate is used as a CA to issue another; only a CA certificate can issue certificates".into()
        }
        E::NameConstraintViolation => "the certificate is for a name its CA may not issue for (name constraints)".into(),
        E::PathLenConstraintViolated => "the chain is longer than a CA in it allows (path length constraint)".into(),
        E::UnsupportedCertVersion => "the certificate is not an X.509 version 3 certificate".into(),
        E::MalformedExtensions | E::ExtensionValueInvalid => "the certificate's extensions are malformed".into(),
        E::EmptyEkuExtension => "the certificate's extended key usage lists no usage".into(),
        E::CertDistrusted => "the certificate's key is explicitly distrusted".into(),
        E::MaximumPathDepthExceeded | E::MaximumPathBuildCallsExceeded | E::MaximumSignatureChecksExceeded => {
            "the certificate chain is too long or too complex to verify".into()
        }
        other => format!("the certificate is not acceptable: {}", words(&format!("{other:?}"))),
    }
}

/// What is wrong with a PEM file that should hold `expected` (e.g. "a certificate").
pub fn pem_problem(error: &pem::Error, expected: &str) -> String {
    match error {
        pem::Error::NoItemsFound => format!("it holds no {expected} (no PEM block of that kind)"),
        pem::Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(end_marker);
            format!("a PEM block is not closed (no \"-----END {label}-----\" line)")
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("a PEM block starts badly: {:?}", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".into(),
        pem::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// `CaUsedAsEndEntity(Context { .. })` as "ca used as end entity": the variant's name in
/// words, for the few errors without a text of their own.
fn words(debug: &str) -> String {
    let name = debug.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or(debug);
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_become_words() {
        assert_eq!(words("NoCipherSuitesInCommon"), "no cipher suites in common");
        assert_eq!(words("HandshakeFailure"), "handshake failure");
        assert_eq!(words("Thing(Context { a: 1 })"), "thing");
    }

    #[test]
    fn a_ca_used_as_end_entity_is_explained_not_debug_printed() {
        let error = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity),
        )));
        let text = rustls_problem(&error);
        assert!(text.starts_with("a CA certificate was presented as the end-entity certificate"), "{text}");
        assert!(!text.contains("Other") && !text.contains("CaUsed"), "{text}");
    }

    #[test]
    fn pem_problems_show_text_not_bytes() {
        let text = pem_problem(
            &pem::Error::MissingSectionEnd { end_marker: b"CERTIFICATE".to_vec() },
            "a certificate",
        );
        assert_eq!(text, "a PEM block is not closed (no \"-----END CERTIFICATE-----\" line)");
    }
}
