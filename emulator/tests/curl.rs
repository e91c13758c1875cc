//! Drive the emulator with curl (OpenSSL), a client we did not write.

mod common;

use common::*;

/// Upload, download and list in one curl run (one control connection, so one session root),
/// then check the content and that the data connections resumed this control session.
async fn happy_path(profile_id: &str, implicit: bool, extra: &[&str], version: &str) {
    let env = Env::start(profile(profile_id)).await;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let up = env.dir.path().join("up.bin");
    let down = env.dir.path().join("down.bin");
    std::fs::write(&up, &payload).unwrap();
    let base = if implicit {
        format!("ftps://127.0.0.1:{}", env.emu.implicit_addr().port())
    } else {
        format!("ftp://127.0.0.1:{}", env.emu.explicit_addr().port())
    };
    let mut common = env.curl_base();
    if !implicit {
        common.push("--ssl-reqd".into());
    }
    common.extend(extra.iter().map(|s| s.to_string()));
    let mut args = common.clone();
    args.extend([
        "-T".into(),
        up.display().to_string(),
        format!("{base}/up.bin"),
    ]);
    args.push("--next".into());
    args.extend(common.clone());
    args.extend([
        "-o".into(),
        down.display().to_string(),
        format!("{base}/up.bin"),
    ]);
    args.push("--next".into());
    args.extend(common);
    args.push(format!("{base}/"));
    let run = curl(&args).await;
    let what = format!(
        "{profile_id} {}",
        if implicit { "implicit" } else { "explicit" }
    );
    expect_curl(&run, true, &what);

    assert_eq!(
        std::fs::read(&down).unwrap(),
        payload,
        "{what}: download differs"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.ends_with(" up.bin") && l.contains(" 300000 ")),
        "{what}: listing lacks up.bin:\n{}",
        run.stdout
    );
    let log = env.log_text();
    assert_eq!(
        log.matches("connection from").count() - log.matches("data connection from").count(),
        1,
        "{what}: curl should reuse one control connection\n{log}"
    );
    let resumed = log
        .matches("resumed (this control connection's session)")
        .count();
    assert!(
        resumed >= 3,
        "{what}: {resumed} resumed data handshakes\n{log}"
    );
    assert!(
        !log.contains("refused"),
        "{what}: unexpected refusal\n{log}"
    );
    assert!(
        log.contains(&format!("control TLS {version}"))
            && log.contains(&format!("data TLS {version}")),
        "{what}: expected {version}\n{log}"
    );
    env.emu.shutdown().await;
}

/// The 0.9 profiles speak TLS 1.2 only (see the profile files), 1.x prefers 1.3.
fn default_version(profile_id: &str) -> &'static str {
    if profile_id == "fz-1.x" {
        "TLSv1.3"
    } else {
        "TLSv1.2"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_happy_path_on_every_profile() {
    for id in PROFILES {
        happy_path(id, false, &[], default_version(id)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_happy_path_on_every_profile() {
    for id in PROFILES {
        happy_path(id, true, &[], default_version(id)).await;
    }
}

/// TLS 1.2 resumption on fz-1.x (which also speaks 1.3). OpenSSL resumes with a ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_only_reuse_works() {
    happy_path("fz-1.x", false, &["--tls-max", "1.2"], "TLSv1.2").await;
    happy_path("fz-1.x", true, &["--tls-max", "1.2"], "TLSv1.2").await;
}

/// Replies that may carry the refusal when curl's data connection does not resume.
///
/// curl 7.88 starts the data TLS handshake right after the TCP connect, before it sends the
/// transfer command, so the refusal can happen before the command arrives:
/// - FileZilla 0.9 (TLS 1.2 here) then sends its 450 at once, unsolicited; curl reads it as
///   the reply to its next command.
/// - FileZilla 1.x drops the data setup and the command gets `425 Use PORT, PASV or EPSV
///   first.` (server-quirks.md line 190, derived). With TLS 1.3 the server sees the client's
///   Finished only after curl may already have sent the command, so which of the two 425s
///   curl gets depends on timing, as with the real server.
///
/// The after-the-150 path is pinned down by `session_reuse.rs`.
fn reuse_refusals(profile_id: &str) -> &'static [&'static str] {
    match profile_id {
        "fz-1.x" => &[
            "425 Unable to build data connection: TLS session of data connection not resumed.",
            "425 Use PORT, PASV or EPSV first.",
        ],
        _ => &[
            "450 TLS session of data connection has not resumed or the session does not match the control connection",
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sessionid_gets_the_reuse_refusal() {
    for id in PROFILES {
        for implicit in [false, true] {
            let env = Env::start(profile(id)).await;
            let up = env.dir.path().join("small.txt");
            std::fs::write(&up, b"hello\n").unwrap();
            let mut args = env.curl_base();
            args.extend([
                "--no-sessionid".into(),
                "-T".into(),
                up.display().to_string(),
            ]);
            let url = if implicit {
                format!(
                    "ftps://127.0.0.1:{}/small.txt",
                    env.emu.implicit_addr().port()
                )
            } else {
                args.push("--ssl-reqd".into());
                format!(
                    "ftp://127.0.0.1:{}/small.txt",
                    env.emu.explicit_addr().port()
                )
            };
            args.push(url);
            let run = curl(&args).await;
            let what = format!("{id} implicit={implicit}\n{}", env.log_text());
            expect_curl(&run, false, &what);
            let expected = reuse_refusals(id);
            let lines = server_lines(&run.stderr);
            assert!(
                lines.iter().any(|l| expected.contains(&l.as_str())),
                "{what}\nnone of {expected:?} in curl's output:\n{}",
                run.stderr
            );
            let log = env.log_text();
            assert!(
                log.contains("data TLS TLSv1.") && log.contains(" full alpn="),
                "{what}"
            );
            assert!(
                log.contains("refused: data TLS session did not resume the control session"),
                "{what}"
            );
            env.emu.shutdown().await;
        }
    }
}

/// TLS 1.2 resumption by session ID only: tickets off on the server, so OpenSSL must
/// resume by ID, and the per-control binding of session IDs is what is tested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_session_ids_bind_to_the_control_connection() {
    let text = std::fs::read_to_string(profiles_dir().join("fz-0.9.yaml")).unwrap();
    let text = text.replacen("stateless_tickets: true", "stateless_tickets: false", 1);
    let p = ftps_emulator::Profile::parse(std::path::Path::new("fz-0.9-ids.yaml"), &text).unwrap();
    let env = Env::start(p).await;
    let mut args = env.curl_base();
    args.extend([
        "--ssl-reqd".into(),
        "--tls-max".into(),
        "1.2".into(),
        format!("ftp://127.0.0.1:{}/", env.emu.explicit_addr().port()),
    ]);
    let run = curl(&args).await;
    expect_curl(&run, true, "session IDs");
    let log = env.log_text();
    assert!(
        log.contains("data TLS TLSv1.2")
            && log.contains("resumed (this control connection's session)"),
        "{log}"
    );
    env.emu.shutdown().await;
}
