//! TLS session binding, driven by a small rustls client: resumption of this control
//! connection's session passes, a full handshake or another control connection's session
//! gets the profile's refusal after the 150. TLS 1.3 tickets and TLS 1.2 session IDs/tickets.

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Connect, AUTH TLS, log in, PBSZ 0, PROT P.
async fn secure_session(addr: SocketAddr, cfg: Arc<ClientConfig>) -> Ftp {
    let (mut ftp, banner) = Ftp::connect(addr).await;
    assert!(banner.starts_with("220"), "{banner}");
    ftp.auth_tls(cfg).await;
    ftp.login().await;
    assert!(ftp.cmd("PBSZ 0").await.starts_with("200 "));
    assert!(ftp.cmd("PROT P").await.starts_with("200 "));
    ftp
}

/// EPSV + STOR, with the data connection's TLS made from `data_cfg`. The data connection is
/// opened right away (FileZilla 0.9 sends its 150 only once it is accepted).
/// Returns the two replies that follow the STOR.
async fn stor(ftp: &mut Ftp, data_cfg: Arc<ClientConfig>, name: &str) -> (String, String) {
    stor_with(ftp, data_cfg, name, &|| String::new()).await
}

async fn stor_with(
    ftp: &mut Ftp,
    data_cfg: Arc<ClientConfig>,
    name: &str,
    log: &dyn Fn() -> String,
) -> (String, String) {
    let addr = ftp.epsv().await;
    ftp.send(&format!("STOR {name}")).await;
    let upload = tokio::spawn(async move {
        let mut tls = data_tls(addr, data_cfg).await?;
        tls.write_all(b"payload").await?;
        tls.shutdown().await?;
        let mut rest = Vec::new();
        let _ = tls.read_to_end(&mut rest).await;
        Ok::<_, io::Error>(())
    });
    let first = ftp
        .reply_within(STEP)
        .await
        .unwrap_or_else(|| panic!("no reply to STOR\n{}", log()));
    let second = ftp
        .reply_within(STEP)
        .await
        .unwrap_or_else(|| panic!("no reply after `{first}`\n{}", log()));
    let _ = timeout(STEP, upload).await;
    (first, second)
}

fn refusal(profile_id: &str) -> &'static str {
    match profile_id {
        "fz-1.x" => {
            "425 Unable to build data connection: TLS session of data connection not resumed."
        }
        _ => {
            "450 TLS session of data connection has not resumed or the session does not match the control connection"
        }
    }
}

fn tls13() -> Arc<ClientConfig> {
    client_config(&[&rustls::version::TLS13])
}

fn tls12_tickets() -> Arc<ClientConfig> {
    client_config(&[&rustls::version::TLS12])
}

/// Each case: profile, a maker for client configs, the TLS version the log must show.
type Case = (&'static str, fn() -> Arc<ClientConfig>, &'static str);

const CASES: [Case; 4] = [
    ("fz-1.x", tls13, "TLSv1.3"),
    ("fz-1.x", tls12_tickets, "TLSv1.2"),
    ("fz-0.9", tls12_tickets, "TLSv1.2"),
    ("fz-0.9", client_config_session_ids, "TLSv1.2"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_session_of_this_control_connection_passes() {
    for (id, make, version) in CASES {
        let env = Env::start(profile(id)).await;
        let cfg = make();
        let mut ftp = secure_session(env.emu.explicit_addr(), cfg.clone()).await;
        for n in 0..3 {
            let (first, second) = stor(&mut ftp, cfg.clone(), &format!("f{n}")).await;
            assert!(
                first.starts_with("150 "),
                "{id} {version}: {first}\n{}",
                env.log_text()
            );
            assert!(
                second.starts_with("226 "),
                "{id} {version}: {second}\n{}",
                env.log_text()
            );
        }
        let log = env.log_text();
        assert_eq!(
            log.matches(&format!("data TLS {version}")).count(),
            3,
            "{id}: {log}"
        );
        assert_eq!(
            log.matches("resumed (this control connection's session)")
                .count(),
            3,
            "{id} {version}: {log}"
        );
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_handshake_on_data_is_refused_after_the_150() {
    for (id, make, version) in CASES {
        let env = Env::start(profile(id)).await;
        let mut ftp = secure_session(env.emu.explicit_addr(), make()).await;
        // A fresh client config has no session to offer.
        let log = || env.log_text();
        let (first, second) = stor_with(&mut ftp, make(), "f", &log).await;
        let what = format!("{id} {version}\n{}", env.log_text());
        assert!(first.starts_with("150 "), "{what}");
        assert_eq!(second, refusal(id), "{what}");
        // The control connection stays usable.
        assert!(ftp.cmd("NOOP").await.starts_with("200 "), "{what}");
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_of_another_control_connection_is_refused() {
    for (id, make, version) in CASES {
        let env = Env::start(profile(id)).await;
        let cfg_a = make();
        let cfg_b = make();
        // Control #1 leaves a resumable session in cfg_a's cache.
        let mut a = secure_session(env.emu.explicit_addr(), cfg_a.clone()).await;
        let mut b = secure_session(env.emu.explicit_addr(), cfg_b).await;
        // Control #2's data connection offers control #1's session.
        let (first, second) = stor(&mut b, cfg_a.clone(), "f").await;
        let log = env.log_text();
        let what = format!("{id} {version}\n{log}");
        assert!(first.starts_with("150 "), "{what}");
        assert_eq!(second, refusal(id), "{what}");
        assert!(
            log.contains(&format!("data TLS {version}"))
                && log.contains("resumed (session of control #1, not #2)"),
            "{what}"
        );
        assert!(
            log.contains("refused: data TLS session belongs to another control connection"),
            "{what}"
        );
        // Both control connections carry on.
        assert!(a.cmd("NOOP").await.starts_with("200 "), "{what}");
        assert!(b.cmd("NOOP").await.starts_with("200 "), "{what}");
        env.emu.shutdown().await;
    }
}
