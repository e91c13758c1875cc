//! Data connections: a passive listener or an active connect runs in its own task, so a
//! client may connect (and even finish its TLS handshake) before it sends the transfer
//! command, as with the real servers. The task reports `Connected` and then `Ready`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::log::Logger;
use crate::profile::Resumption;
use crate::stream::MaybeTls;
use crate::tls::{Role, TlsContext};

/// How the server treats a data connection at the moment it is established.
#[derive(Debug, Clone)]
pub(crate) enum Policy {
    /// No TLS: bytes flow as they are (PROT C, or a plain control connection).
    Clear,
    /// Server-side TLS handshake, then the session-binding checks.
    Tls {
        alpn: Vec<String>,
        alpn_required: Option<String>,
    },
    /// FileZilla 1.x: PROT C on a secure control connection fails the data connection.
    RejectProtC,
}

#[derive(Debug, Clone)]
pub(crate) enum DataFailure {
    IpMismatch,
    ConnectFailed(String),
    ProtC,
    Tls(String),
    NotResumed,
    AlpnWrong,
}

pub(crate) enum DataEvent {
    Connected,
    Ready(Result<MaybeTls, DataFailure>),
}

/// Everything a data task needs from its control session.
#[derive(Clone)]
pub(crate) struct DataCtx {
    pub tls: Arc<TlsContext>,
    pub control_id: u64,
    pub control_peer: IpAddr,
    pub check_ip: bool,
    pub resumption: Resumption,
    pub handshake_timeout: Duration,
    /// Shared with the session: PROT may change between PASV and the client's connect.
    pub policy: Arc<Mutex<Policy>>,
    pub log: Logger,
}

/// Aborts the task when dropped, so no data task outlives its session.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) struct DataChannel {
    rx: mpsc::Receiver<DataEvent>,
    _task: AbortOnDrop,
    pub passive: bool,
    pub connected: bool,
    ready: Option<Result<MaybeTls, DataFailure>>,
    finished: bool,
}

impl DataChannel {
    /// Bind a passive listener on `ip` (OS-assigned port) and wait for one connection.
    pub async fn passive(ctx: DataCtx, ip: IpAddr) -> io::Result<(DataChannel, u16)> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let port = listener.local_addr()?.port();
        ctx.log.line(format!("passive listener on {ip}:{port}"));
        let (tx, rx) = mpsc::channel(2);
        let task = tokio::spawn(passive_task(listener, ctx, tx));
        Ok((Self::new(rx, task, true), port))
    }

    /// Connect to the client's PORT/EPRT address from `local_ip`.
    pub fn active(ctx: DataCtx, target: SocketAddr, local_ip: IpAddr, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel(2);
        let task = tokio::spawn(active_task(target, local_ip, limit, ctx, tx));
        Self::new(rx, task, false)
    }

    fn new(rx: mpsc::Receiver<DataEvent>, task: JoinHandle<()>, passive: bool) -> Self {
        DataChannel {
            rx,
            _task: AbortOnDrop(task),
            passive,
            connected: false,
            ready: None,
            finished: false,
        }
    }

    /// The task's next report; never resolves once the task is done.
    pub async fn next_event(&mut self) -> Option<DataEvent> {
        if self.finished {
            return std::future::pending().await;
        }
        let ev = self.rx.recv().await;
        if ev.is_none() {
            self.finished = true;
        }
        ev
    }

    /// The task's next report if one is already waiting.
    pub fn try_event(&mut self) -> Option<DataEvent> {
        if self.finished {
            return None;
        }
        self.rx.try_recv().ok()
    }

    pub fn apply(&mut self, ev: DataEvent) {
        match ev {
            DataEvent::Connected => self.connected = true,
            DataEvent::Ready(r) => self.ready = Some(r),
        }
    }

    /// A failure that happened before any transfer command asked for this connection.
    /// An IP mismatch is only judged at the command, as FileZilla 0.9 does.
    pub fn early_failure(&self) -> Option<&DataFailure> {
        match &self.ready {
            Some(Err(DataFailure::IpMismatch)) => None,
            Some(Err(f)) => Some(f),
            _ => None,
        }
    }

    /// Wait until the client connected (or the attempt failed). `false` on timeout.
    pub async fn wait_connected(&mut self, limit: Duration) -> bool {
        let wait = async {
            while !self.connected && self.ready.is_none() {
                match self.next_event().await {
                    Some(ev) => self.apply(ev),
                    None => return,
                }
            }
        };
        timeout(limit, wait).await.is_ok()
    }

    /// Wait for the connection to be usable (TLS done and checked). `None` on timeout.
    pub async fn wait_ready(&mut self, limit: Duration) -> Option<Result<MaybeTls, DataFailure>> {
        let wait = async {
            while self.ready.is_none() {
                match self.next_event().await {
                    Some(ev) => self.apply(ev),
                    None => {
                        return Some(Err(DataFailure::ConnectFailed("data task ended".into())));
                    }
                }
            }
            self.ready.take()
        };
        timeout(limit, wait).await.ok().flatten()
    }
}

async fn passive_task(listener: TcpListener, ctx: DataCtx, tx: mpsc::Sender<DataEvent>) {
    let (tcp, peer) = match listener.accept().await {
        Ok(pair) => pair,
        Err(e) => {
            let _ = tx
                .send(DataEvent::Ready(Err(DataFailure::ConnectFailed(
                    e.to_string(),
                ))))
                .await;
            return;
        }
    };
    // One connection per PASV: stop listening right away.
    drop(listener);
    ctx.log.line(format!("data connection from {peer}"));
    let _ = tx.send(DataEvent::Connected).await;
    let result = if ctx.check_ip && peer.ip() != ctx.control_peer {
        ctx.log.line(format!(
            "data peer {} is not the control peer {}",
            peer.ip(),
            ctx.control_peer
        ));
        Err(DataFailure::IpMismatch)
    } else {
        establish(tcp, &ctx).await
    };
    let _ = tx.send(DataEvent::Ready(result)).await;
}

async fn active_task(
    target: SocketAddr,
    local_ip: IpAddr,
    limit: Duration,
    ctx: DataCtx,
    tx: mpsc::Sender<DataEvent>,
) {
    let connect = async {
        let socket = match local_ip {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(local_ip, 0))?;
        socket.connect(target).await
    };
    let tcp = match timeout(limit, connect).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            ctx.log
                .line(format!("active connect to {target} failed: {e}"));
            let _ = tx
                .send(DataEvent::Ready(Err(DataFailure::ConnectFailed(
                    describe_io(&e),
                ))))
                .await;
            return;
        }
        Err(_) => {
            ctx.log
                .line(format!("active connect to {target} timed out"));
            let _ = tx
                .send(DataEvent::Ready(Err(DataFailure::ConnectFailed(
                    "ETIMEDOUT - Connection attempt timed out".into(),
                ))))
                .await;
            return;
        }
    };
    ctx.log.line(format!("data connection to {target}"));
    let _ = tx.send(DataEvent::Connected).await;
    let result = establish(tcp, &ctx).await;
    let _ = tx.send(DataEvent::Ready(result)).await;
}

/// Apply the session's current data policy to a fresh data connection.
async fn establish(tcp: TcpStream, ctx: &DataCtx) -> Result<MaybeTls, DataFailure> {
    let policy = ctx.policy.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match policy {
        Policy::Clear => {
            ctx.log.line("data connection in clear (no TLS expected)");
            Ok(MaybeTls::Plain(tcp))
        }
        Policy::RejectProtC => {
            ctx.log
                .line("refused: PROT C data connection on a secure control connection");
            Err(DataFailure::ProtC)
        }
        Policy::Tls {
            alpn,
            alpn_required,
        } => {
            let accept = ctx.tls.accept(tcp, ctx.control_id, Role::Data, &alpn);
            let (stream, hs) = match timeout(ctx.handshake_timeout, accept).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    ctx.log.line(format!("data TLS handshake failed: {e}"));
                    return Err(DataFailure::Tls(describe_io(&e)));
                }
                Err(_) => {
                    ctx.log.line("data TLS handshake timed out");
                    return Err(DataFailure::Tls(
                        "ETIMEDOUT - Connection attempt timed out".into(),
                    ));
                }
            };
            ctx.log
                .line(format!("data TLS {}", hs.describe(ctx.control_id)));
            if ctx.resumption.required && !hs.resumed {
                ctx.log
                    .line("refused: data TLS session did not resume the control session");
                return Err(DataFailure::NotResumed);
            }
            if ctx.resumption.must_match_control && hs.resumed && hs.owner != Some(ctx.control_id) {
                ctx.log
                    .line("refused: data TLS session belongs to another control connection");
                return Err(DataFailure::NotResumed);
            }
            if let Some(required) = alpn_required
                && hs.alpn.as_deref() != Some(required.as_str())
            {
                ctx.log
                    .line(format!("refused: data ALPN is not {required}"));
                return Err(DataFailure::AlpnWrong);
            }
            Ok(MaybeTls::Tls(Box::new(stream)))
        }
    }
}

/// An error in libfilezilla's "NAME - description" style (unconfirmed format).
pub(crate) fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "ECONNREFUSED - Connection refused by server".into(),
        ConnectionReset => "ECONNRESET - Connection reset by peer".into(),
        ConnectionAborted => "ECONNABORTED - Connection aborted".into(),
        BrokenPipe => "EPIPE - Local endpoint has been closed".into(),
        TimedOut => "ETIMEDOUT - Connection attempt timed out".into(),
        UnexpectedEof => "ECONNRESET - Connection reset by peer".into(),
        _ => e.to_string(),
    }
}

#[derive(Debug)]
pub(crate) enum TransferError {
    /// No progress within the transfer timeout.
    Timeout,
    /// The data connection failed.
    Net(io::Error),
    /// Reading or writing the local file failed.
    File(io::Error),
}

const CHUNK: usize = 64 * 1024;

/// Stream `src` to the client. `ascii` turns bare LF into CRLF (FileZilla 1.x TYPE A).
pub(crate) async fn send(
    stream: &mut MaybeTls,
    mut src: impl AsyncRead + Unpin,
    ascii: bool,
    idle: Duration,
) -> Result<u64, TransferError> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::new();
    let mut last = 0u8;
    let mut total = 0u64;
    loop {
        let n = src.read(&mut buf).await.map_err(TransferError::File)?;
        if n == 0 {
            break;
        }
        let chunk: &[u8] = if ascii {
            out.clear();
            for &b in &buf[..n] {
                if b == b'\n' && last != b'\r' {
                    out.push(b'\r');
                }
                out.push(b);
                last = b;
            }
            &out
        } else {
            &buf[..n]
        };
        match timeout(idle, stream.write_all(chunk)).await {
            Err(_) => return Err(TransferError::Timeout),
            Ok(Err(e)) => return Err(TransferError::Net(e)),
            Ok(Ok(())) => total += chunk.len() as u64,
        }
    }
    match timeout(idle, stream.flush()).await {
        Err(_) => Err(TransferError::Timeout),
        Ok(Err(e)) => Err(TransferError::Net(e)),
        Ok(Ok(())) => Ok(total),
    }
}

/// Receive from the client until it closes. `ascii` turns CRLF into LF.
/// Returns the bytes written and whether the peer closed without a TLS close_notify.
pub(crate) async fn receive(
    stream: &mut MaybeTls,
    mut dst: impl AsyncWrite + Unpin,
    ascii: bool,
    idle: Duration,
) -> Result<(u64, bool), TransferError> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::new();
    let mut pending_cr = false;
    let mut total = 0u64;
    let mut unclean = false;
    loop {
        let n = match timeout(idle, stream.read(&mut buf)).await {
            Err(_) => return Err(TransferError::Timeout),
            Ok(Ok(n)) => n,
            // TCP closed without close_notify: FileZilla treats the upload as done.
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                unclean = true;
                0
            }
            Ok(Err(e)) => return Err(TransferError::Net(e)),
        };
        if n == 0 {
            break;
        }
        let chunk: &[u8] = if ascii {
            out.clear();
            for &b in &buf[..n] {
                if pending_cr {
                    pending_cr = false;
                    if b != b'\n' {
                        out.push(b'\r');
                    }
                }
                if b == b'\r' {
                    pending_cr = true;
                } else {
                    out.push(b);
                }
            }
            &out
        } else {
            &buf[..n]
        };
        dst.write_all(chunk).await.map_err(TransferError::File)?;
        total += chunk.len() as u64;
    }
    if pending_cr {
        dst.write_all(b"\r").await.map_err(TransferError::File)?;
        total += 1;
    }
    dst.flush().await.map_err(TransferError::File)?;
    Ok((total, unclean))
}

/// Close a data connection; TLS streams send close_notify first.
pub(crate) async fn close(mut stream: MaybeTls, limit: Duration) {
    let _ = timeout(limit, stream.shutdown()).await;
}
