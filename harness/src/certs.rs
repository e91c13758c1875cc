//! Per-run PKI made with rcgen: a CA, an RSA server leaf for localhost/127.0.0.1/::1,
//! a client certificate, and an unrelated CA for "untrusted server" scenarios.
//!
//! RSA because vsftpd's default TLS 1.2 cipher list only has RSA-authenticated suites.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::client::tls::Trust;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A certificate with its private key, in both PEM (for servers) and DER (for rustls).
pub struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl KeyedCert {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// Everything one run needs. Generated fresh per run; never written to the repository.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server: KeyedCert,
    pub client: KeyedCert,
    /// A CA that signed nothing the servers present: trusting only it must fail verification.
    pub unrelated_ca_der: CertificateDer<'static>,
}

/// Paths of a PKI written to disk, in the forms the real servers want.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Certificate followed by key in one file (pure-ftpd's `-2` form).
    pub server_combined: PathBuf,
}

fn new_ca(common_name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate_for(&PKCS_RSA_SHA256)?)
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<KeyedCert, rcgen::Error> {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    })
}

impl Pki {
    pub fn generate() -> Result<Self, CertError> {
        let ca = new_ca("ftps-compat test CA")?;
        let server = leaf(
            &ca,
            &["localhost", "127.0.0.1", "::1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let client = leaf(
            &ca,
            &["ftps-compat-client"],
            "ftps-compat-client",
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        let unrelated = new_ca("ftps-compat unrelated CA")?;
        Ok(Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server,
            client,
            unrelated_ca_der: unrelated.der().clone(),
        })
    }

    /// What the client trusts and presents when talking to servers with this PKI.
    pub fn trust(&self) -> Trust {
        Trust {
            roots: vec![self.ca_der.clone()],
            unrelated_root: Some(self.unrelated_ca_der.clone()),
            client_identity: Some((
                vec![self.client.cert_der.clone()],
                std::sync::Arc::new(self.client.key_der()),
            )),
        }
    }

    /// Writes the CA and server files into `dir`. Keys get mode 0600 from creation on.
    pub fn write_to(&self, dir: &Path) -> Result<PkiFiles, CertError> {
        let files = PkiFiles {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            server_combined: dir.join("server.pem"),
        };
        write_file(&files.ca, &self.ca_pem, 0o644)?;
        write_file(&files.server_cert, &self.server.cert_pem, 0o644)?;
        write_file(&files.server_key, &self.server.key_pem, 0o600)?;
        let combined = format!("{}{}", self.server.cert_pem, self.server.key_pem);
        write_file(&files.server_combined, &combined, 0o600)?;
        Ok(files)
    }
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), CertError> {
    let err = |source| CertError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    file.write_all(contents.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_keys_private_and_certs_parse() {
        let pki = Pki::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = pki.write_to(dir.path()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.server_key), 0o600);
        assert_eq!(mode(&files.server_combined), 0o600);
        assert!(
            fs::read_to_string(&files.server_combined)
                .unwrap()
                .contains("PRIVATE KEY")
        );
        // The leaf must verify against our CA and not against the unrelated one.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        assert_eq!(roots.len(), 1);
        assert_ne!(pki.ca_der, pki.unrelated_ca_der);
    }
}
