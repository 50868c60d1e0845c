//! Lua patterns: the matcher behind `string.find`, `match`, `gmatch` and
//! `gsub`.
//!
//! A backtracking matcher over bytes with Lua 5.4's semantics (`lstrlib.c`'s
//! `match`): character classes (`%a %c %d %g %l %p %s %u %w %x` and their
//! complements, C locale), sets `[...]` with ranges and `^`, quantifiers
//! `* + - ?`, anchors `^ $`, captures (up to 32, including position
//! captures `()`), back-references `%1`-`%9`, balanced matches `%bxy` and
//! frontiers `%f[set]`. Errors carry lua5.4's messages (`malformed pattern
//! (ends with '%')`).
//!
//! Bounded work: the recursion is at most [`MAX_DEPTH`] deep, as lua5.4's
//! `MAXCCALLS` (`pattern too complex`), so no pattern or subject can
//! overflow the Rust stack; steps are counted, so callers charge the
//! instruction budget for them and can stop a scan between two match
//! attempts ([`scan`] returns [`Scan::Paused`]) to let the host check its
//! budgets. One attempt cannot be interrupted: past [`MAX_ATTEMPT_STEPS`] it
//! fails with `pattern too complex` (where lua5.4 would keep going for as
//! long as the exponential pattern takes).

/// Most captures a pattern may have (`LUA_MAXCAPTURES`).
pub const MAX_CAPTURES: usize = 32;
/// Deepest recursion of the matcher (lua5.4's `MAXCCALLS`).
pub const MAX_DEPTH: usize = 200;
/// Most steps one match attempt (at one subject position) may take.
pub const MAX_ATTEMPT_STEPS: usize = 50_000_000;

/// The characters that make a pattern more than a plain string.
const SPECIALS: &[u8] = b"^$*+?.([%-";

/// Whether `pattern` has no special characters (`find` can search plainly).
pub fn is_plain(pattern: &[u8]) -> bool {
    !pattern.iter().any(|c| SPECIALS.contains(c))
}

/// The first occurrence of `needle` in `hay` (`lmemfind`).
pub fn find_plain(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    if needle.len() > hay.len() {
        return None;
    }
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        let at = hay[i..=last_start].iter().position(|&c| c == first)?;
        i += at;
        if &hay[i + 1..i + needle.len()] == rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[derive(Clone, Copy, Debug)]
enum CaptureLen {
    Open,
    Position,
    Closed(usize),
}

/// One capture's value after a successful match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// The byte range `start..end` of the subject.
    Text(usize, usize),
    /// A position capture `()`: the 1-based position.
    Position(usize),
}

/// A matcher for one subject and one pattern.
pub struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    depth: usize,
    level: usize,
    captures: [(usize, CaptureLen); MAX_CAPTURES],
    /// Steps taken so far, for the instruction budget.
    pub steps: usize,
    /// `steps` when the current attempt started.
    attempt_start: usize,
    /// Most steps of one attempt ([`MAX_ATTEMPT_STEPS`]).
    attempt_limit: usize,
}

type MatchResult = Result<Option<usize>, String>;

fn too_complex<T>() -> Result<T, String> {
    Err("pattern too complex".to_string())
}

/// `match_class`: whether byte `c` is in class `%<class>` (C locale).
#[inline]
fn class_matches(c: u8, class: u8) -> bool {
    let res = match class | 0x20 {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        // Deprecated since 5.2 but still accepted by lua5.4.
        b'z' => c == 0,
        _ => return class == c,
    };
    // Only letters reach here; an upper-case class is the complement.
    if class & 0x20 == 0 {
        !res
    } else {
        res
    }
}

impl<'a> Matcher<'a> {
    pub fn new(src: &'a [u8], pat: &'a [u8]) -> Self {
        Matcher {
            src,
            pat,
            depth: 0,
            level: 0,
            captures: [(0, CaptureLen::Open); MAX_CAPTURES],
            steps: 0,
            attempt_start: 0,
            attempt_limit: MAX_ATTEMPT_STEPS,
        }
    }

    /// The same matcher with another bound on one attempt's steps.
    #[cfg(test)]
    pub fn with_attempt_limit(mut self, limit: usize) -> Self {
        self.attempt_limit = limit;
        self
    }

    /// Tries to match the pattern from `pat_start` at subject position `s`;
    /// returns the end of the match.
    pub fn match_at(&mut self, s: usize, pat_start: usize) -> MatchResult {
        self.level = 0;
        self.depth = 0;
        self.attempt_start = self.steps;
        self.do_match(s, pat_start)
    }

    /// Capture `i` of the last match `s..e` (`get_onecapture`); capture 0
    /// of a pattern without captures is the whole match.
    pub fn capture(&self, i: usize, s: usize, e: usize) -> Result<Capture, String> {
        if i >= self.level {
            if i == 0 {
                Ok(Capture::Text(s, e))
            } else {
                Err(format!("invalid capture index %{}", i + 1))
            }
        } else {
            let (start, len) = self.captures[i];
            match len {
                CaptureLen::Open => Err("unfinished capture".to_string()),
                CaptureLen::Position => Ok(Capture::Position(start + 1)),
                CaptureLen::Closed(l) => Ok(Capture::Text(start, start + l)),
            }
        }
    }

    /// How many values the last match `s..e` yields: its captures, or the
    /// whole match when it has none and `whole_if_none`.
    pub fn capture_count(&self, whole_if_none: bool) -> usize {
        if self.level == 0 && whole_if_none {
            1
        } else {
            self.level
        }
    }

    #[inline]
    fn class_end(&self, mut p: usize) -> Result<usize, String> {
        let c = self.pat[p];
        p += 1;
        if c == b'%' {
            if p >= self.pat.len() {
                return Err("malformed pattern (ends with '%')".to_string());
            }
            return Ok(p + 1);
        }
        if c == b'[' {
            if self.pat.get(p) == Some(&b'^') {
                p += 1;
            }
            loop {
                if p >= self.pat.len() {
                    return Err("malformed pattern (missing ']')".to_string());
                }
                let c = self.pat[p];
                p += 1;
                if c == b'%' && p < self.pat.len() {
                    p += 1;
                }
                if self.pat.get(p) == Some(&b']') {
                    return Ok(p + 1);
                }
            }
        }
        Ok(p)
    }

    /// Whether `c` is in the set `[...]` spanning `p..=end` (`end` at `]`)
    /// (`matchbracketclass`).
    fn in_set(&self, c: u8, mut p: usize, end: usize) -> bool {
        let mut positive = true;
        if self.pat[p + 1] == b'^' {
            positive = false;
            p += 1;
        }
        p += 1;
        while p < end {
            let pc = self.pat[p];
            if pc == b'%' {
                p += 1;
                if class_matches(c, self.pat[p]) {
                    return positive;
                }
                p += 1;
            } else if self.pat.get(p + 1) == Some(&b'-') && p + 2 < end {
                if pc <= c && c <= self.pat[p + 2] {
                    return positive;
                }
                p += 3;
            } else {
                if pc == c {
                    return positive;
                }
                p += 1;
            }
        }
        !positive
    }

    /// Whether the single-character class at `p..ep` matches subject byte `s`.
    #[inline]
    fn single_match(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else {
            return false;
        };
        match self.pat[p] {
            b'.' => true,
            b'%' => class_matches(c, self.pat[p + 1]),
            b'[' => self.in_set(c, p, ep - 1),
            pc => pc == c,
        }
    }

    fn do_match(&mut self, s: usize, p: usize) -> MatchResult {
        if self.depth >= MAX_DEPTH || self.steps - self.attempt_start > self.attempt_limit {
            return too_complex();
        }
        self.depth += 1;
        let result = self.match_body(s, p);
        self.depth -= 1;
        result
    }

    fn match_body(&mut self, mut s: usize, mut p: usize) -> MatchResult {
        loop {
            self.steps += 1;
            if p == self.pat.len() {
                return Ok(Some(s));
            }
            match self.pat[p] {
                b'(' => {
                    return if self.pat.get(p + 1) == Some(&b')') {
                        self.start_capture(s, p + 2, CaptureLen::Position)
                    } else {
                        self.start_capture(s, p + 1, CaptureLen::Open)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                b'%' if self.pat.get(p + 1) == Some(&b'b') => match self.match_balance(s, p + 2)? {
                    Some(e) => {
                        s = e;
                        p += 4;
                        continue;
                    }
                    None => return Ok(None),
                },
                b'%' if self.pat.get(p + 1) == Some(&b'f') => {
                    p += 2;
                    if self.pat.get(p) != Some(&b'[') {
                        return Err("missing '[' after '%f' in pattern".to_string());
                    }
                    let ep = self.class_end(p)?;
                    let prev = if s == 0 { 0 } else { self.src[s - 1] };
                    let cur = self.src.get(s).copied().unwrap_or(0);
                    if !self.in_set(prev, p, ep - 1) && self.in_set(cur, p, ep - 1) {
                        p = ep;
                        continue;
                    }
                    return Ok(None);
                }
                b'%' if self.pat.get(p + 1).is_some_and(u8::is_ascii_digit) => {
                    match self.match_back_reference(s, self.pat[p + 1])? {
                        Some(e) => {
                            s = e;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ => {}
            }
            let ep = self.class_end(p)?;
            let next = self.pat.get(ep).copied();
            if !self.single_match(s, p, ep) {
                if matches!(next, Some(b'*' | b'?' | b'-')) {
                    p = ep + 1;
                    continue;
                }
                return Ok(None);
            }
            match next {
                Some(b'?') => {
                    if let Some(e) = self.do_match(s + 1, ep + 1)? {
                        return Ok(Some(e));
                    }
                    p = ep + 1;
                }
                Some(b'+') => return self.max_expand(s + 1, p, ep),
                Some(b'*') => return self.max_expand(s, p, ep),
                Some(b'-') => return self.min_expand(s, p, ep),
                _ => {
                    s += 1;
                    p = ep;
                }
            }
        }
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> MatchResult {
        let mut i = 0;
        while self.single_match(s + i, p, ep) {
            i += 1;
        }
        self.steps += i;
        // The rest of the pattern is empty: the longest expansion matches.
        if ep + 1 == self.pat.len() && self.depth < MAX_DEPTH {
            return Ok(Some(s + i));
        }
        loop {
            if let Some(e) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(e));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> MatchResult {
        loop {
            self.steps += 1;
            if let Some(e) = self.do_match(s, ep + 1)? {
                return Ok(Some(e));
            }
            if self.single_match(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: CaptureLen) -> MatchResult {
        if self.level >= MAX_CAPTURES {
            return Err("too many captures".to_string());
        }
        self.captures[self.level] = (s, what);
        self.level += 1;
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.level -= 1;
        }
        Ok(result)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> MatchResult {
        let Some(l) = (0..self.level)
            .rev()
            .find(|&i| matches!(self.captures[i].1, CaptureLen::Open))
        else {
            return Err("invalid pattern capture".to_string());
        };
        self.captures[l].1 = CaptureLen::Closed(s - self.captures[l].0);
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.captures[l].1 = CaptureLen::Open;
        }
        Ok(result)
    }

    fn match_balance(&mut self, s: usize, p: usize) -> MatchResult {
        if p + 1 >= self.pat.len() {
            return Err("malformed pattern (missing arguments to '%b')".to_string());
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if self.src.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1usize;
        let mut i = s + 1;
        while i < self.src.len() {
            let c = self.src[i];
            if c == close {
                depth -= 1;
                if depth == 0 {
                    self.steps += i - s;
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
            i += 1;
        }
        self.steps += i - s;
        Ok(None)
    }

    /// `%1`-`%9` (`match_capture`): an unfinished capture is an error; a
    /// position capture never matches (its length is `CAP_POSITION`).
    fn match_back_reference(&mut self, s: usize, digit: u8) -> MatchResult {
        let l = digit as i64 - b'1' as i64;
        if l < 0 || l as usize >= self.level {
            return Err(format!("invalid capture index %{}", l + 1));
        }
        let (start, len) = self.captures[l as usize];
        let len = match len {
            CaptureLen::Open => return Err(format!("invalid capture index %{}", l + 1)),
            CaptureLen::Position => return Ok(None),
            CaptureLen::Closed(len) => len,
        };
        self.steps += len;
        if self.src.len() - s >= len && self.src[start..start + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }

    /// When every match of the pattern from `p` must begin with one
    /// character of a fixed class (`%d+`, `[%w_]x`, `a`), that class's span
    /// `p..ep`: positions whose byte is not in it cannot start a match and
    /// need no attempt.
    pub fn first_class(&self, p: usize) -> Option<(usize, usize)> {
        let c = *self.pat.get(p)?;
        if c == b'(' || c == b')' || (c == b'$' && p + 1 == self.pat.len()) {
            return None;
        }
        if c == b'%' && matches!(self.pat.get(p + 1), Some(b'b' | b'f' | b'0'..=b'9') | None) {
            return None;
        }
        let ep = self.class_end(p).ok()?;
        match self.pat.get(ep) {
            Some(b'*' | b'?' | b'-') => None,
            _ => Some((p, ep)),
        }
    }

    /// Whether a match can start at `s`, given [`Matcher::first_class`].
    #[inline]
    pub fn may_start(&self, s: usize, first: Option<(usize, usize)>) -> bool {
        match first {
            Some((p, ep)) => self.single_match(s, p, ep),
            None => true,
        }
    }
}

/// Where a [`scan`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// A match `start..end`.
    Found(usize, usize),
    /// No match at any remaining position.
    NotFound,
    /// The step budget ran out: scan again from this position.
    Paused(usize),
}

/// A compiled view of a pattern for scanning: its anchor and the class a
/// match must start with.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Index of the pattern's first item (1 after an anchoring `^`).
    pub start: usize,
    pub anchored: bool,
    /// The class every match starts with ([`Matcher::first_class`]).
    pub first: Option<(usize, usize)>,
}

impl Plan {
    /// `anchor`: whether a leading `^` anchors (not for `gmatch`).
    pub fn new(m: &Matcher<'_>, anchor: bool) -> Plan {
        let anchored = anchor && m.pat.first() == Some(&b'^');
        let start = usize::from(anchored);
        Plan {
            start,
            anchored,
            first: m.first_class(start),
        }
    }
}

/// Looks for the first match at positions `from..=len` (only `from` when
/// anchored) whose end is not `skip_end` (`gmatch` and `gsub` refuse an
/// empty match where the last one ended). Stops with [`Scan::Paused`]
/// once `m.steps` reaches `step_limit` after a failed attempt.
pub fn scan(
    m: &mut Matcher<'_>,
    plan: &Plan,
    from: usize,
    skip_end: Option<usize>,
    step_limit: usize,
) -> Result<Scan, String> {
    let len = m.src.len();
    let mut s = from;
    while s <= len {
        if m.may_start(s, plan.first) {
            if let Some(e) = m.match_at(s, plan.start)? {
                if Some(e) != skip_end {
                    return Ok(Scan::Found(s, e));
                }
            }
        } else {
            m.steps += 1;
        }
        if plan.anchored {
            break;
        }
        s += 1;
        if m.steps >= step_limit && s <= len {
            return Ok(Scan::Paused(s));
        }
    }
    Ok(Scan::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(src: &str, pat: &str) -> Option<(usize, usize)> {
        let mut m = Matcher::new(src.as_bytes(), pat.as_bytes());
        let plan = Plan::new(&m, true);
        match scan(&mut m, &plan, 0, None, usize::MAX).unwrap() {
            Scan::Found(s, e) => Some((s, e)),
            _ => None,
        }
    }

    fn err(src: &str, pat: &str) -> String {
        let mut m = Matcher::new(src.as_bytes(), pat.as_bytes());
        let plan = Plan::new(&m, true);
        scan(&mut m, &plan, 0, None, usize::MAX).unwrap_err()
    }

    #[test]
    fn basics() {
        assert_eq!(first("hello world", "o w"), Some((4, 7)));
        assert_eq!(first("hello", "l+"), Some((2, 4)));
        assert_eq!(first("hello", "^h.-l"), Some((0, 3)));
        assert_eq!(first("hello", "^e"), None);
        assert_eq!(first("f(a(b)c)", "%b()"), Some((1, 8)));
        assert_eq!(first("THE (quick) fox", "%f[%a]%a+"), Some((0, 3)));
        assert_eq!(first("a]b", "[]]"), Some((1, 2)));
        assert_eq!(first("aXa", "()X%1"), None);
    }

    #[test]
    fn errors() {
        assert_eq!(err("abc", "%"), "malformed pattern (ends with '%')");
        assert_eq!(err("abc", "[a"), "malformed pattern (missing ']')");
        assert_eq!(err("abc", "a)"), "invalid pattern capture");
        assert_eq!(err("abc", "%1"), "invalid capture index %1");
        assert_eq!(err("abc", &"(".repeat(33)), "too many captures");
    }

    #[test]
    fn recursion_is_bounded() {
        // Each `a?` recurses once; 300 of them exceed MAXCCALLS.
        let subject = "a".repeat(300);
        assert_eq!(err(&subject, &"a?".repeat(300)), "pattern too complex");
        // A subject of any length cannot deepen the recursion of `.-`.
        let subject = "x".repeat(1 << 20);
        assert_eq!(first(&subject, ".-$"), Some((0, 1 << 20)));
    }

    #[test]
    fn exponential_patterns_stop() {
        let subject = "a".repeat(40);
        let pattern = format!("{}b", ".-".repeat(12));
        let mut m =
            Matcher::new(subject.as_bytes(), pattern.as_bytes()).with_attempt_limit(100_000);
        let plan = Plan::new(&m, true);
        let r = scan(&mut m, &plan, 0, None, usize::MAX);
        assert_eq!(r, Err("pattern too complex".to_string()));
        assert!(m.steps < 200_000);
    }

    #[test]
    fn scans_pause_between_attempts() {
        let subject = "x".repeat(1000);
        let mut m = Matcher::new(subject.as_bytes(), b"y");
        let plan = Plan::new(&m, true);
        let r = scan(&mut m, &plan, 0, None, 100).unwrap();
        assert_eq!(r, Scan::Paused(100));
        let r = scan(&mut m, &plan, 100, None, usize::MAX).unwrap();
        assert_eq!(r, Scan::NotFound);
    }
}
