//! Generative test of the body decoder (issue 6, "Proof"): random and
//! structured form and multipart bodies, on stable Rust, inside
//! `cargo test`, for a fixed time.
//!
//! - It first replays the corpus in `tests/corpus/admin-body/` (`*.form`:
//!   an urlencoded body; `*.multipart`: a multipart body whose boundary is
//!   `lunagate-fuzz`).
//! - Then, for `LUNAGATE_FUZZ_SECS` seconds (3 by default), it decodes
//!   generated bodies: random bytes, keys built from Kong's key syntax
//!   (`a.b[1][]…`, nested deep), multipart bodies cut or corrupted, and
//!   round trips (a random tree encoded as a form, or as multipart, must
//!   decode to itself).
//! - The seed is printed; `LUNAGATE_FUZZ_SEED=<n>` replays a run, and a
//!   failure names its case, which `LUNAGATE_FUZZ_CASE=<n>` replays alone.
//! - A body that panics is written to the corpus as `crash-<hash>` and the
//!   test fails: commit the file with the fix. (A stack overflow aborts
//!   instead; replay it with the printed seed.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{decode, MAX_KEY_DEPTH};

const BOUNDARY: &str = "lunagate-fuzz";

/// xorshift64*: small, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Form,
    Multipart,
}

impl Kind {
    fn content_type(self) -> String {
        match self {
            Kind::Form => "application/x-www-form-urlencoded".into(),
            Kind::Multipart => format!("multipart/form-data; boundary={BOUNDARY}"),
        }
    }
    fn extension(self) -> &'static str {
        match self {
            Kind::Form => "form",
            Kind::Multipart => "multipart",
        }
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/admin-body")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

/// Depth of a decoded value: a string is 0, `{"a": "x"}` is 1.
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Decodes one body; a panic is saved to the corpus and reported.
fn check(
    rt: &tokio::runtime::Runtime,
    kind: Kind,
    body: &[u8],
    seed: u64,
) -> Option<Map<String, Value>> {
    let bytes = Bytes::copy_from_slice(body);
    let ct = kind.content_type();
    let outcome = catch_unwind(AssertUnwindSafe(|| rt.block_on(decode(Some(&ct), bytes))));
    match outcome {
        Ok(Ok((map, _))) => {
            let d = depth(&Value::Object(map.clone()));
            assert!(
                d <= MAX_KEY_DEPTH,
                "decoded {d} levels deep (LUNAGATE_FUZZ_CASE={seed})"
            );
            Some(map)
        }
        Ok(Err(e)) => {
            let (status, body) = e.status_and_body();
            assert!(
                status.is_client_error() && body["message"].is_string(),
                "a refused body gets a Kong-style 4xx, not {status} {body} (LUNAGATE_FUZZ_CASE={seed})"
            );
            None
        }
        Err(_) => {
            let name = format!("crash-{:016x}.{}", fxhash(body), kind.extension());
            let path = corpus_dir().join(name);
            let _ = std::fs::write(&path, body);
            panic!(
                "the decoder panicked (LUNAGATE_FUZZ_CASE={seed}); the body is saved as {}: fix it and commit the file",
                path.display()
            );
        }
    }
}

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A key in Kong's syntax, sometimes very deep, sometimes broken.
fn key(rng: &mut Rng) -> String {
    let mut k = String::from(*rng.pick(&["a", "config", "paths", "", "x-y", "%5B", "a b"]));
    let steps = if rng.chance(20) {
        rng.below(5000)
    } else {
        rng.below(6)
    };
    for _ in 0..steps {
        let part = match rng.below(9) {
            0 => ".b".to_string(),
            1 => "[]".to_string(),
            2 => format!("[{}]", rng.below(4)),
            3 => "[b]".to_string(),
            4 => format!("[{}]", rng.next()),
            5 => "[".to_string(),
            6 => "]".to_string(),
            7 => ".".to_string(),
            _ => format!("[{}]", "9".repeat(rng.below(40))),
        };
        k.push_str(&part);
    }
    k
}

fn value(rng: &mut Rng) -> String {
    let len = rng.below(12);
    (0..len)
        .map(|_| *rng.pick(&['a', 'é', ' ', '&', '=', '%', '+', '\n', '[', '.', '\u{0}']))
        .collect()
}

fn form(pairs: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn multipart(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{v}\r\n",
                k.replace('"', "%22")
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// A tree of maps (keys `[a-d]{1,2}`), arrays of strings and strings, with
/// the pairs that encode it in Kong's form syntax.
fn tree(rng: &mut Rng, prefix: &str, depth: usize, pairs: &mut Vec<(String, String)>) -> Value {
    let mut m = Map::new();
    for _ in 0..1 + rng.below(3) {
        let name: String = (0..1 + rng.below(2))
            .map(|_| *rng.pick(&['a', 'b', 'c', 'd']))
            .collect();
        if m.contains_key(&name) {
            continue;
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let v = match rng.below(if depth >= 4 { 2 } else { 3 }) {
            0 => {
                let s: String = value(rng).replace('\u{0}', "");
                pairs.push((path, s.clone()));
                Value::String(s)
            }
            1 => {
                let n = 1 + rng.below(3);
                let items: Vec<String> = (0..n).map(|_| value(rng)).collect();
                // Positions in any order: they come out sorted.
                let mut order: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    order.swap(i, rng.below(i + 1));
                }
                for i in order {
                    pairs.push((format!("{path}[{}]", i + 1), items[i].clone()));
                }
                Value::Array(items.into_iter().map(Value::String).collect())
            }
            _ => tree(rng, &path, depth + 1, pairs),
        };
        m.insert(name, v);
    }
    Value::Object(m)
}

fn corrupt(rng: &mut Rng, body: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if body.is_empty() {
            return;
        }
        let at = rng.below(body.len());
        match rng.below(3) {
            0 => body.truncate(at),
            1 => body[at] = rng.next() as u8,
            _ => body.insert(at, *rng.pick(b"\r\n-\"[]")),
        }
    }
}

fn one_case(rng: &mut Rng, rt: &tokio::runtime::Runtime, seed: u64) {
    match rng.below(5) {
        0 => {
            let body: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            let kind = *rng.pick(&[Kind::Form, Kind::Multipart]);
            check(rt, kind, &body, seed);
        }
        1 | 2 => {
            let pairs: Vec<(String, String)> =
                (0..rng.below(8)).map(|_| (key(rng), value(rng))).collect();
            let kind = *rng.pick(&[Kind::Form, Kind::Multipart]);
            let mut body = if kind == Kind::Form {
                form(&pairs)
            } else {
                multipart(&pairs)
            };
            if rng.chance(3) {
                corrupt(rng, &mut body);
            }
            check(rt, kind, &body, seed);
        }
        _ => {
            let mut pairs = Vec::new();
            let expected = tree(rng, "", 0, &mut pairs);
            for kind in [Kind::Form, Kind::Multipart] {
                let body = if kind == Kind::Form {
                    form(&pairs)
                } else {
                    multipart(&pairs)
                };
                let got = check(rt, kind, &body, seed).map(Value::Object);
                let expected = match &expected {
                    // An empty string is an empty body for a form.
                    Value::Object(m) if kind == Kind::Form && body.is_empty() => {
                        Value::Object(m.clone())
                    }
                    other => other.clone(),
                };
                assert_eq!(
                    got.as_ref(),
                    Some(&expected),
                    "{kind:?} round trip of {pairs:?} (LUNAGATE_FUZZ_CASE={seed})"
                );
            }
        }
    }
}

#[test]
fn the_decoder_survives_generated_bodies() {
    let rt = runtime();
    // The corpus first: every body that ever broke the decoder.
    let mut replayed = 0;
    if let Ok(entries) = std::fs::read_dir(corpus_dir()) {
        for entry in entries.flatten() {
            let path = entry.path();
            let kind = match path.extension().and_then(|e| e.to_str()) {
                Some("form") => Kind::Form,
                Some("multipart") => Kind::Multipart,
                _ => continue,
            };
            let body = std::fs::read(&path).expect("read a corpus file");
            if catch_unwind(AssertUnwindSafe(|| check(&rt, kind, &body, 0))).is_err() {
                panic!("corpus file {} fails", path.display());
            }
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "the corpus in {} is replayed",
        corpus_dir().display()
    );

    let seed = std::env::var("LUNAGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let secs: f64 = std::env::var("LUNAGATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    eprintln!("admin body fuzz: seed {seed} (LUNAGATE_FUZZ_SEED), {secs} s (LUNAGATE_FUZZ_SECS)");
    if let Some(case) = std::env::var("LUNAGATE_FUZZ_CASE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        one_case(&mut Rng(case), &rt, case);
        return;
    }
    let mut rng = Rng(seed);
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut cases = 0u64;
    while start.elapsed() < budget {
        // One seed per case, so a failure names a seed that replays it alone.
        let case_seed = rng.next() | 1;
        one_case(&mut Rng(case_seed), &rt, case_seed);
        cases += 1;
    }
    eprintln!("admin body fuzz: {cases} cases, {replayed} corpus files, no failure");
}
