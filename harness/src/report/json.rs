//! `results.json`: the results as they are, pretty-printed. The schema is
//! `docs/results-schema.json`, described in `docs/results.md`.

use std::io;

use crate::matrix::MatrixResults;

pub(super) fn render(results: &MatrixResults) -> io::Result<String> {
    let mut text = serde_json::to_string_pretty(results)
        .map_err(|e| io::Error::other(format!("results.json: {e}")))?;
    text.push('\n');
    Ok(text)
}
