//! Request-path normalisation (§4.1) and the escaping applied when a
//! normalised path is sent upstream (§4.2).
//!
//! The router matches on the normalised path: percent-encoded triplets are
//! decoded except for reserved characters (whose hex is upper-cased), dot
//! segments are removed and `//` is merged. Decoding can produce bytes that
//! are not valid in a request line (a space, non-ASCII), so the path is kept
//! as bytes and [`escape_path`] re-encodes those before forwarding.

use std::borrow::Cow;

/// RFC 3986 reserved characters plus `%`: these stay percent-encoded.
fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'*'
            | b'\''
            | b'('
            | b')'
            | b';'
            | b':'
            | b'@'
            | b'&'
            | b'='
            | b'+'
            | b'$'
            | b','
            | b'/'
            | b'?'
            | b'%'
            | b'#'
            | b'['
            | b']'
    )
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Normalises a request path (without its query). Borrows when the path is
/// already normal, which is the common case.
pub fn normalize_path(raw: &str) -> Cow<'_, [u8]> {
    let bytes = raw.as_bytes();
    let has_pct = bytes.contains(&b'%');
    let has_dot = bytes.contains(&b'.');
    let has_double = bytes.windows(2).any(|w| w == b"//");
    if !has_pct && !has_dot && !has_double {
        return Cow::Borrowed(bytes);
    }
    let decoded: Cow<'_, [u8]> = if has_pct {
        Cow::Owned(decode(bytes))
    } else {
        Cow::Borrowed(bytes)
    };
    let needs_segments = decoded.contains(&b'.') || decoded.windows(2).any(|w| w == b"//");
    if !needs_segments {
        return Cow::Owned(decoded.into_owned());
    }
    Cow::Owned(remove_dot_segments(&decoded))
}

/// Decodes `%XX` unless XX is a reserved character, which is upper-cased.
/// Invalid triplets are left as they are.
fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                let v = h * 16 + l;
                if is_reserved(v) {
                    out.push(b'%');
                    out.push(bytes[i + 1].to_ascii_uppercase());
                    out.push(bytes[i + 2].to_ascii_uppercase());
                } else {
                    out.push(v);
                }
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4 with `//` merged, over segments.
fn remove_dot_segments(input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    // Start offsets in `out` of each output segment (each begins with '/'
    // unless it is the first and the input was relative).
    let mut starts: Vec<usize> = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        if rest == b"/." {
            rest = b"/";
        } else if rest == b"/.." {
            rest = b"/";
            pop_segment(&mut out, &mut starts);
        } else if rest == b"." || rest == b".." {
            rest = b"";
        } else if rest.starts_with(b"../") {
            rest = &rest[3..];
        } else if rest.starts_with(b"./") || rest.starts_with(b"/./") {
            rest = &rest[2..];
        } else if rest.starts_with(b"/../") {
            rest = &rest[3..];
            pop_segment(&mut out, &mut starts);
        } else if rest.starts_with(b"//") {
            rest = &rest[1..];
        } else {
            let end = rest
                .iter()
                .skip(1)
                .position(|&b| b == b'/')
                .map_or(rest.len(), |p| p + 1);
            starts.push(out.len());
            out.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
        }
    }
    out
}

fn pop_segment(out: &mut Vec<u8>, starts: &mut Vec<usize>) {
    if let Some(start) = starts.pop() {
        out.truncate(start);
    }
}

/// Characters that may appear unescaped in the forwarded path: reserved,
/// unreserved, and `%` (already-encoded triplets).
fn is_path_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'/'
                | b':'
                | b';'
                | b'='
                | b'?'
                | b'@'
                | b'['
                | b']'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
                | b'%'
        )
}

/// Percent-encodes what normalisation decoded and a request line cannot carry.
pub fn escape_path(path: &[u8]) -> Cow<'_, str> {
    if path.iter().all(|&b| is_path_safe(b)) {
        // Only ASCII bytes pass `is_path_safe`.
        if let Ok(s) = std::str::from_utf8(path) {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for &b in path {
        if is_path_safe(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        String::from_utf8(normalize_path(s).into_owned()).unwrap()
    }

    #[test]
    fn normalises_like_kong() {
        assert_eq!(n("/"), "/");
        assert_eq!(n("/a/b"), "/a/b");
        assert_eq!(n("/a//b"), "/a/b");
        assert_eq!(n("/a/./b"), "/a/b");
        assert_eq!(n("/a/../b"), "/b");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/../a"), "/a");
        assert_eq!(n("/%61%62c"), "/abc");
        assert_eq!(n("/a%2fb"), "/a%2Fb");
        assert_eq!(n("/a%2e%2E/b"), "/a../b");
        assert_eq!(n("/x/%2e%2e/y"), "/y");
        assert_eq!(n("/a%20b"), "/a b");
        assert_eq!(n("/a%zzb"), "/a%zzb");
        assert_eq!(n("/a%2"), "/a%2");
        assert_eq!(n("/a/b/"), "/a/b/");
    }

    #[test]
    fn escapes_for_forwarding() {
        assert_eq!(escape_path(b"/a b"), "/a%20b");
        assert_eq!(escape_path(b"/a%2Fb"), "/a%2Fb");
        assert_eq!(escape_path("/é".as_bytes()), "/%C3%A9");
        assert!(matches!(escape_path(b"/plain/path"), Cow::Borrowed(_)));
    }
}
