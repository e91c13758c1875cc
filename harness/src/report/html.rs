//! `index.html` and one detail page per cell in `cells/`. Self-contained: inline CSS, no
//! script, no external font, image or stylesheet. Every text from the results is escaped.

use std::fmt::Write;

use super::{
    VERDICTS, View, cell_label, cell_page, column_title, decisive_code, display_time,
    format_duration, place_name, verdict_meaning,
};
use crate::matrix::{CellResult, ColumnInfo, Verdict};

/// Escapes text for HTML element content and quoted attribute values. Control characters
/// (other than newline and tab) are shown as `\xNN` rather than passed to the browser.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root {
  --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --paper: #ffffff; --wash: #f6f8fa;
  --pass-bg: #d7f5dd; --pass-fg: #116329; --pass-bd: #8fd19e;
  --quirk-bg: #fff0c2; --quirk-fg: #7a4d00; --quirk-bd: #e8c35a;
  --fail-bg: #ffe0dd; --fail-fg: #a40e26; --fail-bd: #f3a0a0;
  --error-bg: #efe5ff; --error-fg: #5a32a3; --error-bd: #c2a5f5;
  --skipped-bg: #eef1f4; --skipped-fg: #59636e; --skipped-bd: #d1d9e0;
}
* { box-sizing: border-box; }
body {
  margin: 0; padding: 24px 32px 48px; color: var(--ink); background: var(--paper);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif;
}
a { color: #0969da; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace; }
code { font-size: 12.5px; background: var(--wash); padding: 1px 5px; border-radius: 4px; }
.meta { color: var(--muted); margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.meta b { color: var(--ink); font-weight: 600; }
.summary { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 0; padding: 0; list-style: none; }
.chip {
  display: inline-block; border: 1px solid; border-radius: 999px; padding: 1px 10px;
  font-weight: 600; font-size: 13px; white-space: nowrap;
}
.chip.zero { opacity: .45; }
.chip.small { font-size: 11px; padding: 0 7px; margin-left: 4px; }
h1 code { font-size: .92em; background: none; padding: 0; }
h3 code { white-space: nowrap; font-weight: 500; }
.v-pass { background: var(--pass-bg); color: var(--pass-fg); border-color: var(--pass-bd); }
.v-quirk { background: var(--quirk-bg); color: var(--quirk-fg); border-color: var(--quirk-bd); }
.v-fail { background: var(--fail-bg); color: var(--fail-fg); border-color: var(--fail-bd); }
.v-error { background: var(--error-bg); color: var(--error-fg); border-color: var(--error-bd); }
.v-skipped {
  color: var(--skipped-fg); border-color: var(--skipped-bd);
  background: repeating-linear-gradient(135deg, var(--skipped-bg) 0 6px, #f7f9fa 6px 12px);
}
.legend { margin: 14px 0 16px; padding: 0; list-style: none; display: flex; flex-wrap: wrap;
  gap: 6px 22px; color: var(--muted); font-size: 13px; }
.legend li { display: flex; gap: 8px; }
.legend li { align-items: center; }
.legend .chip { min-width: 72px; text-align: center; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table.matrix { border-collapse: separate; border-spacing: 0; width: 100%; }
.matrix th, .matrix td { border-bottom: 1px solid var(--line); border-right: 1px solid var(--line); }
.matrix tr > :last-child { border-right: 0; }
.matrix tbody tr:last-child > * { border-bottom: 0; }
.matrix thead th { background: var(--wash); font-weight: 600; text-align: center; padding: 6px 8px; vertical-align: bottom; }
.matrix thead tr.servers th { font-size: 14px; }
.matrix thead .server-name { display: block; }
.matrix thead .version { display: block; color: var(--muted); font-weight: 400; font-size: 12px; }
.matrix thead tr.profiles th .version { font-family: system-ui, sans-serif; }
.matrix thead tr.profiles th { font-size: 12.5px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-weight: 500; }
.matrix thead th.unavailable { color: var(--muted); font-weight: 400; }
.matrix thead th.unavailable .why { display: block; font-family: system-ui, sans-serif; font-size: 11px; }
.backend { display: inline-block; font-size: 11px; font-weight: 600; letter-spacing: .02em; padding: 0 6px;
  border-radius: 4px; background: #ddf4ff; color: #0a3069; border: 1px solid #b6e3ff; margin-top: 2px; }
.backend.b-native { background: #ddf4ff; }
.backend.b-container { background: #fbefff; color: #6e2d8c; border-color: #ecd8f5; }
.backend.b-embedded { background: #e9f0ff; color: #1d3b80; border-color: #c5d5f5; }
.backend.b-external { background: #fff1e5; color: #8a3b00; border-color: #ffd8b5; }
.matrix .corner { text-align: left; color: var(--muted); font-weight: 400; font-size: 12px; white-space: nowrap; }
.matrix th.row {
  position: sticky; left: 0; z-index: 1; background: var(--paper); text-align: left; padding: 6px 12px;
  font-weight: 500; white-space: nowrap; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px;
}
.matrix th.row a { color: var(--ink); text-decoration: none; }
.matrix td.v { padding: 0; text-align: center; }
.matrix td.v a { display: block; padding: 7px 8px; color: inherit; text-decoration: none; font-weight: 600; white-space: nowrap; }
.matrix td.v a:hover, .matrix td.v a:focus { outline: 2px solid #0969da; outline-offset: -2px; }
.matrix td.v .code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-weight: 500; margin-left: 3px; }
.matrix td.v .q { display: block; font-weight: 400; font-size: 11px; opacity: .9; white-space: normal; line-height: 1.25; }
.matrix td.v { min-width: 104px; max-width: 140px; }
.matrix td.none { text-align: center; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; background: var(--paper); }
.card p { margin: 4px 0; }
.muted { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ul.plain { padding-left: 18px; margin: 4px 0; }
pre {
  background: #0d1117; color: #e6edf3; padding: 12px 14px; border-radius: 8px; overflow-x: auto;
  font-size: 12.5px; line-height: 1.45; margin: 0;
}
pre .c { color: #79c0ff; }
pre .s { color: #e6edf3; }
pre .s.bad { color: #ffa198; }
pre .i { color: #8b949e; }
pre .i.bad { color: #ff7b72; }
pre .st { color: #d2a8ff; font-weight: 600; }
pre .decisive { background: rgba(187, 128, 9, .22); box-shadow: inset 3px 0 0 #d29922;
  display: inline-block; margin: 0 -14px; padding: 0 14px; width: calc(100% + 28px); }
pre.log { background: #161b22; color: #c9d1d9; }
nav.back { margin: 0 0 14px; }
.title-row { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin-bottom: 6px; }
h1 .on { font-weight: 400; color: var(--muted); font-size: .8em; }
.title-row .chip { font-size: 15px; padding: 2px 12px; }
.reason { font-size: 15px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"#;

fn page_start(title: &str, generator: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ftps-compat {}\">\n<title>{}</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n",
        esc(generator),
        esc(title)
    )
}

fn verdict_class(verdict: Verdict) -> String {
    format!("v-{}", verdict.as_str())
}

fn backend_badge(backend: impl std::fmt::Display) -> String {
    let name = backend.to_string();
    format!("<span class=\"backend b-{0}\">{0}</span>", esc(&name))
}

fn legend(out: &mut String) {
    out.push_str("<ul class=\"legend\" aria-label=\"legend\">\n");
    for verdict in VERDICTS {
        let _ = writeln!(
            out,
            "<li title=\"{}\"><span class=\"chip {}\">{}</span><span>{}</span></li>",
            esc(verdict_meaning(verdict)),
            verdict_class(verdict),
            verdict.as_str(),
            esc(verdict_short(verdict))
        );
    }
    out.push_str(
        "<li><span class=\"chip\" style=\"border-color:var(--line)\">226</span>\
         <span>the number is the decisive reply code</span></li>\n</ul>\n",
    );
}

fn verdict_short(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "the expectation held",
        Verdict::Quirk => "a known server quirk, tolerated here",
        Verdict::Fail => "unexpected: no tolerated quirk explains it",
        Verdict::Error => "the harness or infrastructure broke",
        Verdict::Skipped => "not run here; hover or open for the reason",
    }
}

/// A cell's tooltip: what it is and why.
fn cell_tooltip(cell: &CellResult) -> String {
    let mut text = format!(
        "{} on {} [{}]: {}",
        cell.scenario,
        cell.column,
        cell.backend,
        cell.verdict.as_str()
    );
    if !cell.quirks.is_empty() {
        let names: Vec<String> = cell.quirks.iter().map(ToString::to_string).collect();
        let _ = write!(text, " ({})", names.join(", "));
    }
    if !cell.reason.is_empty() {
        let _ = write!(text, "\n{}", cell.reason);
    }
    text
}

/// Consecutive columns of the same server and backend share a header.
fn server_groups(columns: &[ColumnInfo]) -> Vec<&[ColumnInfo]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=columns.len() {
        if i == columns.len()
            || columns[i].server != columns[start].server
            || columns[i].backend != columns[start].backend
        {
            groups.push(&columns[start..i]);
            start = i;
        }
    }
    groups
}

/// The versions of a group as (shared part, per-column rest): the shared part goes in the
/// server's header, the rest under each profile. `["emulates FileZilla Server 0.9.60",
/// "emulates FileZilla Server 1.9.4"]` gives `"emulates FileZilla Server"`, `["0.9.60",
/// "1.9.4"]`; equal versions give the version and empty rests.
fn split_versions(group: &[ColumnInfo]) -> (String, Vec<String>) {
    let versions: Vec<&str> = group
        .iter()
        .map(|c| c.version.as_deref().unwrap_or("version unknown"))
        .collect();
    if versions.iter().all(|v| *v == versions[0]) {
        return (versions[0].to_string(), vec![String::new(); versions.len()]);
    }
    let words: Vec<Vec<&str>> = versions
        .iter()
        .map(|v| v.split_whitespace().collect())
        .collect();
    let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
    // Keep at least one word for each column.
    let mut shared = 0;
    while shared + 1 < shortest.max(1) && words.iter().all(|w| w[shared] == words[0][shared]) {
        shared += 1;
    }
    (
        words[0][..shared].join(" "),
        words.iter().map(|w| w[shared..].join(" ")).collect(),
    )
}

pub(super) fn render_index(view: &View) -> String {
    let results = view.results;
    let mut out = page_start("FTPS compatibility matrix", &results.harness_version);
    out.push_str("<header>\n<h1>FTPS compatibility matrix</h1>\n<p class=\"meta\">");
    let _ = write!(
        out,
        "<span>ftps-compat <b>{}</b></span><span>started <b>{}</b></span><span>took <b>{}</b></span>\
         <span>host <b>{}</b></span><span><b>{}</b> cores, <b>{}</b> jobs</span>\
         <span><b>{}</b> server configurations × <b>{}</b> scenarios = <b>{}</b> cells</span>",
        esc(&results.harness_version),
        esc(&display_time(&results.started_at)),
        esc(&format_duration(results.duration_ms)),
        esc(&results.host.os),
        results.host.cores,
        results.host.jobs,
        results.columns.len(),
        results.scenarios.len(),
        results.cells.len()
    );
    out.push_str("</p>\n<ul class=\"summary\" aria-label=\"totals\">");
    for (verdict, n) in view.counts() {
        let _ = write!(
            out,
            "<li class=\"chip {}{}\">{n} {}</li>",
            verdict_class(verdict),
            if n == 0 { " zero" } else { "" },
            verdict.as_str()
        );
    }
    out.push_str("</ul>\n</header>\n");
    legend(&mut out);

    // The matrix.
    out.push_str(
        "<div class=\"scroll\">\n<table class=\"matrix\">\n<thead>\n<tr class=\"servers\">",
    );
    out.push_str("<th class=\"corner\" rowspan=\"2\">scenario ↓ · server →</th>");
    let groups = server_groups(&results.columns);
    let mut version_rest = Vec::with_capacity(results.columns.len());
    for group in &groups {
        let (shared, rest) = split_versions(group);
        version_rest.extend(rest);
        let _ = write!(
            out,
            "<th colspan=\"{}\"><span class=\"server-name\">{}</span>{}<span class=\"version\">{}</span></th>",
            group.len(),
            esc(&group[0].server),
            backend_badge(group[0].backend),
            esc(&shared)
        );
    }
    out.push_str("</tr>\n<tr class=\"profiles\">");
    for (column, version) in results.columns.iter().zip(&version_rest) {
        let mut title = format!("{}\n{}", column_title(column), column.about);
        if let Some(version) = &column.version {
            let _ = write!(title, "\nversion: {version}");
        }
        if let Some(mode) = column.mode {
            let _ = write!(title, "\nmode: {}", format!("{mode:?}").to_lowercase());
        }
        let version = if version.is_empty() {
            String::new()
        } else {
            format!("<span class=\"version\">{}</span>", esc(version))
        };
        match &column.unavailable {
            Some(why) => {
                let _ = write!(
                    out,
                    "<th class=\"unavailable\" title=\"{}\">{}{version}<span class=\"why\">skipped</span></th>",
                    esc(&format!("{title}\nskipped: {why}")),
                    esc(&column.profile)
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<th title=\"{}\">{}{version}</th>",
                    esc(&title),
                    esc(&column.profile)
                );
            }
        }
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for scenario in &results.scenarios {
        let _ = write!(
            out,
            "<tr><th class=\"row\" scope=\"row\" title=\"{}\"><a href=\"#scenario-{}\">{}</a></th>",
            esc(&scenario.about),
            esc(&scenario.id),
            esc(&scenario.id)
        );
        for column in &results.columns {
            let Some(cell) = view.cell(column, &scenario.id) else {
                out.push_str("<td class=\"none\" title=\"no result\">—</td>");
                continue;
            };
            let code = decisive_code(cell)
                .map(|c| format!("<span class=\"code\">{c}</span>"))
                .unwrap_or_default();
            let quirks = if cell.quirks.is_empty() || cell.verdict == Verdict::Skipped {
                String::new()
            } else {
                let ids: Vec<&str> = cell.quirks.iter().map(|q| q.id.as_str()).collect();
                format!("<span class=\"q\">{}</span>", esc(&ids.join(", ")))
            };
            let _ = write!(
                out,
                "<td class=\"v {}\"><a href=\"{}\" title=\"{}\">{}{code}{quirks}</a></td>",
                verdict_class(cell.verdict),
                esc(&cell_page(&cell.column, cell.backend, &cell.scenario)),
                esc(&cell_tooltip(cell)),
                cell.verdict.as_str()
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");

    // Quirks found.
    out.push_str("<h2 id=\"quirks\">Quirks found</h2>\n");
    let found = view.quirks_found();
    if found.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        out.push_str("<div class=\"cards\">\n");
        for found in found {
            out.push_str("<div class=\"card\">");
            match found.quirk {
                Some(q) => {
                    let _ = write!(
                        out,
                        "<h3>{} <code>{}</code></h3><p class=\"muted\">{}</p><p>{}</p>\
                         <p><b>Workaround:</b> {}</p>",
                        esc(&q.title),
                        esc(found.id),
                        esc(&q.standard),
                        esc(&q.explanation),
                        esc(&q.workaround)
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        "<h3><code>{}</code></h3><p class=\"muted\">not in the catalog</p>",
                        esc(found.id)
                    );
                }
            }
            let n = found.cells.len();
            let _ = write!(
                out,
                "<p class=\"muted\">Seen in {n} cell{}:</p><ul class=\"plain\">",
                if n == 1 { "" } else { "s" }
            );
            for (cell, variant) in found.cells {
                let _ = write!(
                    out,
                    "<li class=\"mono\"><a href=\"{}\">{}</a> <span class=\"chip small {}\">{}</span></li>",
                    esc(&cell_page(&cell.column, cell.backend, &cell.scenario)),
                    esc(&place_name(cell, variant)),
                    verdict_class(cell.verdict),
                    cell.verdict.as_str()
                );
            }
            out.push_str("</ul></div>\n");
        }
        out.push_str("</div>\n");
    }

    // Scenarios and columns.
    out.push_str("<h2 id=\"scenarios\">Scenarios</h2>\n<div class=\"cards\">\n");
    for scenario in &results.scenarios {
        let _ = write!(
            out,
            "<div class=\"card\" id=\"scenario-{0}\"><h3><code>{0}</code></h3><p>{1}</p>",
            esc(&scenario.id),
            esc(&scenario.about)
        );
        if !scenario.reference.is_empty() {
            let _ = write!(out, "<p class=\"muted\">{}</p>", esc(&scenario.reference));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n<h2 id=\"servers\">Servers and profiles</h2>\n<div class=\"cards\">\n");
    for column in &results.columns {
        let _ = write!(
            out,
            "<div class=\"card\"><h3><code>{}</code> {}</h3><p class=\"muted\">{}</p><p>{}</p>",
            esc(&column.id),
            backend_badge(column.backend),
            esc(column.version.as_deref().unwrap_or("version unknown")),
            esc(&column.about)
        );
        if let Some(why) = &column.unavailable {
            let _ = write!(
                out,
                "<p><span class=\"chip v-skipped\">skipped</span> {}</p>",
                esc(why)
            );
        }
        out.push_str("</div>\n");
    }
    out.push_str("</div>\n");
    let _ = write!(
        out,
        "<footer>Generated by ftps-compat {}. Also in this folder: <a href=\"matrix.md\">matrix.md</a>, \
         <a href=\"results.json\">results.json</a>, <a href=\"junit.xml\">junit.xml</a>.</footer>\n</body>\n</html>\n",
        esc(&results.harness_version)
    );
    out
}

/// The transcript, one span per line: commands, replies (4xx/5xx marked), harness notes,
/// step headers; the lines of the decisive step are highlighted.
fn transcript_html(transcript: &str, decisive_step: Option<usize>) -> String {
    let mut out = String::new();
    let mut in_decisive = false;
    for line in transcript.lines() {
        if let Some(rest) = line.strip_prefix("-- step ") {
            let index = rest
                .split(':')
                .next()
                .and_then(|n| n.trim().parse::<usize>().ok());
            in_decisive = index.is_some() && index == decisive_step;
        } else if line.starts_with("-- ") {
            in_decisive = false;
        }
        let class = if line.starts_with("C> ") {
            "c"
        } else if let Some(reply) = line.strip_prefix("S< ") {
            if reply.starts_with('4') || reply.starts_with('5') {
                "s bad"
            } else {
                "s"
            }
        } else if line.starts_with("== ") {
            if line.contains("error") || line.contains("closed") || line.contains("timeout") {
                "i bad"
            } else {
                "i"
            }
        } else if line.starts_with("-- ") {
            "st"
        } else {
            "s"
        };
        let class = if in_decisive {
            format!("{class} decisive")
        } else {
            class.to_string()
        };
        let _ = writeln!(out, "<span class=\"{class}\">{}</span>", esc(line));
    }
    out
}

pub(super) fn render_cell(view: &View, cell: &CellResult) -> String {
    let results = view.results;
    let title = format!("{} on {} [{}]", cell.scenario, cell.column, cell.backend);
    let mut out = page_start(
        &format!("{} · {title}", cell_label(cell)),
        &results.harness_version,
    );
    out.push_str("<nav class=\"back\"><a href=\"../index.html\">← Back to the matrix</a></nav>\n");
    let _ = writeln!(
        out,
        "<div class=\"title-row\"><span class=\"chip {}\">{}</span><h1><code>{}</code> <span class=\"on\">on</span> <code>{}</code></h1>{}</div>",
        verdict_class(cell.verdict),
        esc(&cell_label(cell)),
        esc(&cell.scenario),
        esc(&cell.column),
        backend_badge(cell.backend)
    );
    let took = if cell.verdict == Verdict::Skipped {
        "not run".to_string()
    } else {
        format_duration(cell.duration_ms)
    };
    let _ = writeln!(
        out,
        "<p class=\"muted mono\">{} · {}</p>",
        esc(&cell.name()),
        esc(&took)
    );

    out.push_str("<div class=\"cards\">\n");
    // Verdict.
    let _ = write!(
        out,
        "<div class=\"card\"><h3>Verdict</h3><p class=\"reason\">{}</p><dl class=\"facts\"><dt>verdict</dt><dd>{}</dd>",
        if cell.reason.is_empty() {
            "<span class=\"muted\">no reason recorded</span>".to_string()
        } else {
            esc(&cell.reason)
        },
        esc(cell.verdict.as_str())
    );
    if let Some(outcome) = &cell.outcome {
        let _ = write!(
            out,
            "<dt>outcome</dt><dd>{}</dd>",
            esc(&outcome.to_string())
        );
    }
    out.push_str("</dl></div>\n");
    // Decisive step.
    out.push_str("<div class=\"card\"><h3>Decisive step</h3>");
    match &cell.decisive {
        Some(d) => {
            let _ = write!(
                out,
                "<dl class=\"facts\"><dt>step</dt><dd>{} ({})</dd><dt>command</dt><dd>{}</dd>\
                 <dt>reply</dt><dd>{}</dd><dt>detail</dt><dd class=\"mono\">{}</dd></dl>",
                d.step,
                esc(&d.label),
                d.command
                    .as_deref()
                    .map(|c| format!("<code>{}</code>", esc(c)))
                    .unwrap_or_else(|| "—".into()),
                d.code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                esc(&d.detail)
            );
        }
        None => out.push_str("<p class=\"muted\">None: no step ran.</p>"),
    }
    out.push_str("</div>\n");
    // Scenario.
    match results.scenarios.iter().find(|s| s.id == cell.scenario) {
        Some(s) => {
            let _ = writeln!(
                out,
                "<div class=\"card\"><h3>Scenario <code>{}</code></h3><p>{}</p><p class=\"muted\">Reference: {}</p></div>",
                esc(&s.id),
                esc(&s.about),
                if s.reference.is_empty() {
                    "—".to_string()
                } else {
                    esc(&s.reference)
                }
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<div class=\"card\"><h3>Scenario <code>{}</code></h3></div>",
                esc(&cell.scenario)
            );
        }
    }
    // Server.
    out.push_str("<div class=\"card\"><h3>Server</h3><dl class=\"facts\">");
    match view.column_of(cell) {
        Some(c) => {
            let _ = write!(
                out,
                "<dt>server</dt><dd>{}</dd><dt>profile</dt><dd>{}</dd><dt>backend</dt><dd>{}</dd>\
                 <dt>version</dt><dd>{}</dd>",
                esc(&c.server),
                esc(&c.profile),
                backend_badge(c.backend),
                esc(c.version.as_deref().unwrap_or("unknown"))
            );
            if let Some(mode) = c.mode {
                let _ = write!(
                    out,
                    "<dt>mode</dt><dd>{}</dd>",
                    esc(&format!("{mode:?}").to_lowercase())
                );
            }
            if !c.about.is_empty() {
                let _ = write!(out, "<dt>about</dt><dd>{}</dd>", esc(&c.about));
            }
            if let Some(why) = &c.unavailable {
                let _ = write!(out, "<dt>unavailable</dt><dd>{}</dd>", esc(why));
            }
        }
        None => {
            let _ = write!(out, "<dt>column</dt><dd>{}</dd>", esc(&cell.column));
        }
    }
    out.push_str("</dl></div>\n</div>\n");

    // Quirks.
    if !cell.quirks.is_empty() {
        out.push_str("<h2>Quirks matched</h2>\n<div class=\"cards\">\n");
        for m in &cell.quirks {
            let variant = m
                .variant
                .as_deref()
                .map(|v| format!(" · variant {}", esc(v)))
                .unwrap_or_default();
            match view.quirk(&m.id) {
                Some(q) => {
                    let _ = write!(
                        out,
                        "<div class=\"card\"><h3>{} <code>{}</code></h3><p class=\"muted\">{}{variant}</p>\
                         <p><b>Explanation:</b> {}</p><p><b>Workaround:</b> {}</p>",
                        esc(&q.title),
                        esc(&m.id),
                        esc(&q.standard),
                        esc(&q.explanation),
                        esc(&q.workaround)
                    );
                    if !q.seen_in.is_empty() {
                        out.push_str(
                            "<p class=\"muted\">Seen in server source:</p><ul class=\"plain\">",
                        );
                        for place in &q.seen_in {
                            let _ = write!(out, "<li class=\"mono\">{}</li>", esc(place));
                        }
                        out.push_str("</ul>");
                    }
                    out.push_str("</div>\n");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<div class=\"card\"><h3><code>{}</code></h3><p class=\"muted\">not in the catalog{variant}</p></div>",
                        esc(&m.id)
                    );
                }
            }
        }
        out.push_str("</div>\n");
    }

    out.push_str("<h2>Transcript</h2>\n");
    if cell.transcript.is_empty() {
        out.push_str("<p class=\"muted\">No transcript: the scenario did not run.</p>\n");
    } else {
        let step = cell.decisive.as_ref().map(|d| d.step);
        let _ = writeln!(
            out,
            "<pre class=\"transcript\">{}</pre>",
            transcript_html(&cell.transcript, step)
        );
    }
    out.push_str("<h2>Server log excerpt</h2>\n");
    if cell.log_excerpt.is_empty() {
        out.push_str("<p class=\"muted\">No server log.</p>\n");
    } else {
        let _ = writeln!(out, "<pre class=\"log\">{}</pre>", esc(&cell.log_excerpt));
    }
    let _ = write!(
        out,
        "<nav class=\"back\" style=\"margin-top:24px\"><a href=\"../index.html\">← Back to the matrix</a></nav>\n\
         <footer>Generated by ftps-compat {} · run started {}</footer>\n</body>\n</html>\n",
        esc(&results.harness_version),
        esc(&display_time(&results.started_at))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<port> & \"x\" 'y'"),
            "&lt;port&gt; &amp; &quot;x&quot; &#39;y&#39;"
        );
        assert_eq!(esc("a\x1bb\r\n"), "a\\x1bb\n");
    }

    #[test]
    fn times_and_versions_display_compactly() {
        assert_eq!(
            display_time("2026-11-25T01:20:27.827903801Z"),
            "2026-11-25 01:20:27 UTC"
        );
        assert_eq!(
            display_time("2026-11-25T01:20:27+02:00"),
            "2026-11-25 01:20:27+02:00"
        );
        assert_eq!(display_time("yesterday"), "yesterday");
        let col = |v: Option<&str>| ColumnInfo {
            id: "s/p".into(),
            server: "s".into(),
            profile: "p".into(),
            backend: crate::servers::backend::BackendKind::Embedded,
            mode: None,
            version: v.map(Into::into),
            about: String::new(),
            unavailable: None,
        };
        let fz = [
            col(Some("emulates FileZilla Server 0.9.60")),
            col(Some("emulates FileZilla Server 1.9.4")),
        ];
        assert_eq!(
            split_versions(&fz),
            (
                "emulates FileZilla Server".to_string(),
                vec!["0.9.60".to_string(), "1.9.4".to_string()]
            )
        );
        let same = [col(Some("3.0.3")), col(Some("3.0.3"))];
        assert_eq!(
            split_versions(&same),
            ("3.0.3".to_string(), vec![String::new(), String::new()])
        );
        let differ = [col(Some("3.0.3")), col(None)];
        assert_eq!(
            split_versions(&differ),
            (
                String::new(),
                vec!["3.0.3".to_string(), "version unknown".to_string()]
            )
        );
        let two = [col(None), col(None)];
        let groups = server_groups(&two);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].len(), 2);
    }

    #[test]
    fn transcript_marks_the_decisive_step() {
        let html = transcript_html(
            "-- step 1: list\nC> LIST\nS< 522 no <reuse>\n-- step 2: quit\nC> QUIT\n",
            Some(1),
        );
        assert!(html.contains("<span class=\"c decisive\">C&gt; LIST</span>"));
        assert!(html.contains("<span class=\"s bad decisive\">S&lt; 522 no &lt;reuse&gt;</span>"));
        assert!(html.contains("<span class=\"c\">C&gt; QUIT</span>"));
    }
}
