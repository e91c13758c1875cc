//! `probe --report-dir`: the probe's report as one self-contained HTML page (inline CSS, no
//! script), next to its JSON.

use std::fmt::Write;

use super::html::{esc, page_start};
use crate::probe::{ProbeReport, Verdict};

pub(super) fn render(report: &ProbeReport) -> String {
    let title = match &report.reached {
        Some(reached) => format!("FTPS probe of {}", reached.url),
        None => "FTPS probe".to_string(),
    };
    let mut out = page_start(&title, &report.harness_version);
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">",
        esc(&title)
    );
    if let Some(reached) = &report.reached {
        let _ = write!(out, "<span>mode <b>{:?}</b></span>", reached.mode);
    }
    if let Some(product) = &report.identity.product {
        let _ = write!(out, "<span>server <b>{}</b> (a guess)</span>", esc(product));
    }
    let _ = write!(
        out,
        "<span>took <b>{:.1} s</b></span></p>\n</header>\n",
        report.duration_ms as f64 / 1000.0
    );
    if report.timed_out {
        out.push_str(
            "<p class=\"incomplete\"><b>Incomplete</b>: the probe's time limit ran out; the \
             unknown findings were not asked.</p>\n",
        );
    }
    if let Some(cert) = &report.certificate {
        out.push_str("<h2>Certificate</h2>\n<table>\n");
        for (name, value) in [
            ("subject", cert.subject.clone()),
            ("names", cert.names.join(", ")),
            ("issuer", cert.issuer.clone()),
            (
                "valid",
                format!("{} to {}", cert.not_before, cert.not_after),
            ),
            ("key", cert.key.clone()),
            ("SHA-256", cert.sha256.clone()),
        ] {
            let _ = writeln!(
                out,
                "<tr><th>{name}</th><td><code>{}</code></td></tr>",
                esc(&value)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str(
        "<h2>Findings</h2>\n<table>\n<tr><th>answer</th><th>question</th><th>evidence</th></tr>\n",
    );
    for finding in &report.findings {
        let class = match finding.verdict {
            Verdict::Yes => "v-works",
            Verdict::No => "v-refused",
            Verdict::Unknown => "v-skipped",
        };
        let word = finding.verdict.as_str();
        let _ = write!(
            out,
            "<tr><td class=\"{class}\">{word}</td><td>{}</td><td>{}",
            esc(finding.text),
            esc(&finding.detail)
        );
        if !finding.evidence.is_empty() {
            let _ = write!(
                out,
                "<details><summary>transcript</summary><pre>{}</pre></details>",
                esc(&finding.evidence.join("\n"))
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
    if !report.recipes.is_empty() {
        out.push_str(
            "<h2>Recipes</h2>\n<p>The password is read from <code>$FTP_PASSWORD</code>.</p>\n",
        );
        for recipe in &report.recipes {
            let support = recipe.support.meaning();
            let _ = write!(
                out,
                "<h3>{}: {support}</h3>\n<pre>{}</pre>\n<ul>",
                esc(recipe.client),
                esc(&recipe.text)
            );
            for note in &recipe.notes {
                let _ = write!(out, "<li>{}</li>", esc(note));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
