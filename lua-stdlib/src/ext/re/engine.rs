//! Compiling (with a bounded per-thread cache) and running one search.
//!
//! A pattern the `regex` crate can run (no back-references, lookaround or
//! atomic groups) runs there, on bytes, in linear time. The others run on
//! `fancy-regex`'s backtracking engine with its backtrack limit: past it
//! the search fails as PCRE's match limit does (`pcre_exec() failed:
//! -8`). `fancy-regex` works on `str`: outside UTF-8 mode a subject with
//! non-ASCII bytes is searched as Latin-1 (one char per byte, the pattern
//! spells its bytes as `\x{HH}` too) and offsets are mapped back.
//!
//! The backtracking engine is charged by its steps, not by its running
//! time, so that the same function stops at the same point on an idle or
//! a loaded machine. `fancy-regex` does not say how many steps a search
//! took, only whether it passed a limit: a search runs under a small
//! limit first and again under limits [`TIER_GROWTH`] times larger
//! ([`BACKTRACK_TIERS`], each compiled when first needed) until it ends
//! or passes [`BACKTRACK_LIMIT`]. It is charged every run's limit: a
//! count the pattern and subject decide, at most [`TIER_GROWTH`] times
//! (plus the earlier runs) the steps it really took.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::translate::{translate, Mode};

/// Most compiled patterns kept per thread (OpenResty's
/// `lua_regex_cache_max_entries` default).
pub const CACHE_ENTRIES: usize = 1024;
/// Backtracking steps one search may take before it fails.
pub const BACKTRACK_LIMIT: usize = 1_000_000;
/// How much larger each run's backtrack limit is than the last one's.
pub const TIER_GROWTH: usize = 4;
/// The backtrack limits a search runs under in turn (the last is
/// [`BACKTRACK_LIMIT`]).
pub const BACKTRACK_TIERS: [usize; 8] = [
    64,
    256,
    1024,
    4096,
    16_384,
    65_536,
    262_144,
    BACKTRACK_LIMIT,
];
/// Work charged per backtracking step, in units of
/// [`crate::lib::args::charge`]: one step (pop a branch, run the
/// instructions up to the next failure) costs about as much as four VM
/// instructions.
pub const BACKTRACK_UNITS: usize = 32;
/// Total weight (see `translate::Translated::weight`, roughly compiled
/// states) of the patterns one thread's cache keeps; a pattern heavier
/// than an eighth of it is compiled for each call and not kept.
pub const CACHE_WEIGHT: u64 = 1 << 20;
/// Size limit of one compiled program (and of its lazy DFA cache).
const SIZE_LIMIT: usize = 1 << 20;

/// Work charged for compiling a pattern of `len` bytes, in units of
/// [`crate::lib::args::charge`].
pub fn compile_work(len: usize) -> usize {
    4096usize.saturating_add(len.saturating_mul(64))
}

/// The options OpenResty takes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Debug)]
pub struct Flags {
    pub anchored: bool,
    pub caseless: bool,
    pub dup_names: bool,
    pub multiline: bool,
    pub dotall: bool,
    pub extended: bool,
    pub utf8: bool,
    /// `U`: UTF-8 without checking the subject.
    pub no_utf8_check: bool,
}

impl Flags {
    /// Parses OpenResty's option letters; the unknown one on failure.
    pub fn parse(opts: &[u8]) -> Result<Flags, u8> {
        let mut f = Flags::default();
        for &c in opts {
            match c {
                b'a' => f.anchored = true,
                b'i' => f.caseless = true,
                b'D' => f.dup_names = true,
                b'm' => f.multiline = true,
                b's' => f.dotall = true,
                b'x' => f.extended = true,
                b'u' => f.utf8 = true,
                b'U' => {
                    f.utf8 = true;
                    f.no_utf8_check = true
                }
                // j (JIT), o (compile once), J (JavaScript compatibility)
                // and d (DFA) change nothing here: every pattern is cached
                // and `d` searches leftmost-first.
                b'j' | b'o' | b'J' | b'd' => {}
                other => return Err(other),
            }
        }
        Ok(f)
    }
}

enum Engine {
    Plain(regex::bytes::Regex),
    /// The pattern's text for `fancy-regex`, and its program under each of
    /// [`BACKTRACK_TIERS`], compiled when a search first needs it.
    Fancy(
        Box<(
            String,
            [OnceCell<fancy_regex::Regex>; BACKTRACK_TIERS.len()],
        )>,
    ),
}

/// `fancy-regex`'s program for `text` with at most `limit` backtracks.
fn build_fancy(text: &str, limit: usize) -> Result<fancy_regex::Regex, String> {
    fancy_regex::RegexBuilder::new(text)
        .backtrack_limit(limit)
        .delegate_size_limit(SIZE_LIMIT)
        .delegate_dfa_size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

pub struct Compiled {
    engine: Engine,
    /// Capture groups, not counting the whole match.
    pub groups: usize,
    /// (group, name) in pattern order.
    pub names: Vec<(usize, String)>,
    pub flags: Flags,
    /// What the cache counts for it.
    pub weight: u64,
}

/// A search failure, as OpenResty reports it.
#[derive(Debug)]
pub enum ExecError {
    /// PCRE_ERROR_MATCHLIMIT.
    MatchLimit,
    /// PCRE_ERROR_BADUTF8.
    BadUtf8,
    Other(String),
}

impl ExecError {
    pub fn message(&self) -> String {
        match self {
            ExecError::MatchLimit => "pcre_exec() failed: -8".into(),
            ExecError::BadUtf8 => "pcre_exec() failed: -10".into(),
            ExecError::Other(m) => m.clone(),
        }
    }
}

/// One match: `(start, end)` byte offsets per group (0 is the whole
/// match), `None` for a group that did not take part.
pub type Spans = Vec<Option<(usize, usize)>>;

struct Cache {
    map: HashMap<(Vec<u8>, Flags), (Rc<Compiled>, u64)>,
    tick: u64,
    weight: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache { map: HashMap::new(), tick: 0, weight: 0 });
}

/// The compiled pattern, from this thread's cache or compiled now (and
/// cached, evicting the least recently used past [`CACHE_ENTRIES`] or
/// [`CACHE_WEIGHT`]: the cache's memory stays bounded whatever patterns a
/// function compiles).
/// `Err` is OpenResty's message. The flag says whether it was compiled.
pub fn compile(pattern: &[u8], flags: Flags) -> Result<(Rc<Compiled>, bool), String> {
    let key = (pattern.to_vec(), flags);
    let hit = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.tick += 1;
        let tick = c.tick;
        c.map.get_mut(&key).map(|e| {
            e.1 = tick;
            e.0.clone()
        })
    });
    if let Some(r) = hit {
        return Ok((r, false));
    }
    let compiled = Rc::new(build(pattern, flags)?);
    if compiled.weight > CACHE_WEIGHT / 8 {
        return Ok((compiled, true));
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        while !c.map.is_empty()
            && (c.map.len() >= CACHE_ENTRIES || c.weight + compiled.weight > CACHE_WEIGHT)
        {
            let Some(oldest) = c
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = c.map.remove(&oldest) {
                c.weight -= old.weight;
            }
        }
        let tick = c.tick;
        c.weight += compiled.weight;
        c.map.insert(key, (compiled.clone(), tick));
    });
    Ok((compiled, true))
}

/// How many patterns this thread's cache holds, and their total weight.
pub fn cached() -> (usize, u64) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.map.len(), c.weight)
    })
}

fn compile_error(pattern: &[u8], msg: &str) -> String {
    format!(
        "pcre_compile() failed: {msg} in \"{}\"",
        String::from_utf8_lossy(pattern)
    )
}

/// The engine's message in PCRE's words where they mean the same.
fn pcre_words(msg: &str) -> String {
    let table = [
        (
            "repetition operator missing expression",
            "nothing to repeat",
        ),
        ("unclosed group", "missing )"),
        ("unopened group", "unmatched parentheses"),
        (
            "unclosed character class",
            "missing terminating ] for character class",
        ),
        (
            "invalid character class range",
            "range out of order in character class",
        ),
        (
            "invalid repetition count range",
            "numbers out of order in {} quantifier",
        ),
        ("exceeds size limit", "regular expression is too large"),
        ("nest limit", "parentheses are too deeply nested"),
        ("backreference", "reference to non-existent subpattern"),
    ];
    for (theirs, pcre) in table {
        if msg.contains(theirs) {
            return pcre.to_string();
        }
    }
    // The engines' messages are multi-line (pattern, caret, text).
    msg.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| msg.lines().next().unwrap_or("").to_string())
}

fn build(pattern: &[u8], flags: Flags) -> Result<Compiled, String> {
    let mode = Mode {
        utf8: flags.utf8,
        extended: flags.extended,
        multiline: flags.multiline,
    };
    let t = translate(pattern, &mode).map_err(|m| compile_error(pattern, &m))?;
    if !flags.dup_names {
        let mut seen = std::collections::HashSet::new();
        if t.names.iter().any(|(_, n)| !seen.insert(n)) {
            return Err(compile_error(
                pattern,
                "two named subpatterns have the same name",
            ));
        }
    }
    let engine = if t.fancy {
        let mut text = String::new();
        for (on, c) in [
            (flags.caseless, 'i'),
            (flags.multiline, 'm'),
            (flags.dotall, 's'),
        ] {
            if on {
                text.push_str(&format!("(?{c})"));
            }
        }
        text.push_str(&t.text);
        let re = build_fancy(&text, BACKTRACK_TIERS[0])
            .map_err(|e| compile_error(pattern, &pcre_words(&e)))?;
        let tiers: [OnceCell<fancy_regex::Regex>; BACKTRACK_TIERS.len()] = Default::default();
        let _ = tiers[0].set(re);
        Engine::Fancy(Box::new((text, tiers)))
    } else {
        let re = regex::bytes::RegexBuilder::new(&t.text)
            .case_insensitive(flags.caseless)
            .multi_line(flags.multiline)
            .dot_matches_new_line(flags.dotall)
            .unicode(flags.utf8)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| compile_error(pattern, &pcre_words(&e.to_string())))?;
        Engine::Plain(re)
    };
    Ok(Compiled {
        engine,
        groups: t.groups,
        names: t.names,
        flags,
        // A backtracking pattern may keep a program per tier.
        weight: t.weight.max(1)
            * if t.fancy {
                BACKTRACK_TIERS.len() as u64
            } else {
                1
            },
    })
}

/// The subject as `fancy-regex` sees it, made once per call (a `gsub` or
/// `gmatch` searches the same subject many times): a copy (the engine
/// wants `str`), and outside UTF-8 mode with non-ASCII bytes, Latin-1 with
/// where each subject byte starts.
#[derive(Default)]
pub enum Prepared {
    #[default]
    Unprepared,
    Text(String, Option<Vec<usize>>),
    /// UTF-8 mode, not UTF-8: an error (`u`) or no match (`U`).
    BadUtf8,
}

impl Prepared {
    fn make(subject: &[u8], flags: Flags) -> Prepared {
        if subject.is_ascii() || flags.utf8 {
            return match std::str::from_utf8(subject) {
                Ok(s) => Prepared::Text(s.to_string(), None),
                Err(_) => Prepared::BadUtf8,
            };
        }
        let mut s = String::with_capacity(subject.len() * 2);
        let mut starts = Vec::with_capacity(subject.len() + 1);
        for &b in subject {
            starts.push(s.len());
            s.push(b as char);
        }
        starts.push(s.len());
        Prepared::Text(s, Some(starts))
    }
}

impl Compiled {
    /// Searches `subject` from byte `pos` (`prepared` is this subject's,
    /// kept by the caller between searches). Returns the spans and the
    /// work done, in units of [`crate::lib::args::charge`].
    pub fn search(
        &self,
        subject: &[u8],
        pos: usize,
        prepared: &mut Prepared,
    ) -> (Result<Option<Spans>, ExecError>, usize) {
        let rest = |spans: &Result<Option<Spans>, ExecError>| match spans {
            Ok(Some(s)) => s[0].map_or(0, |(_, e)| e.saturating_sub(pos)),
            _ => subject.len().saturating_sub(pos),
        };
        match &self.engine {
            Engine::Plain(re) => {
                let mut locs = re.capture_locations();
                let m = re.captures_read_at(&mut locs, subject, pos);
                let spans = Ok(m.and_then(|m| {
                    if self.flags.anchored && m.start() != pos {
                        return None;
                    }
                    Some((0..=self.groups).map(|g| locs.get(g)).collect())
                }));
                let scanned = rest(&spans);
                (spans, scanned + 16)
            }
            Engine::Fancy(fancy) => {
                let (text, tiers) = &**fancy;
                let mut work = 16;
                if let Prepared::Unprepared = prepared {
                    // Copying the subject is work too (once per call).
                    *prepared = Prepared::make(subject, self.flags);
                    work += subject.len();
                }
                for (tier, &limit) in tiers.iter().zip(BACKTRACK_TIERS.iter()) {
                    // Each tier compiles the text the first tier compiled.
                    let re = match tier.get() {
                        Some(re) => re,
                        None => match build_fancy(text, limit) {
                            Ok(re) => {
                                work = work.saturating_add(compile_work(text.len()));
                                tier.get_or_init(|| re)
                            }
                            Err(e) => return (Err(ExecError::Other(e)), work),
                        },
                    };
                    work = work.saturating_add(limit.saturating_mul(BACKTRACK_UNITS));
                    let r = self.fancy_search(re, subject, pos, prepared);
                    if matches!(r, Err(ExecError::MatchLimit)) && limit < BACKTRACK_LIMIT {
                        continue;
                    }
                    let scanned = rest(&r);
                    return (r, work.saturating_add(scanned));
                }
                (Err(ExecError::MatchLimit), work)
            }
        }
    }

    fn fancy_search(
        &self,
        re: &fancy_regex::Regex,
        subject: &[u8],
        pos: usize,
        prepared: &Prepared,
    ) -> Result<Option<Spans>, ExecError> {
        let (s, starts) = match prepared {
            Prepared::Text(s, starts) => (s.as_str(), starts.as_deref()),
            Prepared::BadUtf8 if self.flags.no_utf8_check => return Ok(None),
            _ => return Err(ExecError::BadUtf8),
        };
        let at = match starts {
            None => pos,
            Some(starts) => starts[pos.min(subject.len())],
        };
        if !s.is_char_boundary(at) {
            return Ok(None);
        }
        let caps = match re.captures_from_pos(s, at) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(None),
            Err(fancy_regex::Error::RuntimeError(
                fancy_regex::RuntimeError::BacktrackLimitExceeded,
            )) => return Err(ExecError::MatchLimit),
            Err(e) => return Err(ExecError::Other(e.to_string())),
        };
        let back = |o: usize| match starts {
            None => o,
            Some(starts) => starts.partition_point(|&x| x < o),
        };
        let spans: Spans = (0..=self.groups)
            .map(|g| caps.get(g).map(|m| (back(m.start()), back(m.end()))))
            .collect();
        if self.flags.anchored && spans[0].is_some_and(|(s, _)| s != pos) {
            return Ok(None);
        }
        Ok(Some(spans))
    }
}
