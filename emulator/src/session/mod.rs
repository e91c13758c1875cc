//! One control connection: the command loop, replies from the profile, login, security
//! and file commands. Data setup and transfers are in `transfer`.

mod transfer;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};

use crate::data::{DataChannel, DataCtx, DataEvent, DataFailure, Policy};
use crate::fs::{self, ListFormat, PathError};
use crate::log::Logger;
use crate::profile::{
    CommandFlag, Dialect, EarlyFailure, Enforcement, Profile, Prot, ProtC, Timeout, render,
};
use crate::server::{Roots, Shared};
use crate::stream::MaybeTls;
use crate::tls::{Handshake, Role};

/// Longest command line accepted before the connection is dropped.
const MAX_LINE: usize = 8192;
/// Bound on writing one reply to a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on sending close_notify when a connection ends.
/// How long a command waits for an already-made data connection to be accepted.
const SETTLE: Duration = Duration::from_millis(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Listener {
    Explicit,
    Implicit,
}

pub(crate) async fn run(
    sh: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    kind: Listener,
    id: u64,
) {
    let log = sh.log.scoped(format!("c{id}"));
    let local = match tcp.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log.line(format!("dropped: {e}"));
            return;
        }
    };
    log.line(format!(
        "connection from {peer} on the {} listener",
        match kind {
            Listener::Explicit => "explicit",
            Listener::Implicit => "implicit",
        }
    ));
    let root = match sh.roots {
        Roots::PerSession => sh.root.join(format!("session-{id}")),
        Roots::Shared => sh.root.clone(),
    };
    // Never the base too: a server being removed must not get its folder back from a
    // session that was still starting.
    if sh.roots == Roots::PerSession
        && let Err(e) = tokio::fs::create_dir(&root).await
    {
        log.line(format!("closed: cannot create session root: {e}"));
        return;
    }
    let mut session = Session::new(sh, id, log.clone(), peer, local, root, kind);
    match session.serve(tcp).await {
        Ok(()) => log.line("closed"),
        Err(e) => log.line(format!("closed: {e}")),
    }
}

enum DataSetup {
    Passive(DataChannel),
    Active(SocketAddr),
}

enum Event {
    Line(String),
    Eof,
    TimedOut,
    Data(Option<DataEvent>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    List(ListFormat),
    Retr,
    Stor,
    Appe,
}

/// What a transfer command resolved to before the data connection is used.
enum Source {
    Listing(Vec<u8>),
    Download(tokio::fs::File),
    Upload(tokio::fs::File),
}

struct Control {
    stream: MaybeTls,
    buf: Vec<u8>,
}

impl Control {
    /// The next command line (without CR/LF); `None` at EOF. Cancel-safe.
    async fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut tmp = [0u8; 4096];
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "command line too long",
                ));
            }
            let n = self.stream.read(&mut tmp).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    async fn write(&mut self, text: &str) -> io::Result<()> {
        let write = async {
            self.stream.write_all(text.as_bytes()).await?;
            self.stream.flush().await
        };
        match timeout(WRITE_TIMEOUT, write).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client does not read replies",
            )),
        }
    }
}

struct Session {
    sh: Arc<Shared>,
    id: u64,
    log: Logger,
    peer: SocketAddr,
    local: SocketAddr,
    root: PathBuf,
    listener: Listener,
    ctl: Control,
    started: Instant,
    last_activity: Instant,
    closing: bool,
    // login
    user: Option<String>,
    logged_in: bool,
    prelogin_failures: u32,
    // security
    secure: bool,
    control_tls13: bool,
    control_alpn: Option<String>,
    prot: Prot,
    policy: Arc<Mutex<Policy>>,
    // file system and transfers
    cwd: String,
    ascii: bool,
    rest: u64,
    data: Option<DataSetup>,
    epsv_all: bool,
}

impl Session {
    fn new(
        sh: Arc<Shared>,
        id: u64,
        log: Logger,
        peer: SocketAddr,
        local: SocketAddr,
        root: PathBuf,
        listener: Listener,
    ) -> Self {
        let now = Instant::now();
        let prot = match listener {
            Listener::Implicit => sh.profile.data.implicit_default_prot,
            Listener::Explicit => Prot::C,
        };
        // FileZilla 1.x starts in TYPE A; 0.9 never converts, so its default does not matter.
        let ascii = sh.profile.dialect == Dialect::Fz1;
        Session {
            sh,
            id,
            log,
            peer,
            local,
            root,
            listener,
            ctl: Control {
                stream: MaybeTls::Gone,
                buf: Vec::new(),
            },
            started: now,
            last_activity: now,
            closing: false,
            user: None,
            logged_in: false,
            prelogin_failures: 0,
            secure: false,
            control_tls13: false,
            control_alpn: None,
            prot,
            policy: Arc::new(Mutex::new(Policy::Clear)),
            cwd: "/".into(),
            ascii,
            rest: 0,
            data: None,
            epsv_all: false,
        }
    }

    fn profile(&self) -> &Profile {
        &self.sh.profile
    }

    async fn serve(&mut self, tcp: TcpStream) -> io::Result<()> {
        if self.listener == Listener::Implicit {
            // Implicit FTPS: TLS from the first byte, the banner comes after the handshake.
            if !self.start_tls(tcp).await {
                return Ok(());
            }
        } else {
            self.ctl.stream = MaybeTls::Plain(tcp);
        }
        let banner = self.profile().banner.clone();
        self.send_lines(&banner).await?;
        while !self.closing {
            match self.next_event().await? {
                Event::Line(line) => {
                    self.settle_data().await?;
                    self.handle(&line).await?;
                    // Counted from the end of the command, so a long transfer is no idle time.
                    self.last_activity = Instant::now();
                }
                Event::Eof => {
                    self.log.line("client closed the control connection");
                    break;
                }
                Event::TimedOut => {
                    let t = if self.logged_in {
                        self.profile().timeouts().idle.clone()
                    } else {
                        self.profile().timeouts().login.clone()
                    };
                    self.log.line(format!("control timeout after {} s", t.secs));
                    self.fire_timeout(&t, "").await?;
                    self.closing = true;
                }
                Event::Data(ev) => self.early_data_event(ev).await?,
            }
        }
        let _ = timeout(CLOSE_TIMEOUT, self.ctl.stream.shutdown()).await;
        Ok(())
    }

    async fn next_event(&mut self) -> io::Result<Event> {
        let deadline = if self.logged_in {
            self.last_activity + self.profile().timeouts().idle.duration()
        } else {
            self.started + self.profile().timeouts().login.duration()
        };
        let data = &mut self.data;
        let ctl = &mut self.ctl;
        let data_event = async {
            match data {
                Some(DataSetup::Passive(ch)) => ch.next_event().await,
                _ => std::future::pending().await,
            }
        };
        // Commands already received go first: a single-threaded server such as FileZilla
        // reads a command that arrived before the data connection's handshake completed
        // before it learns how that handshake ended.
        tokio::select! {
            biased;
            line = ctl.read_line() => Ok(match line? {
                Some(l) => Event::Line(l),
                None => Event::Eof,
            }),
            ev = data_event => Ok(Event::Data(ev)),
            _ = sleep_until(deadline) => Ok(Event::TimedOut),
        }
    }

    /// Before acting on a command, let a passive data connection that the client opened
    /// before sending it be seen first, as the real server's event loop sees the accept
    /// before the later command. Without this the order would depend on task scheduling,
    /// and so would the reply (FileZilla 1.x: which 425, and "Starting" vs "About to start").
    async fn settle_data(&mut self) -> io::Result<()> {
        let Some(DataSetup::Passive(ch)) = &self.data else {
            return Ok(());
        };
        if ch.connected {
            return Ok(());
        }
        tokio::time::sleep(SETTLE).await;
        loop {
            let Some(DataSetup::Passive(ch)) = &mut self.data else {
                return Ok(());
            };
            match ch.try_event() {
                // Decided at accept time, with no I/O: part of "connected before".
                Some(ev @ (DataEvent::Connected | DataEvent::Ready(Err(DataFailure::ProtC)))) => {
                    self.early_data_event(Some(ev)).await?
                }
                // A TLS handshake that ended during the wait started after the command: the
                // transfer picks its outcome up.
                Some(ev) => ch.apply(ev),
                None => return Ok(()),
            }
        }
    }

    /// A passive data connection reported something while no transfer was waiting for it.
    async fn early_data_event(&mut self, ev: Option<DataEvent>) -> io::Result<()> {
        let failure = {
            let (Some(DataSetup::Passive(ch)), Some(ev)) = (&mut self.data, ev) else {
                return Ok(());
            };
            ch.apply(ev);
            match ch.early_failure() {
                Some(f) => f.clone(),
                None => return Ok(()),
            }
        };
        let text = self.failure_text(&failure, "");
        self.data = None;
        match self.profile().data.early_failure {
            EarlyFailure::ReplyAtOnce => {
                self.log
                    .line("data connection failed before its transfer command");
                if self.profile().dialect == Dialect::Fz09 {
                    self.rest = 0;
                }
                self.reply(text).await
            }
            EarlyFailure::Forget => {
                self.log
                    .line("data connection failed before its transfer command; data setup dropped");
                Ok(())
            }
        }
    }

    async fn send_lines(&mut self, lines: &[String]) -> io::Result<()> {
        let mut text = String::new();
        for l in lines {
            self.log.line(format!("S> {l}"));
            text.push_str(l);
            text.push_str("\r\n");
        }
        self.ctl.write(&text).await?;
        if let Some(last) = lines.last() {
            self.after_reply(last);
        }
        Ok(())
    }

    async fn reply(&mut self, text: String) -> io::Result<()> {
        self.send_lines(std::slice::from_ref(&text)).await
    }

    /// Bookkeeping every reply triggers in the real servers.
    fn after_reply(&mut self, text: &str) {
        let code = text.as_bytes().first().copied().unwrap_or(b'0');
        // FileZilla 1.x forgets REST on every final reply except 3xx (commander.cpp:308-325).
        if self.profile().dialect == Dialect::Fz1 && code != b'1' && code != b'3' {
            self.rest = 0;
        }
        if let Some(limit) = self.profile().control.prelogin_5xx_limit
            && !self.logged_in
        {
            if code == b'5' {
                self.prelogin_failures += 1;
                if self.prelogin_failures >= limit {
                    self.log.line(format!(
                        "{limit} consecutive 5xx replies before login: closing"
                    ));
                    self.closing = true;
                }
            } else {
                self.prelogin_failures = 0;
            }
        }
    }

    async fn fire_timeout(&mut self, t: &Timeout, path: &str) -> io::Result<()> {
        for r in &t.replies {
            self.reply(render(r, &[("path", path)])).await?;
        }
        if t.close {
            self.closing = true;
        }
        Ok(())
    }

    /// TLS handshake on the control connection (implicit, or after AUTH). `false` if it failed.
    async fn start_tls(&mut self, tcp: TcpStream) -> bool {
        let sh = Arc::clone(&self.sh);
        let limit = sh.profile.timeouts().login.duration();
        let alpn = &sh.profile.tls.control_alpn;
        match timeout(limit, sh.tls.accept(tcp, self.id, Role::Control, alpn)).await {
            Ok(Ok((stream, hs))) => {
                self.ctl.stream = MaybeTls::Tls(Box::new(stream));
                self.secured(hs);
                true
            }
            Ok(Err(e)) => {
                self.log.line(format!("control TLS handshake failed: {e}"));
                self.closing = true;
                false
            }
            Err(_) => {
                self.log.line("control TLS handshake timed out");
                self.closing = true;
                false
            }
        }
    }

    fn secured(&mut self, hs: Handshake) {
        self.log
            .line(format!("control TLS {}", hs.describe(self.id)));
        self.secure = true;
        self.control_tls13 = hs.version == "TLSv1.3";
        self.control_alpn = hs.alpn;
        self.update_policy();
    }

    /// Whether FileZilla 1.x's own ALPN was negotiated on the control connection.
    fn fz_alpn(&self) -> Option<(String, String)> {
        let fz = self.profile().tls.filezilla_alpn.as_ref()?;
        (self.control_alpn.as_deref() == Some(fz.control.as_str()))
            .then(|| (fz.control.clone(), fz.data.clone()))
    }

    /// Recompute what a data connection established from now on gets.
    fn update_policy(&mut self) {
        let policy = if !self.secure {
            Policy::Clear
        } else if self.prot == Prot::P {
            match self.fz_alpn() {
                Some((_, data)) => Policy::Tls {
                    alpn: vec![data.clone()],
                    alpn_required: Some(data),
                },
                None => Policy::Tls {
                    alpn: Vec::new(),
                    alpn_required: None,
                },
            }
        } else if self.profile().data.unprotected_transfer == Enforcement::RefusedAfterPreliminary {
            Policy::RejectProtC
        } else {
            Policy::Clear
        };
        *self.policy.lock().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    fn data_ctx(&self) -> DataCtx {
        let p = self.profile();
        DataCtx {
            tls: Arc::clone(&self.sh.tls),
            control_id: self.id,
            control_peer: self.peer.ip(),
            check_ip: p.data.check_data_ip,
            resumption: p.data.session_resumption.clone(),
            handshake_timeout: p.timeouts().transfer_idle.duration(),
            policy: Arc::clone(&self.policy),
            log: self.log.child("data"),
        }
    }

    fn failure_text(&self, f: &DataFailure, path: &str) -> String {
        let r = &self.profile().replies;
        match f {
            DataFailure::IpMismatch => render(&r.data_ip_mismatch, &[("path", path)]),
            DataFailure::ConnectFailed(reason) => {
                render(&r.data_connect_failed, &[("reason", reason)])
            }
            DataFailure::ProtC => r
                .prot_c_after_preliminary
                .clone()
                .unwrap_or_else(|| render(&r.data_tls_failed, &[("reason", "PROT C")])),
            DataFailure::Tls(reason) => render(&r.data_tls_failed, &[("reason", reason)]),
            DataFailure::NotResumed => r.not_resumed.clone(),
            DataFailure::AlpnWrong => r
                .data_alpn_wrong
                .clone()
                .unwrap_or_else(|| r.data_tls_failed.clone()),
        }
    }

    /// 0.9 strips surrounding quotes from path arguments; a stray quote is a syntax error.
    fn unquote(&self, arg: &str) -> Option<String> {
        if self.profile().dialect != Dialect::Fz09 {
            return Some(arg.to_owned());
        }
        let first = arg.find('"');
        let last = arg.rfind('"');
        match (first, last) {
            (None, None) => Some(arg.to_owned()),
            (Some(0), Some(l)) if l == arg.len() - 1 && l > 1 => Some(arg[1..l].to_owned()),
            _ => None,
        }
    }

    /// 1.x doubles quotes inside a quoted path (commander.cpp quote()).
    fn quote_dir(&self, dir: &str) -> String {
        match self.profile().dialect {
            Dialect::Fz1 => dir.replace('"', "\"\""),
            Dialect::Fz09 => dir.to_owned(),
        }
    }

    fn is_illegal(&self, cmd: &str) -> bool {
        let Some(ill) = &self.profile().control.illegal_commands else {
            return false;
        };
        ill.exact.iter().any(|c| c == cmd)
            || ill.prefixes.iter().any(|p| cmd.starts_with(p.as_str()))
            || ill.suffixes.iter().any(|s| cmd.ends_with(s.as_str()))
            || (ill.control_chars && cmd.bytes().next().is_some_and(|b| b <= 0x1f))
    }

    async fn handle(&mut self, line: &str) -> io::Result<()> {
        let (cmd, arg) = match line.find(' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        let upper = cmd.to_ascii_uppercase();
        if upper == "PASS" {
            self.log.line("C> PASS ****");
        } else {
            self.log.line(format!("C> {line}"));
        }
        if upper.is_empty() {
            return Ok(());
        }
        let sh = Arc::clone(&self.sh);
        let p = &sh.profile;
        let r = &p.replies;
        let Some(flags) = p.flags(&upper) else {
            if upper == "CCC" {
                return self.reply(r.ccc.clone()).await;
            }
            if let (true, Some(text)) = (self.is_illegal(&upper), &r.illegal_command) {
                self.closing = true;
                return self.reply(text.clone()).await;
            }
            return self.reply(r.unknown_command.clone()).await;
        };
        let has = |f| flags.contains(&f);
        if has(CommandFlag::Arg) && arg.is_empty() {
            return self.reply(r.missing_argument.clone()).await;
        }
        if has(CommandFlag::Login) && !self.logged_in {
            return self.reply(r.not_logged_in.clone()).await;
        }
        if has(CommandFlag::Last) && p.control.reject_pipelined_auth && !self.ctl.buf.is_empty() {
            self.log
                .line("client sent more data behind the command: closing");
            self.closing = true;
            return self.reply(r.auth_pipelined.clone()).await;
        }
        if has(CommandFlag::Tls) && !self.secure {
            return self
                .reply(render(&r.needs_security, &[("cmd", &upper)]))
                .await;
        }
        if has(CommandFlag::Data) && self.data.is_none() {
            let text = match (&r.no_data_connection_epsv_all, self.epsv_all) {
                (Some(t), true) => t.clone(),
                _ => r.no_data_connection.clone(),
            };
            return self.reply(text).await;
        }
        if has(CommandFlag::Unimplemented) {
            return self.reply(r.unimplemented.clone()).await;
        }
        let canonical = match upper.as_str() {
            "XPWD" => "PWD",
            "XCUP" => "CDUP",
            "XMKD" => "MKD",
            "XRMD" => "RMD",
            "XCWD" => "CWD",
            "NOP" => "NOOP",
            other => other,
        };
        match canonical {
            "USER" => self.cmd_user(arg).await,
            "PASS" => self.cmd_pass(arg).await,
            "QUIT" => {
                self.closing = true;
                self.reply(r.quit.clone()).await
            }
            "AUTH" => self.cmd_auth(arg).await,
            "PBSZ" => self.cmd_pbsz(arg).await,
            "PROT" => self.cmd_prot(arg).await,
            "ADAT" => self.reply(r.adat.clone()).await,
            "FEAT" => self.send_lines(&p.feat).await,
            "SYST" => self.reply(r.syst.clone()).await,
            "NOOP" => self.reply(r.noop.clone()).await,
            "TYPE" => self.cmd_type(arg).await,
            "PWD" => {
                let dir = self.quote_dir(&self.cwd);
                self.reply(render(&r.pwd, &[("dir", &dir)])).await
            }
            "CWD" => self.cmd_cwd(arg, false).await,
            "CDUP" => self.cmd_cwd("..", true).await,
            "MKD" => self.cmd_mkd(arg).await,
            "RMD" => self.cmd_rmd(arg).await,
            "DELE" => self.cmd_dele(arg).await,
            "SIZE" => self.cmd_size(arg).await,
            "REST" => self.cmd_rest(arg).await,
            "PASV" => self.cmd_pasv(false, arg).await,
            "EPSV" => self.cmd_pasv(true, arg).await,
            "PORT" => self.cmd_port(false, arg).await,
            "EPRT" => self.cmd_port(true, arg).await,
            "LIST" => self.transfer(Kind::List(ListFormat::Long), arg).await,
            "NLST" => self.transfer(Kind::List(ListFormat::Names), arg).await,
            "MLSD" => self.transfer(Kind::List(ListFormat::Facts), arg).await,
            "RETR" => self.transfer(Kind::Retr, arg).await,
            "STOR" => self.transfer(Kind::Stor, arg).await,
            "APPE" => self.transfer(Kind::Appe, arg).await,
            // Listed in the profile, but the emulator has no handler for it.
            _ => self.reply(r.unimplemented.clone()).await,
        }
    }

    // ----- login -----

    async fn cmd_user(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        if sh.profile.control.tls_required
            && !self.secure
            && let Some(text) = &r.user_needs_tls
        {
            return self.reply(text.clone()).await;
        }
        if self.logged_in {
            match &r.user_when_logged_in {
                Some(text) => return self.reply(text.clone()).await,
                // 0.9: USER while logged in logs the session out first.
                None => {
                    self.logged_in = false;
                    self.cwd = "/".into();
                }
            }
        }
        let name = match sh.profile.dialect {
            Dialect::Fz09 => arg.to_lowercase(),
            Dialect::Fz1 => arg.to_owned(),
        };
        self.user = Some(name.clone());
        self.reply(render(&r.user_ok, &[("user", &name)])).await
    }

    async fn cmd_pass(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        if self.logged_in {
            return self.reply(r.pass_when_logged_in.clone()).await;
        }
        let Some(user) = self.user.clone() else {
            return self.reply(r.pass_without_user.clone()).await;
        };
        let fz09 = sh.profile.dialect == Dialect::Fz09;
        let ok = sh.users.iter().any(|(u, pw)| {
            (if fz09 {
                u.eq_ignore_ascii_case(&user)
            } else {
                *u == user
            }) && pw == arg
        });
        if !ok {
            self.log.line(format!("login failed for {user}"));
            if !fz09 {
                self.user = None;
            }
            return self.reply(r.pass_bad.clone()).await;
        }
        self.log.line(format!("logged in as {user}"));
        self.logged_in = true;
        self.prelogin_failures = 0;
        self.cwd = "/".into();
        if self.fz_alpn().is_some() {
            self.log.line("x-filezilla-ftp ALPN: PROT P set at login");
            self.prot = Prot::P;
            self.update_policy();
        }
        self.reply(r.pass_ok.clone()).await
    }

    // ----- security -----

    async fn cmd_auth(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let supported = sh
            .profile
            .control
            .auth_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(arg));
        // 0.9 checks "already TLS" first, 1.x the auth type first.
        let refusal = match (sh.profile.dialect, self.secure, supported) {
            (Dialect::Fz09, true, _) | (Dialect::Fz1, true, true) => Some(&r.auth_already),
            (_, _, false) => Some(&r.auth_unsupported),
            _ => None,
        };
        if let Some(text) = refusal {
            return self.reply(text.clone()).await;
        }
        if !self.ctl.buf.is_empty() {
            // Only reachable when a profile allows pipelining: those bytes would be lost.
            self.log
                .line("bytes after AUTH were discarded before the TLS handshake");
            self.ctl.buf.clear();
        }
        self.reply(r.auth_ok.clone()).await?;
        // Not secure yet (checked above), so the stream is still plain.
        match std::mem::replace(&mut self.ctl.stream, MaybeTls::Gone) {
            MaybeTls::Plain(tcp) => {
                self.start_tls(tcp).await;
            }
            other => self.ctl.stream = other,
        }
        Ok(())
    }

    async fn cmd_pbsz(&mut self, arg: &str) -> io::Result<()> {
        let r = &self.profile().replies;
        let text = match (&r.pbsz_invalid, arg.trim().parse::<i32>()) {
            (Some(bad), Ok(n)) if n < 0 => bad.clone(),
            (Some(bad), Err(_)) => bad.clone(),
            _ => r.pbsz_ok.clone(),
        };
        self.reply(text).await
    }

    async fn cmd_prot(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let up = arg.to_uppercase();
        let level = match sh.profile.dialect {
            Dialect::Fz09 => matches!(up.as_str(), "C" | "P" | "S" | "E").then(|| up.clone()),
            Dialect::Fz1 => {
                (up.chars().count() == 1 && "CPSE".contains(up.as_str())).then(|| up.clone())
            }
        };
        match level.as_deref() {
            Some("C") if sh.profile.data.prot_c == ProtC::Refused => {
                let text = r.prot_c_refused.clone().unwrap_or_default();
                self.reply(text).await
            }
            Some(l @ ("C" | "P")) => {
                self.prot = if l == "C" { Prot::C } else { Prot::P };
                self.update_policy();
                self.reply(render(&r.prot_ok, &[("level", l)])).await
            }
            Some(l) => {
                self.reply(render(&r.prot_unsupported, &[("level", l)]))
                    .await
            }
            None => self.reply(render(&r.prot_unknown, &[("level", &up)])).await,
        }
    }

    // ----- simple commands -----

    async fn cmd_type(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let parsed = match sh.profile.dialect {
            Dialect::Fz09 => {
                let up = arg.to_uppercase();
                match up.chars().next() {
                    Some(c @ ('I' | 'A')) => Some((c == 'A', up)),
                    _ if up == "L 8" => Some((false, up)),
                    _ => None,
                }
            }
            Dialect::Fz1 => {
                let words: Vec<&str> = arg.split(' ').filter(|w| !w.is_empty()).collect();
                let (first, second, ascii) = match words.first().map(|w| w.to_ascii_uppercase()) {
                    Some(w) if w == "A" => ("A", "N", true),
                    Some(w) if w == "I" => ("I", "N", false),
                    Some(w) if w == "L" && words.len() == 2 => ("L", "8", false),
                    _ => ("", "", false),
                };
                match words.len() {
                    1 if !first.is_empty() => Some((ascii, first.to_owned())),
                    2 if !first.is_empty() && words[1].eq_ignore_ascii_case(second) => {
                        Some((ascii, format!("{first} {second}")))
                    }
                    _ => None,
                }
            }
        };
        match parsed {
            Some((ascii, shown)) => {
                self.ascii = ascii;
                self.reply(render(&r.type_ok, &[("type", &shown)])).await
            }
            None => self.reply(r.type_bad.clone()).await,
        }
    }

    async fn cmd_cwd(&mut self, arg: &str, cdup: bool) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let Some(arg) = self.unquote(arg) else {
            return self.reply(r.missing_argument.clone()).await;
        };
        if arg.is_empty()
            && let Some(t) = &r.cwd_empty
        {
            let dir = self.cwd.clone();
            return self.reply(render(t, &[("dir", &dir)])).await;
        }
        let target = fs::resolve(&self.cwd, &arg)
            .ok()
            .filter(|v| fs::real(&self.root, v).is_dir());
        let text = match (target, cdup) {
            (Some(v), false) => {
                self.cwd = v;
                render(&r.cwd_ok, &[("dir", &self.quote_dir(&self.cwd))])
            }
            (Some(v), true) => {
                self.cwd = v;
                render(&r.cdup_ok, &[("dir", &self.quote_dir(&self.cwd))])
            }
            (None, false) => render(&r.cwd_fail, &[("arg", &arg)]),
            (None, true) => r.cdup_fail.clone(),
        };
        self.reply(text).await
    }

    /// Resolve a path argument; the error is the reply to send.
    fn path(&self, arg: &str) -> Result<(String, PathBuf), String> {
        let r = &self.profile().replies;
        let arg = self
            .unquote(arg)
            .ok_or_else(|| r.missing_argument.clone())?;
        match fs::resolve(&self.cwd, &arg) {
            Ok(v) => {
                let real = fs::real(&self.root, &v);
                Ok((v, real))
            }
            Err(PathError::OutsideRoot) | Err(PathError::Invalid) => Err(r.invalid_path.clone()),
        }
    }

    async fn cmd_mkd(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let (v, real) = match self.path(arg) {
            Ok(p) => p,
            Err(t) => return self.reply(t).await,
        };
        let text = if tokio::fs::symlink_metadata(&real).await.is_ok() {
            r.mkd_exists.clone()
        } else if v != "/" && tokio::fs::create_dir(&real).await.is_ok() {
            render(&r.mkd_ok, &[("path", &self.quote_dir(&v))])
        } else {
            r.mkd_fail.clone()
        };
        self.reply(text).await
    }

    async fn cmd_rmd(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let (v, real) = match self.path(arg) {
            Ok(p) => p,
            Err(t) => return self.reply(t).await,
        };
        let text = if v == "/" || !real.is_dir() {
            r.rmd_fail.clone()
        } else {
            match tokio::fs::remove_dir(&real).await {
                Ok(()) => r.rmd_ok.clone(),
                Err(_) if std::fs::read_dir(&real).is_ok_and(|mut d| d.next().is_some()) => {
                    r.rmd_not_empty.clone()
                }
                Err(_) => r.rmd_fail.clone(),
            }
        };
        self.reply(text).await
    }

    async fn cmd_dele(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let (_, real) = match self.path(arg) {
            Ok(p) => p,
            Err(t) => return self.reply(t).await,
        };
        let text = if real.is_file() && tokio::fs::remove_file(&real).await.is_ok() {
            r.dele_ok.clone()
        } else {
            r.dele_fail.clone()
        };
        self.reply(text).await
    }

    async fn cmd_size(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let (_, real) = match self.path(arg) {
            Ok(p) => p,
            Err(t) => return self.reply(t).await,
        };
        let text = match tokio::fs::metadata(&real).await {
            Ok(m) if m.is_file() => render(&r.size_ok, &[("size", &m.len().to_string())]),
            _ => r.size_fail.clone(),
        };
        self.reply(text).await
    }

    async fn cmd_rest(&mut self, arg: &str) -> io::Result<()> {
        let sh = Arc::clone(&self.sh);
        let r = &sh.profile.replies;
        let parsed = match sh.profile.dialect {
            Dialect::Fz09 if arg.bytes().all(|b| b.is_ascii_digit()) => arg.parse::<u64>().ok(),
            Dialect::Fz09 => None,
            Dialect::Fz1 => arg.parse::<i64>().ok().and_then(|n| u64::try_from(n).ok()),
        };
        match parsed {
            Some(n) => {
                let shown = match sh.profile.dialect {
                    Dialect::Fz09 => n.to_string(),
                    Dialect::Fz1 => arg.to_owned(),
                };
                self.rest = n;
                self.reply(render(&r.rest_ok, &[("offset", &shown)])).await
            }
            None => self.reply(r.rest_bad.clone()).await,
        }
    }
}
