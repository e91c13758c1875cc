//! The reports of `ftps-compat diff`: what changed between two runs, cell by cell, as
//! Markdown, a self-contained HTML page and JSON.

use std::fmt::Write;

use serde::Serialize;

use super::html::{esc, page_start};
use crate::baseline::{CellKey, Comparison, Side};

/// What the two runs are called in the reports (their file names).
#[derive(Debug, Clone, Serialize)]
pub struct DiffNames {
    pub old: String,
    pub new: String,
}

/// How cells were matched: keys carry a backend only under `diff --by-backend`.
fn matched_by(comparison: &Comparison) -> &'static str {
    let keys = comparison
        .changed
        .iter()
        .map(|c| &c.cell)
        .chain(&comparison.added)
        .chain(&comparison.removed)
        .chain(&comparison.not_compared);
    if keys.into_iter().any(|k| k.backend.is_some()) {
        "server/profile, scenario and backend"
    } else {
        "server/profile and scenario (the backends of a column are one answer)"
    }
}

/// What an answer is made of, for readers of the old/new columns.
const ANSWER_KEY: &str = "An answer is `outcome [decisive reply code] [quirk ids]`; \
     answers of several backends are separated by `|`.";

/// Text safe inside a Markdown table cell.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

pub fn diff_markdown(comparison: &Comparison, names: &DiffNames) -> String {
    let mut md = format!(
        "# ftps-compat diff\n\n- old: `{}`\n- new: `{}`\n- cells matched by {}\n\n{}.\n",
        names.old,
        names.new,
        matched_by(comparison),
        comparison.headline()
    );
    if !comparison.changed.is_empty() {
        let _ = writeln!(md, "\n{ANSWER_KEY}\n");
        md.push_str("| cell | old | new |\n| --- | --- | --- |\n");
        for change in &comparison.changed {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                cell_text(&change.cell.to_string()),
                cell_text(&change.old.to_string()),
                cell_text(&change.new.to_string())
            );
        }
    }
    for (title, keys) in [
        ("Only in the new run", &comparison.added),
        ("Only in the old run", &comparison.removed),
        ("Not compared (skipped on a side)", &comparison.not_compared),
    ] {
        if !keys.is_empty() {
            let _ = writeln!(md, "\n## {title}\n");
            for key in keys {
                let _ = writeln!(md, "- {key}");
            }
        }
    }
    md
}

fn key_list(out: &mut String, title: &str, keys: &[CellKey]) {
    if keys.is_empty() {
        return;
    }
    let _ = write!(out, "<h2>{}</h2>\n<ul class=\"plain\">", esc(title));
    for key in keys {
        let _ = write!(out, "<li class=\"mono\">{}</li>", esc(&key.to_string()));
    }
    out.push_str("</ul>\n");
}

/// One chip per backend's answer, coloured by its outcome.
fn chips(side: &Side) -> String {
    side.0
        .iter()
        .map(|answer| {
            format!(
                "<span class=\"chip v-{}\">{}</span>",
                answer.class.as_str(),
                esc(&answer.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn diff_html(comparison: &Comparison, names: &DiffNames) -> String {
    let mut out = page_start("ftps-compat diff", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        out,
        "<header><h1>What changed</h1><p class=\"meta\"><span>old <b>{}</b></span><span>new <b>{}</b></span>\
         <span>cells matched by <b>{}</b></span></p><p>{}.</p></header>",
        esc(&names.old),
        esc(&names.new),
        esc(matched_by(comparison)),
        esc(&comparison.headline())
    );
    if !comparison.changed.is_empty() {
        out.push_str(
            "<div class=\"scroll\"><table class=\"matrix\"><thead><tr><th>cell</th><th>old</th><th>new</th></tr></thead><tbody>\n",
        );
        for change in &comparison.changed {
            let _ = writeln!(
                out,
                "<tr><th class=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                esc(&change.cell.to_string()),
                chips(&change.old),
                chips(&change.new)
            );
        }
        out.push_str("</tbody></table></div>\n");
    }
    key_list(&mut out, "Only in the new run", &comparison.added);
    key_list(&mut out, "Only in the old run", &comparison.removed);
    key_list(
        &mut out,
        "Not compared (skipped on a side)",
        &comparison.not_compared,
    );
    out.push_str("</body>\n</html>\n");
    out
}

#[derive(Serialize)]
struct DiffJson<'a> {
    format: u32,
    old: &'a str,
    new: &'a str,
    #[serde(flatten)]
    comparison: &'a Comparison,
}

pub fn diff_json(comparison: &Comparison, names: &DiffNames) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(&DiffJson {
        format: crate::matrix::RESULTS_FORMAT,
        old: &names.old,
        new: &names.new,
        comparison,
    })?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{CellAnswer, Fingerprint, compare};
    use crate::outcome::OutcomeClass;
    use crate::servers::backend::BackendKind;

    fn answer(scenario: &str, class: OutcomeClass, code: Option<u16>) -> CellAnswer {
        CellAnswer {
            column: "vsftpd/explicit-strict".into(),
            backend: BackendKind::Native,
            scenario: scenario.into(),
            answer: Fingerprint {
                class,
                code,
                quirks: vec!["session-reuse-required".into()],
            },
        }
    }

    #[test]
    fn a_change_reads_old_then_new_and_the_page_stands_alone() {
        use OutcomeClass::{Refused, Skipped, Works};
        let old = [answer("a", Works, None), answer("b", Refused, Some(522))];
        let new = [answer("a", Refused, Some(522)), answer("b", Skipped, None)];
        let names = DiffNames {
            old: "3.0.3.json".into(),
            new: "3.0.5.json".into(),
        };
        let comparison = compare(&old, &new, false);
        let md = diff_markdown(&comparison, &names);
        assert!(
            md.contains("- cells matched by server/profile and scenario"),
            "{md}"
        );
        assert!(
            md.contains(
                "| vsftpd/explicit-strict::a | works [session-reuse-required] | refused 522 [session-reuse-required] |"
            ),
            "{md}"
        );
        assert!(md.contains("## Not compared (skipped on a side)\n\n- vsftpd/explicit-strict::b"));
        let html = diff_html(&comparison, &names);
        assert!(html.contains(
            "<span class=\"chip v-refused\">refused 522 [session-reuse-required]</span>"
        ));
        assert!(!html.contains("<script") && !html.contains("://"));
        let by_backend = compare(&old, &new, true);
        assert!(
            diff_markdown(&by_backend, &names)
                .contains("matched by server/profile, scenario and backend")
        );
        let json: serde_json::Value =
            serde_json::from_str(&diff_json(&comparison, &names).unwrap()).unwrap();
        assert_eq!(json["changed"][0]["new"][0]["class"], "refused");
        assert_eq!(json["old"], "3.0.3.json");
    }
}
