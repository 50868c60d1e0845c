//! The Lua 5.4 front-end: source text to piccolo 0.3.3 bytecode.
//!
//! `compile` turns a chunk into a [`Chunk`]: an `Arc`-shared tree of
//! piccolo `CompiledPrototype`s that is `Send + Sync`, so a chunk compiled
//! once (e.g. when the Admin API stores a function) is instantiated cheaply
//! on every worker's VM with [`Chunk::instantiate`].

pub mod ast;
mod codegen;
pub mod lexer;
pub mod parser;

use std::{fmt, sync::Arc};

use allocator_api2::vec as avec;
use gc_arena::allocator_api::MetricsAlloc;
use piccolo::{
    closure::{UpValue, UpValueState},
    compiler::CompiledPrototype,
    Closure, Context, FunctionPrototype, Table, Value,
};

pub use codegen::MainUpval;

/// Index of `_ENV` among the upvalues of an instantiated main chunk
/// (what a 5.1-style `setfenv`/`getfenv` on a chunk replaces or reads).
pub const ENV_UPVALUE: usize = 0;

/// A compiled chunk, shareable between threads and VMs.
#[derive(Clone)]
pub struct Chunk {
    inner: Arc<ChunkInner>,
}

struct ChunkInner {
    proto: CompiledPrototype<Arc<[u8]>>,
    main_upvals: Vec<MainUpval>,
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

/// Compiles `source` as a Lua chunk named `chunk_name` (`load` conventions:
/// `=name`, `@file` or the source text itself).
pub fn compile(source: &[u8], chunk_name: &str) -> Result<Chunk, CompileError> {
    let id = chunk_id(chunk_name);
    let block = parser::parse_chunk(source).map_err(|e| CompileError {
        message: if e.line == 0 {
            e.message
        } else {
            format!("{id}:{}: {}", e.line, e.message)
        },
    })?;
    let strict = mentions_operator_metamethods(source);
    let (proto, main_upvals) = codegen::generate(&block, strict).map_err(|e| CompileError {
        message: format!("{id}:{}: {}", e.line, e.message),
    })?;
    Ok(Chunk {
        inner: Arc::new(ChunkInner {
            proto,
            main_upvals,
            chunk_id: id,
        }),
    })
}

/// Whether the source names an arithmetic, bitwise or ordering metamethod.
///
/// piccolo 0.3.3's VM has no such metamethods, so arithmetic and ordering
/// compile to plain VM operations only in chunks that cannot define them;
/// a chunk mentioning `__add`, `__lt` ... gets its operators compiled into
/// calls of Rust helpers with the full Lua 5.4 semantics (metamethods,
/// string coercion, exact integer/float comparison).
fn mentions_operator_metamethods(source: &[u8]) -> bool {
    const EVENTS: [&[u8]; 16] = [
        b"__add", b"__sub", b"__mul", b"__div", b"__mod", b"__pow", b"__unm", b"__idiv", b"__band",
        b"__bor", b"__bxor", b"__shl", b"__shr", b"__bnot", b"__lt", b"__le",
    ];
    source
        .windows(4)
        .enumerate()
        .any(|(i, w)| w.starts_with(b"__") && EVENTS.iter().any(|e| source[i..].starts_with(e)))
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
        let mut upvalues = avec::Vec::new_in(MetricsAlloc::new(&ctx));
        for u in &self.inner.main_upvals {
            let v = match *u {
                MainUpval::Env => Value::Table(env),
                MainUpval::Helper(h) => Value::Function(crate::runtime::helper(ctx, h).into()),
            };
            upvalues.push(UpValue::new(&ctx, UpValueState::Closed(v)));
        }
        Ok(Closure::from_parts(
            &ctx,
            gc_arena::Gc::new(&ctx, proto),
            upvalues,
        ))
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod depth_tests;
