//! Request body decoders behind `kong.request.get_body`: form arguments
//! as `ngx.req.get_post_args` reads them and multipart forms as Kong's
//! `lua-multipart` reads them (`get_all_with_arrays`). JSON goes through
//! the VM's own cjson (`pdk/request.rs`), so a body decodes exactly as
//! `cjson.decode` would.
//!
//! Both work on bytes, not text: a form value may be any byte string, as
//! in OpenResty. Neither recurses.

/// One decoded field: a name and its value (`None`: a form flag without
/// `=`, which Lua sees as `true`).
pub type Field = (Vec<u8>, Option<Vec<u8>>);

/// `ngx.req.get_post_args(max)`: `&`-separated pairs, `+` as a space,
/// `%XX` decoded; a pair without `=` is a flag; pairs with an empty name
/// are skipped. At most `max` pairs are read (the rest is ignored, as
/// OpenResty does when it answers "truncated").
pub fn form_fields(body: &[u8], max: usize) -> Vec<Field> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let name = unescape(&pair[..eq]);
                (!name.is_empty()).then(|| (name, Some(unescape(&pair[eq + 1..]))))
            }
            None => Some((unescape(pair), None)),
        })
        .take(max)
        .collect()
}

/// `ngx.unescape_uri` for form data: `+` is a space, `%XX` a byte, and a
/// `%` not followed by two hex digits stays as it is.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (s.get(i + 1).and_then(hex), s.get(i + 2).and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// The boundary of a `multipart/form-data` content type, as lua-multipart
/// finds it: `; boundary=` followed by non-space characters, without
/// surrounding quotes. `None` when there is none (the body then decodes
/// to no fields).
pub fn multipart_boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let lower = content_type.to_ascii_lowercase();
    let mut from = 0;
    while let Some(semi) = lower[from..].iter().position(|&b| b == b';') {
        let at = from + semi + 1;
        let rest = &lower[at..];
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if rest[skip..].starts_with(b"boundary=") {
            let start = at + skip + b"boundary=".len();
            let value: Vec<u8> = content_type[start..]
                .iter()
                .take_while(|b| !b.is_ascii_whitespace())
                .copied()
                .collect();
            let unquoted = match value.as_slice() {
                [q @ (b'"' | b'\''), inner @ .., last] if last == q => inner.to_vec(),
                _ => value,
            };
            return (!unquoted.is_empty()).then_some(unquoted);
        }
        from = at;
    }
    None
}

/// The fields of a multipart body: for each part between `--boundary`
/// lines, its `Content-Disposition` name and its content (the line break
/// before the next delimiter is not part of it). Lines may end in CRLF or
/// LF. A part without a name is skipped; a body without delimiters has no
/// fields.
pub fn multipart_fields(body: &[u8], boundary: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    // Where each delimiter line starts and where the line after it starts.
    let mut lines = Vec::new();
    let mut at = 0;
    while at <= body.len() {
        let end = body[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| at + p);
        if body[at..end].starts_with(&delimiter) {
            lines.push((at, (end + 1).min(body.len())));
        }
        at = end + 1;
    }
    let mut fields = Vec::new();
    for pair in lines.windows(2) {
        let (part_start, next_delimiter) = (pair[0].1, pair[1].0);
        let mut part = &body[part_start..next_delimiter];
        // The line break before the delimiter belongs to it.
        part = part.strip_suffix(b"\n").unwrap_or(part);
        part = part.strip_suffix(b"\r").unwrap_or(part);
        if let Some(field) = multipart_part(part) {
            fields.push(field);
        }
    }
    fields
}

/// One part: header lines up to an empty line, then the content.
fn multipart_part(part: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut name = None;
    let mut at = 0;
    loop {
        let Some(nl) = part[at..].iter().position(|&b| b == b'\n') else {
            // Headers without an empty line: no content.
            header_name(&part[at..], &mut name);
            return name.map(|n| (n, Vec::new()));
        };
        let line = &part[at..at + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += nl + 1;
        if line.is_empty() {
            break;
        }
        header_name(line, &mut name);
    }
    name.map(|n| (n, part[at..].to_vec()))
}

/// The `name` parameter of a `Content-Disposition` header line.
fn header_name(line: &[u8], name: &mut Option<Vec<u8>>) {
    if line.len() < 19 || !line[..19].eq_ignore_ascii_case(b"content-disposition") {
        return;
    }
    for param in line.split(|&b| b == b';').skip(1) {
        let param = param.trim_ascii_start();
        if param.len() > 5 && param[..5].eq_ignore_ascii_case(b"name=") {
            let v = param[5..].trim_ascii_end();
            let v = match v {
                [b'"', inner @ .., b'"'] => inner,
                other => other,
            };
            *name = Some(v.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode_flags_and_limit() {
        let f = form_fields(b"a=1&b&c=x+y%2Fz&=skip&d=%zz", 10);
        assert_eq!(
            f,
            vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), None),
                (b"c".to_vec(), Some(b"x y/z".to_vec())),
                (b"d".to_vec(), Some(b"%zz".to_vec())),
            ]
        );
        assert_eq!(form_fields(b"a=1&b=2&c=3", 2).len(), 2);
    }

    #[test]
    fn multipart_boundary_forms() {
        assert_eq!(
            multipart_boundary(b"multipart/form-data; boundary=AaB03x"),
            Some(b"AaB03x".to_vec())
        );
        assert_eq!(
            multipart_boundary(b"multipart/form-data;Boundary=\"a b\""),
            Some(b"\"a".to_vec())
        );
        assert_eq!(
            multipart_boundary(b"multipart/form-data; charset=x;boundary='q'"),
            Some(b"q".to_vec())
        );
        assert_eq!(multipart_boundary(b"multipart/form-data"), None);
    }

    #[test]
    fn multipart_parts_with_lf_and_crlf() {
        let lf =
            b"--AaB03x\nContent-Disposition: form-data; name=\"test\"\n\nform-data\n--AaB03x--\n";
        assert_eq!(
            multipart_fields(lf, b"AaB03x"),
            vec![(b"test".to_vec(), b"form-data".to_vec())]
        );
        let crlf = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--b--\r\n";
        assert_eq!(
            multipart_fields(crlf, b"b"),
            vec![
                (b"a".to_vec(), b"line1\r\nline2".to_vec()),
                (b"a".to_vec(), Vec::new())
            ]
        );
        assert!(multipart_fields(b"no delimiters", b"b").is_empty());
    }
}
