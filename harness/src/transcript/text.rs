//! Server bytes made safe to print: control characters and bytes that are not UTF-8
//! become `\xNN`, so a transcript never carries terminal escapes or raw binary, and the
//! same bytes always give the same text.

/// The text of a line of server bytes (without its line terminator).
pub fn printable(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invalid_bytes_are_escaped_and_text_is_kept() {
        assert_eq!(printable(b"220 ready"), "220 ready");
        assert_eq!(printable(b"220 \x1b[31mred\x07"), "220 \\x1b[31mred\\x07");
        assert_eq!(
            printable(b"220 caf\xc3\xa9 \xff\xfe"),
            "220 café \\xff\\xfe"
        );
        assert_eq!(printable(b"a\tb\x00"), "a\tb\\x00");
        // U+0085 (NEL) is a control character in UTF-8 form.
        assert_eq!(printable("x\u{85}".as_bytes()), "x\\xc2\\x85");
    }
}
