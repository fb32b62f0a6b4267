//! `mask_uuids`, shared by the tests that compare texts holding generated
//! tokens (`cardledger-domain/tests/wire_oracle.rs`,
//! `cardledger-core/tests/ingest.rs`, which includes this file by path).

/// Replaces every UUID-shaped run (8-4-4-4-12 lowercase hex: a generated
/// token) with `<uuid>`.
pub fn mask_uuids(text: &str) -> String {
    let b = text.as_bytes();
    let shape = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            })
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && shape(&b[i..i + 36]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}
