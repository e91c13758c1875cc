//! `ftps-compat probe URL`: what a client must do to work with this server, with the
//! evidence for each finding and a recipe per popular client.

use std::path::PathBuf;

use ftps_compat::probe::{self, ProbeOptions, ProbeReport};
use ftps_compat::runner::ConnectMode;
use ftps_compat::target::TargetUrl;

use super::{EXIT_FAILED, EXIT_OK, UsageError, matrix::parse_cell_timeout, target};

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// `ftps://` implicit, `ftpes://` explicit, `ftp://` taken as explicit, or a bare
    /// `USER:PASS@HOST[:PORT]` to try both. The login goes in the URL; a password not
    /// there is read from $FTP_PASSWORD.
    url: String,
    /// PEM file with the CA(s) that signed the server's certificate (default: the
    /// system's roots).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Go on when the certificate does not verify.
    #[arg(long)]
    insecure: bool,
    /// The whole probe's time limit.
    #[arg(long, default_value = "30s")]
    timeout: String,
    /// Print the report as JSON (docs/probe.md) instead of text.
    #[arg(long)]
    json: bool,
    /// Also try uploads, in a new folder below DIR on the server (`.`: the login folder),
    /// removed afterwards. Without it the probe writes nothing.
    #[arg(long, value_name = "DIR")]
    write_dir: Option<String>,
    /// Also download this file (nothing is written).
    #[arg(long, value_name = "PATH")]
    read: Option<String>,
    /// Also write probe.html (a self-contained page) and probe.json here.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Also show each finding's transcript.
    #[arg(long)]
    verbose: bool,
}

pub fn probe(args: ProbeArgs) -> Result<i32, UsageError> {
    let mut url = TargetUrl::parse(&args.url).map_err(|e| UsageError(e.to_string()))?;
    // As in the recipes: a password kept out of the URL (and the shell history).
    if url.password.is_empty()
        && let Ok(password) = std::env::var("FTP_PASSWORD")
    {
        url.password = password;
    }
    let limit = parse_cell_timeout(&args.timeout).map_err(|_| {
        UsageError(format!(
            "--timeout {:?}: expected a duration above 0 like 30s",
            args.timeout
        ))
    })?;
    let trust = target::trust(args.ca.as_deref())?;
    let options = ProbeOptions {
        insecure: args.insecure,
        ca_file: args.ca.as_ref().map(|p| p.display().to_string()),
        write_dir: args.write_dir.clone(),
        read: args.read.clone(),
        limit,
        // Each check waits at most this long for one reply: a tenth of the whole.
        wait: (limit / 10).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(10),
        ),
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    if let Some(dir) = &args.report_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            UsageError(format!(
                "--report-dir {}: cannot create the folder: {e}",
                dir.display()
            ))
        })?;
    }
    let report = runtime.block_on(probe::probe(&url, trust, &options));
    if let Some(dir) = &args.report_dir {
        let page = ftps_compat::report::write_probe(&report, dir)
            .map_err(|e| UsageError(format!("writing the report to {}: {e}", dir.display())))?;
        eprintln!("report written to {}", page.display());
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| UsageError(format!("writing the JSON: {e}")))?;
        println!("{json}");
    } else {
        print!("{}", render(&report, args.verbose));
    }
    Ok(if report.completed {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// The text report: how the server was reached, who it is, the findings, the recipes.
pub fn render(report: &ProbeReport, verbose: bool) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    match &report.reached {
        Some(reached) => {
            let mode = match reached.mode {
                ConnectMode::Implicit => "implicit FTPS: TLS from the first byte",
                _ => "explicit FTPS: AUTH TLS",
            };
            line(format!("probe {} ({mode})", reached.url));
            for note in &reached.notes {
                line(format!("  note: {note}"));
            }
        }
        None => line("probe: no FTPS session could be started at this URL".into()),
    }
    let identity = &report.identity;
    if let Some(product) = &identity.product {
        line(format!(
            "  server:  {product} (a guess from the banner and SYST)"
        ));
    }
    if let Some(first) = identity.banner.first() {
        line(format!("  banner:  {first}"));
    }
    if let Some(syst) = &identity.syst {
        line(format!("  SYST:    {syst}"));
    }
    if !identity.feat_after_login.is_empty() {
        let features: Vec<&str> = identity
            .feat_after_login
            .iter()
            .skip(1)
            .take(identity.feat_after_login.len().saturating_sub(2))
            .map(|f| f.trim())
            .collect();
        line(format!("  FEAT:    {}", features.join(", ")));
    }
    if let Some(cert) = &report.certificate {
        line(format!("  certificate: {}", cert.subject));
        line(format!("    names:     {}", cert.names.join(", ")));
        line(format!(
            "    issuer:    {}{}",
            cert.issuer,
            if cert.self_signed {
                " (self-signed)"
            } else {
                ""
            }
        ));
        line(format!(
            "    valid:     {} to {}",
            cert.not_before, cert.not_after
        ));
        line(format!("    key:       {}", cert.key));
        line(format!("    sha256:    {}", cert.sha256));
    }
    line(String::new());
    line("findings".into());
    let width = report
        .findings
        .iter()
        .map(|f| f.text.len())
        .max()
        .unwrap_or(0);
    for finding in &report.findings {
        line(format!(
            "  {:<7}  {:<width$}  {}",
            finding.verdict.as_str(),
            finding.text,
            finding.detail
        ));
        if verbose {
            for evidence in &finding.evidence {
                line(format!("           | {evidence}"));
            }
        }
    }
    if report.timed_out {
        line(String::new());
        line(
            "warning: the probe's time limit ran out (--timeout): the unknown findings were \
             not asked, and the recipes assume only what was found"
                .into(),
        );
    }
    if !report.recipes.is_empty() {
        line(String::new());
        line("recipes (the password is read from $FTP_PASSWORD)".into());
        for recipe in &report.recipes {
            let support = recipe.support.meaning();
            line(String::new());
            line(format!("## {}: {support}", recipe.client));
            for text in recipe.text.lines() {
                line(format!("    {text}"));
            }
            for note in &recipe.notes {
                line(format!("  - {note}"));
            }
        }
    }
    line(String::new());
    line(format!(
        "probed in {:.1}s{}",
        report.duration_ms as f64 / 1000.0,
        if report.completed {
            ""
        } else {
            "; the server could not be reached or logged into"
        }
    ));
    out
}
