//! PCRE pattern text → the syntax of the `regex` / `fancy-regex` crates.
//!
//! One pass over the pattern's bytes that keeps PCRE's meaning where the
//! two syntaxes differ:
//! - group names are taken out (`(?<n>`, `(?P<n>`, `(?'n'` become plain
//!   groups) and kept here by number, so duplicate names (`D`) and
//!   `\k<n>` work whatever the engine allows;
//! - escaped punctuation and every byte of a non-UTF-8 mode pattern
//!   become `\x{HH}` (`\<` is a word boundary in `regex`, a `<` in PCRE);
//! - `$` without `m` also matches before a final newline (PCRE's default),
//!   `\Z` likewise, `\h`, `\R`, `\e`, octal and `\Q…\E` are spelled out;
//! - a `{` that is not a quantifier, and `[`, `&`, `~` inside a class, are
//!   literal (`regex` would read class set operations);
//! - `x` mode's whitespace and comments are dropped here (outside classes,
//!   as PCRE does), so the engines never see `x`.
//!
//! Constructs only a backtracking engine can run (back-references,
//! lookaround, atomic groups, and the `$` rule above) mark the pattern
//! `fancy`. Parentheses nest at most [`MAX_NESTING`] deep (PCRE's limit;
//! the engines' parsers recurse).

/// PCRE's limit on nested parentheses.
pub const MAX_NESTING: usize = 250;

pub struct Translated {
    pub text: String,
    /// Capture groups (not counting the whole match).
    pub groups: usize,
    /// Names by group number, in pattern order.
    pub names: Vec<(usize, String)>,
    /// Needs the backtracking engine.
    pub fancy: bool,
    /// A rough upper bound on the compiled size (the text's length times
    /// every counted repetition): what the compiled-pattern cache counts.
    pub weight: u64,
}

pub struct Mode {
    /// `u`/`U`: the pattern is UTF-8 and characters are code points.
    pub utf8: bool,
    /// `x`
    pub extended: bool,
    /// `m`: `$` is the `regex` crate's multi-line `$`.
    pub multiline: bool,
}

/// A character by its code: `\xHH` up to 0xFF (in the byte engine
/// without Unicode, only this form means the byte; the braced form would
/// be the code point's UTF-8), braced above.
fn hex(out: &mut String, c: u32) {
    if c <= 0xFF {
        out.push_str(&format!("\\x{c:02X}"));
    } else {
        out.push_str(&format!("\\x{{{c:X}}}"));
    }
}

/// The message PCRE gives, without the ` in "pattern"` suffix.
pub type TranslateError = String;

pub fn translate(p: &[u8], mode: &Mode) -> Result<Translated, TranslateError> {
    if mode.utf8 && std::str::from_utf8(p).is_err() {
        return Err("invalid UTF-8 string".into());
    }
    let mut t = Translated {
        text: String::new(),
        groups: 0,
        names: Vec::new(),
        fancy: false,
        weight: 0,
    };
    // The product of the counted repetitions (`{n,m}`), saturating.
    let mut repeat: u64 = 1;
    let mut text = String::with_capacity(p.len() + 8);
    let out = &mut text;
    let mut i = 0;
    let mut depth = 0usize;
    // Where the last quantifiable item starts in `out`, and where the
    // open groups start (for a possessive quantifier's atomic group).
    let mut atom: Option<usize> = None;
    let mut opens: Vec<usize> = Vec::new();
    let mut in_class = false;
    // Position just after `[` or `[^` (a `]` there is literal).
    let mut class_start = 0;
    while i < p.len() {
        let c = p[i];
        if in_class {
            match c {
                b']' if i != class_start => {
                    out.push(']');
                    in_class = false;
                    i += 1;
                }
                b'[' if p.get(i + 1) == Some(&b':') => {
                    // POSIX class `[:alpha:]`: copy through `:]`.
                    let end = p[i + 2..]
                        .windows(2)
                        .position(|w| w == b":]")
                        .map(|e| i + 2 + e + 2);
                    match end {
                        Some(e) => {
                            out.push_str(&String::from_utf8_lossy(&p[i..e]));
                            i = e;
                        }
                        None => {
                            out.push_str("\\[");
                            i += 1;
                        }
                    }
                }
                b'[' | b'&' | b'~' | b']' => {
                    out.push('\\');
                    out.push(c as char);
                    i += 1;
                }
                b'\\' => i = escape(p, i, out, &mut t.fancy, true, mode, &t.names)?,
                _ => i = literal(p, i, out, mode),
            }
            continue;
        }
        let here = out.len();
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c if mode.extended => i += 1,
            b'#' if mode.extended => {
                while i < p.len() && p[i] != b'\n' {
                    i += 1;
                }
            }
            b'\\' => {
                atom = Some(here);
                i = escape(p, i, out, &mut t.fancy, false, mode, &t.names)?;
            }
            b'[' => {
                atom = Some(here);
                out.push('[');
                i += 1;
                if p.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = i;
                in_class = true;
            }
            b'(' => match group(p, i, out, &mut t)? {
                Paren::Opened(next) => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err("parentheses are too deeply nested".into());
                    }
                    opens.push(here);
                    atom = None;
                    i = next;
                }
                Paren::Whole(next) => {
                    atom = Some(here);
                    i = next;
                }
            },
            b')' => {
                if depth == 0 {
                    return Err("unmatched parentheses".into());
                }
                depth -= 1;
                out.push(')');
                atom = opens.pop();
                i += 1;
            }
            b'*' | b'+' | b'?' => {
                out.push(c as char);
                i = quantifier_suffix(p, i + 1, out, atom, &mut t.fancy);
            }
            b'{' => {
                let q = quantifier_len(&p[i..]);
                if q > 0 {
                    let text = std::str::from_utf8(&p[i..i + q]).unwrap_or("");
                    let most = text
                        .trim_matches(|c| c == '{' || c == '}')
                        .split(',')
                        .filter_map(|n| n.parse::<u64>().ok())
                        .max()
                        .unwrap_or(1);
                    repeat = repeat.saturating_mul(most.max(1));
                    out.push_str(text);
                    i = quantifier_suffix(p, i + q, out, atom, &mut t.fancy);
                } else {
                    atom = Some(here);
                    out.push_str("\\{");
                    i += 1;
                }
            }
            b'}' => {
                atom = Some(here);
                out.push_str("\\}");
                i += 1;
            }
            b'$' if !mode.multiline => {
                atom = None;
                out.push_str("(?=\\n?\\z)");
                t.fancy = true;
                i += 1;
            }
            b'|' | b'^' | b'$' => {
                atom = None;
                out.push(c as char);
                i += 1;
            }
            _ => {
                atom = Some(here);
                i = literal(p, i, out, mode);
            }
        }
    }
    if in_class {
        return Err("missing terminating ] for character class".into());
    }
    if depth > 0 {
        return Err("missing )".into());
    }
    // Unicode classes compile to many states: count UTF-8 mode heavier.
    let unit = if mode.utf8 { 8 } else { 1 };
    t.weight = (text.len() as u64)
        .saturating_mul(repeat)
        .saturating_mul(unit);
    t.text = text;
    Ok(t)
}

/// Copies one character (a UTF-8 sequence in UTF-8 mode, else one byte,
/// as `\x{HH}` when it is not ASCII).
fn literal(p: &[u8], i: usize, out: &mut String, mode: &Mode) -> usize {
    let c = p[i];
    if c < 0x80 {
        out.push(c as char);
        return i + 1;
    }
    if mode.utf8 {
        let len = match c {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            _ => 2,
        };
        let end = (i + len).min(p.len());
        out.push_str(&String::from_utf8_lossy(&p[i..end]));
        return end;
    }
    hex(out, c as u32);
    i + 1
}

/// After a quantifier: a lazy `?` is copied; a possessive `+` (`a*+`)
/// makes the quantified item an atomic group. Returns the next index.
fn quantifier_suffix(
    p: &[u8],
    i: usize,
    out: &mut String,
    atom: Option<usize>,
    fancy: &mut bool,
) -> usize {
    match p.get(i) {
        Some(b'?') => {
            out.push('?');
            i + 1
        }
        Some(b'+') => {
            if let Some(start) = atom {
                out.insert_str(start, "(?>");
                out.push(')');
                *fancy = true;
            }
            i + 1
        }
        _ => i,
    }
}

/// `{n}`, `{n,}`, `{n,m}` at the start of `s`: its length, or 0 when the
/// brace is a literal (PCRE reads `{,n}` and `{x}` literally).
fn quantifier_len(s: &[u8]) -> usize {
    let mut j = 1;
    let digits = |j: &mut usize| {
        let from = *j;
        while s.get(*j).is_some_and(u8::is_ascii_digit) {
            *j += 1;
        }
        *j > from
    };
    if !digits(&mut j) {
        return 0;
    }
    if s.get(j) == Some(&b',') {
        j += 1;
        digits(&mut j);
    }
    if s.get(j) == Some(&b'}') {
        j + 1
    } else {
        0
    }
}

/// What an opening parenthesis turned out to be.
enum Paren {
    /// A group that a later `)` closes; the index after its opening.
    Opened(usize),
    /// A `(?#…)` comment or `(?P=name)`, consumed through its `)`.
    Whole(usize),
}

/// An opening parenthesis at `i`.
fn group(
    p: &[u8],
    i: usize,
    out: &mut String,
    t: &mut Translated,
) -> Result<Paren, TranslateError> {
    let rest = &p[i + 1..];
    if rest.first() == Some(&b'*') {
        return Err("(*VERB) not supported".into());
    }
    if rest.first() != Some(&b'?') {
        t.groups += 1;
        out.push('(');
        return Ok(Paren::Opened(i + 1));
    }
    let after = &rest[1..];
    let name_at = match after {
        [b'<', c, ..] if *c != b'=' && *c != b'!' => Some((2, b'>')),
        [b'P', b'<', ..] => Some((3, b'>')),
        [b'\'', ..] => Some((2, b'\'')),
        _ => None,
    };
    if let Some((skip, close)) = name_at {
        let start = i + 1 + skip;
        let end = p[start..]
            .iter()
            .position(|&c| c == close)
            .map(|e| start + e)
            .ok_or_else(|| "syntax error in subpattern name (missing terminator)".to_string())?;
        let name = &p[start..end];
        if name.first().is_some_and(u8::is_ascii_digit) {
            return Err("group name must start with a non-digit".into());
        }
        if name.is_empty() || !name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            return Err("subpattern name expected".into());
        }
        t.groups += 1;
        t.names
            .push((t.groups, String::from_utf8_lossy(name).into_owned()));
        out.push('(');
        return Ok(Paren::Opened(end + 1));
    }
    match after {
        [b'#', ..] => {
            let end = p[i..]
                .iter()
                .position(|&c| c == b')')
                .map(|e| i + e + 1)
                .ok_or_else(|| "missing ) after comment".to_string())?;
            Ok(Paren::Whole(end))
        }
        [b'=', ..] | [b'!', ..] | [b'<', b'=', ..] | [b'<', b'!', ..] | [b'>', ..] => {
            t.fancy = true;
            out.push_str("(?");
            Ok(Paren::Opened(i + 2))
        }
        [b'P', b'=', ..] => {
            // (?P=name): a back-reference by name.
            let start = i + 4;
            let end = p[start..]
                .iter()
                .position(|&c| c == b')')
                .map(|e| start + e)
                .ok_or_else(|| {
                    "syntax error in subpattern name (missing terminator)".to_string()
                })?;
            let n = backref_number(&t.names, &p[start..end])?;
            t.fancy = true;
            out.push_str(&format!("(?:\\{n})"));
            Ok(Paren::Whole(end + 1))
        }
        [b'|', ..] => Err("branch reset groups (?| are not supported".into()),
        [b'R', ..] | [b'0'..=b'9', ..] | [b'+', ..] | [b'&', ..] | [b'P', b'>', ..] => {
            Err("recursion is not supported".into())
        }
        [b'C', ..] => Err("callouts are not supported".into()),
        _ => {
            // `(?:`, `(?i)`, `(?i:` … as they are.
            out.push_str("(?");
            Ok(Paren::Opened(i + 2))
        }
    }
}

fn backref_number(names: &[(usize, String)], name: &[u8]) -> Result<usize, TranslateError> {
    names
        .iter()
        .find(|(_, n)| n.as_bytes() == name)
        .map(|(g, _)| *g)
        .ok_or_else(|| "reference to non-existent subpattern".to_string())
}

/// An escape at `i` (the backslash); returns the index after it.
fn escape(
    p: &[u8],
    i: usize,
    out: &mut String,
    fancy: &mut bool,
    in_class: bool,
    mode: &Mode,
    names: &[(usize, String)],
) -> Result<usize, TranslateError> {
    let Some(&d) = p.get(i + 1) else {
        return Err("\\ at end of pattern".into());
    };
    let j = i + 2;
    match d {
        b'1'..=b'9' if !in_class => {
            let mut e = j;
            while p.get(e).is_some_and(u8::is_ascii_digit) && e - (i + 1) < 3 {
                e += 1;
            }
            let n: usize = std::str::from_utf8(&p[i + 1..e])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            *fancy = true;
            out.push_str(&format!("(?:\\{n})"));
            Ok(e)
        }
        b'0'..=b'7' => {
            // Octal: up to three digits (`\0`, `\012`; `\1` in a class).
            let mut e = i + 1;
            let mut v = 0u32;
            while e < i + 4 && p.get(e).is_some_and(|c| (b'0'..=b'7').contains(c)) {
                v = v * 8 + (p[e] - b'0') as u32;
                e += 1;
            }
            hex(out, v);
            Ok(e)
        }
        b'x' => {
            if p.get(j) == Some(&b'{') {
                let end = p[j..]
                    .iter()
                    .position(|&c| c == b'}')
                    .map(|e| j + e)
                    .ok_or("missing } after \\x{")?;
                let v = u32::from_str_radix(std::str::from_utf8(&p[j + 1..end]).unwrap_or(""), 16)
                    .map_err(|_| "invalid hexadecimal escape".to_string())?;
                if !mode.utf8 && v > 0xFF {
                    return Err("character value in \\x{} or \\o{} is too large".into());
                }
                hex(out, v);
                Ok(end + 1)
            } else {
                let mut e = j;
                let mut v = 0;
                while e < j + 2 && p.get(e).is_some_and(u8::is_ascii_hexdigit) {
                    v = v * 16 + (p[e] as char).to_digit(16).unwrap_or(0);
                    e += 1;
                }
                hex(out, v);
                Ok(e)
            }
        }
        b'Q' => {
            let end = p[j..]
                .windows(2)
                .position(|w| w == b"\\E")
                .map_or(p.len(), |e| j + e);
            for &c in &p[j..end] {
                if c.is_ascii_alphanumeric() {
                    out.push(c as char);
                } else {
                    hex(out, c as u32);
                }
            }
            Ok((end + 2).min(p.len()))
        }
        b'E' => Ok(j),
        b'd' | b'D' | b'w' | b'W' | b's' | b'S' => {
            // PCRE without UCP: ASCII classes, also in UTF-8 mode.
            let set = match d.to_ascii_lowercase() {
                b'd' => "0-9",
                b'w' => "0-9A-Za-z_",
                _ => "\\t\\n\\x0B\\x0C\\r\\x20",
            };
            let negated = d.is_ascii_uppercase();
            match (in_class, negated) {
                (true, false) => out.push_str(set),
                _ => {
                    out.push('[');
                    if negated {
                        out.push('^');
                    }
                    out.push_str(set);
                    out.push(']');
                }
            }
            Ok(j)
        }
        b'n' | b'r' | b't' | b'f' | b'v' | b'a' => {
            out.push('\\');
            out.push(d as char);
            Ok(j)
        }
        b'b' if in_class => {
            hex(out, 8);
            Ok(j)
        }
        b'A' | b'z' if !in_class => {
            out.push('\\');
            out.push(d as char);
            Ok(j)
        }
        b'b' | b'B' if !in_class => {
            // An ASCII word boundary, as \w is ASCII.
            out.push_str(if d == b'b' { "(?-u:\\b)" } else { "(?-u:\\B)" });
            Ok(j)
        }
        b'Z' if !in_class => {
            *fancy = true;
            out.push_str("(?=\\n?\\z)");
            Ok(j)
        }
        b'e' => {
            hex(out, 0x1b);
            Ok(j)
        }
        b'h' => {
            out.push_str(if in_class { "\\t\\x20" } else { "[\\t\\x20]" });
            Ok(j)
        }
        b'H' if !in_class => {
            out.push_str("[^\\t\\x20]");
            Ok(j)
        }
        b'R' if !in_class => {
            out.push_str("(?:\\r\\n|[\\n\\x0B\\x0C\\r])");
            Ok(j)
        }
        b'p' | b'P' if mode.utf8 => {
            // \pL or \p{Name}
            out.push('\\');
            out.push(d as char);
            if p.get(j) == Some(&b'{') {
                let end = p[j..]
                    .iter()
                    .position(|&c| c == b'}')
                    .map(|e| j + e)
                    .ok_or("malformed \\P or \\p sequence")?;
                out.push_str(&String::from_utf8_lossy(&p[j..=end]));
                Ok(end + 1)
            } else if let Some(&c) = p.get(j) {
                out.push(c as char);
                Ok(j + 1)
            } else {
                Err("malformed \\P or \\p sequence".into())
            }
        }
        b'k' | b'g' if !in_class => {
            // \k<name> \k'name' \k{name} \g{name} \g{N} \gN
            let (open, close) = match p.get(j) {
                Some(b'<') => (true, b'>'),
                Some(b'\'') => (true, b'\''),
                Some(b'{') => (true, b'}'),
                _ => (false, 0),
            };
            let (body, next) = if open {
                let end = p[j + 1..]
                    .iter()
                    .position(|&c| c == close)
                    .map(|e| j + 1 + e)
                    .ok_or("\\k is not followed by a braced, angle-bracketed, or quoted name")?;
                (&p[j + 1..end], end + 1)
            } else if d == b'g' {
                let mut e = j;
                while p.get(e).is_some_and(u8::is_ascii_digit) {
                    e += 1;
                }
                (&p[j..e], e)
            } else {
                return Err(
                    "\\k is not followed by a braced, angle-bracketed, or quoted name".into(),
                );
            };
            let n = match std::str::from_utf8(body)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            {
                Some(n) => n,
                None => backref_number(names, body)?,
            };
            *fancy = true;
            out.push_str(&format!("(?:\\{n})"));
            Ok(next)
        }
        b'G' | b'K' | b'X' | b'C' | b'N' | b'c' | b'o' | b'u' | b'U' | b'L' | b'l' => {
            Err(format!("\\{} is not supported", d as char))
        }
        // PCRE reads other escaped letters as the letter.
        c if c < 0x80 && c.is_ascii_alphabetic() => {
            out.push(c as char);
            Ok(j)
        }
        c if c < 0x80 => {
            hex(out, c as u32);
            Ok(j)
        }
        _ => Ok(literal(p, i + 1, out, mode)),
    }
}
