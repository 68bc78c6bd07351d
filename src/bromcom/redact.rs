//! Cutting the application secret out of text a server sent back, in the forms an echo of a
//! request could take: as written, in any letter case, percent- or form-encoded, and inside
//! base64 (standard or URL-safe alphabet, at any of the three byte alignments). Used only for
//! what TRACE logs of a server's message; nothing else keeps such text at all.

const MARK: &str = "[redacted]";
const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `text` with every form of `secret` replaced by `[redacted]`.
pub(super) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let mut forms = vec![
        secret.to_owned(),
        percent_encoded(secret, false),
        percent_encoded(secret, true),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    for alphabet in [STANDARD, URL_SAFE] {
        forms.extend((0..3).filter_map(|offset| base64_core(secret.as_bytes(), offset, alphabet)));
    }
    // Longest first, so that a form containing another is cut out whole.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms.dedup();
    let mut out = text.to_owned();
    for form in forms.iter().filter(|form| form.len() >= 4) {
        out = replace_ignoring_ascii_case(&out, form);
    }
    out
}

/// Every byte escaped as `%XX` that is not unreserved (RFC 3986), in either hex case.
fn percent_encoded(secret: &str, lower_hex: bool) -> String {
    let mut out = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else if lower_hex {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The base64 characters that depend on `secret` alone when it starts `offset` bytes (0-2)
/// into the encoded data: those mixing in the bytes around it are left off both ends.
fn base64_core(secret: &[u8], offset: usize, alphabet: &[u8; 64]) -> Option<String> {
    let mut data = vec![0u8; offset];
    data.extend_from_slice(secret);
    let encoded = encode(&data, alphabet);
    // Characters wholly within the first `offset` bytes, plus one shared with the secret.
    let skip = match offset {
        0 => 0,
        1 => 2,
        _ => 3,
    };
    // Chars covering the last bytes: six bits each, and the final one may mix with what follows.
    let whole_chars = (data.len() * 8) / 6;
    let end = whole_chars.min(encoded.len());
    (end > skip).then(|| encoded[skip..end].to_owned())
}

/// Base64 without padding.
fn encode(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// `needle` is ASCII, so a match starts and ends on character boundaries of `text`.
fn replace_ignoring_ascii_case(text: &str, needle: &str) -> String {
    let (hay, pin) = (text.as_bytes(), needle.as_bytes());
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i + pin.len() <= hay.len() {
        if hay[i..i + pin.len()].eq_ignore_ascii_case(pin) {
            out.push_str(&text[copied..i]);
            out.push_str(MARK);
            i += pin.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Sec+ret/42=xyz";

    fn std_b64(data: &[u8]) -> String {
        let mut s = encode(data, STANDARD);
        while !s.len().is_multiple_of(4) {
            s.push('=');
        }
        s
    }

    #[test]
    fn every_echoed_form_of_the_secret_is_cut_out() {
        let forms = [
            SECRET.to_owned(),
            SECRET.to_lowercase(),
            SECRET.to_uppercase(),
            "Sec%2Bret%2F42%3Dxyz".to_owned(),
            "sec%2bret%2f42%3dxyz".to_owned(),
            "Sec%2Bret%2F42%3Dxyz".to_owned(),
            std_b64(SECRET.as_bytes()),
            std_b64(format!("app:{SECRET}").as_bytes()),
            std_b64(format!("ab:{SECRET}").as_bytes()),
            std_b64(format!("a:{SECRET}").as_bytes()),
            encode(format!("id={SECRET}").as_bytes(), URL_SAFE),
        ];
        for form in forms {
            let text = format!("refused header {form} for pupil");
            let out = redact(&text, SECRET);
            assert!(out.contains("[redacted]"), "{form}: {out}");
            assert!(!out.contains(&form), "{form}: {out}");
            assert!(out.starts_with("refused header ") && out.ends_with(" for pupil"));
        }
        assert_eq!(redact("nothing here", SECRET), "nothing here");
        assert_eq!(redact("é Sec+ret/42=xyz ü", SECRET), "é [redacted] ü");
    }
}
