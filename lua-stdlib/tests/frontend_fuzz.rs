//! Generative test of the Lua front-end (lexer, parser, code generator):
//! whatever the source, `compile` returns a chunk or an error, and never
//! panics or overflows the stack (issue 6: function sources come from the
//! Admin API).
//!
//! It first replays the corpus in `tests/corpus/frontend/` (every crash
//! found so far, plus seeds), then, for a fixed time budget, compiles
//! generated sources: random bytes, random token sequences, programs built
//! from the grammar (with deep nesting and long chains), and mutations of
//! the corpus and of those programs. Each case is compiled on a thread with
//! the 2 MiB stack the gateway's threads have.
//!
//! - `LUNAGATE_FUZZ_SECS`: the budget in seconds (default 3; e.g. 600 for
//!   a long local run).
//! - `LUNAGATE_FUZZ_SEED`: replay one run (its seed is printed).
//!
//! A panic is reported with its input, saved under `target/`; a stack
//! overflow aborts the process, and the input being compiled is in
//! `target/frontend-fuzz-last.lua`. Add what it finds to the corpus, fixed.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use lua_stdlib::Chunk;

/// Stack of the thread the cases run on (the gateway's threads' size).
const STACK: usize = 2 << 20;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/frontend")
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn say(text: &str) {
    // past the harness's capture, so CI logs show the seed
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("corpus file"))
        })
        .collect()
}

/// Tokens the generators draw from.
const TOKENS: &[&str] = &[
    "and",
    "break",
    "do",
    "else",
    "elseif",
    "end",
    "false",
    "for",
    "function",
    "goto",
    "if",
    "in",
    "local",
    "nil",
    "not",
    "or",
    "repeat",
    "return",
    "then",
    "true",
    "until",
    "while",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "^",
    "#",
    "&",
    "~",
    "|",
    "<<",
    ">>",
    "==",
    "~=",
    "<=",
    ">=",
    "<",
    ">",
    "=",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "::",
    ";",
    ":",
    ",",
    ".",
    "..",
    "...",
    "x",
    "y",
    "t",
    "f",
    "_ENV",
    "self",
    "1",
    "0",
    "2.5",
    "0x10",
    "1e308",
    "9223372036854775807",
    "'s'",
    "\"\\n\"",
    "[[long]]",
    "<close>",
    "<const>",
    "--c\n",
    "\n",
];

struct Gen {
    rng: fastrand::Rng,
}

impl Gen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let n = self.rng.usize(0..256);
        (0..n)
            .map(|_| {
                if self.rng.u8(..4) == 0 {
                    self.rng.u8(..)
                } else {
                    const LUA_ISH: &[u8] = b"abcxyz019 .:;,=+-*/%^#&~|<>(){}[]'\"\\\n\t";
                    LUA_ISH[self.rng.usize(..LUA_ISH.len())]
                }
            })
            .collect()
    }

    fn token_soup(&mut self) -> Vec<u8> {
        let n = self.rng.usize(0..120);
        let mut s = String::new();
        for _ in 0..n {
            s += self.pick(TOKENS);
            s.push(' ');
        }
        s.into_bytes()
    }

    fn name(&mut self) -> &'static str {
        self.pick(&["x", "y", "t", "f", "a", "b", "self", "_ENV"])
    }

    /// An expression, `depth` levels of nesting left.
    fn expr(&mut self, depth: u32, out: &mut String) {
        if depth == 0 {
            return self.atom(out);
        }
        match self.rng.u8(..14) {
            0 | 1 => self.atom(out),
            2 => {
                // binary chain, sometimes long
                let n = if self.rng.u8(..8) == 0 {
                    self.rng.usize(1..3000)
                } else {
                    self.rng.usize(1..4)
                };
                self.expr(depth - 1, out);
                for _ in 0..n {
                    out.push(' ');
                    out.push_str(self.pick(&[
                        "+", "-", "*", "/", "//", "%", "^", "..", "==", "~=", "<", "<=", ">", ">=",
                        "and", "or", "&", "|", "~", "<<", ">>",
                    ]));
                    out.push(' ');
                    self.expr(depth.saturating_sub(2), out);
                }
            }
            3 => {
                out.push_str(self.pick(&["-", "not ", "#", "~"]));
                self.expr(depth - 1, out);
            }
            4 => {
                out.push('(');
                self.expr(depth - 1, out);
                out.push(')');
            }
            5 | 6 => self.suffixed(depth, out),
            7 => {
                out.push('{');
                for _ in 0..self.rng.usize(0..4) {
                    match self.rng.u8(..3) {
                        0 => {
                            out.push_str(self.name());
                            out.push_str(" = ");
                        }
                        1 => {
                            out.push('[');
                            self.expr(depth - 1, out);
                            out.push_str("] = ");
                        }
                        _ => {}
                    }
                    self.expr(depth - 1, out);
                    out.push_str(self.pick(&[",", ";"]));
                }
                out.push('}');
            }
            8 => {
                out.push_str("function(");
                out.push_str(self.pick(&["", "a", "a, b", "...", "a, ..."]));
                out.push_str(") ");
                self.block(depth - 1, out);
                out.push_str(" end");
            }
            9 => out.push_str("..."),
            _ => self.suffixed(depth, out),
        }
    }

    fn atom(&mut self, out: &mut String) {
        out.push_str(self.pick(&[
            "nil",
            "true",
            "false",
            "1",
            "2.5",
            "'s'",
            "x",
            "y",
            "t",
            "f",
            "0x7fffffffffffffff",
            "-9223372036854775808",
            "1e400",
            "\"a\\0b\"",
        ]));
    }

    fn suffixed(&mut self, depth: u32, out: &mut String) {
        out.push_str(self.name());
        let n = if self.rng.u8(..8) == 0 {
            self.rng.usize(1..3000)
        } else {
            self.rng.usize(0..4)
        };
        for _ in 0..n {
            match self.rng.u8(..6) {
                0 => out.push_str(".a"),
                1 => {
                    out.push('[');
                    self.expr(depth.saturating_sub(2), out);
                    out.push(']');
                }
                2 => out.push_str(":m()"),
                3 => out.push_str("'s'"),
                4 => out.push_str("{}"),
                _ => {
                    out.push('(');
                    if depth > 1 && self.rng.bool() {
                        self.expr(depth - 2, out);
                    }
                    out.push(')');
                }
            }
        }
    }

    fn block(&mut self, depth: u32, out: &mut String) {
        let n = self.rng.usize(0..4);
        for _ in 0..n {
            self.stat(depth, out);
            out.push(' ');
        }
        if self.rng.u8(..4) == 0 {
            out.push_str("return ");
            self.expr(depth.saturating_sub(1), out);
        }
    }

    fn stat(&mut self, depth: u32, out: &mut String) {
        let d = depth.saturating_sub(1);
        match self.rng.u8(..16) {
            0 => {
                out.push_str("local ");
                out.push_str(self.name());
                out.push_str(self.pick(&["", " <const>", " <close>"]));
                out.push_str(" = ");
                self.expr(d, out);
            }
            1 => {
                self.suffixed(d, out);
                out.push_str(" = ");
                self.expr(d, out);
            }
            2 if depth > 0 => {
                out.push_str("if ");
                self.expr(d, out);
                out.push_str(" then ");
                self.block(d, out);
                for _ in 0..self.rng.usize(0..3) {
                    out.push_str(" elseif ");
                    self.expr(d, out);
                    out.push_str(" then ");
                    self.block(d, out);
                }
                if self.rng.bool() {
                    out.push_str(" else ");
                    self.block(d, out);
                }
                out.push_str(" end");
            }
            3 if depth > 0 => {
                out.push_str("while ");
                self.expr(d, out);
                out.push_str(" do ");
                self.block(d, out);
                out.push_str(" break end");
            }
            4 if depth > 0 => {
                out.push_str("for i = 1, ");
                self.expr(d, out);
                out.push_str(" do ");
                self.block(d, out);
                out.push_str(" end");
            }
            5 if depth > 0 => {
                out.push_str("for k, v in pairs(t) do ");
                self.block(d, out);
                out.push_str(" end");
            }
            6 if depth > 0 => {
                out.push_str("repeat ");
                self.block(d, out);
                out.push_str(" until ");
                self.expr(d, out);
            }
            7 if depth > 0 => {
                out.push_str("do ");
                self.block(d, out);
                out.push_str(" end");
            }
            8 if depth > 0 => {
                out.push_str("local function g(a, ...) ");
                self.block(d, out);
                out.push_str(" end");
            }
            9 => out.push_str(self.pick(&["goto l", "::l::", "break", ";"])),
            10 => {
                // deep nesting of one kind, around lua5.4's limit
                let n = self.rng.usize(150..260);
                let (open, close) = *[
                    ("(", ")"),
                    ("{", "}"),
                    ("f(", ")"),
                    ("t[", "]"),
                    ("- ", ""),
                    ("'a'..", ""),
                    ("2^", ""),
                ]
                .get(self.rng.usize(..7))
                .expect("in range");
                out.push_str("x = ");
                out.push_str(&open.repeat(n));
                out.push('1');
                out.push_str(&close.repeat(n));
            }
            11 => {
                let n = self.rng.usize(150..260);
                out.push_str(&self.pick(&["do ", "if x then ", "while x do "]).repeat(n));
                out.push_str(&"end ".repeat(n));
            }
            _ => {
                self.suffixed(d, out);
                out.push_str("()");
            }
        }
    }

    fn program(&mut self) -> Vec<u8> {
        let mut out = String::new();
        if self.rng.u8(..8) == 0 {
            out.push_str("-- __add __lt\n");
        }
        let depth = self.rng.u32(1..7);
        self.block(depth, &mut out);
        out.into_bytes()
    }

    /// Byte- and token-level changes to `src`.
    fn mutate(&mut self, src: &[u8]) -> Vec<u8> {
        let mut s = src.to_vec();
        for _ in 0..self.rng.usize(1..5) {
            let at = self.rng.usize(..=s.len());
            match self.rng.u8(..6) {
                0 if !s.is_empty() => {
                    let i = self.rng.usize(..s.len());
                    s[i] = self.rng.u8(..);
                }
                1 => {
                    let t = self.pick(TOKENS).as_bytes().to_vec();
                    s.splice(at..at, t);
                }
                2 if at < s.len() => {
                    let end = (at + self.rng.usize(1..32)).min(s.len());
                    s.drain(at..end);
                }
                3 if at < s.len() => {
                    let end = (at + self.rng.usize(1..64)).min(s.len());
                    let piece = s[at..end].to_vec();
                    for _ in 0..self.rng.usize(1..200) {
                        s.splice(at..at, piece.iter().copied());
                    }
                }
                4 => s.truncate(at),
                _ => {}
            }
            if s.len() > 400_000 {
                s.truncate(400_000);
            }
        }
        s
    }
}

/// Compiles `src` on a gateway-sized stack; `Err` with the panic message.
fn check(src: &[u8], last: &Path) -> Result<(), String> {
    let _ = std::fs::write(last, src);
    let owned = src.to_vec();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let _ = Chunk::compile(&owned, "=fuzz");
            let _ = Chunk::compile(&owned, &String::from_utf8_lossy(&owned));
        })
        .expect("spawn")
        .join()
        .map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
}

#[test]
fn frontend_never_panics_or_overflows() {
    let budget = std::env::var("LUNAGATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed = std::env::var("LUNAGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    say(&format!(
        "frontend fuzz: seed {seed}, {budget} s (LUNAGATE_FUZZ_SEED / LUNAGATE_FUZZ_SECS)\n"
    ));
    let last = target_dir().join("frontend-fuzz-last.lua");
    let corpus = corpus();
    assert!(!corpus.is_empty(), "the corpus is in the repository");
    for (name, src) in &corpus {
        if let Err(msg) = check(src, &last) {
            panic!("corpus file {name}: the front-end panicked: {msg}");
        }
    }

    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(budget);
    let mut cases = 0u64;
    while Instant::now() < deadline {
        let src = match g.rng.u8(..8) {
            0 => g.random_bytes(),
            1 => g.token_soup(),
            2 | 3 => g.program(),
            4 | 5 => {
                let p = g.program();
                g.mutate(&p)
            }
            _ => {
                let i = g.rng.usize(..corpus.len());
                g.mutate(&corpus[i].1)
            }
        };
        cases += 1;
        if let Err(msg) = check(&src, &last) {
            let path = target_dir().join(format!("frontend-fuzz-crash-{seed}-{cases}.lua"));
            let _ = std::fs::write(&path, &src);
            panic!(
                "case {cases} of seed {seed}: the front-end panicked: {msg}\ninput saved to {}",
                path.display()
            );
        }
    }
    say(&format!(
        "frontend fuzz: {cases} generated cases, no crash\n"
    ));
}
