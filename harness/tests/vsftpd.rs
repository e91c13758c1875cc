//! The first real run: the embedded client against a real vsftpd (Debian's package, native
//! backend), explicit and implicit, with vsftpd's own strict defaults.
//!
//! Needs root and vsftpd (ci/setup-debian.sh). Elsewhere the tests say why they skip; in CI
//! (CI set) a missing prerequisite is a failure, never a silent pass.

use std::path::{Path, PathBuf};

use ftps_compat::certs::Pki;
use ftps_compat::client::Failure;
use ftps_compat::runner::{self, Outcome, RunResult};
use ftps_compat::scenario::{self, Scenario};
use ftps_compat::servers::manifest::{Account, ServerSpec};
use ftps_compat::servers::native::{self, NativeServer};
use ftps_compat::transcript::normalize;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario(id: &str) -> Scenario {
    scenario::load_file(&repo().join("scenarios").join(format!("{id}.yaml")))
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn vsftpd() -> ServerSpec {
    ServerSpec::load(&repo().join("servers/vsftpd/manifest.yaml")).expect("vsftpd manifest")
}

/// None (with the reason printed) when this machine cannot run vsftpd natively.
fn prerequisites() -> Option<Account> {
    let missing = if !nix::unistd::Uid::effective().is_root() {
        Some("not root (vsftpd needs root to chroot and switch users)".to_string())
    } else {
        native::locate(&vsftpd()).err()
    };
    if let Some(reason) = missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the vsftpd tests: {reason}"
        );
        eprintln!("skipping: {reason}");
        return None;
    }
    Some(Account::load(&repo().join("servers/account.yaml")).expect("account"))
}

async fn start(profile: &str, pki: &Pki, account: &Account) -> NativeServer {
    native::start(&vsftpd(), profile, pki, account)
        .await
        .unwrap_or_else(|e| panic!("starting vsftpd {profile}: {e}"))
}

async fn run(server: &NativeServer, id: &str) -> RunResult {
    runner::run(&scenario(id), &server.endpoint)
        .await
        .expect("scenario runs")
}

fn assert_failed_with(result: &RunResult, step: usize, code: u16, text: &str) {
    let transcript = normalize(&result.transcript.render());
    match &result.outcome {
        Outcome::Failed {
            step: got_step,
            failure:
                Failure::Reply {
                    code: got,
                    text: got_text,
                },
            ..
        } => {
            assert_eq!((*got_step, *got), (step, code), "{transcript}");
            assert_eq!(got_text, text, "{transcript}");
        }
        other => panic!("expected {code} at step {step}, got {other}\n{transcript}"),
    }
}

fn count(transcript: &str, needle: &str) -> usize {
    transcript.lines().filter(|l| l.contains(needle)).count()
}

async fn strict_profile_cases(profile: &str) {
    let Some(account) = prerequisites() else {
        return;
    };
    let pki = Pki::generate().expect("pki");

    // Happy path: every data connection resumes the control session.
    let server = start(profile, &pki, &account).await;
    let happy = run(&server, "happy-path").await;
    let text = normalize(&happy.transcript.render());
    assert_eq!(happy.outcome, Outcome::Completed, "{text}");
    assert_eq!(count(&text, "== data tls "), 4, "{text}");
    assert_eq!(count(&text, "== data tls TLSv1.3"), 4, "{text}");
    assert_eq!(
        count(&text, " resumed alpn="),
        4,
        "every data handshake resumed:\n{text}"
    );
    assert!(
        text.contains("== data verify ok: 1048576 bytes match"),
        "{text}"
    );
    assert!(
        text.contains("== data listing (tls, close_notify) 1 entries: [upload.bin]"),
        "{text}"
    );
    assert!(text.contains("S< 226 Transfer complete."), "{text}");
    drop(server);

    // Without reuse: 522 after the full data handshake, and vsftpd hangs up.
    let server = start(profile, &pki, &account).await;
    let no_reuse = run(&server, "no-session-reuse").await;
    assert_failed_with(
        &no_reuse,
        5,
        522,
        "SSL connection failed: session reuse required",
    );
    let text = normalize(&no_reuse.transcript.render());
    assert!(
        text.contains("== data tls TLSv1.3 TLS13_AES_256_GCM_SHA384 full"),
        "{text}"
    );
    assert!(
        text.contains("== control closed"),
        "vsftpd closes the session:\n{text}"
    );
    drop(server);

    // No PROT P: refused before any data connection.
    let server = start(profile, &pki, &account).await;
    let no_prot = run(&server, "no-prot").await;
    assert_failed_with(&no_prot, 3, 522, "Data connections must be encrypted.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_strict() {
    strict_profile_cases("explicit-strict").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_strict() {
    strict_profile_cases("implicit-strict").await;
}

/// Two runs of one cell on fresh instances give byte-identical normalized transcripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalized_transcripts_are_stable() {
    let Some(account) = prerequisites() else {
        return;
    };
    let mut texts = Vec::new();
    for _ in 0..2 {
        let pki = Pki::generate().expect("pki");
        let server = start("explicit-strict", &pki, &account).await;
        let result = run(&server, "happy-path").await;
        assert_eq!(result.outcome, Outcome::Completed);
        texts.push(normalize(&result.transcript.render()));
    }
    assert_eq!(texts[0], texts[1]);
}

/// The instance's processes and directory are gone once the handle is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_server_kills_it_and_removes_its_files() {
    let Some(account) = prerequisites() else {
        return;
    };
    let pki = Pki::generate().expect("pki");
    let server = start("explicit-lax", &pki, &account).await;
    let pid = server.pid();
    let dir = server.instance_dir().to_owned();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} survived"
    );
    assert!(!dir.exists(), "{} survived", dir.display());
}
