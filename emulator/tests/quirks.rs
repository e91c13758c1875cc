//! Profile quirks seen on the wire: the 2009 implicit-FTPS case, reply texts, timeouts,
//! and the emulator's lifecycle (nothing outlives it).

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ftps_emulator::Profile;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn cfg() -> Arc<ClientConfig> {
    client_config(rustls::ALL_VERSIONS)
}

/// Implicit connection, logged in, without PBSZ/PROT ("implicit means encrypted").
async fn implicit_session(env: &Env, cfg: Arc<ClientConfig>) -> Ftp {
    let (mut ftp, banner) = Ftp::connect_implicit(env.emu.implicit_addr(), cfg).await;
    assert!(banner.starts_with("220"), "{banner}");
    ftp.login().await;
    assert!(ftp.cmd("TYPE I").await.starts_with("200 "));
    ftp
}

/// The 2009 client: STOR over an implicit connection with no PROT P, but TLS on the data
/// channel. The data connection is opened right after EPSV (before the 150 for 0.9, which
/// sends it on accept; after the 150 for 1.x, which sends it at once).
async fn upload_2009(
    ftp: &mut Ftp,
    cfg: Arc<ClientConfig>,
    connect_after_150: bool,
) -> Vec<String> {
    let addr = ftp.epsv().await;
    ftp.send("STOR up.bin").await;
    let connect = move || async move {
        let mut tls = data_tls(addr, cfg).await?;
        tls.write_all(b"data").await?;
        tls.shutdown().await?;
        Ok::<_, io::Error>(())
    };
    let mut replies = Vec::new();
    let task = if connect_after_150 {
        let r = ftp.reply().await;
        let go = r.starts_with("150");
        replies.push(r);
        go.then(|| tokio::spawn(connect()))
    } else {
        Some(tokio::spawn(connect()))
    };
    // Collect replies until the server has said its last word on this transfer.
    if replies.last().is_none_or(|r| r.starts_with("150")) {
        while let Some(r) = ftp.reply_within(Duration::from_secs(8)).await {
            let done = r.is_empty() || !r.starts_with("150");
            if !r.is_empty() {
                replies.push(r);
            }
            if done {
                break;
            }
        }
    }
    if let Some(task) = task {
        let _ = timeout(STEP, task).await;
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2009_client_on_each_profile() {
    // fz-0.9.33: the text from the 2009 report, before any data connection.
    let env = Env::start(profile("fz-0.9.33")).await;
    let mut ftp = implicit_session(&env, cfg()).await;
    ftp.epsv().await;
    assert_eq!(ftp.cmd("STOR up.bin").await, "550 PROT P Required");
    env.emu.shutdown().await;

    // fz-0.9: Force PROT P's 521.
    let env = Env::start(profile("fz-0.9")).await;
    let c = cfg();
    let mut ftp = implicit_session(&env, c.clone()).await;
    ftp.epsv().await;
    assert_eq!(ftp.cmd("STOR up.bin").await, "521 PROT P required");
    // The same client with the fix: PBSZ 0 + PROT P after login.
    assert_eq!(ftp.cmd("PBSZ 0").await, "200 PBSZ=0");
    assert_eq!(ftp.cmd("PROT P").await, "200 Protection level set to P");
    let replies = upload_2009(&mut ftp, c, false).await;
    assert_eq!(
        replies,
        [
            "150 Opening data channel for file upload to server of \"/up.bin\"",
            "226 Successfully transferred \"/up.bin\""
        ],
        "{}",
        env.log_text()
    );
    env.emu.shutdown().await;

    // fz-1.x: 150, then the PROT C refusal.
    let env = Env::start(profile("fz-1.x")).await;
    let c = cfg();
    let mut ftp = implicit_session(&env, c.clone()).await;
    let replies = upload_2009(&mut ftp, c.clone(), true).await;
    assert_eq!(
        replies,
        [
            "150 About to start data transfer.",
            "425 Error while transfering data: PROT C is not allowed when the control connection is secure. Use PROT P."
        ],
        "{}",
        env.log_text()
    );
    assert!(ftp.cmd("PROT P").await.starts_with("200 "));
    let replies = upload_2009(&mut ftp, c, true).await;
    assert_eq!(
        replies,
        [
            "150 About to start data transfer.",
            "226 Operation successful"
        ],
        "{}",
        env.log_text()
    );
    env.emu.shutdown().await;
}

/// fz-0.9-noforce: the server stores the ClientHello as file data and waits; the client's
/// handshake waits too. With the transfer timeout shortened to 2 s the server gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2009_hang_on_fz_09_noforce() {
    let mut p = profile("fz-0.9-noforce");
    p.timeouts_mut().transfer_idle.secs = 2;
    let env = Env::start(p).await;
    let mut ftp = implicit_session(&env, cfg()).await;
    let addr = ftp.epsv().await;
    ftp.send("STOR up.bin").await;
    let client = tokio::spawn(async move {
        // The client's side of the hang: its TLS handshake never gets an answer.
        timeout(Duration::from_secs(10), data_tls(addr, cfg())).await
    });
    let first = ftp.reply().await;
    assert_eq!(
        first,
        "150 Opening data channel for file upload to server of \"/up.bin\""
    );
    // Nothing for a while: both sides wait.
    assert_eq!(ftp.reply_within(Duration::from_millis(1200)).await, None);
    assert_eq!(
        ftp.reply().await,
        "426 Connection timed out, aborting transfer of \"/up.bin\""
    );
    assert_eq!(ftp.reply().await, "421 Connection timed out.");
    assert_eq!(ftp.reply().await, "", "control connection closed");
    let handshake = timeout(STEP, client).await.unwrap().unwrap();
    assert!(
        !matches!(handshake, Ok(Ok(_))),
        "the client's data TLS handshake must not succeed"
    );
    // The file holds the client's TLS ClientHello record, stored as data.
    let stored = std::fs::read(env.dir.path().join("root/session-1/up.bin")).unwrap();
    assert!(stored.len() > 5, "{stored:?}");
    assert_eq!(&stored[..2], &[0x16, 0x03], "a TLS handshake record");
    assert_eq!(stored[5], 0x01, "ClientHello");
    env.emu.shutdown().await;
}

/// Replies that differ between the profiles, on a fresh explicit connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_replies_per_profile() {
    let env = Env::start(profile("fz-0.9")).await;
    let (mut ftp, banner) = Ftp::connect(env.emu.explicit_addr()).await;
    assert_eq!(
        banner,
        "220-FileZilla Server 0.9.60 beta\n220-written by Tim Kosse (tim.kosse@filezilla-project.org)\n220 Please visit https://filezilla-project.org/"
    );
    assert_eq!(
        ftp.cmd("PBSZ 0").await,
        "502 Command not implemented for this authentication type"
    );
    assert_eq!(
        ftp.cmd("PROT P").await,
        "502 Command not implemented for this authentication type"
    );
    assert_eq!(
        ftp.cmd("CCC").await,
        "500 Syntax error, command unrecognized."
    );
    assert_eq!(ftp.cmd("SYST").await, "215 UNIX emulated by FileZilla");
    assert_eq!(ftp.cmd("AUTH TLS-C").await, "504 Auth type not supported");
    let feat = ftp.cmd("FEAT").await;
    assert!(
        feat.starts_with("211-Features:\n MDTM\n") && feat.ends_with("\n EPRT\n211 End"),
        "{feat}"
    );
    // 0.9 allows a plain login by default ("Force explicit SSL" off).
    ftp.login().await;
    assert_eq!(
        ftp.cmd("CWD ..").await,
        "550 CWD failed. \"..\": directory not found."
    );
    assert_eq!(
        ftp.cmd("SIZE ../../etc/passwd").await,
        "550 Filename invalid."
    );
    assert_eq!(ftp.cmd("MKD ../escape").await, "550 Filename invalid.");
    assert!(!env.dir.path().join("root/escape").exists());
    assert_eq!(
        ftp.cmd("MKD sub").await,
        "257 \"/sub\" created successfully"
    );
    assert_eq!(
        ftp.cmd("CWD sub").await,
        "250 CWD successful. \"/sub\" is current directory."
    );
    assert_eq!(ftp.cmd("PWD").await, "257 \"/sub\" is current directory.");
    assert!(
        ftp.cmd("EPSV ALL")
            .await
            .starts_with("229 Entering Extended Passive Mode (|||")
    );
    ftp.auth_tls(cfg()).await;
    assert_eq!(
        ftp.cmd("PROT C").await,
        "534 This server requires an encrypted data connection with PROT P"
    );
    assert_eq!(
        ftp.cmd("PROT S").await,
        "504 Protection level S not supported"
    );
    assert_eq!(
        ftp.cmd("PROT x").await,
        "504 Protection level X not recognized"
    );
    assert_eq!(
        ftp.cmd("AUTH TLS").await,
        "534 Authentication type already set to TLS"
    );
    env.emu.shutdown().await;

    let env = Env::start(profile("fz-0.9-noforce")).await;
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(cfg()).await;
    assert_eq!(ftp.cmd("PROT C").await, "200 Protection level set to C");
    env.emu.shutdown().await;

    let env = Env::start(profile("fz-1.x")).await;
    let (mut ftp, banner) = Ftp::connect(env.emu.explicit_addr()).await;
    assert_eq!(
        banner,
        "220-FileZilla Server 1.9.4\n220 Please visit https://filezilla-project.org/"
    );
    assert_eq!(ftp.cmd("USER alice").await, "503 Use AUTH first.");
    assert_eq!(
        ftp.cmd("PBSZ 0").await,
        "502 Command PBSZ not implemented for this authentication type"
    );
    assert_eq!(ftp.cmd("SYST").await, "215 UNIX emulated by FileZilla.");
    ftp.auth_tls(cfg()).await;
    assert_eq!(ftp.cmd("CCC").await, "500 Wrong command.");
    ftp.login().await;
    assert_eq!(
        ftp.cmd("PROT C").await,
        "534 Protection level C not allowed"
    );
    assert_eq!(
        ftp.cmd("PROT S").await,
        "536 Protection level S not supported"
    );
    assert_eq!(ftp.cmd("PROT x").await, "504 Unknown protection level");
    assert_eq!(ftp.cmd("LIST").await, "425 Use PORT, PASV or EPSV first.");
    assert_eq!(
        ftp.cmd("EPSV ALL").await,
        "200 EPSV ALL command successful."
    );
    assert_eq!(
        ftp.cmd("PASV").await,
        "500 Illegal PASV command, EPSV ALL in effect."
    );
    assert_eq!(ftp.cmd("LIST").await, "425 Use EPSV first.");
    assert_eq!(ftp.cmd("CWD ..").await, "550 Couldn't open the directory");
    let feat = ftp.cmd("FEAT").await;
    assert!(
        feat.contains("\n MLST type*;size*;modify*;perm*;\n") && feat.ends_with("\n MFMT\n211 End"),
        "{feat}"
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_auth_is_refused_and_closed() {
    for (id, text) in [
        (
            "fz-0.9",
            "503 Bad sequence of commands. Received additional data after the AUTH command before this reply could be sent.",
        ),
        ("fz-1.x", "503 Spurious data after AUTH command."),
    ] {
        let env = Env::start(profile(id)).await;
        let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
        ftp.conn
            .write_all(b"AUTH TLS\r\nUSER alice\r\n")
            .await
            .unwrap();
        assert_eq!(ftp.reply().await, text, "{id}");
        assert_eq!(ftp.reply().await, "", "{id}: connection closed");
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fz1_closes_after_five_prelogin_5xx() {
    let env = Env::start(profile("fz-1.x")).await;
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    for _ in 0..4 {
        assert_eq!(ftp.cmd("USER alice").await, "503 Use AUTH first.");
    }
    assert_eq!(ftp.cmd("FEAT").await.lines().last(), Some("211 End"));
    for _ in 0..5 {
        assert_eq!(ftp.cmd("XYZ").await, "500 Wrong command.");
    }
    assert_eq!(
        ftp.reply().await,
        "",
        "closed after the 5th consecutive 5xx"
    );
    // HTTP on the control port: a 501 and a close.
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    assert_eq!(
        ftp.cmd("GET / HTTP/1.1").await,
        "501 What are you trying to do? Go away."
    );
    assert_eq!(ftp.reply().await, "");
    env.emu.shutdown().await;
}

/// A data connection that never comes: FileZilla 0.9 gives up after 10 s (2 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_connection_that_never_comes_times_out() {
    let mut p = profile("fz-0.9");
    p.timeouts_mut().data_connect.secs = 1;
    let env = Env::start(p).await;
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(cfg()).await;
    ftp.login().await;
    assert!(ftp.cmd("PROT P").await.starts_with("200 "));
    ftp.epsv().await;
    assert_eq!(
        ftp.cmd("LIST").await,
        "425 Can't open data connection for transfer of \"/\""
    );
    assert!(ftp.cmd("NOOP").await.starts_with("200 "));
    env.emu.shutdown().await;

    let mut p = profile("fz-1.x");
    p.timeouts_mut().data_connect.secs = 1;
    let env = Env::start(p).await;
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(cfg()).await;
    ftp.login().await;
    assert!(ftp.cmd("PROT P").await.starts_with("200 "));
    ftp.epsv().await;
    assert_eq!(ftp.cmd("LIST").await, "150 About to start data transfer.");
    assert_eq!(ftp.reply().await, "421 Activity timeout.");
    assert_eq!(ftp.reply().await, "");
    env.emu.shutdown().await;
}

/// PORT to a non-loopback address is refused; the emulator never connects there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_outside_loopback_is_refused() {
    let env = Env::start(profile("fz-0.9")).await;
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.login().await;
    assert_eq!(
        ftp.cmd("PORT 10,0,0,1,4,1").await,
        "421 Rejected command, requested IP address does not match control connection IP."
    );
    assert_eq!(
        ftp.cmd("PORT 127,0,0,1,4,1").await,
        "200 Port command successful"
    );
    env.emu.shutdown().await;

    let env = Env::start(profile("fz-1.x")).await;
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(cfg()).await;
    ftp.login().await;
    assert_eq!(
        ftp.cmd("EPRT |1|192.0.2.1|1025|").await,
        "500 Illegal EPRT command."
    );
    assert_eq!(
        ftp.cmd("EPRT |1|127.0.0.1|1025|").await,
        "200 EPRT command successful."
    );
    env.emu.shutdown().await;
}

/// Active mode (PORT): the server connects to the client and is the TLS server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_mode_transfer_resumes() {
    for id in ["fz-0.9", "fz-1.x"] {
        let env = Env::start(profile(id)).await;
        let cfg = cfg();
        let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
        ftp.auth_tls(cfg.clone()).await;
        ftp.login().await;
        assert!(ftp.cmd("PROT P").await.starts_with("200 "));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = ftp
            .cmd(&format!("PORT 127,0,0,1,{},{}", port / 256, port % 256))
            .await;
        assert!(r.starts_with("200 "), "{r}");
        ftp.send("LIST").await;
        assert!(ftp.reply().await.starts_with("150 "));
        let (tcp, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        let mut tls = timeout(
            STEP,
            tokio_rustls::TlsConnector::from(cfg).connect(server_name(), tcp),
        )
        .await
        .unwrap()
        .unwrap();
        let mut listing = Vec::new();
        let _ = tls.read_to_end(&mut listing).await;
        assert!(ftp.reply().await.starts_with("226 "), "{}", env.log_text());
        assert!(
            env.log_text()
                .contains("resumed (this control connection's session)")
        );
        env.emu.shutdown().await;
    }
}

/// A profile file with an unknown key does not load, and the error names file:line:column.
#[test]
fn profile_errors_name_the_location() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(profiles_dir().join("fz-1.x.yaml")).unwrap();
    let bad = text.replacen("control:\n", "control:\n  force_ssl: yes\n", 1);
    let path = dir.path().join("fz-bad.yaml");
    std::fs::write(&path, bad).unwrap();
    let err = Profile::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:", path.display())) && err.contains("force_ssl"),
        "{err}"
    );
    let loc: Vec<&str> = err.splitn(4, ':').collect();
    assert!(loc[1].parse::<u32>().unwrap() > 1 && loc[2] == "3", "{err}");
    assert!(Profile::load_dir(dir.path()).is_err());
}

/// Dropping the emulator (without `shutdown`) closes listeners and sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_stops_everything() {
    let env = Env::start(profile("fz-1.x")).await;
    let explicit = env.emu.explicit_addr();
    let implicit = env.emu.implicit_addr();
    let (mut ftp, _) = Ftp::connect(explicit).await;
    ftp.auth_tls(cfg()).await;
    ftp.login().await;
    assert!(ftp.cmd("PROT P").await.starts_with("200 "));
    let data: SocketAddr = ftp.epsv().await;
    let Env { emu, dir, .. } = env;
    drop(emu);
    // The session ends (EOF on control), and nothing listens any more.
    assert_eq!(ftp.reply().await, "");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for addr in [explicit, implicit, data] {
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts connections"
        );
    }
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_everything() {
    let env = Env::start(profile("fz-0.9")).await;
    let explicit = env.emu.explicit_addr();
    let (mut ftp, _) = Ftp::connect(explicit).await;
    env.emu.shutdown().await;
    assert_eq!(ftp.reply().await, "");
    assert!(TcpStream::connect(explicit).await.is_err());
}

/// fz-1.x's own ALPN: PROT P at login, and `ftp-data` is then mandatory on data connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filezilla_alpn_sets_prot_p_and_requires_ftp_data() {
    let env = Env::start(profile("fz-1.x")).await;
    let with_alpn = |protos: &[&str]| {
        let mut c = (*cfg()).clone();
        c.alpn_protocols = protos.iter().map(|p| p.as_bytes().to_vec()).collect();
        Arc::new(c)
    };
    let control = with_alpn(&["x-filezilla-ftp"]);
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(control.clone()).await;
    ftp.login().await; // no PBSZ/PROT: x-filezilla-ftp turned PROT P on
    for (data_alpn, expected) in [
        (vec!["ftp-data"], "226 Operation successful"),
        (
            vec![],
            "425 Unable to build data connection: No or wrong ALPN on data connection",
        ),
    ] {
        // Same session cache, different ALPN offer on the data connection.
        let mut data_cfg = (*control).clone();
        data_cfg.alpn_protocols = data_alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let data_cfg = Arc::new(data_cfg);
        let addr = ftp.epsv().await;
        ftp.send("LIST").await;
        assert_eq!(ftp.reply().await, "150 About to start data transfer.");
        let reader = tokio::spawn(async move {
            let mut tls = data_tls(addr, data_cfg).await?;
            let mut v = Vec::new();
            tls.read_to_end(&mut v).await?;
            Ok::<_, io::Error>(())
        });
        assert_eq!(ftp.reply().await, expected, "{}", env.log_text());
        let _ = timeout(STEP, reader).await;
    }
    // A client offering only other protocols gets no ALPN, not a handshake failure.
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(with_alpn(&["h2"])).await;
    ftp.login().await;
    assert!(env.log_text().contains("full alpn=-"));
    env.emu.shutdown().await;
}

/// Garbage on the control connection never takes the server down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_survived() {
    let env = Env::start(profile("fz-0.9")).await;
    // Binary junk and non-UTF-8 command names.
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.conn.write_all(b"\xff\xfe\x00junk\r\n").await.unwrap();
    assert_eq!(ftp.reply().await, "500 Syntax error, command unrecognized.");
    ftp.conn.write_all(b"USER \xc3\x28\r\n").await.unwrap();
    assert!(ftp.reply().await.starts_with("331 "));
    // An endless line: the server drops the connection.
    let _ = ftp.conn.write_all(&vec![b'A'; 64 * 1024]).await;
    assert_eq!(ftp.reply().await, "");
    // Plain text on the implicit port: the TLS handshake fails, the connection closes.
    let mut tcp = TcpStream::connect(env.emu.implicit_addr()).await.unwrap();
    tcp.write_all(b"USER alice\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = timeout(STEP, tcp.read_to_end(&mut buf)).await.unwrap();
    // The server still serves.
    let (_, banner) = Ftp::connect(env.emu.explicit_addr()).await;
    assert!(banner.starts_with("220-"));
    env.emu.shutdown().await;
}

/// fz-0.9-custom-pasv-ip: PASV names the custom (non-loopback) address, but the listener is
/// on the control connection's local address, where a client that ignores the PASV host
/// connects. No traffic goes to the named address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_pasv_ip_is_named_but_not_listened_on() {
    let env = Env::start(profile("fz-0.9-custom-pasv-ip")).await;
    let cfg = cfg();
    let (mut ftp, _) = Ftp::connect(env.emu.explicit_addr()).await;
    ftp.auth_tls(cfg.clone()).await;
    ftp.login().await;
    assert!(ftp.cmd("PBSZ 0").await.starts_with("200 "));
    assert!(ftp.cmd("PROT P").await.starts_with("200 "));
    let reply = ftp.cmd("PASV").await;
    assert!(
        reply.starts_with("227 Entering Passive Mode (203,0,113,7,"),
        "{reply}"
    );
    let numbers: Vec<u16> = reply
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .rsplit(',')
        .take(2)
        .map(|n| {
            n.trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap()
        })
        .collect();
    let port = numbers[1] * 256 + numbers[0];
    let local = SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = timeout(STEP, TcpStream::connect(local))
        .await
        .unwrap()
        .unwrap();
    ftp.send("LIST").await;
    let mut tls = timeout(
        STEP,
        tokio_rustls::TlsConnector::from(cfg.clone()).connect(server_name(), tcp),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(ftp.reply().await.starts_with("150 "));
    let mut listing = Vec::new();
    let _ = tls.read_to_end(&mut listing).await;
    assert!(ftp.reply().await.starts_with("226 "), "{}", env.log_text());
    // Without the custom address, fz-0.9 names the local address.
    let env2 = Env::start(profile("fz-0.9")).await;
    let (mut ftp2, _) = Ftp::connect(env2.emu.explicit_addr()).await;
    ftp2.auth_tls(cfg).await;
    ftp2.login().await;
    let reply = ftp2.cmd("PASV").await;
    assert!(
        reply.starts_with("227 Entering Passive Mode (127,0,0,1,"),
        "{reply}"
    );
    env.emu.shutdown().await;
    env2.emu.shutdown().await;
}
