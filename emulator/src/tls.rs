//! Server TLS configs, and binding every TLS session to the control connection that made it.
//!
//! FileZilla only accepts a data connection that resumes *its own* control connection's
//! session. rustls tells us which session a connection resumed in two ways:
//! - TLS 1.3: `set_resumption_data` at accept embeds a token naming the control connection
//!   in every ticket; `received_resumption_data` returns it on resumption.
//! - TLS 1.2: `received_resumption_data` is always `None`, so each handshake gets its own
//!   config whose session store and ticketer are thin wrappers that tag what they store with
//!   the control connection's id and report whose entry a resumption used.
//!
//! Store and ticketer are shared by all connections, so a session from another control
//! connection *does* resume; the caller then sees its owner and refuses it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{Acceptor, ProducesTickets, StoresServerSessions};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::profile::{Profile, TlsVersion};

/// Most TLS 1.2 session IDs kept across all control connections.
const SESSION_CACHE: usize = 4096;
/// TLS 1.3 tickets sent on each data connection (rustls default).
const DATA_TLS13_TICKETS: usize = 2;

pub(crate) struct TlsContext {
    base: ServerConfig,
    ticketer: Option<Arc<dyn ProducesTickets>>,
    sessions: Arc<SessionIndex>,
    control_tickets: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Control,
    Data,
}

/// What one handshake negotiated.
#[derive(Debug, Clone)]
pub(crate) struct Handshake {
    pub version: &'static str,
    pub cipher: String,
    pub resumed: bool,
    pub alpn: Option<String>,
    /// The control connection whose session was resumed (`None` after a full handshake).
    pub owner: Option<u64>,
}

impl Handshake {
    /// One log line, e.g. `TLSv1.3 TLS13_AES_256_GCM_SHA384 resumed (session of control #3) alpn=-`.
    pub fn describe(&self, me: u64) -> String {
        let kind = match (self.resumed, self.owner) {
            (false, _) => "full".to_owned(),
            (true, Some(o)) if o == me => "resumed (this control connection's session)".into(),
            (true, Some(o)) => format!("resumed (session of control #{o}, not #{me})"),
            (true, None) => "resumed (session of unknown origin)".into(),
        };
        format!(
            "{} {} {} alpn={}",
            self.version,
            self.cipher,
            kind,
            self.alpn.as_deref().unwrap_or("-")
        )
    }
}

impl TlsContext {
    pub fn new(
        profile: &Profile,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = profile
            .tls
            .versions
            .iter()
            .map(|v| match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let base = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        let ticketer = if profile.tls.stateless_tickets {
            Some(rustls::crypto::aws_lc_rs::Ticketer::new()?)
        } else {
            None
        };
        Ok(TlsContext {
            base,
            ticketer,
            sessions: Arc::new(SessionIndex::default()),
            control_tickets: profile.tls.tls13_tickets,
        })
    }

    /// Server handshake for control connection `owner` (or one of its data connections).
    /// `alpn` is the server's list; a client offering none of it gets no ALPN, not an alert.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        owner: u64,
        role: Role,
        alpn: &[String],
    ) -> io::Result<(TlsStream<TcpStream>, Handshake)> {
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
        let offered: Vec<Vec<u8>> = start
            .client_hello()
            .alpn()
            .map(|it| it.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let chosen = alpn
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .find(|p| offered.contains(p));

        let recorder = Recorder::default();
        let mut cfg = self.base.clone();
        cfg.alpn_protocols = chosen.into_iter().collect();
        cfg.send_tls13_tickets = match role {
            Role::Control => self.control_tickets,
            Role::Data => DATA_TLS13_TICKETS,
        };
        cfg.session_storage = Arc::new(BoundStore {
            owner,
            index: self.sessions.clone(),
            recorder: recorder.clone(),
        });
        if let Some(inner) = &self.ticketer {
            cfg.ticketer = Arc::new(BoundTicketer {
                owner,
                inner: inner.clone(),
                recorder: recorder.clone(),
            });
        }
        let token = token(owner);
        let stream = start
            .into_stream_with(Arc::new(cfg), |conn| conn.set_resumption_data(&token))
            .await?;

        let conn = stream.get_ref().1;
        let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
        let tls13 = conn.protocol_version() == Some(ProtocolVersion::TLSv1_3);
        let owner_seen = match (resumed, tls13) {
            (false, _) => None,
            (true, true) => conn.received_resumption_data().and_then(parse_token),
            (true, false) => recorder.get(),
        };
        let handshake = Handshake {
            version: match conn.protocol_version() {
                Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
                Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
                _ => "TLS?",
            },
            cipher: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_else(|| "-".into()),
            resumed,
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            owner: owner_seen,
        };
        Ok((stream, handshake))
    }
}

const TOKEN_PREFIX: &str = "ftps-emulator/control/";

fn token(owner: u64) -> Vec<u8> {
    format!("{TOKEN_PREFIX}{owner}").into_bytes()
}

fn parse_token(data: &[u8]) -> Option<u64> {
    std::str::from_utf8(data)
        .ok()?
        .strip_prefix(TOKEN_PREFIX)?
        .parse()
        .ok()
}

/// Remembers whose stored session the current handshake looked up.
#[derive(Clone, Default, Debug)]
struct Recorder(Arc<Mutex<Option<u64>>>);

impl Recorder {
    fn set(&self, owner: u64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(owner);
    }
    fn get(&self) -> Option<u64> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// TLS 1.2 session IDs (and stateful TLS 1.3 tickets) of every control connection.
#[derive(Default, Debug)]
struct SessionIndex(Mutex<IndexInner>);

#[derive(Default, Debug)]
struct IndexInner {
    map: HashMap<Vec<u8>, (u64, Vec<u8>)>,
    order: VecDeque<Vec<u8>>,
}

impl SessionIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, IndexInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct BoundStore {
    owner: u64,
    index: Arc<SessionIndex>,
    recorder: Recorder,
}

impl StoresServerSessions for BoundStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut inner = self.index.lock();
        if inner.map.insert(key.clone(), (self.owner, value)).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > SESSION_CACHE {
            if let Some(old) = inner.order.pop_front() {
                inner.map.remove(&old);
            }
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (owner, value) = self.index.lock().map.get(key).cloned()?;
        self.recorder.set(owner);
        Some(value)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut inner = self.index.lock();
        let (owner, value) = inner.map.remove(key)?;
        inner.order.retain(|k| k != key);
        self.recorder.set(owner);
        Some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Prefixes every ticket's plaintext with the issuing control connection's id.
#[derive(Debug)]
struct BoundTicketer {
    owner: u64,
    inner: Arc<dyn ProducesTickets>,
    recorder: Recorder,
}

impl ProducesTickets for BoundTicketer {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut tagged = Vec::with_capacity(8 + plain.len());
        tagged.extend_from_slice(&self.owner.to_be_bytes());
        tagged.extend_from_slice(plain);
        self.inner.encrypt(&tagged)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let plain = self.inner.decrypt(cipher)?;
        if plain.len() < 8 {
            return None;
        }
        let (id, rest) = plain.split_at(8);
        self.recorder
            .set(u64::from_be_bytes(id.try_into().unwrap_or([0; 8])));
        Some(rest.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips() {
        assert_eq!(parse_token(&token(42)), Some(42));
        assert_eq!(parse_token(b"something else"), None);
    }

    #[test]
    fn store_records_owner_of_foreign_entry() {
        let index = Arc::new(SessionIndex::default());
        let a = BoundStore {
            owner: 1,
            index: index.clone(),
            recorder: Recorder::default(),
        };
        let b = BoundStore {
            owner: 2,
            index,
            recorder: Recorder::default(),
        };
        assert!(a.put(b"id".to_vec(), b"v".to_vec()));
        assert_eq!(b.get(b"id"), Some(b"v".to_vec()));
        assert_eq!(b.recorder.get(), Some(1));
    }
}
