//! A server named by a URL, in the convention FileZilla, lftp and WinSCP share:
//! `ftps://` is implicit FTPS (TLS from the first byte, port 990), `ftpes://` is explicit
//! FTPS (AUTH TLS, port 21), `ftp://` is taken as explicit and said so, and a bare
//! `host[:port]` is tried both ways. `probe`, `run --target` and `serve` all use it.
//! A run against such a server keeps its uploads in a folder of its own, made before the
//! cells and removed after them.

use std::net::{IpAddr, ToSocketAddrs};

use serde::Serialize;

use crate::client::tls::Verify;
use crate::runner::{self, ConnectMode, Endpoint, Outcome};
use crate::scenario::{ClientSpec, Scenario, Step};

/// The default ports of the two modes.
pub const EXPLICIT_PORT: u16 = 21;
pub const IMPLICIT_PORT: u16 = 990;

/// How the URL says to reach the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// One mode on one port.
    Known { mode: ConnectMode, port: u16 },
    /// No scheme: try explicit on `explicit_port`, then implicit on `implicit_port`.
    Try {
        explicit_port: u16,
        implicit_port: u16,
    },
}

/// A parsed target URL.
#[derive(Debug, Clone)]
pub struct TargetUrl {
    pub host: IpAddr,
    /// The name the certificate is checked against: the host as written.
    pub tls_name: String,
    pub user: String,
    pub password: String,
    pub reach: Reach,
    /// Said to the user when the URL was read one way out of two (`ftp://`).
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{url:?}: {why}")]
pub struct UrlError {
    pub url: String,
    pub why: String,
}

impl TargetUrl {
    pub fn parse(text: &str) -> Result<TargetUrl, UrlError> {
        let bad = |why: String| UrlError {
            url: text.to_string(),
            why,
        };
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("none://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
        let given_port = url.port();
        let (reach, note) = match url.scheme() {
            "ftps" => (
                Reach::Known {
                    mode: ConnectMode::Implicit,
                    port: given_port.unwrap_or(IMPLICIT_PORT),
                },
                None,
            ),
            "ftpes" => (
                Reach::Known {
                    mode: ConnectMode::Explicit,
                    port: given_port.unwrap_or(EXPLICIT_PORT),
                },
                None,
            ),
            "ftp" => (
                Reach::Known {
                    mode: ConnectMode::Explicit,
                    port: given_port.unwrap_or(EXPLICIT_PORT),
                },
                Some(
                    "ftp:// is taken as explicit FTPS (AUTH TLS); write ftpes:// for explicit \
                     or ftps:// for implicit to say which"
                        .to_string(),
                ),
            ),
            "none" => (
                Reach::Try {
                    explicit_port: given_port.unwrap_or(EXPLICIT_PORT),
                    implicit_port: given_port.unwrap_or(IMPLICIT_PORT),
                },
                None,
            ),
            other => {
                return Err(bad(format!(
                    "scheme {other:?}: expected ftps:// (implicit), ftpes:// (explicit), \
                     ftp:// (taken as explicit) or none (both are tried)"
                )));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let resolve_port = match &reach {
            Reach::Known { port, .. } => *port,
            Reach::Try { explicit_port, .. } => *explicit_port,
        };
        let ip: IpAddr = match host.parse() {
            Ok(ip) => ip,
            Err(_) => (host, resolve_port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .map(|a| a.ip())
                .ok_or_else(|| bad(format!("cannot resolve host {host:?}")))?,
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("user or password is not valid percent-encoded UTF-8".into()))
        };
        let user = match url.username() {
            "" => "anonymous".to_string(),
            user => decode(user)?,
        };
        let password = decode(url.password().unwrap_or(""))?;
        Ok(TargetUrl {
            host: ip,
            tls_name: host.to_string(),
            user,
            password,
            reach,
            note,
        })
    }

    /// The endpoint for one mode and port (trust left to the caller).
    pub fn endpoint(&self, mode: ConnectMode, port: u16) -> Endpoint {
        Endpoint {
            host: self.host,
            explicit_port: (mode != ConnectMode::Implicit).then_some(port),
            implicit_port: (mode == ConnectMode::Implicit).then_some(port),
            tls_name: self.tls_name.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            trust: Default::default(),
            server_root: None,
            work_dir: None,
        }
    }

    /// The URL as the user meant it, without the login: for messages.
    pub fn display_given(&self) -> String {
        match self.reach {
            Reach::Known { mode, port } => self.display(mode, port),
            Reach::Try { explicit_port, .. } => format!("{}:{explicit_port}", self.tls_name),
        }
    }

    /// `ftps://host:990` or `ftpes://host:21`, without the login.
    pub fn display(&self, mode: ConnectMode, port: u16) -> String {
        url_for(mode, &self.tls_name, port)
    }
}

/// A name for a run's folder that no other run has: `ftps-compat-<seconds>-<pid>`.
pub fn work_dir_name() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("ftps-compat-{seconds}-{}", std::process::id())
}

/// A session of `steps` after the login, with the run's trust and no folder of its own.
async fn session(
    endpoint: &Endpoint,
    verify: Verify,
    id: &str,
    steps: Vec<Step>,
) -> Result<(), String> {
    let mut client = ClientSpec::default();
    client.tls.verify = verify;
    let steps = std::iter::once(Step::Login).chain(steps).collect();
    let scenario = Scenario::built(id, client, steps);
    let endpoint = Endpoint {
        work_dir: None,
        ..endpoint.clone()
    };
    // Each wait of the session is bounded by the client's timeouts; this bounds the sum.
    let run = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        runner::run(&scenario, &endpoint),
    )
    .await
    .map_err(|_| "no answer within 120 s".to_string())?
    .map_err(|e| e.to_string())?;
    match run.outcome {
        Outcome::Completed => Ok(()),
        Outcome::Failed { label, failure, .. } => Err(format!("{label}: {failure}")),
    }
}

/// Makes the run's folder (MKD) in the login folder.
pub async fn make_work_dir(endpoint: &Endpoint, verify: Verify, dir: &str) -> Result<(), String> {
    session(
        endpoint,
        verify,
        "make-folder",
        vec![Step::Mkd(dir.to_string())],
    )
    .await
}

/// Removes `files` from the run's folder (whichever exist), then the folder itself.
pub async fn remove_work_dir(
    endpoint: &Endpoint,
    verify: Verify,
    dir: &str,
    files: &[String],
) -> Result<(), String> {
    let mut steps: Vec<Step> = files
        .iter()
        .map(|file| Step::Probe(format!("DELE {dir}/{file}")))
        .collect();
    steps.push(Step::Rmd(dir.to_string()));
    session(endpoint, verify, "remove-folder", steps).await
}

/// The URL of a server in this convention: `ftpes://` explicit, `ftps://` implicit.
pub fn url_for(mode: ConnectMode, host: &str, port: u16) -> String {
    let scheme = match mode {
        ConnectMode::Implicit => "ftps",
        ConnectMode::Explicit => "ftpes",
        ConnectMode::Plain => "ftp",
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{scheme}://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(text: &str) -> Reach {
        TargetUrl::parse(text).unwrap().reach
    }

    #[test]
    fn schemes_follow_the_ecosystem() {
        assert_eq!(
            reach("ftps://127.0.0.1"),
            Reach::Known {
                mode: ConnectMode::Implicit,
                port: 990
            }
        );
        assert_eq!(
            reach("ftpes://127.0.0.1:2121"),
            Reach::Known {
                mode: ConnectMode::Explicit,
                port: 2121
            }
        );
        let ftp = TargetUrl::parse("ftp://u:p%40ss@127.0.0.1").unwrap();
        assert_eq!(
            ftp.reach,
            Reach::Known {
                mode: ConnectMode::Explicit,
                port: 21
            }
        );
        assert!(ftp.note.unwrap().starts_with("ftp:// is taken as explicit"));
        assert_eq!((ftp.user.as_str(), ftp.password.as_str()), ("u", "p@ss"));
        assert_eq!(
            reach("127.0.0.1"),
            Reach::Try {
                explicit_port: 21,
                implicit_port: 990
            }
        );
        assert_eq!(
            reach("u:p@127.0.0.1:4000"),
            Reach::Try {
                explicit_port: 4000,
                implicit_port: 4000
            }
        );
        let error = TargetUrl::parse("sftp://127.0.0.1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("scheme \"sftp\""), "{error}");
    }

    #[test]
    fn urls_are_printed_in_the_same_convention() {
        assert_eq!(
            url_for(ConnectMode::Implicit, "127.0.0.1", 990),
            "ftps://127.0.0.1:990"
        );
        assert_eq!(
            url_for(ConnectMode::Explicit, "::1", 21),
            "ftpes://[::1]:21"
        );
    }
}
