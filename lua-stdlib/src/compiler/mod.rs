//! The Lua 5.4 front-end: source text to piccolo 0.3.3 bytecode.
//!
//! `compile` turns a chunk into a [`Chunk`]: an `Arc`-shared tree of
//! piccolo `CompiledPrototype`s that is `Send + Sync`, so a chunk compiled
//! once (e.g. when the Admin API stores a function) is instantiated cheaply
//! on every worker's VM with [`Chunk::instantiate`].

use std::{fmt, sync::Arc};

use piccolo::{compiler::CompiledPrototype, Closure, Context, FunctionPrototype, Table};

/// A compiled chunk, shareable between threads and VMs.
#[derive(Clone)]
pub struct Chunk {
    inner: Arc<ChunkInner>,
}

struct ChunkInner {
    proto: CompiledPrototype<Arc<[u8]>>,
    chunk_id: String,
}

/// A syntax error, formatted exactly as lua5.4 prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompileError {}

#[derive(Default)]
struct ArcInterner(std::collections::HashSet<Arc<[u8]>>);

impl piccolo::compiler::StringInterner for ArcInterner {
    type String = Arc<[u8]>;
    fn intern(&mut self, s: &[u8]) -> Arc<[u8]> {
        if let Some(s) = self.0.get(s) {
            return s.clone();
        }
        let s: Arc<[u8]> = Arc::from(s);
        self.0.insert(s.clone());
        s
    }
}

/// Compiles `source` as a Lua chunk named `chunk_name` (`load` conventions:
/// `=name`, `@file` or the source text itself).
pub fn compile(source: &[u8], chunk_name: &str) -> Result<Chunk, CompileError> {
    let id = chunk_id(chunk_name);
    let mut interner = ArcInterner::default();
    let parsed =
        piccolo::compiler::parse_chunk(source, &mut interner).map_err(|e| CompileError {
            message: format!("{id}:{}", e),
        })?;
    let proto =
        piccolo::compiler::compile_chunk(&parsed, &mut interner).map_err(|e| CompileError {
            message: format!("{id}:{}", e),
        })?;
    Ok(Chunk {
        inner: Arc::new(ChunkInner {
            proto,
            chunk_id: id,
        }),
    })
}

impl Chunk {
    /// Instantiate as a closure in this VM with `env` as `_ENV` (~1 µs).
    pub fn instantiate<'gc>(
        &self,
        ctx: Context<'gc>,
        env: Table<'gc>,
    ) -> Result<Closure<'gc>, piccolo::Error<'gc>> {
        let name = ctx.intern(self.inner.chunk_id.as_bytes());
        let proto =
            FunctionPrototype::from_compiled_map_strings(&ctx, name, &self.inner.proto, |s| {
                ctx.intern(s)
            });
        Closure::new(&ctx, proto, Some(env))
            .map_err(|e| piccolo::Error::Runtime(piccolo::RuntimeError::from(e)))
    }

    /// The chunk's name as it appears in messages (`[string "..."]`, `stdin`).
    pub fn chunk_id(&self) -> &str {
        &self.inner.chunk_id
    }
}

const LUA_IDSIZE: usize = 60;

/// Lua's chunk name for a source string: `[string "first line..."]` exactly
/// as lua5.4's `luaO_chunkid` builds it; `=name` -> `name`, `@file` -> `file`.
pub fn chunk_id(chunk_name: &str) -> String {
    let src = chunk_name.as_bytes();
    let bufflen = LUA_IDSIZE; // includes the terminating NUL in C
    let out: Vec<u8> = if let Some(rest) = src.strip_prefix(b"=") {
        rest[..rest.len().min(bufflen - 1)].to_vec()
    } else if let Some(rest) = src.strip_prefix(b"@") {
        if rest.len() < bufflen {
            rest.to_vec()
        } else {
            let keep = bufflen - 1 - 3 - 1;
            let mut v = b"...".to_vec();
            v.extend_from_slice(&rest[rest.len() - keep..]);
            v
        }
    } else {
        let nl = src.iter().position(|&c| c == b'\n');
        // available room: bufflen - len('[string "') - len('..."]') - 1
        let avail = bufflen - 9 - 3 - 2 - 1;
        let mut v = b"[string \"".to_vec();
        if src.len() < avail && nl.is_none() {
            v.extend_from_slice(src);
        } else {
            let mut l = nl.unwrap_or(src.len());
            if l > avail {
                l = avail;
            }
            v.extend_from_slice(&src[..l]);
            v.extend_from_slice(b"...");
        }
        v.extend_from_slice(b"\"]");
        v
    };
    String::from_utf8_lossy(&out).into_owned()
}
