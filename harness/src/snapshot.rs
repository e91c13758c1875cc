//! A cell's snapshot, the baseline under `cargo test`: an outcome line, the quirks line,
//! then the normalized transcript. When a committed snapshot no longer matches, the header
//! says in two lines what changed about the answer, before any transcript diff.

use crate::matrix::CellResult;

/// The snapshot text of a cell.
pub fn render(cell: &CellResult) -> String {
    format!(
        "outcome: {}\nquirks: {}\n\n{}",
        cell.outcome.summary,
        cell.outcome.quirk_list(),
        cell.transcript_text()
    )
}

/// The outcome and quirks lines of a snapshot (insta's file or our text).
fn header(snapshot: &str) -> (Option<&str>, Option<&str>) {
    let mut outcome = None;
    let mut quirks = None;
    for line in snapshot.lines() {
        if let Some(rest) = line.strip_prefix("outcome: ") {
            outcome = outcome.or(Some(rest));
        } else if let Some(rest) = line.strip_prefix("quirks: ") {
            quirks = quirks.or(Some(rest));
        }
        if line.is_empty() && outcome.is_some() {
            break;
        }
    }
    (outcome, quirks)
}

/// What changed between a committed snapshot and this run, for a person to act on.
pub fn explain_change(committed: Option<&str>, now: &str, trial: &str) -> String {
    let accept = format!(
        "If this is the server's (or the client's) new behaviour, accept it with `cargo insta review`, \
         or rerun with INSTA_UPDATE=always cargo test --test compat -- '{trial}'; otherwise it is a regression."
    );
    let Some(committed) = committed else {
        return format!("{trial}: no committed snapshot yet (a new cell). {accept}");
    };
    let (old_outcome, old_quirks) = header(committed);
    let (new_outcome, new_quirks) = header(now);
    let mut lines = Vec::new();
    if old_outcome != new_outcome {
        lines.push(format!(
            "  outcome was: {}\n  outcome now: {}",
            old_outcome.unwrap_or("(none)"),
            new_outcome.unwrap_or("(none)")
        ));
    }
    if old_quirks != new_quirks {
        lines.push(format!(
            "  quirks were: {}\n  quirks now:  {}",
            old_quirks.unwrap_or("(none)"),
            new_quirks.unwrap_or("(none)")
        ));
    }
    if lines.is_empty() {
        format!(
            "{trial}: same outcome and quirks, but the transcript changed (see the diff above). {accept}"
        )
    } else {
        format!(
            "{trial}: the answer changed\n{}\n{accept}",
            lines.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = "---\nsource: harness/tests/compat.rs\n---\n\
        outcome: refused at step 5 (list): LIST -> 522 SSL connection failed: session reuse required\n\
        quirks: session-reuse-required (522)\n\n-- step 0: connect\n";

    #[test]
    fn a_changed_outcome_is_named_old_and_new_with_how_to_accept() {
        let now = "outcome: works\nquirks: -\n\n-- step 0: connect\n";
        let message = explain_change(Some(COMMITTED), now, "vsftpd/explicit-strict::s");
        assert!(message.contains("the answer changed"), "{message}");
        assert!(
            message.contains(
                "outcome was: refused at step 5 (list): LIST -> 522 SSL connection failed"
            ),
            "{message}"
        );
        assert!(message.contains("outcome now: works"), "{message}");
        assert!(message.contains("quirks now:  -"), "{message}");
        assert!(message.contains("cargo insta review"), "{message}");
    }

    #[test]
    fn a_transcript_only_change_says_so() {
        let now = COMMITTED.replace("connect\n", "connect (plain)\n");
        let now = now.split("---\n").last().unwrap();
        let message = explain_change(Some(COMMITTED), now, "t");
        assert!(message.contains("same outcome and quirks"), "{message}");
        assert!(explain_change(None, now, "t").contains("no committed snapshot yet"));
    }
}
