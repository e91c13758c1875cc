//! The server a user names by URL (`probe`, `run --target`): its endpoint and what the
//! client trusts, a `--ca` file or the system's roots.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use ftps_compat::client::tls::Trust;
use ftps_compat::probe;
use ftps_compat::runner::Endpoint;
use ftps_compat::target::{Reach, TargetUrl};

use super::UsageError;

/// A PEM certificate chain and key for `--client-cert` / `--client-key`.
pub fn client_identity(
    cert: &Path,
    key: &Path,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        std::sync::Arc<PrivateKeyDer<'static>>,
    ),
    UsageError,
> {
    let bad = |flag: &str, path: &Path, e: &dyn std::fmt::Display| {
        UsageError(format!("{flag} {}: {e}", path.display()))
    };
    let chain = pem_certificates("--client-cert", cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("--client-key", key, &e))?;
    Ok((chain, std::sync::Arc::new(key)))
}

/// The certificates of a PEM file given with `flag`; at least one.
fn pem_certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, UsageError> {
    let bad = |e: &dyn std::fmt::Display| UsageError(format!("{flag} {}: {e}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// The roots a named server is verified against: `--ca`, else the system's.
pub fn trust(ca: Option<&Path>) -> Result<Trust, UsageError> {
    let roots = match ca {
        Some(path) => pem_certificates("--ca", path)?,
        // Unreadable system roots leave none: verification then fails and says so.
        None => rustls_native_certs::load_native_certs().certs,
    };
    Ok(Trust {
        roots,
        unrelated_root: None,
        client_identity: None,
    })
}

/// The endpoint of `run --target`: the mode the URL names, or (no scheme) the first of
/// explicit and implicit that answers (one connection each, so only then).
pub fn endpoint(
    runtime: &tokio::runtime::Runtime,
    url: &TargetUrl,
    trust: Trust,
) -> Result<Endpoint, UsageError> {
    let target = url.display_given();
    if let Reach::Known { mode, port } = url.reach {
        if let Some(note) = &url.note {
            eprintln!("note: {note}");
        }
        let mut endpoint = url.endpoint(mode, port);
        endpoint.trust = trust;
        return Ok(endpoint);
    }
    let reached = runtime
        .block_on(probe::reach(
            url,
            &trust,
            std::time::Duration::from_secs(10),
        ))
        .map_err(|notes| UsageError(format!("--target {target:?}: {}", notes.join("; "))))?;
    for note in &reached.notes {
        eprintln!("note: {note}");
    }
    let mut endpoint = url.endpoint(reached.mode, reached.port);
    endpoint.trust = trust;
    Ok(endpoint)
}
