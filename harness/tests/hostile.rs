//! The client against small misbehaving servers of our own (plain FTP on 127.0.0.1, every
//! server loop bounded): each misbehaviour ends within the client's bound as a classified
//! outcome, whatever the server goes on doing.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use ftps_compat::client::Failure;
use ftps_compat::client::tls::Trust;
use ftps_compat::runner::{self, Endpoint, Outcome, RunResult};

/// What the server side of a test does with one connection; it returns when done.
type Behaviour = fn(TcpStream, Arc<AtomicUsize>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves one connection with `behaviour`; counts what it wrote in the returned counter.
async fn serve(behaviour: Behaviour) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            behaviour(stream, counter).await;
        }
    });
    (port, written)
}

async fn run(port: u16, scenario: &str) -> RunResult {
    let scenario = ftps_compat::scenario::parse(Path::new("hostile.yaml"), scenario)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let endpoint = Endpoint {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        explicit_port: Some(port),
        implicit_port: None,
        tls_name: "localhost".into(),
        user: "u".into(),
        password: "p".into(),
        trust: Trust::default(),
        server_root: None,
        work_dir: None,
    };
    // The test's own bound: far above the client's, so only a client that fails to
    // bound its wait trips it.
    tokio::time::timeout(Duration::from_secs(60), runner::run(&scenario, &endpoint))
        .await
        .expect("the client ended by itself")
        .expect("the scenario runs")
}

const PLAIN_NOOP: &str = "id: hostile\nabout: a\nreference: r\n\
    client: {connect: plain, tls: {verify: none}, timeouts: {reply: 1s}}\nsteps:\n  - noop\n";

async fn write(stream: &mut TcpStream, bytes: &[u8], written: &AtomicUsize) -> bool {
    let ok = stream.write_all(bytes).await.is_ok();
    if ok {
        written.fetch_add(bytes.len(), Ordering::SeqCst);
    }
    ok
}

/// `220-` lines without end (at most 64 MiB: far beyond the client's 1 MiB reply limit).
fn endless_multi_line_reply(
    mut stream: TcpStream,
    written: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if !write(&mut stream, b"220-welcome\r\n", &written).await {
            return;
        }
        let line = [b"220-".as_slice(), &[b'x'; 1000], b"\r\n"].concat();
        for _ in 0..64 * 1024 {
            if !write(&mut stream, &line, &written).await {
                return;
            }
        }
    })
}

/// A 10 MiB multi-line banner that does end.
fn ten_mib_multi_line_reply(
    mut stream: TcpStream,
    written: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let line = [b"220-".as_slice(), &[b'x'; 1020], b"\r\n"].concat();
        for _ in 0..10 * 1024 {
            if !write(&mut stream, &line, &written).await {
                return;
            }
        }
        let _ = write(&mut stream, b"220 welcome\r\n", &written).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
}

/// A greeting, then a `150` every 200 ms in answer to the first command, for at most 30 s.
fn preliminary_replies_forever(
    mut stream: TcpStream,
    written: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if !write(&mut stream, b"220 ready\r\n", &written).await {
            return;
        }
        let mut lines = BufReader::new(stream);
        let mut command = String::new();
        if lines.read_line(&mut command).await.unwrap_or(0) == 0 {
            return;
        }
        let mut stream = lines.into_inner();
        for _ in 0..150 {
            if !write(&mut stream, b"150 still working\r\n", &written).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// `220 ` and then no end of line, for at most 64 MiB.
fn endless_line(
    mut stream: TcpStream,
    written: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let chunk = [b'x'; 64 * 1024];
        if !write(&mut stream, b"220 ", &written).await {
            return;
        }
        for _ in 0..1024 {
            if !write(&mut stream, &chunk, &written).await {
                return;
            }
        }
    })
}

/// Bytes of every value, CR and LF among them, for at most 64 MiB.
fn binary_junk(
    mut stream: TcpStream,
    written: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 256) as u8).collect();
        for _ in 0..1024 {
            if !write(&mut stream, &chunk, &written).await {
                return;
            }
        }
    })
}

/// `234` to AUTH TLS, then 16 MiB of clear text instead of a handshake.
fn clear_text_flood_after_234(
    mut stream: TcpStream,
    written: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if !write(&mut stream, b"220 ready\r\n", &written).await {
            return;
        }
        let mut lines = BufReader::new(stream);
        let mut command = String::new();
        if lines.read_line(&mut command).await.unwrap_or(0) == 0 {
            return;
        }
        let mut stream = lines.into_inner();
        if !write(&mut stream, b"234 go ahead\r\n", &written).await {
            return;
        }
        let line = [b"200 ".as_slice(), &[b'x'; 1020], b"\r\n"].concat();
        for _ in 0..16 * 1024 {
            if !write(&mut stream, &line, &written).await {
                return;
            }
        }
    })
}

#[tokio::test]
async fn a_multi_line_reply_that_never_ends_is_cut_at_its_size_limit() {
    let (port, written) = serve(endless_multi_line_reply).await;
    let result = run(port, PLAIN_NOOP).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::PeerMisbehaved { detail },
            ..
        } => assert!(detail.contains("longer than 1048576 bytes"), "{detail}"),
        other => panic!("{other:?}"),
    }
    // The client hung up long before the server ran out of lines.
    assert!(written.load(Ordering::SeqCst) < 16 << 20);
}

#[tokio::test]
async fn a_10_mib_multi_line_reply_is_cut_at_the_reply_limit() {
    let (port, written) = serve(ten_mib_multi_line_reply).await;
    let result = run(port, PLAIN_NOOP).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::PeerMisbehaved { detail },
            ..
        } => assert_eq!(
            detail,
            "multi-line reply longer than 1048576 bytes without its last line"
        ),
        other => panic!("{other:?}"),
    }
    assert!(written.load(Ordering::SeqCst) < 10 << 20);
}

#[tokio::test]
async fn a_stream_of_preliminary_replies_does_not_extend_the_wait() {
    let (port, written) = serve(preliminary_replies_forever).await;
    let result = run(port, PLAIN_NOOP).await;
    match &result.outcome {
        Outcome::Failed {
            step: 1,
            failure: Failure::Timeout { waiting_for, .. },
            ..
        } => assert_eq!(waiting_for, "a reply"),
        other => panic!("{other:?}"),
    }
    // One second of 150s, not the server's thirty.
    let replies = written.load(Ordering::SeqCst) / b"150 still working\r\n".len();
    assert!(
        replies < 30,
        "{replies} preliminary replies were waited through"
    );
}

#[tokio::test]
async fn a_reply_code_that_does_not_exist_is_a_protocol_violation() {
    let port = greeting_server(b"999 odd\r\n").await;
    let result = run(port, PLAIN_NOOP).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::PeerMisbehaved { detail },
            ..
        } => assert!(detail.contains("code 999 is not a reply code"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn binary_junk_for_a_banner_is_a_protocol_violation() {
    let (port, written) = serve(binary_junk).await;
    let result = run(port, PLAIN_NOOP).await;
    assert!(
        matches!(
            &result.outcome,
            Outcome::Failed {
                step: 0,
                failure: Failure::PeerMisbehaved { .. },
                ..
            }
        ),
        "{:?}",
        result.outcome
    );
    assert!(written.load(Ordering::SeqCst) < 16 << 20);
}

#[tokio::test]
async fn a_banner_after_120_is_waited_for() {
    let (port, _) = serve(|mut stream, written| {
        Box::pin(async move {
            let greeting = b"120 Service ready in 1 minute.\r\n220 ready\r\n";
            if !write(&mut stream, greeting, &written).await {
                return;
            }
            let mut lines = BufReader::new(stream);
            let mut command = String::new();
            while lines.read_line(&mut command).await.unwrap_or(0) > 0 {
                let reply: &[u8] = if command.starts_with("QUIT") {
                    b"221 bye\r\n"
                } else {
                    b"200 ok\r\n"
                };
                if lines.get_mut().write_all(reply).await.is_err() {
                    return;
                }
                command.clear();
            }
        })
    })
    .await;
    let result = run(port, PLAIN_NOOP).await;
    assert_eq!(
        result.outcome,
        Outcome::Completed,
        "{}",
        result.transcript.render()
    );
    assert!(
        result
            .transcript
            .render()
            .contains("S< 120 Service ready in 1 minute.\nS< 220 ready\n")
    );
}

/// A server that greets with `banner`, then answers every command with 200 (221 to QUIT).
async fn greeting_server(banner: &'static [u8]) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if stream.write_all(banner).await.is_err() {
            return;
        }
        let mut lines = BufReader::new(stream);
        let mut command = String::new();
        // At most 100 commands.
        for _ in 0..100 {
            command.clear();
            if lines.read_line(&mut command).await.unwrap_or(0) == 0 {
                return;
            }
            let reply: &[u8] = if command.starts_with("QUIT") {
                b"221 bye\r\n"
            } else {
                b"200 ok\r\n"
            };
            if lines.get_mut().write_all(reply).await.is_err() {
                return;
            }
        }
    });
    port
}

#[tokio::test]
async fn control_characters_and_binary_in_replies_are_escaped() {
    let port = greeting_server(b"220 \x1b[2J\x07hello \xff\xfe\x00 caf\xc3\xa9\r\n").await;
    let result = run(port, PLAIN_NOOP).await;
    assert_eq!(result.outcome, Outcome::Completed);
    let text = result.transcript.render();
    assert!(
        text.contains("S< 220 \\x1b[2J\\x07hello \\xff\\xfe\\x00 café\n"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{fffd}'),
        "{text}"
    );
}

#[tokio::test]
async fn a_reply_without_a_code_is_a_protocol_violation() {
    let port = greeting_server(b"abc hello\r\n").await;
    let result = run(port, PLAIN_NOOP).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::PeerMisbehaved { detail },
            ..
        } => assert!(detail.contains("expected a 3-digit code"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_data_tls_error_is_the_outcome_not_the_missing_reply_after_it() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let data_port = data.local_addr().unwrap().port();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if stream.write_all(b"220 ready\r\n").await.is_err() {
            return;
        }
        let mut lines = BufReader::new(stream);
        let mut command = String::new();
        for _ in 0..20 {
            command.clear();
            if lines.read_line(&mut command).await.unwrap_or(0) == 0 {
                return;
            }
            let reply = if command.starts_with("EPSV") {
                format!("229 Entering Extended Passive Mode (|||{data_port}|)\r\n")
            } else if command.starts_with("LIST") {
                // Clear text where the client expects a TLS handshake, and no final reply.
                if let Ok((mut conn, _)) = data.accept().await {
                    let _ = conn.write_all(b"-rw-r--r-- 1 ftp ftp 0 a.txt\r\n").await;
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                continue;
            } else {
                "200 ok\r\n".to_string()
            };
            if lines.get_mut().write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let scenario = "id: hostile\nabout: a\nreference: r\n\
        client: {connect: plain, tls: {verify: none}, data: {tls: \"on\"}, \
        timeouts: {reply: 1s, data: 5s}}\nsteps:\n  - list\n";
    let result = run(port, scenario).await;
    match &result.outcome {
        Outcome::Failed {
            step: 1,
            failure: Failure::Tls { channel, .. },
            ..
        } => assert_eq!(*channel, ftps_compat::transcript::Channel::Data),
        other => panic!("{other:?}\n{}", result.transcript.render()),
    }
}

#[tokio::test]
async fn clear_text_after_234_is_an_outcome_of_its_own() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if stream.write_all(b"220 ready\r\n").await.is_err() {
            return;
        }
        let mut lines = BufReader::new(stream);
        let mut command = String::new();
        if lines.read_line(&mut command).await.unwrap_or(0) > 0 {
            // The 234 and more clear text in one segment.
            let _ = lines
                .get_mut()
                .write_all(b"234 go ahead\r\n200 and some more\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let scenario = "id: hostile\nabout: a\nreference: r\n\
        client: {connect: explicit, tls: {verify: none}, timeouts: {reply: 1s}}\nsteps:\n  - noop\n";
    let result = run(port, scenario).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::PeerMisbehaved { detail },
            ..
        } => assert_eq!(
            detail,
            "the server sent 19 clear-text bytes after 234, before the TLS handshake"
        ),
        other => panic!("{other:?}\n{}", result.transcript.render()),
    }
}

/// A server that sends `bytes` one byte at a time, `pause` apart, then stays silent.
async fn drip_server(bytes: &'static [u8], pause: Duration) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        for byte in bytes {
            if !write(&mut stream, &[*byte], &counter).await {
                return;
            }
            tokio::time::sleep(pause).await;
        }
        // Then silence, for a while.
        tokio::time::sleep(Duration::from_secs(20)).await;
    });
    (port, written)
}

#[tokio::test]
async fn a_server_that_never_greets_is_a_timeout_at_connect() {
    let (port, _) = drip_server(b"", Duration::ZERO).await;
    let result = run(port, PLAIN_NOOP).await;
    assert!(
        matches!(
            &result.outcome,
            Outcome::Failed {
                step: 0,
                failure: Failure::Timeout { .. },
                ..
            }
        ),
        "{:?}",
        result.outcome
    );
}

#[tokio::test]
async fn a_banner_dripped_byte_by_byte_is_bounded_by_one_reply_deadline() {
    // 200 bytes at 20 per second: 10 s for the whole banner, against a 1 s deadline.
    static BANNER: [u8; 200] = {
        let mut banner = [b'x'; 200];
        banner[0] = b'2';
        banner[1] = b'2';
        banner[2] = b'0';
        banner[3] = b' ';
        banner[198] = b'\r';
        banner[199] = b'\n';
        banner
    };
    let (port, written) = drip_server(&BANNER, Duration::from_millis(50)).await;
    let result = run(port, PLAIN_NOOP).await;
    assert!(
        matches!(
            &result.outcome,
            Outcome::Failed {
                step: 0,
                failure: Failure::Timeout { .. },
                ..
            }
        ),
        "{:?}",
        result.outcome
    );
    assert!(
        written.load(Ordering::SeqCst) < 100,
        "the client waited for the whole drip"
    );
}

#[tokio::test]
async fn an_endless_line_is_cut_at_the_line_limit() {
    let (port, written) = serve(endless_line).await;
    let result = run(port, PLAIN_NOOP).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::PeerMisbehaved { detail },
            ..
        } => assert_eq!(detail, "reply line longer than 8192 bytes"),
        other => panic!("{other:?}"),
    }
    assert!(written.load(Ordering::SeqCst) < 16 << 20);
}

/// What a data server does once LIST or RETR arrived: with the accepted data connection,
/// and the control connection to reply on.
type OnList = fn(TcpStream, TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// A plain FTP server whose EPSV offers a data port and whose LIST and RETR run `on_list`;
/// other commands get 200 (QUIT 221). At most 20 commands.
async fn data_server(on_list: OnList) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let data_port = data.local_addr().unwrap().port();
    tokio::spawn(async move {
        let Ok((mut control, _)) = listener.accept().await else {
            return;
        };
        if control.write_all(b"220 ready\r\n").await.is_err() {
            return;
        }
        let mut lines = BufReader::new(control);
        let mut command = String::new();
        for _ in 0..20 {
            command.clear();
            if lines.read_line(&mut command).await.unwrap_or(0) == 0 {
                return;
            }
            let reply = if command.starts_with("EPSV") {
                format!("229 Entering Extended Passive Mode (|||{data_port}|)\r\n")
            } else if command.starts_with("LIST") || command.starts_with("RETR") {
                let Ok((conn, _)) = data.accept().await else {
                    return;
                };
                on_list(conn, lines.into_inner()).await;
                return;
            } else if command.starts_with("QUIT") {
                "221 bye\r\n".to_string()
            } else {
                "200 ok\r\n".to_string()
            };
            if lines.get_mut().write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    port
}

/// `150`, then 64 MiB of a listing of distinct short names, then `226`.
fn endless_listing(
    mut data: TcpStream,
    mut control: TcpStream,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _ = control.write_all(b"150 Here it comes.\r\n").await;
        let mut name = 0u64;
        for _ in 0..1024 {
            let mut chunk = Vec::with_capacity(64 * 1024);
            while chunk.len() < 64 * 1024 - 64 {
                chunk.extend_from_slice(
                    format!("-rw-r--r-- 1 u g 1 Jan 01 00:00 f{name}\r\n").as_bytes(),
                );
                name += 1;
            }
            if data.write_all(&chunk).await.is_err() {
                return;
            }
        }
        drop(data);
        let _ = control.write_all(b"226 Done.\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
}

/// `150`, then 64 MiB of file data.
fn huge_download(
    mut data: TcpStream,
    mut control: TcpStream,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _ = control.write_all(b"150 Here it comes.\r\n").await;
        let chunk = [0x5a; 64 * 1024];
        for _ in 0..1024 {
            if data.write_all(&chunk).await.is_err() {
                return;
            }
        }
        drop(data);
        let _ = control.write_all(b"226 Done.\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
}

/// `150`, then a byte every 200 ms: never idle for a 1 s data timeout, for at most 60 s.
fn data_trickle(
    mut data: TcpStream,
    mut control: TcpStream,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _ = control.write_all(b"150 Here it comes.\r\n").await;
        for _ in 0..300 {
            if data.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

const PLAIN_LIST: &str = "id: hostile\nabout: a\nreference: r\n\
    client: {connect: plain, tls: {verify: none}, data: {tls: \"off\"}, \
    timeouts: {reply: 1s, data: 1s}}\nsteps:\n  - list\n";

fn failure_at_step_1(result: &RunResult) -> &Failure {
    match &result.outcome {
        Outcome::Failed {
            step: 1, failure, ..
        } => failure,
        other => panic!("{other:?}\n{}", result.transcript.render()),
    }
}

#[tokio::test]
async fn a_150_and_then_no_data_is_a_hang_of_the_data_connection() {
    let port = data_server(|_data, mut control| {
        Box::pin(async move {
            let _ = control.write_all(b"150 Here it comes.\r\n").await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
    })
    .await;
    let result = run(port, PLAIN_LIST).await;
    assert!(
        matches!(failure_at_step_1(&result), Failure::Timeout { .. }),
        "{:?}",
        result.outcome
    );
}

#[tokio::test]
async fn a_data_connection_that_stalls_mid_listing_is_a_hang() {
    let port = data_server(|mut data, mut control| {
        Box::pin(async move {
            let _ = control.write_all(b"150 Here it comes.\r\n").await;
            let _ = data
                .write_all(b"-rw-r--r-- 1 ftp ftp 5 Jan 01 00:00 a.txt\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
    })
    .await;
    let result = run(port, PLAIN_LIST).await;
    assert!(
        matches!(failure_at_step_1(&result), Failure::Timeout { .. }),
        "{:?}",
        result.outcome
    );
}

#[tokio::test]
async fn a_reset_mid_transfer_breaks_the_data_connection() {
    let port = data_server(|data, mut control| {
        Box::pin(async move {
            let _ = control.write_all(b"150 Here it comes.\r\n").await;
            let mut data = data;
            let _ = data
                .write_all(b"-rw-r--r-- 1 ftp ftp 5 Jan 01 00:00 a.txt\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Linger zero: closing sends RST, not FIN.
            let _ = data.set_zero_linger();
            drop(data);
            tokio::time::sleep(Duration::from_secs(10)).await;
        })
    })
    .await;
    let result = run(port, PLAIN_LIST).await;
    match failure_at_step_1(&result) {
        Failure::Closed { channel, .. } => {
            assert_eq!(*channel, ftps_compat::transcript::Channel::Data)
        }
        other => panic!("{other:?}\n{}", result.transcript.render()),
    }
}

#[tokio::test]
async fn a_226_before_the_data_still_gets_the_data() {
    let port = data_server(|mut data, mut control| {
        Box::pin(async move {
            let _ = control
                .write_all(b"150 Here it comes.\r\n226 Done already.\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = data
                .write_all(b"-rw-r--r-- 1 ftp ftp 5 Jan 01 00:00 a.txt\r\n")
                .await;
            drop(data);
            // Answer QUIT.
            let mut lines = BufReader::new(control);
            let mut command = String::new();
            if lines.read_line(&mut command).await.unwrap_or(0) > 0 {
                let _ = lines.get_mut().write_all(b"221 bye\r\n").await;
            }
        })
    })
    .await;
    let result = run(port, PLAIN_LIST).await;
    assert_eq!(
        result.outcome,
        Outcome::Completed,
        "{}",
        result.transcript.render()
    );
    let text = result.transcript.render();
    assert!(text.contains("1 entries: [a.txt]"), "{text}");
}

#[tokio::test]
async fn data_that_trickles_in_ends_at_the_step_deadline() {
    let port = data_server(data_trickle).await;
    let scenario = "id: hostile\nabout: a\nreference: r\n\
        client: {connect: plain, tls: {verify: none}, data: {tls: \"off\"}, \
        timeouts: {reply: 1s, data: 1s, step: 2s}}\nsteps:\n  - list\n";
    let result = run(port, scenario).await;
    match failure_at_step_1(&result) {
        Failure::Timeout { waiting_for, .. } => {
            assert_eq!(waiting_for, "the step to finish (timeouts.step)")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        result
            .transcript
            .render()
            .contains("== timeout after 2s waiting for the step to finish (timeouts.step)")
    );
}

#[tokio::test]
async fn a_reset_in_the_middle_of_the_tls_handshake_breaks_the_control_connection() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if stream.write_all(b"220 ready\r\n").await.is_err() {
            return;
        }
        let mut lines = BufReader::new(stream);
        let mut command = String::new();
        if lines.read_line(&mut command).await.unwrap_or(0) == 0 {
            return;
        }
        let mut stream = lines.into_inner();
        if stream.write_all(b"234 go ahead\r\n").await.is_err() {
            return;
        }
        // Read the start of the ClientHello, then reset (linger zero: RST, not FIN).
        let mut hello = [0u8; 5];
        let _ = tokio::io::AsyncReadExt::read_exact(&mut stream, &mut hello).await;
        let _ = stream.set_zero_linger();
    });
    let scenario = "id: hostile\nabout: a\nreference: r\n\
        client: {connect: explicit, tls: {verify: none}, timeouts: {reply: 2s}}\nsteps:\n  - noop\n";
    let result = run(port, scenario).await;
    match &result.outcome {
        Outcome::Failed {
            step: 0,
            failure: Failure::Closed { channel, .. } | Failure::Tls { channel, .. },
            ..
        } => assert_eq!(*channel, ftps_compat::transcript::Channel::Control),
        other => panic!("{other:?}\n{}", result.transcript.render()),
    }
}

#[tokio::test]
async fn a_listing_of_a_million_names_shows_the_first_hundred_and_the_count() {
    let port = data_server(endless_listing).await;
    let scenario = "id: hostile\nabout: a\nreference: r\n\
        client: {connect: plain, tls: {verify: none}, data: {tls: \"off\"}, \
        timeouts: {reply: 5s, data: 5s}}\nsteps:\n  - list\n";
    let result = run(port, scenario).await;
    let text = result.transcript.render();
    assert_eq!(result.outcome, Outcome::Completed, "{text}");
    let listing = text
        .lines()
        .find(|l| l.starts_with("== data listing"))
        .expect("a listing line");
    let total: usize = listing
        .split_whitespace()
        .nth(4)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(total > 1_000_000, "{total}");
    assert!(
        listing.contains(" entries, the first 100 by name: [f0, f1, f10, f100, f1000, "),
        "{listing}"
    );
    assert!(listing.len() < 2000, "{} bytes", listing.len());
}

/// A misbehaving server, and the scenario the client plays against it.
struct Misbehaviour {
    name: &'static str,
    start: fn() -> Pin<Box<dyn Future<Output = u16> + Send>>,
    scenario: &'static str,
    /// The start of the CLI's `outcome:` line.
    outcome: &'static str,
}

const PLAIN_RETR: &str = "id: hostile\nabout: a\nreference: r\n\
    client: {connect: plain, tls: {verify: none}, data: {tls: \"off\"}, \
    timeouts: {reply: 2s, data: 2s}}\nsteps:\n  - retr: {path: big.bin, verify: false}\n";
const EXPLICIT_NOOP: &str = "id: hostile\nabout: a\nreference: r\n\
    client: {connect: explicit, tls: {verify: none}, timeouts: {reply: 1s}}\nsteps:\n  - noop\n";
const TRICKLE_LIST: &str = "id: hostile\nabout: a\nreference: r\n\
    client: {connect: plain, tls: {verify: none}, data: {tls: \"off\"}, \
    timeouts: {reply: 1s, data: 1s, step: 2s}}\nsteps:\n  - list\n";

fn on_control(behaviour: Behaviour) -> Pin<Box<dyn Future<Output = u16> + Send>> {
    Box::pin(async move { serve(behaviour).await.0 })
}

fn on_data(on_list: OnList) -> Pin<Box<dyn Future<Output = u16> + Send>> {
    Box::pin(data_server(on_list))
}

const MISBEHAVIOURS: &[Misbehaviour] = &[
    Misbehaviour {
        name: "multi-line reply without end",
        start: || on_control(endless_multi_line_reply),
        scenario: PLAIN_NOOP,
        outcome: "outcome: breaks at step 0",
    },
    Misbehaviour {
        name: "10 MiB multi-line reply",
        start: || on_control(ten_mib_multi_line_reply),
        scenario: PLAIN_NOOP,
        outcome: "outcome: breaks at step 0",
    },
    Misbehaviour {
        name: "150 every 200 ms",
        start: || on_control(preliminary_replies_forever),
        scenario: PLAIN_NOOP,
        outcome: "outcome: hangs at step 1",
    },
    Misbehaviour {
        name: "line without end",
        start: || on_control(endless_line),
        scenario: PLAIN_NOOP,
        outcome: "outcome: breaks at step 0",
    },
    Misbehaviour {
        name: "binary junk",
        start: || on_control(binary_junk),
        scenario: PLAIN_NOOP,
        outcome: "outcome: breaks at step 0",
    },
    Misbehaviour {
        name: "16 MiB of clear text after 234",
        start: || on_control(clear_text_flood_after_234),
        scenario: EXPLICIT_NOOP,
        outcome: "outcome: breaks at step 0",
    },
    Misbehaviour {
        name: "64 MiB listing",
        start: || on_data(endless_listing),
        scenario: PLAIN_LIST,
        outcome: "outcome: works",
    },
    Misbehaviour {
        name: "64 MiB download",
        start: || on_data(huge_download),
        scenario: PLAIN_RETR,
        outcome: "outcome: works",
    },
    Misbehaviour {
        name: "data at 5 bytes/s",
        start: || on_data(data_trickle),
        scenario: TRICKLE_LIST,
        outcome: "outcome: hangs at step 1",
    },
];

/// The CLI's peak RSS, in KiB, and its standard output, for one scenario against `port`.
#[expect(
    clippy::zombie_processes,
    reason = "wait4 reaps the child, and gives its own resource usage"
)]
fn run_cli(port: u16, scenario: &str) -> (u64, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hostile.yaml");
    std::fs::write(&file, scenario).expect("scenario written");
    let stdout = dir.path().join("stdout");
    let stderr = dir.path().join("stderr");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ftps-compat"))
        .args([
            "run",
            "--view",
            "scenarios",
            "--verbose",
            "--cell-timeout",
            "30s",
            "--target",
        ])
        .arg(format!("ftp://u:p@127.0.0.1:{port}"))
        .arg("--scenario")
        .arg(&file)
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("the CLI starts");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let mut text = std::fs::read_to_string(&stdout).expect("stdout read");
    // Shown when the outcome line is missing.
    text.push_str(&format!(
        "[exit status {status:#x}; stderr: {}]",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    ));
    (usage.ru_maxrss as u64, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_process_stays_under_64_mib_whatever_the_server_sends() {
    let mut runs = tokio::task::JoinSet::new();
    for case in MISBEHAVIOURS {
        let port = (case.start)().await;
        runs.spawn_blocking(move || (case, run_cli(port, case.scenario)));
    }
    let mut figures = Vec::new();
    while let Some(done) = runs.join_next().await {
        let (case, (peak_kib, stdout)) = done.expect("the run was measured");
        let outcome = stdout
            .lines()
            .map(str::trim_start)
            .find(|l| l.starts_with("outcome: "))
            .unwrap_or_else(|| panic!("{}: no outcome line in\n{stdout}", case.name));
        assert!(
            outcome.starts_with(case.outcome),
            "{}: {outcome}\n{stdout}",
            case.name
        );
        figures.push(format!(
            "{:>7.1} MiB  {}: {outcome}",
            peak_kib as f64 / 1024.0,
            case.name
        ));
        assert!(
            peak_kib <= 64 * 1024,
            "{}: peak RSS {peak_kib} KiB",
            case.name
        );
    }
    figures.sort();
    // Shown with --nocapture: the figures the issue asks for.
    eprintln!("peak RSS of the client process:\n{}", figures.join("\n"));
}
