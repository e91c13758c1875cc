//! Redacts what changes between two runs of the same cell: ports, passwords, temp paths,
//! clock times and throughput figures. Everything else stays byte for byte.

use std::sync::LazyLock;

use regex::Regex;

/// An ordered list of regex replacements. Servers can add their own rules on top of the
/// built-in ones (for banners that print a counter, say).
#[derive(Debug, Clone)]
pub struct Normalizer {
    rules: Vec<(Regex, String)>,
}

const BUILT_IN: &[(&str, &str)] = &[
    // Secrets.
    (r"(?m)^(C> PASS) .*$", "$1 <password>"),
    // PASV reply and PORT argument: keep the host, hide the port bytes.
    (
        r"\b(\d{1,3},\d{1,3},\d{1,3},\d{1,3}),\d{1,3},\d{1,3}\b",
        "$1,<port>",
    ),
    // EPSV reply and EPRT argument.
    (r"\(\|\|\|\d+\|\)", "(|||<port>|)"),
    (r"\|([12])\|([0-9a-fA-F.:]+)\|\d+\|", "|$1|$2|<port>|"),
    // host:port in connection events and server texts.
    (r"\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d+\b", "$1:<port>"),
    (r"\[([0-9a-fA-F:]+)\]:\d+", "[$1]:<port>"),
    (r"(?i)\b(server port)(:? )\d{2,5}\b", "$1$2<port>"),
    // Temporary directories.
    (r#"(/tmp|/var/tmp|/dev/shm)/[^\s"'\]\)]*"#, "<tmp>"),
    // Clock times and throughput (pure-ftpd banners and 226 replies).
    (r"\b\d{1,2}:\d{2}(:\d{2})?\b", "<time>"),
    (r"\b\d+(\.\d+)? seconds\b", "<n> seconds"),
    // The unit too: a short transfer reads as Kbytes or Mbytes per second by speed.
    (
        r"\b\d+(\.\d+)? [KMGkmg]?bytes per second\b",
        "<n> <unit> per second",
    ),
    (r"(?i)\buser number \d+\b", "user number <n>"),
    // pure-ftpd active mode names the client's port in its 150.
    (
        r"(?m)^(S< 150[- ])Connecting to port \d+",
        "${1}Connecting to port <port>",
    ),
    // ProFTPD's FEAT LANG line lists the locales of the server's environment (differs
    // between a native process and a container).
    (r"(?m)^(S<\s+LANG) .*$", "$1 <languages>"),
    // vsftpd's STAT counts the sessions open at startup, the readiness probe's included
    // while it is still closing.
    (r"(?i)\bclient count was \d+", "client count was <n>"),
    // How much of a clear-text refusal arrived before a TLS handshake (vsftpd's 421 after a
    // pipelined AUTH carries an OpenSSL error that depends on how many bytes it had read).
    (
        r"(?m)^== note: \d+ unread bytes from the server",
        "== note: <n> unread bytes from the server",
    ),
    (
        r"\bsent \d+ clear-text bytes after 234\b",
        "sent <n> clear-text bytes after 234",
    ),
    // pyftpdlib answers a transfer with 125 when its event loop has already accepted the
    // data connection and with 150 when not (handlers.py:1785-1803, 2373-2380): which one
    // depends on timing, so both are shown as the one line that says so.
    (
        r"(?m)^S< (125 Data connection already open\. Transfer starting\.|150 File status okay\. About to open data connection\.)$",
        "S< <125|150> data connection already open (125) or about to open (150), by timing",
    ),
];

static DEFAULT: LazyLock<Normalizer> = LazyLock::new(|| {
    Normalizer::with_rules(BUILT_IN.iter().map(|(p, r)| (p.to_string(), r.to_string())))
        .expect("built-in normalizer rules are valid regexes")
});

impl Normalizer {
    pub fn with_rules(
        rules: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, regex::Error> {
        let rules = rules
            .into_iter()
            .map(|(pattern, replacement)| Ok((Regex::new(&pattern)?, replacement)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(Normalizer { rules })
    }

    /// The built-in rules followed by `extra` ones.
    pub fn extended(
        extra: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, regex::Error> {
        let mut normalizer = DEFAULT.clone();
        normalizer
            .rules
            .extend(Normalizer::with_rules(extra)?.rules);
        Ok(normalizer)
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (regex, replacement) in &self.rules {
            out = regex.replace_all(&out, replacement.as_str()).into_owned();
        }
        out
    }
}

/// Reply lines a server adds by chance: pure-ftpd's MSG_WINNER, added to a RETR's 150
/// when `time(NULL) % 100 == 0` (src/ftpd.c, unless built with DISABLE_HUMOR).
const RANDOM_REPLY_TEXTS: &[&str] = &["The computer is your friend. Trust the computer"];

/// A reply's lines (each `NNN-text` or `NNN text`) without the lines servers add by
/// chance; when the last line goes, the one before it becomes the last (`NNN-` to `NNN `).
pub fn without_random_lines(lines: &[String]) -> Vec<String> {
    let random = |line: &str| {
        line.get(4..)
            .is_some_and(|text| RANDOM_REPLY_TEXTS.contains(&text))
    };
    if !lines.iter().any(|l| random(l)) {
        return lines.to_vec();
    }
    let mut kept: Vec<String> = lines.iter().filter(|l| !random(l)).cloned().collect();
    let last_was_random = lines.last().is_some_and(|l| random(l));
    if let Some(last) = kept.last_mut().filter(|_| last_was_random)
        && last.as_bytes().get(3) == Some(&b'-')
    {
        last.replace_range(3..4, " ");
    }
    kept
}

/// Normalizes with the built-in rules.
pub fn normalize(text: &str) -> String {
    DEFAULT.apply(text)
}

#[cfg(test)]
mod tests {
    use super::{normalize, without_random_lines};

    #[test]
    fn pyftpdlib_125_and_150_read_the_same() {
        let early = normalize("S< 125 Data connection already open. Transfer starting.");
        let late = normalize("S< 150 File status okay. About to open data connection.");
        assert_eq!(early, late);
        assert!(early.starts_with("S< <125|150> "));
        // Other servers' 150 lines are kept.
        let vsftpd = "S< 150 Here comes the directory listing.";
        assert_eq!(normalize(vsftpd), vsftpd);
    }

    #[test]
    fn redacts_what_varies() {
        let raw = "\
C> PASS hunter2
S< 227 Entering Passive Mode (127,0,0,1,156,64).
S< 229 Entering Extended Passive Mode (|||40001|)
C> EPRT |1|127.0.0.1|40002|
C> PORT 127,0,0,1,156,65
== data connect 127.0.0.1:40001
== control connect [::1]:2121
S< 220-Local time is now 00:41. Server port: 2122.
S< 226 0.012 seconds (measured here), 82.70 Mbytes per second
S< 257 \"/tmp/.tmpAbC123/root\" is the current directory
";
        let expected = "\
C> PASS <password>
S< 227 Entering Passive Mode (127,0,0,1,<port>).
S< 229 Entering Extended Passive Mode (|||<port>|)
C> EPRT |1|127.0.0.1|<port>|
C> PORT 127,0,0,1,<port>
== data connect 127.0.0.1:<port>
== control connect [::1]:<port>
S< 220-Local time is now <time>. Server port: <port>.
S< 226 <n> seconds (measured here), <n> <unit> per second
S< 257 \"<tmp>\" is the current directory
";
        assert_eq!(normalize(raw), expected);
    }

    #[test]
    fn drops_the_lines_servers_add_by_chance() {
        let lines = |ls: &[&str]| ls.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let winner = "The computer is your friend. Trust the computer";
        // Last line: the one before becomes the final line.
        assert_eq!(
            without_random_lines(&lines(&[
                "150-Accepted data connection",
                &format!("150 {winner}")
            ])),
            lines(&["150 Accepted data connection"])
        );
        // In the middle: simply gone.
        assert_eq!(
            without_random_lines(&lines(&[
                "150-Accepted data connection",
                &format!("150-{winner}"),
                "150 10240.0 kbytes to download"
            ])),
            lines(&[
                "150-Accepted data connection",
                "150 10240.0 kbytes to download"
            ])
        );
        let plain = lines(&["150 Accepted data connection"]);
        assert_eq!(without_random_lines(&plain), plain);
    }

    #[test]
    fn keeps_reply_codes_and_sizes() {
        let raw = "S< 150 Opening BINARY mode data connection for up.bin (1048576 bytes).\n";
        assert_eq!(normalize(raw), raw);
    }
}
