//! The pure parsers under random input: arbitrary bytes, split at arbitrary points, never
//! panic and never hold more than their bounds; well-formed input round-trips.
//! `cargo test` runs proptest's default number of cases; a long run sets PROPTEST_CASES
//! (for example `PROPTEST_CASES=1000000 cargo test --release --test parsers`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use proptest::prelude::*;

use ftps_compat::client::data::{parse_epsv, parse_pasv};
use ftps_compat::client::reply::{Reply, ReplyParser};
use ftps_compat::transcript::normalize;

const MAX_LINE: usize = 512;
const MAX_REPLY: usize = 4096;

/// Feeds `bytes` to a parser in pieces cut at `cuts`; returns the replies, or the error.
fn parse_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Reply>, String> {
    let mut parser = ReplyParser::new(MAX_LINE, MAX_REPLY);
    let mut replies = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    for point in points {
        parser
            .buffer_mut()
            .extend_from_slice(&bytes[at..point.max(at)]);
        at = point.max(at);
        loop {
            match parser.next_reply() {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => return Err(e.to_string()),
            }
            // Whatever the input, what the parser holds stays within its bounds.
            assert!(parser.pending_len() <= bytes.len());
        }
        assert!(parser.pending_len() <= MAX_LINE + MAX_REPLY + bytes.len().min(MAX_LINE + 1));
    }
    Ok(replies)
}

/// A well-formed reply: a code and 1 to 5 lines of printable text.
fn reply() -> impl Strategy<Value = (u16, Vec<String>)> {
    (100u16..600, prop::collection::vec("[ -~]{0,40}", 1..6))
}

fn encode((code, texts): &(u16, Vec<String>)) -> (Vec<u8>, Reply) {
    let mut lines = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let last = i + 1 == texts.len();
        lines.push(format!("{code}{}{text}", if last { ' ' } else { '-' }));
    }
    let mut bytes = Vec::new();
    for line in &lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    (bytes, Reply { code: *code, lines })
}

proptest! {
    #[test]
    fn replies_of_arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..8192),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = parse_in_pieces(&bytes, &cuts);
    }

    #[test]
    fn well_formed_replies_round_trip_however_they_are_cut(
        replies in prop::collection::vec(reply(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let (mut bytes, mut expected) = (Vec::new(), Vec::new());
        for reply in &replies {
            let (encoded, parsed) = encode(reply);
            bytes.extend(encoded);
            expected.push(parsed);
        }
        prop_assert_eq!(parse_in_pieces(&bytes, &cuts), Ok(expected));
    }

    #[test]
    fn pasv_and_epsv_parse_any_text_without_panicking(text in "\\PC{0,200}") {
        let _ = parse_pasv(&text);
        let _ = parse_epsv(&text);
    }

    #[test]
    fn pasv_replies_round_trip(ip in any::<[u8; 4]>(), port in any::<u16>()) {
        let text = format!(
            "Entering Passive Mode ({},{},{},{},{},{}).",
            ip[0], ip[1], ip[2], ip[3], port >> 8, port & 0xff
        );
        let want = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port);
        prop_assert_eq!(parse_pasv(&text), Some(want));
    }

    #[test]
    fn epsv_replies_round_trip(port in any::<u16>(), delimiter in "[!|#$]") {
        let d = delimiter;
        let text = format!("Entering Extended Passive Mode ({d}{d}{d}{port}{d})");
        prop_assert_eq!(parse_epsv(&text), Some(port));
    }

    #[test]
    fn normalizing_is_total_and_stable(text in "\\PC{0,300}") {
        let once = normalize(&text);
        prop_assert_eq!(normalize(&once), once);
    }

    #[test]
    fn passwords_never_survive_normalizing(secret in "[!-~]{1,40}", before in "[ -~]{0,40}") {
        let text = format!("{before}\nC> PASS {secret}\n");
        let normalized = normalize(&text);
        prop_assert!(normalized.contains("C> PASS <password>"));
    }

    #[test]
    fn scenario_files_of_arbitrary_text_load_or_fail_cleanly(text in "\\PC{0,400}") {
        let _ = ftps_compat::scenario::parse(Path::new("random.yaml"), &text);
    }
}
