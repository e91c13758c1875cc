//! `--target ftps://USER:PASS@HOST:PORT`: the external backend, any server the user names.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use ftps_compat::client::tls::Trust;
use ftps_compat::runner::Endpoint;

use super::UsageError;

pub fn endpoint(target: &str, implicit: bool, ca: Option<&Path>) -> Result<Endpoint, UsageError> {
    let bad = |why: String| UsageError(format!("--target {target:?}: {why}"));
    let url = url::Url::parse(target).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "ftp" | "ftps") {
        return Err(bad(format!(
            "scheme {:?}: expected ftp:// or ftps://",
            url.scheme()
        )));
    }
    let host = url.host_str().ok_or_else(|| bad("no host".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port().unwrap_or(if implicit { 990 } else { 21 });
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(|a| a.ip())
            .ok_or_else(|| bad(format!("cannot resolve host {host:?}")))?,
    };
    let decode = |s: &str| {
        percent_decode(s)
            .map_err(|_| bad("user or password is not valid percent-encoded UTF-8".into()))
    };
    let user = match url.username() {
        "" => "anonymous".to_string(),
        user => decode(user)?,
    };
    let password = decode(url.password().unwrap_or(""))?;
    let roots = match ca {
        None => Vec::new(),
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| UsageError(format!("--ca {}: {e}", path.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| UsageError(format!("--ca {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(UsageError(format!(
                    "--ca {}: no PEM certificate in it",
                    path.display()
                )));
            }
            certs
        }
    };
    Ok(Endpoint {
        host: ip,
        explicit_port: (!implicit).then_some(port),
        implicit_port: implicit.then_some(port),
        tls_name: host.to_string(),
        user,
        password,
        trust: Trust {
            roots,
            unrelated_root: None,
            client_identity: None,
        },
        server_root: None,
    })
}

fn percent_decode(s: &str) -> Result<String, std::str::Utf8Error> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
}
