//! Test helpers: throwaway certificates, starting the emulator, running curl, and a small
//! rustls FTPS client for the cases curl cannot express.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Output;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use ftps_emulator::{Emulator, EmulatorOptions, Profile};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub const USER: &str = "alice";
pub const PASS: &str = "s3cret";
/// Bound on any single step of a test.
pub const STEP: Duration = Duration::from_secs(20);

pub struct Certs {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub leaf_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

/// A CA and an RSA leaf for localhost / 127.0.0.1 / ::1, made once per test binary.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ftps-emulator test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let mut leaf = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = leaf.signed_by(&key, &ca).unwrap();
        Certs {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            leaf_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    })
}

pub fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/filezilla-like")
}

pub fn profile(id: &str) -> Profile {
    Profile::load(&profiles_dir().join(format!("{id}.yaml"))).unwrap()
}

pub const PROFILES: [&str; 4] = ["fz-0.9", "fz-0.9-noforce", "fz-0.9.33", "fz-1.x"];

/// A running emulator plus its temp dir (server root and the CA file for curl).
pub struct Env {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
}

impl Env {
    pub async fn start(profile: Profile) -> Env {
        let c = certs();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &c.ca_pem).unwrap();
        let emu = Emulator::start(EmulatorOptions {
            profile,
            cert_chain: vec![c.leaf_der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
            users: vec![(USER.into(), PASS.into())],
            root: dir.path().join("root"),
            roots: ftps_emulator::Roots::PerSession,
        })
        .await
        .unwrap();
        Env { emu, dir, ca_file }
    }

    pub fn log_text(&self) -> String {
        self.emu.log().join("\n")
    }

    /// Common curl arguments: verbose, our CA, credentials, bounded time.
    pub fn curl_base(&self) -> Vec<String> {
        vec![
            "-sS".into(),
            "-v".into(),
            "--cacert".into(),
            self.ca_file.display().to_string(),
            "--user".into(),
            format!("{USER}:{PASS}"),
            "--connect-timeout".into(),
            "10".into(),
            "--max-time".into(),
            "30".into(),
        ]
    }
}

pub struct CurlRun {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Run curl with a hard timeout (curl's own --max-time is the first line of defence).
pub async fn curl(args: &[String]) -> CurlRun {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(args).kill_on_drop(true);
    let out: Output = timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("curl did not finish within 60 s")
        .expect("curl runs");
    CurlRun {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Server reply lines as curl -v prints them (`< 226 ...`).
pub fn server_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("< "))
        .map(str::to_owned)
        .collect()
}

// ----- a small rustls FTPS client -----

pub fn client_config(versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(certs().ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// TLS 1.2 client that resumes with session IDs only (no tickets).
pub fn client_config_session_ids() -> Arc<ClientConfig> {
    let mut cfg = (*client_config(&[&rustls::version::TLS12])).clone();
    cfg.resumption = rustls::client::Resumption::in_memory_sessions(64)
        .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
    Arc::new(cfg)
}

pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Gone,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, b),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
            Conn::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

pub struct Ftp {
    pub conn: Conn,
    buf: Vec<u8>,
}

impl Ftp {
    /// Connect in clear and read the banner.
    pub async fn connect(addr: SocketAddr) -> (Ftp, String) {
        let tcp = timeout(STEP, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let mut ftp = Ftp {
            conn: Conn::Plain(tcp),
            buf: Vec::new(),
        };
        let banner = ftp.reply().await;
        (ftp, banner)
    }

    /// Implicit FTPS: TLS first, then the banner.
    pub async fn connect_implicit(addr: SocketAddr, cfg: Arc<ClientConfig>) -> (Ftp, String) {
        let tcp = timeout(STEP, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let tls = timeout(
            STEP,
            tokio_rustls::TlsConnector::from(cfg).connect(server_name(), tcp),
        )
        .await
        .unwrap()
        .unwrap();
        let mut ftp = Ftp {
            conn: Conn::Tls(Box::new(tls)),
            buf: Vec::new(),
        };
        let banner = ftp.reply().await;
        (ftp, banner)
    }

    /// One complete reply; multi-line replies are joined with `\n`. Empty at EOF.
    pub async fn reply(&mut self) -> String {
        timeout(STEP, self.reply_inner())
            .await
            .expect("no reply from the server in time")
    }

    /// Like `reply`, but `None` if nothing arrives within `limit`.
    pub async fn reply_within(&mut self, limit: Duration) -> Option<String> {
        timeout(limit, self.reply_inner()).await.ok()
    }

    async fn reply_inner(&mut self) -> String {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let Some(line) = self.line().await else {
                return lines.join("\n");
            };
            let done = match lines.first() {
                None => line.len() >= 4 && line.as_bytes()[3] == b' ',
                Some(first) => {
                    line.len() >= 4 && line[..3] == first[..3] && line.as_bytes()[3] == b' '
                }
            };
            lines.push(line);
            if done {
                return lines.join("\n");
            }
        }
    }

    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=pos).collect();
                let s = String::from_utf8_lossy(&raw);
                return Some(s.trim_end_matches(['\r', '\n']).to_owned());
            }
            let mut tmp = [0u8; 4096];
            let n = self.conn.read(&mut tmp).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    pub async fn send(&mut self, line: &str) {
        self.conn
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        // tokio-rustls may hold the record back until a flush.
        self.conn.flush().await.unwrap();
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(line).await;
        self.reply().await
    }

    /// AUTH TLS and the handshake.
    pub async fn auth_tls(&mut self, cfg: Arc<ClientConfig>) {
        let r = self.cmd("AUTH TLS").await;
        assert!(r.starts_with("234 "), "{r}");
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            panic!("already TLS");
        };
        let tls = timeout(
            STEP,
            tokio_rustls::TlsConnector::from(cfg).connect(server_name(), tcp),
        )
        .await
        .unwrap()
        .unwrap();
        self.conn = Conn::Tls(Box::new(tls));
    }

    pub async fn login(&mut self) {
        let r = self.cmd(&format!("USER {USER}")).await;
        assert!(r.starts_with("331 "), "{r}");
        let r = self.cmd(&format!("PASS {PASS}")).await;
        assert!(r.starts_with("230 "), "{r}");
    }

    /// EPSV, returning the data address.
    pub async fn epsv(&mut self) -> SocketAddr {
        let r = self.cmd("EPSV").await;
        assert!(r.starts_with("229 "), "{r}");
        let port: u16 = r
            .split("(|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad EPSV reply {r}"));
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// A TLS client handshake on a data connection.
pub async fn data_tls(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = timeout(STEP, TcpStream::connect(addr)).await??;
    timeout(
        STEP,
        tokio_rustls::TlsConnector::from(cfg).connect(server_name(), tcp),
    )
    .await?
}

/// Run one curl command and fail with its whole output when `ok` is not as expected.
pub fn expect_curl(run: &CurlRun, ok: bool, what: &str) {
    assert_eq!(
        run.ok, ok,
        "{what}: curl exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
}
