//! `index.html` and one detail page per cell in `cells/`. Self-contained: inline CSS, no
//! script, no external font, image or stylesheet. Every text from the results is escaped.

use std::fmt::Write;

use super::{
    CatalogGap, Mark, ShownColumn, Table, Tally, View, cell_headline, cell_page, column_title,
    display_time, fingerprint, format_duration, place_name, quirk_ids,
};
use crate::matrix::CellResult;
use crate::outcome::OutcomeClass;
use crate::transcript::{Line, LineKind};

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

/// The mark of a security finding in front of a quirk's title.
fn security_badge(quirk: &crate::quirks::Quirk) -> &'static str {
    if quirk.security {
        "<span class=\"security\">security finding</span>"
    } else {
        ""
    }
}

const CSS: &str = r#"
:root {
  --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --paper: #ffffff; --wash: #f6f8fa;
  --works-bg: #d7f5dd; --works-fg: #116329; --works-bd: #8fd19e;
  --refused-bg: #fff0c2; --refused-fg: #7a4d00; --refused-bd: #e8c35a;
  --hangs-bg: #ffe3c7; --hangs-fg: #8a3b00; --hangs-bd: #f0a868;
  --breaks-bg: #ffe0dd; --breaks-fg: #a40e26; --breaks-bd: #f3a0a0;
  --error-bg: #efe5ff; --error-fg: #5a32a3; --error-bd: #c2a5f5;
  --skipped-bg: #eef1f4; --skipped-fg: #59636e; --skipped-bd: #d1d9e0;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
body {
  margin: 0; padding: 24px 32px 48px; color: var(--ink); background: var(--paper);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif;
}
a { color: #0969da; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h2 .count { color: var(--muted); font-weight: 400; }
h3 { font-size: 15px; margin: 0 0 6px; }
code, pre, .mono { font-family: var(--mono); }
code { font-size: 12.5px; background: var(--wash); padding: 1px 5px; border-radius: 4px; }
.question { font-size: 16px; margin: 0 0 8px; }
.meta { color: var(--muted); margin: 0 0 10px; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.meta b { color: var(--ink); font-weight: 600; }
.incomplete { border-left: 4px solid #b45309; background: #fef3c7; padding: 6px 10px; margin: 0 0 10px; }
.summary { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 0; padding: 0; list-style: none; }
.chip {
  display: inline-block; border: 1px solid; border-radius: 999px; padding: 1px 10px;
  font-weight: 600; font-size: 13px; white-space: nowrap;
}
.chip.zero { opacity: .45; }
.chip.small { font-size: 11px; padding: 0 7px; margin-left: 4px; }
a.chip { text-decoration: none; }
h1 code { font-size: .92em; background: none; padding: 0; }
h3 code { white-space: nowrap; font-weight: 500; }
.v-works { background: var(--works-bg); color: var(--works-fg); border-color: var(--works-bd); }
.v-refused { background: var(--refused-bg); color: var(--refused-fg); border-color: var(--refused-bd); }
.v-hangs { background: var(--hangs-bg); color: var(--hangs-fg); border-color: var(--hangs-bd); }
.v-breaks { background: var(--breaks-bg); color: var(--breaks-fg); border-color: var(--breaks-bd); }
.v-error { background: var(--error-bg); color: var(--error-fg); border-color: var(--error-bd); }
.v-skipped {
  color: var(--skipped-fg); border-color: var(--skipped-bd);
  background: repeating-linear-gradient(135deg, var(--skipped-bg) 0 6px, #f7f9fa 6px 12px);
}
nav.toc { margin: 14px 0 0; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; }
.legend { margin: 10px 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap;
  gap: 6px 22px; color: var(--muted); font-size: 13px; }
.legend li { display: flex; gap: 8px; align-items: center; }
.legend .chip { min-width: 72px; text-align: center; }
.legend .mark { font-size: 13px; }
.legend + h2 { margin-top: 22px; }
.mark { display: inline-block; min-width: 16px; margin-left: 3px; padding: 0 3px; border-radius: 4px;
  background: rgba(31, 35, 40, .1); color: var(--ink); font-weight: 700; font-size: 12px; line-height: 16px;
  text-align: center; cursor: help; }
.mark.unexplained { background: #1f2328; color: #fff; }
.scroll { display: inline-block; max-width: 100%; overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; vertical-align: top; }
table.matrix { border-collapse: separate; border-spacing: 0; table-layout: fixed; }
.matrix th, .matrix td { border-bottom: 1px solid var(--line); border-right: 1px solid var(--line); }
.matrix tr > :last-child { border-right: 0; }
.matrix tbody tr:last-child > * { border-bottom: 0; }
.matrix thead th { background: var(--wash); font-weight: 600; text-align: center; padding: 6px 6px; vertical-align: bottom; }
.matrix thead tr.servers th { font-size: 14px; }
.matrix thead .server-name { display: block; }
.matrix thead .version { display: block; color: var(--muted); font-weight: 400; font-size: 12px; }
.matrix thead tr.profiles th { font-size: 12.5px; font-weight: 500; }
.matrix thead tr.profiles .profile { display: block; font-family: var(--mono); overflow-wrap: anywhere; }
.matrix thead th.unavailable .profile { color: var(--muted); }
.matrix thead .why { display: block; color: var(--muted); font-size: 11px; font-weight: 400; }
.matrix thead .differs { display: block; font-size: 11px; font-weight: 600; color: var(--breaks-fg); }
.tally { display: block; color: var(--muted); font-weight: 400; font-size: 11px; font-family: system-ui, sans-serif; white-space: nowrap; }
.tally b { color: var(--ink); font-weight: 600; }
.bar { display: block; height: 4px; margin: 3px 0 1px; border-radius: 2px; background: var(--skipped-bd); overflow: hidden; }
.bar > span { display: block; height: 100%; background: #2da44e; }
.backend { display: inline-block; font-size: 11px; font-weight: 600; letter-spacing: .02em; padding: 0 6px;
  border-radius: 4px; background: #ddf4ff; color: #0a3069; border: 1px solid #b6e3ff; margin: 2px 1px 0; }
.backend.b-native { background: #ddf4ff; }
.backend.b-container { background: #fbefff; color: #6e2d8c; border-color: #ecd8f5; }
.backend.b-embedded { background: #e9f0ff; color: #1d3b80; border-color: #c5d5f5; }
.backend.b-external { background: #fff1e5; color: #8a3b00; border-color: #ffd8b5; }
.matrix .corner { text-align: left; color: var(--muted); font-weight: 400; font-size: 12px; }
.matrix th.row {
  position: sticky; left: 0; z-index: 1; background: var(--paper); text-align: left; padding: 5px 12px;
  font-weight: 500; font-family: var(--mono); font-size: 13px; overflow-wrap: anywhere;
}
.matrix th.row a { color: var(--ink); text-decoration: none; }
.matrix td.works-on { padding: 0 8px; text-align: right; font-size: 12px; color: var(--ink); white-space: nowrap; }
.matrix thead th.works-on { font-size: 12px; font-weight: 400; color: var(--muted); }
.matrix td.v { padding: 0; text-align: center; }
.matrix td.v a { display: block; padding: 6px 6px; color: inherit; text-decoration: none; font-weight: 600; }
.matrix td.v a:hover, .matrix td.v a:focus { outline: 2px solid #0969da; outline-offset: -2px; }
.matrix td.v .code { font-family: var(--mono); font-weight: 500; margin-left: 3px; }
.matrix td.v .q { display: block; font-weight: 400; font-size: 11px; opacity: .9; line-height: 1.25; overflow-wrap: anywhere; }
.matrix td.none { text-align: center; color: var(--muted); }
ul.findings { list-style: none; margin: 0; padding: 0; border: 1px solid var(--line); border-radius: 8px; }
ul.findings > li { padding: 8px 14px; border-bottom: 1px solid var(--line); }
ul.findings > li:last-child { border-bottom: 0; }
.findings .what { font-family: var(--mono); font-size: 13px; overflow-wrap: anywhere; }
.findings .where { margin-top: 2px; font-size: 12px; color: var(--muted); display: flex; flex-wrap: wrap; gap: 2px 12px; align-items: center; }
.findings .where a { font-family: var(--mono); }
.findings .where .backend { margin: 0 0 0 2px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; background: var(--paper); }
.card p { margin: 4px 0; }
.security { display: inline-block; background: #b42318; color: #fff; border-radius: 4px; padding: 0 6px; margin-right: 6px; font-size: 0.8em; vertical-align: middle; }
.card details { margin-top: 6px; }
.card summary { cursor: pointer; color: var(--muted); }
.card.outcome { margin: 4px 0 12px; padding: 14px 18px; }
.card.outcome .title-row .chip { font-size: 16px; padding: 2px 14px; }
.card.outcome .reason { font-size: 16px; margin: 8px 0 10px; font-family: var(--mono); overflow-wrap: anywhere; }
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
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"#;

/// The row headers' column: wide enough for the longest row name in 13px monospace.
const ROW_NAME_PX_PER_CHAR: usize = 8;
/// Each outcome column's width.
const CELL_PX: usize = 124;
/// The rows' "works on" column.
const TALLY_PX: usize = 70;

pub(super) fn page_start(title: &str, generator: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ftps-compat {}\">\n<title>{}</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n",
        esc(generator),
        esc(title)
    )
}

fn class_css(class: OutcomeClass) -> String {
    format!("v-{}", class.as_str())
}

fn backend_badge(backend: impl std::fmt::Display) -> String {
    let name = backend.to_string();
    format!("<span class=\"backend b-{0}\">{0}</span>", esc(&name))
}

/// A cell's marks, each with its tooltip.
fn marks_html(cell: &CellResult) -> String {
    Mark::on(cell)
        .into_iter()
        .map(|mark| {
            format!(
                "<span class=\"mark {}\" title=\"{}\">{}</span>",
                mark.name(),
                esc(&mark.describe(cell)),
                mark.symbol()
            )
        })
        .collect()
}

/// A small coloured chip linking to a cell's page (`..` prefix from a detail page).
fn cell_chip(cell: &CellResult, prefix: &str, text: &str) -> String {
    format!(
        "<a class=\"chip small {}\" href=\"{prefix}{}\">{}</a>",
        class_css(cell.class()),
        esc(&cell_page(&cell.column, cell.backend, &cell.scenario)),
        esc(text)
    )
}

/// A share bar: the green part is what works.
fn bar(tally: Tally) -> String {
    format!(
        "<span class=\"bar\"><span style=\"width:{}%\"></span></span>",
        tally.percent()
    )
}

fn legend(out: &mut String) {
    out.push_str("<ul class=\"legend\" aria-label=\"legend\">\n");
    for class in OutcomeClass::ALL {
        let _ = writeln!(
            out,
            "<li><span class=\"chip {}\">{class}</span><span>{}</span></li>",
            class_css(class),
            esc(class.meaning())
        );
    }
    out.push_str("</ul>\n<ul class=\"legend\" aria-label=\"marks\">\n");
    for mark in Mark::ALL {
        let _ = writeln!(
            out,
            "<li><span class=\"mark {0}\" title=\"{0}\">{1}</span><span><b>{0}</b>: {2}</span></li>",
            mark.name(),
            mark.symbol(),
            esc(mark.meaning())
        );
    }
    out.push_str(
        "<li><span><b>522</b>: the decisive reply code; under it, the quirks the run shows</span></li>\n\
         <li><span><b>works for / on N of M</b>: of the cells that ran</span></li>\n</ul>\n",
    );
}

/// A cell's tooltip: what it is and how it ended.
fn cell_tooltip(cell: &CellResult, same_on: &[String]) -> String {
    let mut text = format!(
        "{} on {} [{}]: {}",
        cell.scenario,
        cell.column,
        cell.backend,
        cell_headline(cell)
    );
    if !same_on.is_empty() {
        let _ = write!(text, " (same on {})", same_on.join(", "));
    }
    if !cell.outcome.quirks.is_empty() {
        let _ = write!(text, "\nquirks: {}", cell.outcome.quirk_list());
    }
    let _ = write!(text, "\n{}", cell.outcome.summary);
    for mark in Mark::on(cell) {
        let _ = write!(text, "\n{}", mark.describe(cell));
    }
    text
}

/// Consecutive shown columns of the same server share a header.
fn server_groups<'v, 'a>(columns: &'v [ShownColumn<'a>]) -> Vec<&'v [ShownColumn<'a>]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=columns.len() {
        if i == columns.len() || columns[i].first().server != columns[start].first().server {
            groups.push(&columns[start..i]);
            start = i;
        }
    }
    groups
}

/// Versions as (shared part, per-column rest): the shared part goes in the server's
/// header, the rest under each profile. `["emulates FileZilla Server 0.9.60", "emulates
/// FileZilla Server 1.9.4"]` gives `"emulates FileZilla Server"`, `["0.9.60", "1.9.4"]`;
/// equal versions give the version and empty rests.
fn split_versions(versions: &[String]) -> (String, Vec<String>) {
    if versions.iter().all(|v| *v == versions[0]) {
        return (versions[0].clone(), vec![String::new(); versions.len()]);
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

/// One table: its heading, the server and profile header rows (with each column's
/// tally), and a row per scenario (with its tally) of linked, coloured cells.
fn table_html(out: &mut String, view: &View, table: &Table) {
    let kind = table.kind;
    let _ = writeln!(
        out,
        "<h2 id=\"{}\">{} <span class=\"count\">({} {})</span></h2>",
        kind.anchor(),
        esc(kind.title()),
        table.rows.len(),
        kind.plural()
    );
    let longest = table
        .rows
        .iter()
        .map(|r| r.label().chars().count())
        .max()
        .unwrap_or(0);
    let row_px = (longest * ROW_NAME_PX_PER_CHAR + 28).max(180);
    let _ = write!(
        out,
        "<div class=\"scroll\">\n<table class=\"matrix\" style=\"width:{}px\">\n<colgroup>\
         <col style=\"width:{row_px}px\"><col style=\"width:{TALLY_PX}px\">",
        row_px + TALLY_PX + CELL_PX * view.columns.len()
    );
    for _ in &view.columns {
        let _ = write!(out, "<col style=\"width:{CELL_PX}px\">");
    }
    out.push_str("</colgroup>\n<thead>\n<tr class=\"servers\">");
    let _ = write!(
        out,
        "<th class=\"corner\" rowspan=\"2\">{} ↓ · server →</th>\
         <th class=\"works-on\" rowspan=\"2\">works on</th>",
        kind.noun()
    );
    let mut version_rest = Vec::with_capacity(view.columns.len());
    for group in server_groups(&view.columns) {
        let versions: Vec<String> = group.iter().map(ShownColumn::version).collect();
        let (shared, rest) = split_versions(&versions);
        version_rest.extend(rest);
        let _ = write!(
            out,
            "<th colspan=\"{}\"><span class=\"server-name\">{}</span><span class=\"version\">{}</span></th>",
            group.len(),
            esc(&group[0].first().server),
            esc(&shared)
        );
    }
    out.push_str("</tr>\n<tr class=\"profiles\">");
    for ((column, version), tally) in view
        .columns
        .iter()
        .zip(&version_rest)
        .zip(&table.column_tallies)
    {
        let mut title = String::new();
        for member in &column.members {
            let _ = writeln!(title, "{}", column_title(member));
        }
        title.push_str(&column.first().about);
        if let Some(mode) = column.first().mode {
            let _ = write!(title, "\nmode: {}", format!("{mode:?}").to_lowercase());
        }
        let unavailable = column.unavailable();
        for why in &unavailable {
            let _ = write!(title, "\nskipped: {why}");
        }
        let version = if version.is_empty() {
            String::new()
        } else {
            format!("<span class=\"version\">{}</span>", esc(version))
        };
        let badges: String = column.backends().into_iter().map(backend_badge).collect();
        let differs = if view.differs_by_backend(column.id()) {
            "<a class=\"differs\" href=\"#backend-differences\">≠ differs by backend</a>"
        } else {
            ""
        };
        let state = if unavailable.is_empty() {
            format!(
                "<span class=\"tally\">works for <b>{}</b></span>{}",
                tally.of(),
                bar(*tally)
            )
        } else {
            "<span class=\"why\">skipped here</span>".to_string()
        };
        let _ = write!(
            out,
            "<th{} title=\"{}\"><span class=\"profile\">{}</span>{version}<span>{badges}</span>{differs}{state}</th>",
            if unavailable.is_empty() {
                ""
            } else {
                " class=\"unavailable\""
            },
            esc(&title),
            esc(&column.first().profile)
        );
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for row in &table.rows {
        // The tally's background is its share bar.
        let _ = write!(
            out,
            "<tr><th class=\"row\" scope=\"row\" title=\"{}\"><a href=\"#scenario-{}\">{}</a></th>\
             <td class=\"works-on\" title=\"works on {} servers where it ran\" \
             style=\"background:linear-gradient(90deg,var(--works-bg) {p}%,transparent {p}%)\">{3}</td>",
            esc(&row.scenario.about),
            esc(&row.scenario.id),
            esc(row.label()),
            row.tally.of(),
            p = row.tally.percent()
        );
        for (cell, column) in row.cells.iter().zip(&view.columns) {
            let Some(cell) = cell else {
                out.push_str("<td class=\"none\" title=\"no result\">—</td>");
                continue;
            };
            let code = cell
                .outcome
                .code()
                .map(|c| format!("<span class=\"code\">{c}</span>"))
                .unwrap_or_default();
            let ids = quirk_ids(cell);
            let quirks = if ids.is_empty() || cell.class() == OutcomeClass::Skipped {
                String::new()
            } else {
                format!("<span class=\"q\">{}</span>", esc(&ids.join(", ")))
            };
            let same_on: Vec<String> = column
                .backends()
                .into_iter()
                .filter(|b| *b != cell.backend)
                .map(|b| b.to_string())
                .collect();
            let _ = write!(
                out,
                "<td class=\"v {}\"><a href=\"{}\" title=\"{}\">{}{code}{}{quirks}</a></td>",
                class_css(cell.class()),
                esc(&cell_page(&cell.column, cell.backend, &cell.scenario)),
                esc(&cell_tooltip(cell, &same_on)),
                cell.class(),
                marks_html(cell)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

/// A link to a cell's page named `column [backend]`.
fn place_link(cell: &CellResult) -> String {
    format!(
        "<a href=\"{}\">{}</a>{}",
        esc(&cell_page(&cell.column, cell.backend, &cell.scenario)),
        esc(&cell.column),
        backend_badge(cell.backend)
    )
}

/// Unexplained cells, one entry per scenario and summary, each cell linked.
fn gaps_html(out: &mut String, gaps: &[CatalogGap]) {
    let n: usize = gaps.iter().map(|g| g.cells.len()).sum();
    let _ = writeln!(
        out,
        "<h2 id=\"gaps\">Gaps in the quirk catalog <span class=\"count\">({n} cells)</span></h2>"
    );
    if gaps.is_empty() {
        out.push_str(
            "<p class=\"muted\">None: a catalog quirk explains every cell that does not work.</p>\n",
        );
        return;
    }
    out.push_str(
        "<p>These cells do not work, and no quirk in <code>servers/quirks.yaml</code> explains \
         them: each is a behaviour the catalog should name, with its standard and workaround.</p>\n\
         <ul class=\"findings\">\n",
    );
    for gap in gaps {
        let places: Vec<String> = gap.cells.iter().map(|c| place_link(c)).collect();
        let _ = writeln!(
            out,
            "<li><div class=\"what\"><span class=\"chip small {}\">{}</span> \
             <a href=\"#scenario-{2}\">{2}</a>: {3}</div><div class=\"where\">on {4}</div></li>",
            class_css(gap.class),
            gap.class,
            esc(gap.scenario),
            esc(gap.summary),
            places.join(" ")
        );
    }
    out.push_str("</ul>\n");
}

/// Scenarios a `server/profile` answered differently on its backends.
fn differences_html(out: &mut String, view: &View) {
    let _ = writeln!(
        out,
        "<h2 id=\"backend-differences\">Backend differences <span class=\"count\">({})</span></h2>",
        view.differences.len()
    );
    if view.differences.is_empty() {
        out.push_str(
            "<p class=\"muted\">None: every server configuration answered alike on each backend it ran on.</p>\n",
        );
        return;
    }
    out.push_str(
        "<p>The same server configuration answered these scenarios differently depending on how \
         it ran: a finding about the build or the environment, not about the client.</p>\n\
         <ul class=\"findings\">\n",
    );
    for d in &view.differences {
        let answers: Vec<String> = d
            .cells
            .iter()
            .map(|c| {
                format!(
                    "{}{}",
                    backend_badge(c.backend),
                    cell_chip(c, "", &fingerprint(c).to_string())
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<li><div class=\"what\">{} · <a href=\"#scenario-{1}\">{1}</a></div>\
             <div class=\"where\">{2}</div></li>",
            esc(d.column),
            esc(d.scenario),
            answers.join(" ")
        );
    }
    out.push_str("</ul>\n");
}

pub(super) fn render_index(view: &View) -> String {
    let results = view.results;
    let mut out = page_start("FTPS compatibility matrix", &results.harness_version);
    out.push_str(
        "<header>\n<h1>FTPS compatibility matrix</h1>\n<p class=\"question\">Does each client \
         behaviour work with each server, and if not, how exactly does it fail?</p>\n<p class=\"meta\">",
    );
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
    out.push_str("</p>\n");
    if let Some(incomplete) = &results.incomplete {
        let _ = writeln!(
            out,
            "<p class=\"incomplete\"><b>Incomplete</b>: stopped by {}; {} of {} cells finished, \
             {} cancelled. Cells that did not finish are blank.</p>",
            esc(&incomplete.stopped_by),
            incomplete.planned - incomplete.cancelled,
            incomplete.planned,
            incomplete.cancelled
        );
    }
    out.push_str("<ul class=\"summary\" aria-label=\"totals\">");
    for (class, n) in view.counts() {
        let _ = write!(
            out,
            "<li class=\"chip {}{}\">{n} {class}</li>",
            class_css(class),
            if n == 0 { " zero" } else { "" },
        );
    }
    out.push_str("</ul>\n");
    let gaps = view.catalog_gaps();
    out.push_str("<nav class=\"toc\">");
    for table in &view.tables {
        let _ = write!(
            out,
            "<a href=\"#{}\">{}</a>",
            table.kind.anchor(),
            esc(table.kind.title())
        );
    }
    let _ = write!(
        out,
        "<a href=\"#gaps\">Gaps in the quirk catalog ({})</a>",
        gaps.iter().map(|g| g.cells.len()).sum::<usize>()
    );
    if view.has_several_backends() {
        let _ = write!(
            out,
            "<a href=\"#backend-differences\">Backend differences ({})</a>",
            view.differences.len()
        );
    }
    out.push_str(
        "<a href=\"#quirks\">Quirks found</a><a href=\"#scenarios\">Scenarios</a>\
         <a href=\"#servers\">Servers and profiles</a></nav>\n</header>\n",
    );
    legend(&mut out);

    for table in &view.tables {
        table_html(&mut out, view, table);
    }
    gaps_html(&mut out, &gaps);
    if view.has_several_backends() {
        differences_html(&mut out, view);
    }

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
                        "<h3>{}{} <code>{}</code></h3><p class=\"muted\">{}</p><p>{}</p>\
                         <p><b>Workaround:</b> {}</p>",
                        security_badge(q),
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
                "<details><summary>Seen in {n} cell{}</summary><ul class=\"plain\">",
                if n == 1 { "" } else { "s" }
            );
            for (cell, variant) in found.cells {
                let _ = write!(
                    out,
                    "<li class=\"mono\"><a href=\"{}\">{}</a> <span class=\"chip small {}\">{}</span></li>",
                    esc(&cell_page(&cell.column, cell.backend, &cell.scenario)),
                    esc(&place_name(cell, variant)),
                    class_css(cell.class()),
                    cell.class()
                );
            }
            out.push_str("</ul></details></div>\n");
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

/// The transcript, one span per line, styled by each line's kind; the lines of the
/// decisive step are highlighted.
fn transcript_html(transcript: &[Line], decisive_step: Option<usize>) -> String {
    let mut out = String::new();
    for line in transcript {
        let class = match line.kind {
            LineKind::Command => "c",
            LineKind::Reply => "s",
            LineKind::Refusal => "s bad",
            LineKind::Event => "i",
            LineKind::Problem => "i bad",
            LineKind::Step | LineKind::After => "st",
        };
        let decisive = line.step.is_some() && line.step == decisive_step;
        let class = if decisive {
            format!("{class} decisive")
        } else {
            class.to_string()
        };
        let _ = writeln!(out, "<span class=\"{class}\">{}</span>", esc(&line.text));
    }
    out
}

/// The outcome card: class, summary, marks, quirks, and the other backends' answers.
fn outcome_card(out: &mut String, view: &View, cell: &CellResult) {
    let _ = write!(
        out,
        "<section class=\"card outcome\" aria-label=\"outcome\"><div class=\"title-row\">\
         <span class=\"chip {}\">{}</span>{}</div><p class=\"reason\">{}</p><dl class=\"facts\">\
         <dt>outcome</dt><dd><b>{}</b>: {}</dd>",
        class_css(cell.class()),
        esc(&super::cell_label(cell)),
        marks_html(cell),
        esc(&cell.outcome.summary),
        cell.class(),
        esc(cell.class().meaning())
    );
    if cell.class().ran() {
        match &cell.outcome.deviation {
            Some(expected) => {
                let _ = write!(
                    out,
                    "<dt>deviation</dt><dd>≠ the scenario {} (what a server conforming to RFC 959 / 4217 does)</dd>",
                    esc(expected)
                );
            }
            None => out.push_str(
                "<dt>deviation</dt><dd>none: what the scenario’s <code>expect:</code> says a conforming server does</dd>",
            ),
        }
    }
    if cell.outcome.unexplained {
        out.push_str(
            "<dt>unexplained</dt><dd>? no quirk in the catalog explains this outcome: a gap in \
             <code>servers/quirks.yaml</code></dd>",
        );
    }
    if !cell.outcome.quirks.is_empty() {
        let _ = write!(
            out,
            "<dt>quirks</dt><dd>{}</dd>",
            esc(&cell.outcome.quirk_list())
        );
    }
    let siblings = view.siblings(cell);
    if !siblings.is_empty() {
        let mine = fingerprint(cell);
        out.push_str("<dt>other backends</dt><dd>");
        for other in siblings {
            let relation = if other.class() == OutcomeClass::Skipped
                || cell.class() == OutcomeClass::Skipped
            {
                ""
            } else if fingerprint(other) == mine {
                " (same answer)"
            } else {
                " (differs)"
            };
            let _ = write!(
                out,
                "{} {}{relation} ",
                backend_badge(other.backend),
                cell_chip(other, "../", &super::cell_label(other))
            );
        }
        out.push_str("</dd>");
    }
    out.push_str("</dl></section>\n");
}

pub(super) fn render_cell(view: &View, cell: &CellResult) -> String {
    let results = view.results;
    let title = format!("{} on {} [{}]", cell.scenario, cell.column, cell.backend);
    let mut out = page_start(
        &format!("{} · {title}", cell_headline(cell)),
        &results.harness_version,
    );
    out.push_str("<nav class=\"back\"><a href=\"../index.html\">← Back to the matrix</a></nav>\n");
    let _ = writeln!(
        out,
        "<div class=\"title-row\"><h1><code>{}</code> <span class=\"on\">on</span> <code>{}</code></h1>{}</div>",
        esc(&cell.scenario),
        esc(&cell.column),
        backend_badge(cell.backend)
    );
    let took = if cell.class() == OutcomeClass::Skipped {
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
    outcome_card(&mut out, view, cell);

    // Decisive step.
    out.push_str("<div class=\"cards\">\n<div class=\"card\"><h3>Decisive step</h3>");
    match &cell.outcome.decisive {
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
        None if cell.class() == OutcomeClass::Works => {
            out.push_str("<p class=\"muted\">None: every step completed.</p>");
        }
        None => out.push_str("<p class=\"muted\">None: no step ran.</p>"),
    }
    out.push_str("</div>\n</div>\n");

    // Quirks.
    if !cell.outcome.quirks.is_empty() {
        out.push_str("<h2>Quirks matched</h2>\n<div class=\"cards\">\n");
        for m in &cell.outcome.quirks {
            let variant = m
                .variant
                .as_deref()
                .map(|v| format!(" · variant {}", esc(v)))
                .unwrap_or_default();
            match view.quirk(&m.id) {
                Some(q) => {
                    let _ = write!(
                        out,
                        "<div class=\"card\"><h3>{}{} <code>{}</code></h3><p class=\"muted\">{}{variant}</p>\
                         <p><b>Explanation:</b> {}</p><p><b>Workaround:</b> {}</p>",
                        security_badge(q),
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
        let step = cell.outcome.decisive.as_ref().map(|d| d.step);
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

    // What ran: the scenario and the server.
    out.push_str("<h2>Scenario and server</h2>\n<div class=\"cards\">\n");
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
        let versions = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            split_versions(&versions(&[
                "emulates FileZilla Server 0.9.60",
                "emulates FileZilla Server 1.9.4"
            ])),
            (
                "emulates FileZilla Server".to_string(),
                versions(&["0.9.60", "1.9.4"])
            )
        );
        assert_eq!(
            split_versions(&versions(&["3.0.3", "3.0.3"])),
            ("3.0.3".to_string(), versions(&["", ""]))
        );
        assert_eq!(
            split_versions(&versions(&["3.0.3", "version unknown"])),
            (String::new(), versions(&["3.0.3", "version unknown"]))
        );
    }

    #[test]
    fn transcript_marks_the_decisive_step() {
        let line = |kind, step, text: &str| Line {
            kind,
            step,
            text: text.into(),
        };
        let lines = [
            line(LineKind::Step, Some(1), "-- step 1: list"),
            line(LineKind::Command, Some(1), "C> LIST"),
            line(LineKind::Refusal, Some(1), "S< 522 no <reuse>"),
            line(LineKind::Step, Some(2), "-- step 2: quit"),
            line(LineKind::Command, Some(2), "C> QUIT"),
            line(LineKind::After, None, "-- after the steps: quit"),
            line(LineKind::Problem, None, "== control closed"),
        ];
        let html = transcript_html(&lines, Some(1));
        assert!(html.contains("<span class=\"c decisive\">C&gt; LIST</span>"));
        assert!(html.contains("<span class=\"s bad decisive\">S&lt; 522 no &lt;reuse&gt;</span>"));
        assert!(html.contains("<span class=\"c\">C&gt; QUIT</span>"));
        assert!(html.contains("<span class=\"i bad\">== control closed</span>"));
    }
}
