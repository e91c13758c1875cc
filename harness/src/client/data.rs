//! The data channel: parsing passive replies, and one data connection's life (connect or
//! accept, optional TLS, move bytes, close), recorded as events.
//!
//! The data leg runs concurrently with the control channel, because servers differ in when
//! they send the 150 (before or after accepting) and when they refuse (before the data
//! connection, or after its TLS handshake).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::payload::{CHUNK, Content, hex};
use super::stream::MaybeTls;
use super::{Failure, tls};
use crate::transcript::{Channel, Direction, Event, printable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataMode {
    Pasv,
    Epsv,
    Port,
    Eprt,
}

/// When the client opens a passive data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataConnect {
    /// Right after the PASV/EPSV reply, before the transfer command (curl, lftp).
    Before,
    /// Right after sending the transfer command, without waiting for its reply.
    After,
    /// Only once the 1xx reply to the transfer command arrived. Deadlocks on servers that
    /// send the 1xx after accepting (vsftpd, pure-ftpd, ProFTPD): a real client bug.
    AfterReply,
}

/// Where a restarted transfer's `REST n` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestOrder {
    /// REST, then PASV/EPSV/PORT/EPRT, then the command. FileZilla Server forgets the
    /// offset on the data setup (0.9 resets its transfer state, 1.x clears REST on any
    /// final reply other than 3xx).
    BeforeSetup,
    /// The data setup, then REST right before the command, as RFC 959 section 4.1.3 asks
    /// (REST "shall be followed by" the transfer command); FileZilla Client and curl do this.
    #[default]
    BeforeCommand,
}

/// Whether the client speaks TLS on the data channel, independently of what PROT it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataTls {
    /// TLS if the last accepted PROT was P.
    Auto,
    On,
    Off,
}

/// What to do on the data connection.
#[derive(Debug, Clone)]
pub enum DataWork {
    Upload(Content),
    /// Download; verify against the content if known.
    Download(Option<Content>),
    /// A directory listing; entry names are recorded.
    Listing(ListingFormat),
}

#[derive(Debug, Clone, Copy)]
pub enum ListingFormat {
    /// `ls -l` style: the name is the last field.
    Long,
    /// One name per line (NLST).
    Names,
    /// MLSD: facts, a space, then the name.
    Facts,
}

/// Where the data connection comes from.
pub enum DataTarget {
    Connect {
        addr: SocketAddr,
        /// Connected early (DataConnect::Before).
        early: Option<TcpStream>,
    },
    Accept(TcpListener),
}

pub struct DataLeg {
    pub target: DataTarget,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    pub close_notify: bool,
    pub drain: bool,
    pub timeout: Duration,
    pub work: DataWork,
}

/// Events recorded by a data leg, shared so that an abandoned leg keeps what it saw.
pub type EventLog = Arc<Mutex<Vec<Event>>>;

fn record(log: &EventLog, event: Event) {
    log.lock().expect("event log lock").push(event);
}

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` in any of the servers' spellings.
pub fn parse_pasv(text: &str) -> Option<SocketAddr> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let numbers: Vec<u8> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    if numbers.len() != 6 {
        return None;
    }
    let ip = Ipv4Addr::new(numbers[0], numbers[1], numbers[2], numbers[3]);
    let port = u16::from(numbers[4]) << 8 | u16::from(numbers[5]);
    Some(SocketAddr::new(IpAddr::V4(ip), port))
}

/// `229 Entering Extended Passive Mode (|||port|)`.
pub fn parse_epsv(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let inner = &text[open + 1..text[open..].find(')')? + open];
    let delimiter = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delimiter).collect();
    // (|||port|) splits into ["", "", "", "port", ""].
    fields.get(3)?.parse().ok()
}

/// Runs the data connection to its end. Returns Err only for failures that end the leg;
/// every step is recorded in `log`.
pub async fn run(leg: DataLeg, log: EventLog) -> Result<(), Failure> {
    let tcp = match leg.target {
        DataTarget::Connect {
            early: Some(tcp), ..
        } => tcp,
        DataTarget::Connect { addr, early: None } => {
            let tcp = timeout(leg.timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| timed_out(&log, "the data connection to connect", leg.timeout))?
                .map_err(|e| io_failure(&log, "connecting the data connection", &e))?;
            record(&log, connected(addr, "connect", leg.tls.is_some()));
            tcp
        }
        DataTarget::Accept(listener) => {
            let (tcp, peer) = timeout(leg.timeout, listener.accept())
                .await
                .map_err(|_| timed_out(&log, "the server to connect to our PORT", leg.timeout))?
                .map_err(|e| io_failure(&log, "accepting the data connection", &e))?;
            record(&log, connected(peer, "accept", leg.tls.is_some()));
            tcp
        }
    };
    let mut stream = match leg.tls {
        None => MaybeTls::Plain(tcp),
        Some((connector, name)) => {
            let tls = timeout(leg.timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| timed_out(&log, "the data TLS handshake", leg.timeout))?
                .map_err(|e| tls_failure(&log, &e))?;
            record(
                &log,
                Event::Tls {
                    channel: Channel::Data,
                    handshake: tls::describe(tls.get_ref().1),
                },
            );
            MaybeTls::Tls(Box::new(tls))
        }
    };
    match leg.work {
        DataWork::Upload(content) => {
            upload(&mut stream, &content, leg.close_notify, leg.timeout, &log).await?;
            if leg.drain {
                // Reading to EOF collects the TLS 1.3 tickets the server sent on this
                // connection; without them later uploads cannot resume (single-use tickets).
                drain(&mut stream, leg.timeout).await;
            }
            Ok(())
        }
        DataWork::Download(expected) => {
            download(&mut stream, expected, leg.close_notify, leg.timeout, &log).await
        }
        DataWork::Listing(format) => {
            listing(&mut stream, format, leg.close_notify, leg.timeout, &log).await
        }
    }
}

fn connected(peer: SocketAddr, how: &'static str, client_tls: bool) -> Event {
    Event::Connected {
        channel: Channel::Data,
        peer: peer.to_string(),
        how,
        client_tls: Some(client_tls),
    }
}

fn timed_out(log: &EventLog, waiting_for: &str, after: Duration) -> Failure {
    record(
        log,
        Event::Timeout {
            waiting_for: waiting_for.to_string(),
            after_ms: after.as_millis() as u64,
        },
    );
    Failure::Timeout {
        channel: Channel::Data,
        waiting_for: waiting_for.to_string(),
    }
}

/// Resets, broken pipes and EOFs all mean "the server closed it"; which one the OS reports
/// is timing, so they are recorded the same way.
fn io_failure(log: &EventLog, during: &str, err: &io::Error) -> Failure {
    use io::ErrorKind::*;
    let detail = match err.kind() {
        ConnectionReset | BrokenPipe | UnexpectedEof | ConnectionAborted => {
            format!("closed by the server while {during}")
        }
        ConnectionRefused => format!("connection refused while {during}"),
        _ => format!("{during}: {err}"),
    };
    record(
        log,
        Event::Closed {
            channel: Channel::Data,
            detail: detail.clone(),
        },
    );
    Failure::Closed {
        channel: Channel::Data,
        detail,
    }
}

fn tls_failure(log: &EventLog, err: &io::Error) -> Failure {
    if err
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
    {
        let message = err.to_string();
        record(
            log,
            Event::TlsError {
                channel: Channel::Data,
                message: message.clone(),
            },
        );
        Failure::Tls {
            channel: Channel::Data,
            message,
        }
    } else {
        io_failure(log, "in the TLS handshake", err)
    }
}

async fn upload(
    stream: &mut MaybeTls,
    content: &Content,
    close_notify: bool,
    idle: Duration,
    log: &EventLog,
) -> Result<(), Failure> {
    let mut reader = content.reader();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        let n = reader.read(&mut buf);
        if n == 0 {
            break;
        }
        timeout(idle, stream.write_all(&buf[..n]))
            .await
            .map_err(|_| timed_out(log, "the server to read upload data", idle))?
            .map_err(|e| io_failure(log, "uploading", &e))?;
        sent += n as u64;
    }
    let tls = stream.is_tls();
    let closing = async {
        match stream {
            MaybeTls::Tls(tls) if !close_notify => {
                // Close TCP under the TLS layer: what a client that forgets close_notify does.
                tls.flush().await?;
                tls.get_mut().0.shutdown().await
            }
            other => other.shutdown().await,
        }
    };
    timeout(idle, closing)
        .await
        .map_err(|_| timed_out(log, "the upload to flush", idle))?
        .map_err(|e| io_failure(log, "closing the upload", &e))?;
    record(
        log,
        Event::Transferred {
            direction: Direction::Upload,
            bytes: sent,
            tls,
            close_notify: tls && close_notify,
        },
    );
    Ok(())
}

async fn drain(stream: &mut MaybeTls, idle: Duration) {
    let mut sink = [0u8; 4096];
    while let Ok(Ok(n)) = timeout(idle, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

/// Reads to EOF, feeding each chunk to `sink`. Returns (bytes, whether TLS ended with
/// close_notify).
async fn read_all(
    stream: &mut MaybeTls,
    idle: Duration,
    log: &EventLog,
    what: &str,
    mut sink: impl FnMut(&[u8]),
) -> Result<(u64, bool), Failure> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match timeout(idle, stream.read(&mut buf)).await {
            Err(_) => return Err(timed_out(log, &format!("{what} data"), idle)),
            Ok(Ok(0)) => return Ok((total, stream.is_tls())),
            Ok(Ok(n)) => {
                sink(&buf[..n]);
                total += n as u64;
            }
            // TCP closed without close_notify under TLS.
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof && stream.is_tls() => {
                return Ok((total, false));
            }
            Ok(Err(e)) => return Err(io_failure(log, &format!("receiving {what}"), &e)),
        }
    }
}

async fn finish_read(stream: &mut MaybeTls, close_notify: bool, idle: Duration) {
    if close_notify || !stream.is_tls() {
        let _ = timeout(idle, stream.shutdown()).await;
    }
}

async fn download(
    stream: &mut MaybeTls,
    expected: Option<Content>,
    close_notify: bool,
    idle: Duration,
    log: &EventLog,
) -> Result<(), Failure> {
    let mut hasher = Sha256::new();
    let (bytes, server_notified) = read_all(stream, idle, log, "the download", |chunk| {
        hasher.update(chunk)
    })
    .await?;
    finish_read(stream, close_notify, idle).await;
    let tls = stream.is_tls();
    record(
        log,
        Event::Transferred {
            direction: Direction::Download,
            bytes,
            tls,
            close_notify: tls && server_notified,
        },
    );
    let Some(expected) = expected else {
        return Ok(());
    };
    let got = hex(&hasher.finalize());
    let ok = got == expected.sha256() && bytes == expected.len();
    let detail = if ok {
        format!("{bytes} bytes match the uploaded payload (sha256)")
    } else {
        format!(
            "got {bytes} bytes, expected {} bytes of the uploaded payload; sha256 differs",
            expected.len()
        )
    };
    record(
        log,
        Event::Verified {
            ok,
            detail: detail.clone(),
        },
    );
    if ok {
        Ok(())
    } else {
        Err(Failure::Corrupted { detail })
    }
}

/// Names a transcript shows of one listing: the first by name, so the text is the same in
/// whatever order the server sent them, and bounded whatever it sent.
const NAMES_SHOWN: usize = 100;
/// Longer names are cut here (NAME_MAX on Linux is 255 bytes).
const NAME_SHOWN: usize = 255;
/// A listing line is looked at up to here; the rest of a longer line is skipped.
const LISTING_LINE_LIMIT: usize = 8 * 1024;

async fn listing(
    stream: &mut MaybeTls,
    format: ListingFormat,
    close_notify: bool,
    idle: Duration,
    log: &EventLog,
) -> Result<(), Failure> {
    let mut names = ListingNames::new(format);
    let (_, server_notified) =
        read_all(stream, idle, log, "the listing", |chunk| names.feed(chunk)).await?;
    finish_read(stream, close_notify, idle).await;
    let tls = stream.is_tls();
    // Listing sizes change with dates and owners; entry names are recorded instead.
    let (entries, total) = names.finish();
    record(
        log,
        Event::Listing {
            entries,
            total,
            tls,
            close_notify: tls && server_notified,
        },
    );
    Ok(())
}

/// The entry names of a listing, read line by line as it arrives: every name is counted,
/// and the first [`NAMES_SHOWN`] by name are kept, so memory stays flat however long the
/// listing is.
struct ListingNames {
    format: ListingFormat,
    line: Vec<u8>,
    shown: Vec<String>,
    total: usize,
}

impl ListingNames {
    fn new(format: ListingFormat) -> Self {
        ListingNames {
            format,
            line: Vec::new(),
            shown: Vec::new(),
            total: 0,
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.take_line_part(&chunk[..end]);
            self.end_line();
            chunk = &chunk[end + 1..];
        }
        self.take_line_part(chunk);
    }

    fn take_line_part(&mut self, part: &[u8]) {
        let room = LISTING_LINE_LIMIT.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn end_line(&mut self) {
        let raw = std::mem::take(&mut self.line);
        // Escaped, so names with control characters or non-UTF-8 bytes print safely.
        let line = printable(raw.strip_suffix(b"\r").unwrap_or(&raw));
        let Some(name) = listing_name(&line, self.format) else {
            return;
        };
        self.total += 1;
        self.shown.push(name.chars().take(NAME_SHOWN).collect());
        if self.shown.len() > 2 * NAMES_SHOWN {
            self.shown.sort();
            self.shown.truncate(NAMES_SHOWN);
        }
    }

    /// The names shown, sorted, and how many the listing had.
    fn finish(mut self) -> (Vec<String>, usize) {
        if !self.line.is_empty() {
            self.end_line();
        }
        self.shown.sort();
        self.shown.truncate(NAMES_SHOWN);
        (self.shown, self.total)
    }
}

/// The entry name of one listing line (without its line end); `.` and `..` and `total N`
/// lines have none.
pub fn listing_name(line: &str, format: ListingFormat) -> Option<&str> {
    if line.trim().is_empty() || line.starts_with("total ") {
        return None;
    }
    let name = match format {
        ListingFormat::Names => line.rsplit('/').next().unwrap_or(line),
        ListingFormat::Facts => line.split_once(' ')?.1,
        // The name is the 9th field of `ls -l`; names may contain spaces.
        ListingFormat::Long => {
            line.split_whitespace().nth(8)?;
            nth_field_onwards(line, 8)
        }
    };
    (name != "." && name != "..").then_some(name)
}

fn nth_field_onwards(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passive_replies_in_server_spellings() {
        let want: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        for text in [
            "Entering Passive Mode (127,0,0,1,156,64).",
            "Entering Passive Mode (127,0,0,1,156,64)",
            "Entering passive mode (127,0,0,1,156,64).",
            "Entering Passive Mode 127,0,0,1,156,64",
        ] {
            assert_eq!(parse_pasv(text), Some(want), "{text}");
        }
        assert_eq!(parse_pasv("Entering Passive Mode (127,0,0,1)"), None);
        assert_eq!(parse_pasv("Entering Passive Mode (300,0,0,1,1,1)"), None);
        assert_eq!(
            parse_epsv("Entering Extended Passive Mode (|||40001|)"),
            Some(40001)
        );
        assert_eq!(
            parse_epsv("Extended Passive mode OK (|||40001|)"),
            Some(40001)
        );
        assert_eq!(
            parse_epsv("Entering Extended Passive Mode (!!!40001!)"),
            Some(40001)
        );
        assert_eq!(parse_epsv("Entering Extended Passive Mode"), None);
    }

    fn names(text: &str, format: ListingFormat) -> Vec<&str> {
        text.lines()
            .filter_map(|line| listing_name(line.trim_end_matches('\r'), format))
            .collect()
    }

    #[test]
    fn a_listing_is_read_in_pieces_and_shows_its_first_names() {
        let text: String = (0..1000).rev().map(|i| format!("./f{i:04}\r\n")).collect();
        // Split everywhere, also inside the CR LF.
        for piece in [1, 3, 7, 4096] {
            let mut names = ListingNames::new(ListingFormat::Names);
            for chunk in text.as_bytes().chunks(piece) {
                names.feed(chunk);
            }
            let (shown, total) = names.finish();
            assert_eq!(total, 1000);
            let first: Vec<String> = (0..100).map(|i| format!("f{i:04}")).collect();
            assert_eq!(shown, first, "pieces of {piece}");
        }
        let mut names = ListingNames::new(ListingFormat::Names);
        names.feed(&[b'a'; 100_000]);
        names.feed(b"\r\nlast");
        let (shown, total) = names.finish();
        assert_eq!(total, 2);
        assert_eq!(shown[0].len(), NAME_SHOWN);
        assert_eq!(shown[1], "last");
    }

    #[test]
    fn listing_names_per_format() {
        let long = "total 8\r\n-rw-r--r--    1 1001     1001      1048576 Nov 25 00:41 up load.bin\r\ndrwxr-xr-x 2 u g 4096 Jan  1  2025 .\r\n";
        assert_eq!(names(long, ListingFormat::Long), vec!["up load.bin"]);
        let facts = "type=file;size=3;modify=20261125004100; a.bin\r\ntype=cdir; .\r\n";
        assert_eq!(names(facts, ListingFormat::Facts), vec!["a.bin"]);
        assert_eq!(names("./a\r\nb\r\n", ListingFormat::Names), vec!["a", "b"]);
    }
}
