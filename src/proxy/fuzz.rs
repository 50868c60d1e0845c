//! What the parsers' generative tests share (`client::parse_fuzz` for
//! upstream responses, `server::parse_fuzz` for client requests): a
//! seedable generator, byte-level mutations, random read boundaries, and
//! the time-budgeted run.
//!
//! A run first replays its corpus (`tests/corpus/<name>/`), then checks
//! generated cases for a fixed time: 2 s, or `LUNAGATE_FUZZ_SECS` (CI gives
//! its fuzz job a longer budget). The seed is printed and
//! `LUNAGATE_FUZZ_SEED` replays one; an input that fails is written to
//! `target/fuzz-failures/` to be added to the corpus once fixed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: small, seedable, good enough to pick test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let len = rng.below(max + 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// A header value: visible bytes, spaces, obs-text; trimmed.
pub fn random_value(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(40);
    (0..len)
        .map(|_| match rng.below(10) {
            0 => b' ',
            1 => 0x80 + rng.below(0x80) as u8,
            _ => b'!' + rng.below(94) as u8,
        })
        .collect::<Vec<_>>()
        .trim_ascii()
        .to_vec()
}

/// `body` as a chunked body on `wire`: random chunk sizes, in lower or
/// zero-padded upper hex, some with extensions, then the last chunk and up
/// to two trailer fields.
pub fn chunked_body(rng: &mut Rng, body: &[u8], wire: &mut Vec<u8>) {
    let mut at = 0;
    while at < body.len() {
        let n = (1 + rng.below(body.len() - at)).min(body.len() - at);
        let size = if rng.chance(2) {
            format!("{n:x}")
        } else {
            format!("{:0width$X}", n, width = 1 + rng.below(4))
        };
        wire.extend_from_slice(size.as_bytes());
        if rng.chance(4) {
            wire.extend_from_slice(b" ;ext=\"v\";flag");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&body[at..at + n]);
        wire.extend_from_slice(b"\r\n");
        at += n;
    }
    wire.extend_from_slice(b"0\r\n");
    for _ in 0..rng.below(3) {
        wire.extend_from_slice(b"X-Trailer: ");
        wire.extend_from_slice(&random_value(rng));
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
}

/// One to four mutations: a byte flipped, replaced by one that matters to
/// HTTP, removed or inserted, the input cut, one of `snippets` spliced in,
/// or a piece of the input repeated.
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, snippets: &[&[u8]]) {
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            bytes.push(rng.next() as u8);
        }
        let at = rng.below(bytes.len());
        match rng.below(7) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes[at] = *rng.pick(b"\r\n \t:;0123456789abcdefABCDEF+-,"),
            2 => {
                bytes.remove(at);
            }
            3 => bytes.insert(at, *rng.pick(b"\r\n \t:;09afAF+-,\x00\x7f\x80")),
            4 => bytes.truncate(at),
            5 => {
                let snippet = *rng.pick(snippets);
                bytes.splice(at..at, snippet.iter().copied());
            }
            _ => {
                let from = rng.below(bytes.len());
                let len = rng.below(bytes.len() - from + 1).min(64);
                let copy = bytes[from..from + len].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
}

/// Where reads of `len` bytes end: byte by byte, or a few random cuts.
pub fn random_cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = match rng.below(3) {
        // Byte by byte (bounded, for long inputs).
        0 => (1..len.min(2000)).collect(),
        _ => (0..rng.below(8)).map(|_| rng.below(len + 1)).collect(),
    };
    cuts.sort_unstable();
    cuts
}

/// Splits `input` into the pieces that `cuts` (sorted) end.
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        let c = c.clamp(at, input.len());
        pieces.push(&input[at..c]);
        at = c;
    }
    pieces
}

/// Runs `check`, turning a panic into an error.
fn guarded(check: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(r) => r,
        Err(panic) => Err(format!(
            "panic: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/{name}"))
}

/// Saves a failing input for the corpus and fails the test.
fn fail(name: &str, input: &[u8], seed: u64, why: &str) -> ! {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-{seed:016x}-{}.http", input.len()));
    let _ = std::fs::write(&path, input);
    panic!(
        "seed {seed:#x}: {why}\ninput saved to {} (add it to {} once fixed)",
        path.display(),
        corpus_dir(name).display()
    );
}

/// The fuzz run of the corpus `name`: every corpus input checked with
/// `check(input, rng, None)`, then cases from `generate` (the input and
/// what `check` should know of it) until the time budget is spent.
pub fn run<B>(
    name: &str,
    mut generate: impl FnMut(&mut Rng) -> (Vec<u8>, Option<B>),
    check: impl Fn(&[u8], &mut Rng, Option<&B>) -> Result<(), String>,
) {
    let seed = std::env::var("LUNAGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    let budget = std::env::var("LUNAGATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_secs);
    println!("{name}: seed {seed:#x} (LUNAGATE_FUZZ_SEED), {budget:?}");

    let mut rng = Rng(seed);
    let mut replayed = 0;
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir(name))
        .expect("the corpus directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let input = std::fs::read(&path).expect("corpus file");
        if let Err(why) = guarded(|| check(&input, &mut rng, None)) {
            panic!("corpus {}: {why}", path.display());
        }
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus is empty");

    let started = Instant::now();
    let mut cases = 0u64;
    while started.elapsed() < budget {
        let case_seed = rng.next() | 1;
        let mut case = Rng(case_seed);
        let (input, built) = generate(&mut case);
        if let Err(why) = guarded(|| check(&input, &mut case, built.as_ref())) {
            fail(name, &input, case_seed, &why);
        }
        cases += 1;
    }
    println!("{replayed} corpus inputs, {cases} generated cases");
}
