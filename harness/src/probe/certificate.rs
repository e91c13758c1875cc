//! The server's certificate as an integrator needs to see it: who it names, who signed it,
//! how long it is valid, its key, and its fingerprint (which some clients pin).

use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    pub subject: String,
    /// Subject alternative names: `DNS:localhost`, `IP:127.0.0.1`.
    pub names: Vec<String>,
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// `RSA 2048 bits`, `EC P-256`.
    pub key: String,
    /// SHA-256 of the DER, as `AB:CD:...`.
    pub sha256: String,
    /// Issuer and subject are the same.
    pub self_signed: bool,
}

/// Reads a DER certificate; None when it does not parse.
pub fn read(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|name| match name {
                    GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                    GeneralName::IPAddress(bytes) => format!("IP:{}", ip_text(bytes)),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let time = |t: x509_parser::time::ASN1Time| {
        t.to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    let key = cert.public_key();
    let algorithm = key.algorithm.algorithm.to_id_string();
    let key_text = match algorithm.as_str() {
        "1.2.840.113549.1.1.1" => format!("RSA {} bits", rsa_bits(key)),
        "1.2.840.10045.2.1" => {
            let curve = key
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| match oid.to_id_string().as_str() {
                    "1.2.840.10045.3.1.7" => "P-256".to_string(),
                    "1.3.132.0.34" => "P-384".to_string(),
                    "1.3.132.0.35" => "P-521".to_string(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            format!("EC {curve}")
        }
        "1.3.101.112" => "Ed25519".to_string(),
        other => other.to_string(),
    };
    let digest = Sha256::digest(der);
    let sha256: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    Some(Certificate {
        subject: cert.subject().to_string(),
        names,
        issuer: cert.issuer().to_string(),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        key: key_text,
        sha256: sha256.join(":"),
        self_signed: cert.subject() == cert.issuer(),
    })
}

fn rsa_bits(key: &x509_parser::x509::SubjectPublicKeyInfo) -> usize {
    match key.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
        _ => 0,
    }
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap_or_default()).to_string(),
        _ => format!("{bytes:02x?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_run_certificate() {
        let pki = crate::certs::Pki::generate().unwrap();
        let cert = read(&pki.server.cert_der).expect("parses");
        assert!(
            cert.names.contains(&"DNS:localhost".to_string()),
            "{cert:?}"
        );
        assert!(cert.names.contains(&"IP:127.0.0.1".to_string()), "{cert:?}");
        assert!(cert.names.contains(&"IP:::1".to_string()), "{cert:?}");
        assert!(cert.key.starts_with("RSA "), "{cert:?}");
        assert!(!cert.self_signed);
        assert_eq!(cert.sha256.len(), 32 * 3 - 1);
        assert!(read(b"not a certificate").is_none());
    }
}
