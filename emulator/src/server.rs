//! The two listeners (explicit and implicit) and the emulator's lifetime.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::log::EventLog;
use crate::profile::Profile;
use crate::session::{self, Listener};
use crate::tls::TlsContext;

/// How to start an [`Emulator`].
pub struct EmulatorOptions {
    pub profile: Profile,
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Accepted `(user, password)` pairs.
    pub users: Vec<(String, String)>,
    /// Base directory of the sessions' files.
    pub root: PathBuf,
    pub roots: Roots,
}

/// Where each control session's files live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// A fresh `session-<n>` below the base: sessions never see each other's files (the
    /// matrix, where every cell starts from nothing).
    PerSession,
    /// The base itself, as a real server's home directory (`serve`).
    Shared,
}

/// State every session shares.
pub(crate) struct Shared {
    pub profile: Profile,
    pub tls: Arc<TlsContext>,
    pub users: Vec<(String, String)>,
    pub root: PathBuf,
    pub roots: Roots,
    pub log: EventLog,
    next_id: AtomicU64,
}

/// A running FileZilla-like server on 127.0.0.1. Dropping it aborts every task.
pub struct Emulator {
    explicit: SocketAddr,
    implicit: SocketAddr,
    log: EventLog,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Bind both listeners on 127.0.0.1 with OS-assigned ports and start serving.
    pub async fn start(opts: EmulatorOptions) -> io::Result<Emulator> {
        let tls = TlsContext::new(&opts.profile, opts.cert_chain, opts.key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // Checked before any await: a start cancelled midway must not leave a blocking
        // create_dir_all behind that brings back a folder its owner has just removed.
        if !opts.root.is_dir() {
            std::fs::create_dir_all(&opts.root)?;
        }
        let log = EventLog::default();
        let explicit = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let implicit = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let explicit_addr = explicit.local_addr()?;
        let implicit_addr = implicit.local_addr()?;
        log.push(format!(
            "[server] {} (FileZilla Server {}) explicit {} implicit {}",
            opts.profile.id(),
            opts.profile.version(),
            explicit_addr,
            implicit_addr
        ));
        let shared = Arc::new(Shared {
            profile: opts.profile,
            tls: Arc::new(tls),
            users: opts.users,
            root: opts.root,
            roots: opts.roots,
            log: log.clone(),
            next_id: AtomicU64::new(1),
        });
        let (stop, stop_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(accept_loop(
                explicit,
                Listener::Explicit,
                shared.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(accept_loop(implicit, Listener::Implicit, shared, stop_rx)),
        ];
        Ok(Emulator {
            explicit: explicit_addr,
            implicit: implicit_addr,
            log,
            stop,
            tasks,
        })
    }

    pub fn explicit_addr(&self) -> SocketAddr {
        self.explicit
    }

    pub fn implicit_addr(&self) -> SocketAddr {
        self.implicit
    }

    /// Server-side log lines so far: connections, commands and replies, TLS handshakes
    /// (version, full or resumed and whose session), refusals.
    pub fn log(&self) -> Vec<String> {
        self.log.snapshot()
    }

    /// Stop both listeners and every session, and wait until they are gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.log.push("[server] shut down".into());
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Aborting a listener task drops its JoinSet, which aborts its sessions, whose
        // data tasks abort in turn.
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: Listener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(done) = sessions.join_next(), if !sessions.is_empty() => {
                if let Err(e) = done
                    && e.is_panic() {
                        shared.log.push(format!("[server] a session panicked: {e}"));
                    }
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    if !peer.ip().is_loopback() {
                        shared.log.push(format!("[server] refused non-loopback peer {peer}"));
                        continue;
                    }
                    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                    sessions.spawn(session::run(shared.clone(), tcp, peer, kind, id));
                }
                Err(e) => {
                    shared.log.push(format!("[server] accept failed: {e}"));
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    sessions.shutdown().await;
}
