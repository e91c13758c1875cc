//! The embedded FTPS client. Every protocol decision is a knob, so it can replay any client
//! behaviour, broken ones included: it never "fixes" what it was told to send or do.
//! Everything it sends, receives and negotiates is recorded in its transcript.

pub mod data;
pub mod payload;
pub mod reply;
mod stream;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;

use data::{DataConnect, DataLeg, DataMode, DataTarget, DataTls, DataWork, EventLog, RestOrder};
pub use reply::Reply;
use reply::ReplyParser;
use stream::MaybeTls;
use tls::TlsContext;

use crate::transcript::{Channel, Event, Transcript};

/// Why a step did not complete. Peer misbehaviour (the server broke the protocol) is kept
/// apart from what the client itself could not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The server answered with a code the step does not accept.
    Reply { code: u16, text: String },
    /// The client gave up waiting.
    Timeout {
        channel: Channel,
        waiting_for: String,
    },
    /// A TLS handshake or record failed.
    Tls { channel: Channel, message: String },
    /// The server closed a connection under the client.
    Closed { channel: Channel, detail: String },
    /// Data differs from what was sent (a download checked by hash).
    Corrupted { detail: String },
    /// The server sent something the protocol does not allow (an unparsable PASV reply, a
    /// malformed reply line, a transfer finished before any data connection).
    PeerMisbehaved { detail: String },
    /// The client could not or would not go on (nothing listening, a non-loopback address).
    Local { detail: String },
}

/// A failure's kind: the one spelling used in results.json, `expect:` and quirk rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Reply,
    Timeout,
    Tls,
    Closed,
    Corrupted,
    PeerMisbehaved,
    Local,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Reply => "reply",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls",
            FailureKind::Closed => "closed",
            FailureKind::Corrupted => "corrupted",
            FailureKind::PeerMisbehaved => "peer_misbehaved",
            FailureKind::Local => "local",
        }
    }
}

impl Failure {
    fn reply(reply: &Reply) -> Self {
        Failure::Reply {
            code: reply.code,
            text: reply.text().to_string(),
        }
    }

    fn closed(channel: Channel, detail: impl Into<String>) -> Self {
        Failure::Closed {
            channel,
            detail: detail.into(),
        }
    }

    fn tls(channel: Channel, message: impl Into<String>) -> Self {
        Failure::Tls {
            channel,
            message: message.into(),
        }
    }

    fn peer(detail: impl Into<String>) -> Self {
        Failure::PeerMisbehaved {
            detail: detail.into(),
        }
    }

    fn local(detail: impl Into<String>) -> Self {
        Failure::Local {
            detail: detail.into(),
        }
    }

    pub fn kind(&self) -> FailureKind {
        match self {
            Failure::Reply { .. } => FailureKind::Reply,
            Failure::Timeout { .. } => FailureKind::Timeout,
            Failure::Tls { .. } => FailureKind::Tls,
            Failure::Closed { .. } => FailureKind::Closed,
            Failure::Corrupted { .. } => FailureKind::Corrupted,
            Failure::PeerMisbehaved { .. } => FailureKind::PeerMisbehaved,
            Failure::Local { .. } => FailureKind::Local,
        }
    }

    /// The channel it happened on, where that is part of the failure.
    pub fn channel(&self) -> Option<Channel> {
        match self {
            Failure::Tls { channel, .. }
            | Failure::Closed { channel, .. }
            | Failure::Timeout { channel, .. } => Some(*channel),
            Failure::Corrupted { .. } => Some(Channel::Data),
            _ => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Reply { code, text } => write!(f, "reply {code} {text}"),
            Failure::Timeout { waiting_for, .. } => write!(f, "timeout waiting for {waiting_for}"),
            Failure::Tls { channel, message } => write!(f, "{channel} TLS error: {message}"),
            Failure::Closed { channel, detail } => {
                write!(f, "{channel} connection closed: {detail}")
            }
            Failure::Corrupted { detail } => write!(f, "data corrupted: {detail}"),
            Failure::PeerMisbehaved { detail } => write!(f, "protocol violation: {detail}"),
            Failure::Local { detail } => write!(f, "the client stopped: {detail}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub reply: Duration,
    /// Per phase of a data connection (connect/accept, handshake, each read or write).
    pub data: Duration,
}

#[derive(Debug, Clone)]
pub struct DataKnobs {
    pub mode: DataMode,
    pub connect: DataConnect,
    pub tls: DataTls,
    /// Send close_notify before closing a TLS upload.
    pub close_notify: bool,
    /// Read each upload's data connection to EOF after closing (collects TLS 1.3 tickets).
    pub drain: bool,
    /// Connect to the address a PASV reply names even when it is not the control peer.
    pub obey_pasv_address: bool,
}

/// The defaults scenarios start from (`client.data` in scenario files).
impl Default for DataKnobs {
    fn default() -> Self {
        DataKnobs {
            mode: DataMode::Epsv,
            connect: DataConnect::Before,
            tls: DataTls::Auto,
            close_notify: true,
            drain: true,
            obey_pasv_address: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub data: DataKnobs,
    pub timeouts: Timeouts,
    pub max_line: usize,
    /// Largest multi-line reply, in bytes.
    pub max_reply: usize,
}

/// How a transfer's wait on both channels ended.
enum Ending {
    /// The final (non-1xx) reply arrived.
    Reply(Reply),
    /// The control channel failed (closed, timed out, TLS error).
    Control(Failure),
    /// The data connection timed out and the client abandoned the transfer.
    DataGaveUp(Failure),
}

/// The most clear-text bytes counted after a 234 (what arrived with it, not a stream).
const UNREAD_LIMIT: usize = 64 * 1024;

/// How long a refused transfer's data connection gets to show what happened to it.
const DATA_GRACE: Duration = Duration::from_secs(2);
/// How long the client waits for the server's close_notify after CCC.
const CCC_GRACE: Duration = Duration::from_secs(2);

pub struct Session {
    control: Option<MaybeTls>,
    parser: ReplyParser,
    peer: SocketAddr,
    tls: TlsContext,
    pub options: ClientOptions,
    /// What the client believes after its last accepted PROT (for `data.tls: auto`).
    prot_private: bool,
    /// Where REST goes for a restarted transfer (default: right before the command).
    pub rest_order: RestOrder,
    pub transcript: Transcript,
}

impl Session {
    /// Connects; for implicit FTPS the TLS handshake comes before the banner.
    pub async fn connect(
        peer: SocketAddr,
        implicit: bool,
        tls: TlsContext,
        options: ClientOptions,
    ) -> (Session, Result<Reply, Failure>) {
        let mut session = Session {
            control: None,
            parser: ReplyParser::new(options.max_line, options.max_reply),
            peer,
            tls,
            options,
            prot_private: false,
            rest_order: RestOrder::default(),
            transcript: Transcript::default(),
        };
        let result = session.open(implicit).await;
        (session, result)
    }

    async fn open(&mut self, implicit: bool) -> Result<Reply, Failure> {
        let tcp = match timeout(self.options.timeouts.connect, TcpStream::connect(self.peer)).await
        {
            Err(_) => {
                return Err(self.timed_out(
                    Channel::Control,
                    "the control connection",
                    self.options.timeouts.connect,
                ));
            }
            Ok(Err(e)) => {
                let failure = Failure::local(format!("connecting to {}: {e}", self.peer));
                self.record_error(Channel::Control, &failure);
                return Err(failure);
            }
            Ok(Ok(tcp)) => tcp,
        };
        self.transcript.push(Event::Connected {
            channel: Channel::Control,
            peer: self.peer.to_string(),
            how: "connect",
            client_tls: None,
        });
        self.control = Some(MaybeTls::Plain(tcp));
        if implicit {
            self.start_tls().await?;
        }
        // RFC 959 section 5.4: 120 (ready in nnn minutes) may come before the 220.
        let banner = self.final_reply().await?;
        if banner.is_positive() {
            Ok(banner)
        } else {
            Err(Failure::reply(&banner))
        }
    }

    /// A step that ran past its deadline was cancelled: recorded like any other timeout.
    pub fn step_timed_out(&mut self, after: Duration) -> Failure {
        self.timed_out(
            Channel::Control,
            "the step to finish (timeouts.step)",
            after,
        )
    }

    pub fn is_open(&self) -> bool {
        self.control.is_some()
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn timed_out(&mut self, channel: Channel, waiting_for: &str, after: Duration) -> Failure {
        self.transcript.push(Event::Timeout {
            waiting_for: waiting_for.to_string(),
            after_ms: after.as_millis() as u64,
        });
        Failure::Timeout {
            channel,
            waiting_for: waiting_for.to_string(),
        }
    }

    fn record_error(&mut self, channel: Channel, failure: &Failure) {
        let event = match failure {
            Failure::Closed { channel, detail } => Event::Closed {
                channel: *channel,
                detail: detail.clone(),
            },
            Failure::Tls { channel, message } => Event::TlsError {
                channel: *channel,
                message: message.clone(),
            },
            other => Event::Error {
                channel,
                message: other.to_string(),
            },
        };
        self.transcript.push(event);
    }

    /// Sends one command line.
    pub async fn send(&mut self, line: &str) -> Result<(), Failure> {
        self.send_recorded_as(line, line).await
    }

    /// Sends `line` but records `shown` (passwords never reach a transcript).
    async fn send_recorded_as(&mut self, line: &str, shown: &str) -> Result<(), Failure> {
        self.transcript.push(Event::Command {
            line: shown.to_string(),
        });
        self.write_control(format!("{line}\r\n").as_bytes()).await
    }

    /// Sends several commands in one write, before reading any reply.
    pub async fn send_pipelined(&mut self, lines: &[String]) -> Result<(), Failure> {
        self.transcript.push(Event::Pipelined {
            lines: lines.to_vec(),
        });
        let bytes: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        self.write_control(bytes.as_bytes()).await
    }

    async fn write_control(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let Some(control) = self.control.as_mut() else {
            let failure =
                Failure::closed(Channel::Control, "the control connection is already closed");
            return Err(failure);
        };
        let write = async {
            control.write_all(bytes).await?;
            control.flush().await
        };
        match timeout(self.options.timeouts.reply, write).await {
            Err(_) => Err(self.timed_out(
                Channel::Control,
                "the server to read a command",
                self.options.timeouts.reply,
            )),
            Ok(Err(e)) => {
                self.control = None;
                let failure = Failure::closed(
                    Channel::Control,
                    format!("writing a command: {}", closed_kind(&e)),
                );
                self.record_error(Channel::Control, &failure);
                Err(failure)
            }
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads one reply within the reply timeout and records it.
    pub async fn read_reply(&mut self) -> Result<Reply, Failure> {
        let deadline = Instant::now() + self.options.timeouts.reply;
        self.read_reply_until(deadline).await
    }

    async fn read_reply_until(&mut self, deadline: Instant) -> Result<Reply, Failure> {
        match timeout_at(deadline, self.next_reply()).await {
            Err(_) => Err(self.timed_out(Channel::Control, "a reply", self.options.timeouts.reply)),
            Ok(Err(failure)) => {
                self.record_error(Channel::Control, &failure);
                Err(failure)
            }
            Ok(Ok(reply)) => {
                self.transcript.push(Event::Reply {
                    code: reply.code,
                    lines: reply.lines.clone(),
                });
                Ok(reply)
            }
        }
    }

    /// Cancel-safe: bytes already read stay in the parser's buffer.
    async fn next_reply(&mut self) -> Result<Reply, Failure> {
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(Failure::peer(e.to_string())),
            }
            let Some(control) = self.control.as_mut() else {
                return Err(Failure::closed(
                    Channel::Control,
                    "the control connection is closed",
                ));
            };
            match control.read_buf(self.parser.buffer_mut()).await {
                Ok(0) => {
                    self.control = None;
                    return Err(Failure::closed(Channel::Control, "by the server"));
                }
                Ok(_) => {}
                Err(e) if is_tls_error(&e) => {
                    self.control = None;
                    return Err(Failure::tls(Channel::Control, e.to_string()));
                }
                Err(e) => {
                    self.control = None;
                    // A reset reads like an end of stream: which one comes depends on
                    // whether the client wrote (QUIT, say) after the server closed.
                    let detail = if is_closed(&e) {
                        "by the server".to_string()
                    } else {
                        format!("by the server ({})", closed_kind(&e))
                    };
                    return Err(Failure::closed(Channel::Control, detail));
                }
            }
        }
    }

    /// Sends a command and reads its reply; a 1xx is followed by the final reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply, Failure> {
        self.send(line).await?;
        self.final_reply().await
    }

    /// The next final (non-1xx) reply. One deadline covers it: a stream of 1xx replies
    /// does not extend the wait.
    pub async fn final_reply(&mut self) -> Result<Reply, Failure> {
        let deadline = Instant::now() + self.options.timeouts.reply;
        let mut reply = self.read_reply_until(deadline).await?;
        while reply.is_preliminary() {
            reply = self.read_reply_until(deadline).await?;
        }
        Ok(reply)
    }

    /// Sends a command and requires a 2xx or 3xx reply.
    pub async fn command_ok(&mut self, line: &str) -> Result<Reply, Failure> {
        let reply = self.command(line).await?;
        if reply.is_positive() {
            Ok(reply)
        } else {
            Err(Failure::reply(&reply))
        }
    }

    /// Turns the control connection into TLS (after a 234, or at once for implicit FTPS).
    pub async fn start_tls(&mut self) -> Result<(), Failure> {
        let tcp = self.take_clear_control()?;
        self.handshake(tcp).await
    }

    /// The control connection's TCP stream, taken for a TLS handshake.
    fn take_clear_control(&mut self) -> Result<TcpStream, Failure> {
        let Some(MaybeTls::Plain(tcp)) = self.control.take() else {
            let failure = Failure::local("the control connection is not a clear TCP stream");
            self.record_error(Channel::Control, &failure);
            return Err(failure);
        };
        Ok(tcp)
    }

    /// After a 234: the server must send nothing more in clear text. Bytes that came with
    /// the 234 or are already waiting on the socket are counted, all of them whatever the
    /// read sizes, and end the session as a protocol violation instead of being fed to the
    /// TLS handshake.
    pub async fn start_tls_after_234(&mut self) -> Result<(), Failure> {
        let tcp = self.take_clear_control()?;
        let mut unread = self.parser.discard();
        let mut sink = [0u8; 4096];
        // Bounded: what one server can have queued, not whatever it goes on sending.
        while unread < UNREAD_LIMIT {
            match tcp.try_read(&mut sink) {
                Ok(n) if n > 0 => unread += n,
                _ => break,
            }
        }
        if unread > 0 {
            self.transcript
                .push(Event::UnreadBeforeTls { bytes: unread });
            let failure = Failure::peer(format!(
                "the server sent {unread} clear-text bytes after 234, before the TLS handshake"
            ));
            self.record_error(Channel::Control, &failure);
            return Err(failure);
        }
        self.handshake(tcp).await
    }

    async fn handshake(&mut self, tcp: TcpStream) -> Result<(), Failure> {
        let connector = TlsConnector::from(self.tls.control.clone());
        match timeout(
            self.options.timeouts.reply,
            connector.connect(self.tls.name.clone(), tcp),
        )
        .await
        {
            Err(_) => Err(self.timed_out(
                Channel::Control,
                "the control TLS handshake",
                self.options.timeouts.reply,
            )),
            Ok(Err(e)) => {
                let failure = if is_tls_error(&e) {
                    Failure::tls(Channel::Control, e.to_string())
                } else {
                    Failure::closed(
                        Channel::Control,
                        format!("in the TLS handshake ({})", closed_kind(&e)),
                    )
                };
                self.record_error(Channel::Control, &failure);
                Err(failure)
            }
            Ok(Ok(stream)) => {
                self.transcript.push(Event::Tls {
                    channel: Channel::Control,
                    handshake: tls::describe(stream.get_ref().1),
                });
                self.control = Some(MaybeTls::Tls(Box::new(stream)));
                Ok(())
            }
        }
    }

    /// `AUTH <mechanism>`, then the handshake if the server agreed with 234.
    pub async fn auth(&mut self, mechanism: &str) -> Result<(), Failure> {
        let reply = self.command(&format!("AUTH {mechanism}")).await?;
        if reply.code != 234 {
            return Err(Failure::reply(&reply));
        }
        self.start_tls_after_234().await
    }

    /// Waits up to `wait` for bytes the server sends unprompted (a reply to a pipelined
    /// command, a refusal before it hangs up), keeping them unread, so that what happens next
    /// does not depend on when they arrive. `start_tls_after_234` counts any such bytes.
    pub async fn settle(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Some(control) = self.control.as_mut() {
            match timeout_at(deadline, control.read_buf(self.parser.buffer_mut())).await {
                Ok(Ok(n)) if n > 0 => continue,
                _ => break,
            }
        }
    }

    /// `AUTH` with each mechanism in turn until one gets 234, then the handshake (curl's
    /// default: AUTH SSL, then AUTH TLS). Each fallback is noted in the transcript; when
    /// every mechanism is refused, the last refusal is the failure.
    pub async fn auth_first_accepted(&mut self, mechanisms: &[String]) -> Result<(), Failure> {
        let mut refused = Failure::local("no AUTH mechanism to try");
        for (i, mechanism) in mechanisms.iter().enumerate() {
            let reply = self.command(&format!("AUTH {mechanism}")).await?;
            if reply.code == 234 {
                return self.start_tls_after_234().await;
            }
            refused = Failure::reply(&reply);
            if let Some(next) = mechanisms.get(i + 1) {
                self.transcript.push(Event::AuthFallback {
                    refused: mechanism.clone(),
                    code: reply.code,
                    next: next.clone(),
                });
            }
        }
        Err(refused)
    }

    /// After a 2xx to CCC: close the TLS layer (close_notify both ways) and go on in clear.
    pub async fn clear_control_channel(&mut self) -> Result<(), Failure> {
        let Some(MaybeTls::Tls(mut stream)) = self.control.take() else {
            return Err(Failure::local("CCC without TLS on the control channel"));
        };
        let (tcp, conn) = stream.get_mut();
        conn.send_close_notify();
        let mut tls_bytes = Vec::new();
        let _ = conn.write_tls(&mut tls_bytes);
        let wrote = timeout(self.options.timeouts.reply, tcp.write_all(&tls_bytes)).await;
        if !matches!(wrote, Ok(Ok(()))) {
            let failure = Failure::closed(Channel::Control, "while sending close_notify for CCC");
            self.record_error(Channel::Control, &failure);
            return Err(failure);
        }
        // RFC 4217 section 6: both sides send close_notify. Read the server's before going
        // on in clear, or its alert would be taken for the start of the next reply
        // (ProFTPD sends one; pure-ftpd does not).
        let mut sink = [0u8; 512];
        let peer_notified = loop {
            match timeout(CCC_GRACE, stream.read(&mut sink)).await {
                Ok(Ok(0)) => break true,
                Ok(Ok(_)) => continue,
                Ok(Err(_)) | Err(_) => break false,
            }
        };
        self.transcript.push(Event::TlsRemoved {
            channel: Channel::Control,
        });
        self.transcript.push(Event::Note {
            text: if peer_notified {
                "the server answered with its close_notify".into()
            } else {
                format!(
                    "no close_notify from the server within {} ms",
                    CCC_GRACE.as_millis()
                )
            },
        });
        let (tcp, _) = stream.into_inner();
        self.control = Some(MaybeTls::Plain(tcp));
        Ok(())
    }

    /// USER, then PASS if asked for it.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Failure> {
        let reply = self.command(&format!("USER {user}")).await?;
        match reply.code {
            230 => Ok(()),
            331 | 332 => {
                self.send_recorded_as(&format!("PASS {password}"), "PASS <password>")
                    .await?;
                let mut reply = self.read_reply().await?;
                while reply.is_preliminary() {
                    reply = self.read_reply().await?;
                }
                if reply.code == 230 || reply.code == 202 {
                    Ok(())
                } else {
                    Err(Failure::reply(&reply))
                }
            }
            _ => Err(Failure::reply(&reply)),
        }
    }

    /// `PROT <level>`; remembers what the client now believes for `data.tls: auto`.
    pub async fn prot(&mut self, level: &str) -> Result<(), Failure> {
        self.command_ok(&format!("PROT {level}")).await?;
        self.prot_private = level.eq_ignore_ascii_case("P");
        Ok(())
    }

    fn data_tls(&self) -> bool {
        match self.options.data.tls {
            DataTls::Auto => self.prot_private,
            DataTls::On => true,
            DataTls::Off => false,
        }
    }

    fn control_local_ip(&self) -> Result<IpAddr, Failure> {
        self.control
            .as_ref()
            .and_then(|c| c.tcp().local_addr().ok())
            .map(|a| a.ip())
            .ok_or_else(|| Failure::closed(Channel::Control, "the control connection is closed"))
    }

    /// Sends PASV/EPSV/PORT/EPRT and returns where the data connection will come from.
    async fn open_data(&mut self) -> Result<DataTarget, Failure> {
        match self.options.data.mode {
            DataMode::Pasv => {
                let reply = self.command_ok("PASV").await?;
                let announced = data::parse_pasv(reply.text()).ok_or_else(|| {
                    Failure::peer(format!("unparsable PASV reply {:?}", reply.summary()))
                })?;
                let addr = self.passive_address(announced)?;
                Ok(DataTarget::Connect { addr, early: None })
            }
            DataMode::Epsv => {
                let reply = self.command_ok("EPSV").await?;
                let port = data::parse_epsv(reply.text()).ok_or_else(|| {
                    Failure::peer(format!("unparsable EPSV reply {:?}", reply.summary()))
                })?;
                Ok(DataTarget::Connect {
                    addr: SocketAddr::new(self.peer.ip(), port),
                    early: None,
                })
            }
            DataMode::Port | DataMode::Eprt => {
                let ip = self.control_local_ip()?;
                let listener = TcpListener::bind(SocketAddr::new(ip, 0))
                    .await
                    .map_err(|e| Failure::local(format!("binding a PORT listener: {e}")))?;
                let port = listener
                    .local_addr()
                    .map_err(|e| Failure::local(e.to_string()))?
                    .port();
                let line = match (self.options.data.mode, ip) {
                    (DataMode::Port, IpAddr::V4(v4)) => {
                        let o = v4.octets();
                        format!(
                            "PORT {},{},{},{},{},{}",
                            o[0],
                            o[1],
                            o[2],
                            o[3],
                            port >> 8,
                            port & 0xff
                        )
                    }
                    (DataMode::Port, IpAddr::V6(_)) => {
                        return Err(Failure::local("PORT cannot name an IPv6 address; use EPRT"));
                    }
                    (_, IpAddr::V4(v4)) => format!("EPRT |1|{v4}|{port}|"),
                    (_, IpAddr::V6(v6)) => format!("EPRT |2|{v6}|{port}|"),
                };
                self.command_ok(&line).await?;
                Ok(DataTarget::Accept(listener))
            }
        }
    }

    /// The address to connect to for a PASV reply: the control peer unless told to obey.
    fn passive_address(&mut self, announced: SocketAddr) -> Result<SocketAddr, Failure> {
        if announced.ip() == self.peer.ip() {
            return Ok(announced);
        }
        let used = if self.options.data.obey_pasv_address {
            // Never send traffic off this host because a server said so.
            if self.peer.ip().is_loopback() && !announced.ip().is_loopback() {
                let failure = Failure::local(format!(
                    "refusing to connect to non-loopback address {} named by PASV",
                    announced.ip()
                ));
                self.record_error(Channel::Data, &failure);
                return Err(failure);
            }
            announced
        } else {
            SocketAddr::new(self.peer.ip(), announced.port())
        };
        self.transcript.push(Event::PasvAddress {
            announced: announced.ip().to_string(),
            used: used.ip().to_string(),
        });
        Ok(used)
    }

    /// One transfer command with its data connection, e.g. `STOR f` with an upload.
    pub async fn transfer(&mut self, command: &str, work: DataWork) -> Result<(), Failure> {
        self.transfer_from(command, None, work).await
    }

    /// A transfer restarted at `rest` (REST n): sent before the data setup or right before
    /// the transfer command, as the `data.rest` knob says.
    pub async fn transfer_from(
        &mut self,
        command: &str,
        rest: Option<u64>,
        work: DataWork,
    ) -> Result<(), Failure> {
        if let Some(offset) = rest
            && self.rest_order == RestOrder::BeforeSetup
        {
            self.command_ok(&format!("REST {offset}")).await?;
        }
        let mut target = self.open_data().await?;
        let data_timeout = self.options.timeouts.data;
        if let DataTarget::Connect { addr, early } = &mut target
            && self.options.data.connect == DataConnect::Before
        {
            match timeout(data_timeout, TcpStream::connect(*addr)).await {
                Ok(Ok(tcp)) => {
                    self.transcript.push(Event::Connected {
                        channel: Channel::Data,
                        peer: addr.to_string(),
                        how: "connect",
                        client_tls: Some(self.data_tls()),
                    });
                    *early = Some(tcp);
                }
                Ok(Err(e)) => {
                    let failure = Failure::local(format!("connecting the data connection: {e}"));
                    self.record_error(Channel::Data, &failure);
                    return Err(failure);
                }
                Err(_) => {
                    return Err(self.timed_out(
                        Channel::Data,
                        "the data connection to connect",
                        data_timeout,
                    ));
                }
            }
        }
        if let Some(offset) = rest
            && self.rest_order == RestOrder::BeforeCommand
        {
            self.command_ok(&format!("REST {offset}")).await?;
        }
        self.send(command).await?;

        let mut preliminary = Vec::new();
        if self.options.data.connect == DataConnect::AfterReply
            && matches!(target, DataTarget::Connect { .. })
        {
            let reply = self.read_reply().await?;
            if !reply.is_preliminary() {
                return Err(if reply.is_positive() {
                    Failure::peer(format!(
                        "{} finished before any data connection",
                        reply.code
                    ))
                } else {
                    Failure::reply(&reply)
                });
            }
            preliminary.push(reply);
        }

        let leg = DataLeg {
            target,
            tls: self.data_tls().then(|| {
                (
                    TlsConnector::from(self.tls.data.clone()),
                    self.tls.name.clone(),
                )
            }),
            close_notify: self.options.data.close_notify,
            drain: self.options.data.drain,
            timeout: data_timeout,
            work,
        };
        let log: EventLog = Arc::new(Mutex::new(Vec::new()));
        let leg = data::run(leg, log.clone());
        tokio::pin!(leg);
        let mut leg_result: Option<Result<(), Failure>> = None;

        // Replies are recorded in a fixed order, [1xx] [data events] [final], whatever the
        // timing, so two runs give the same transcript.
        let events_before = self.transcript.events.len();
        // No reply timeout while data moves; the data leg has its own timeouts.
        let mut reply_deadline = Instant::now() + Duration::from_secs(86_400);
        let ending = loop {
            tokio::select! {
                result = &mut leg, if leg_result.is_none() => {
                    if let Err(failure @ Failure::Timeout { .. }) = &result {
                        // The client gives up on the transfer, as a real one would.
                        break Ending::DataGaveUp(failure.clone());
                    }
                    leg_result = Some(result);
                    reply_deadline = Instant::now() + self.options.timeouts.reply;
                }
                reply = timeout_at(reply_deadline, self.next_reply()) => {
                    match reply {
                        Err(_) => break Ending::Control(Failure::Timeout {
                            channel: Channel::Control,
                            waiting_for: format!("the reply to {}", verb(command)),
                        }),
                        Ok(Ok(reply)) if reply.is_preliminary() => preliminary.push(reply),
                        Ok(Ok(reply)) => break Ending::Reply(reply),
                        Ok(Err(failure)) => break Ending::Control(failure),
                    }
                }
            }
        };
        let gave_up = matches!(ending, Ending::DataGaveUp(_));
        if leg_result.is_none() && !gave_up {
            let grace = match &ending {
                Ending::Reply(reply) if reply.is_positive() => data_timeout,
                _ => DATA_GRACE,
            };
            leg_result = timeout(grace, &mut leg).await.ok();
        }
        // Rebuild the step's tail in canonical order.
        self.transcript.events.truncate(events_before);
        for reply in &preliminary {
            self.transcript.push(Event::Reply {
                code: reply.code,
                lines: reply.lines.clone(),
            });
        }
        let leg_events: Vec<Event> = log.lock().expect("event log lock").drain(..).collect();
        match &ending {
            Ending::Reply(reply) if refuses_transfer(reply) => {
                self.transcript.extend(refused_leg(leg_events));
            }
            _ => {
                self.transcript.extend(leg_events);
                if leg_result.is_none() && !gave_up {
                    self.transcript.push(Event::Note {
                        text: "data connection abandoned".into(),
                    });
                }
            }
        }
        match ending {
            Ending::DataGaveUp(failure) => Err(failure),
            Ending::Control(failure) => {
                match &failure {
                    Failure::Timeout { waiting_for, .. } => {
                        let after = self.options.timeouts.reply;
                        self.timed_out(Channel::Control, &waiting_for.clone(), after);
                    }
                    other => self.record_error(Channel::Control, other),
                }
                // A data connection that failed first (a TLS error, say) is what went
                // wrong; the missing reply after it is a consequence.
                match leg_result {
                    Some(Err(data_failure)) => Err(data_failure),
                    _ => Err(failure),
                }
            }
            Ending::Reply(reply) => {
                self.transcript.push(Event::Reply {
                    code: reply.code,
                    lines: reply.lines.clone(),
                });
                if !reply.is_positive() {
                    return Err(Failure::reply(&reply));
                }
                match leg_result {
                    Some(result) => result,
                    None => Err(self.timed_out(
                        Channel::Data,
                        "the data connection to finish",
                        data_timeout,
                    )),
                }
            }
        }
    }

    /// Ends the session politely; a server that already closed is recorded, not an error.
    pub async fn quit(&mut self) -> Result<(), Failure> {
        if self.control.is_none() {
            return Ok(());
        }
        self.send("QUIT").await?;
        let deadline = Instant::now() + self.options.timeouts.reply;
        loop {
            let reply = self.read_reply_until(deadline).await?;
            if !reply.is_preliminary() && reply.code != 226 {
                break;
            }
        }
        if let Some(mut control) = self.control.take() {
            let _ = timeout(Duration::from_secs(1), control.shutdown()).await;
        }
        Ok(())
    }
}

/// A negative final reply other than 426 ("transfer aborted" after the data moved): the
/// server refused the transfer.
fn refuses_transfer(reply: &Reply) -> bool {
    reply.code >= 400 && reply.code != 426
}

/// The data connection of a refused transfer, told the same way every run: how it was
/// made and its handshake are kept; what happened to the bytes afterwards (all written
/// into socket buffers, or cut by the server's close) depends on timing and is replaced
/// by one line.
fn refused_leg(events: Vec<Event>) -> Vec<Event> {
    let connected = events.iter().any(|e| matches!(e, Event::Connected { .. }));
    let mut kept: Vec<Event> = events
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                Event::Transferred { .. }
                    | Event::Listing { .. }
                    | Event::Verified { .. }
                    | Event::Closed {
                        channel: Channel::Data,
                        ..
                    }
            )
        })
        .collect();
    if connected {
        kept.push(Event::Closed {
            channel: Channel::Data,
            detail: "the server refused the transfer".into(),
        });
    }
    kept
}

fn verb(command: &str) -> &str {
    command.split_whitespace().next().unwrap_or(command)
}

fn is_tls_error(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

fn closed_kind(err: &std::io::Error) -> String {
    if is_closed(err) {
        "connection closed".into()
    } else {
        err.to_string()
    }
}

fn is_closed(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tls::{TlsKnobs, TlsVersion, Trust, Verify};
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// A scripted control-channel server: answers each command line with the next reply
    /// of `script`, then closes. Returns the command lines it received.
    async fn scripted(
        script: Vec<&'static str>,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (read, mut write) = tcp.into_split();
            write.write_all(b"220 hello\r\n").await.unwrap();
            let mut lines = BufReader::new(read).lines();
            let mut seen = Vec::new();
            for reply in script {
                let Ok(Some(line)) = lines.next_line().await else {
                    break;
                };
                seen.push(line);
                write
                    .write_all(format!("{reply}\r\n").as_bytes())
                    .await
                    .unwrap();
            }
            seen
        });
        (addr, task)
    }

    fn options() -> ClientOptions {
        let second = Duration::from_secs(5);
        ClientOptions {
            data: DataKnobs::default(),
            timeouts: Timeouts {
                connect: second,
                reply: second,
                data: second,
            },
            max_line: 8192,
            max_reply: 1 << 20,
        }
    }

    fn tls() -> TlsContext {
        let knobs = TlsKnobs {
            min: TlsVersion::Tls12,
            max: TlsVersion::Tls13,
            resume: true,
            verify: Verify::None,
            alpn: Vec::new(),
            sni: true,
            server_name: "localhost".into(),
            client_cert: false,
        };
        TlsContext::build(&knobs, &Trust::default()).unwrap()
    }

    fn mechanisms(list: &[&str]) -> Vec<String> {
        list.iter().map(|m| m.to_string()).collect()
    }

    #[tokio::test]
    async fn auth_falls_back_and_records_why() {
        let (addr, server) = scripted(vec![
            "500 This security scheme is not implemented",
            "504 Unknown AUTH type.",
        ])
        .await;
        let (mut session, banner) = Session::connect(addr, false, tls(), options()).await;
        banner.unwrap();
        let result = session
            .auth_first_accepted(&mechanisms(&["SSL", "TLS"]))
            .await;
        assert_eq!(
            result,
            Err(Failure::Reply {
                code: 504,
                text: "Unknown AUTH type.".into()
            })
        );
        assert_eq!(server.await.unwrap(), ["AUTH SSL", "AUTH TLS"]);
        let text = session.transcript.render();
        assert!(
            text.contains("AUTH SSL refused with 500; falling back to AUTH TLS"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn auth_stops_at_the_first_234() {
        // The 234 is followed by a close instead of a handshake: the client must have
        // started TLS after the first mechanism and never sent the second.
        let (addr, server) = scripted(vec!["234 Proceed with negotiation."]).await;
        let (mut session, banner) = Session::connect(addr, false, tls(), options()).await;
        banner.unwrap();
        let result = session
            .auth_first_accepted(&mechanisms(&["SSL", "TLS"]))
            .await;
        assert!(result.is_err());
        assert_eq!(server.await.unwrap(), ["AUTH SSL"]);
        assert!(!session.transcript.render().contains("falling back"));
    }
}
