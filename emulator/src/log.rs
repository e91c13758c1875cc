//! The server-side event log the harness shows in report excerpts.

use std::sync::{Arc, Mutex};

/// Upper bound on kept lines, so a long-running `serve` cannot grow without limit.
const MAX_LINES: usize = 100_000;

#[derive(Clone, Default)]
pub(crate) struct EventLog(Arc<Mutex<Lines>>);

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    dropped: usize,
}

impl EventLog {
    pub fn push(&self, line: String) {
        let mut l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if l.lines.len() >= MAX_LINES {
            l.lines.remove(0);
            l.dropped += 1;
        }
        l.lines.push(line);
    }

    pub fn snapshot(&self) -> Vec<String> {
        let l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(l.lines.len() + 1);
        if l.dropped > 0 {
            out.push(format!("({} earlier lines dropped)", l.dropped));
        }
        out.extend(l.lines.iter().cloned());
        out
    }

    /// A logger whose lines start with `[prefix]`.
    pub fn scoped(&self, prefix: String) -> Logger {
        Logger {
            log: self.clone(),
            prefix,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Logger {
    log: EventLog,
    prefix: String,
}

impl Logger {
    pub fn line(&self, msg: impl AsRef<str>) {
        self.log.push(format!("[{}] {}", self.prefix, msg.as_ref()));
    }

    pub fn child(&self, suffix: &str) -> Logger {
        Logger {
            log: self.log.clone(),
            prefix: format!("{} {}", self.prefix, suffix),
        }
    }
}
