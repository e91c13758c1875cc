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

#[tokio::test]
async fn a_multi_line_reply_that_never_ends_is_cut_at_its_size_limit() {
    let (port, written) = serve(|mut stream, written| {
        Box::pin(async move {
            if !write(&mut stream, b"220-welcome\r\n", &written).await {
                return;
            }
            let line = [b"220-".as_slice(), &[b'x'; 1000], b"\r\n"].concat();
            // At most 64 MiB: far beyond the client's 1 MiB limit.
            for _ in 0..64 * 1024 {
                if !write(&mut stream, &line, &written).await {
                    return;
                }
            }
        })
    })
    .await;
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
async fn a_stream_of_preliminary_replies_does_not_extend_the_wait() {
    let (port, written) = serve(|mut stream, written| {
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
            // A 150 every 200 ms, for at most 30 s.
            for _ in 0..150 {
                if !write(&mut stream, b"150 still working\r\n", &written).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    })
    .await;
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
    let (port, written) = serve(|mut stream, written| {
        Box::pin(async move {
            // 220 and then no end of line, for at most 64 MiB.
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
    })
    .await;
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

/// What a data server does once LIST arrived: with the accepted data connection, and the
/// control connection to reply on.
type OnList = fn(TcpStream, TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// A plain FTP server whose EPSV offers a data port and whose LIST runs `on_list`; other
/// commands get 200 (QUIT 221). At most 20 commands.
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
            } else if command.starts_with("LIST") {
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
    let port = data_server(|mut data, mut control| {
        Box::pin(async move {
            let _ = control.write_all(b"150 Here it comes.\r\n").await;
            // A byte every 200 ms, never idle for the 1 s data timeout, for at most 60 s.
            for _ in 0..300 {
                if data.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    })
    .await;
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
