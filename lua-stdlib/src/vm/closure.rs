//! Function prototypes and closures.
//!
//! A [`Proto`] is what the compiler produces: code, constants and debug
//! information with no arena pointers, so a compiled chunk is `Send + Sync`
//! and shared (`Arc`) by every VM that loads it. Loading makes a
//! [`FunctionProto`] in one arena (constants become values, strings are
//! interned) and a [`Closure`] pairs it with upvalues.
//!
//! An upvalue is open while the variable it captures lives in a stack slot
//! of its thread, and closed (holding the value) once that slot dies.

use std::sync::Arc;

use gc_arena::{lock::Lock, Collect, Gc, Mutation};

use super::opcode::Instruction;
use super::string::String as LuaString;
use super::thread::Thread;
use super::value::Value;

/// A constant of a compiled prototype.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    Nil,
    Boolean(bool),
    Integer(i64),
    Number(f64),
    String(Box<[u8]>),
}

/// How a closure captures one upvalue when it is created.
#[derive(Debug, Clone)]
pub struct UpvalDesc {
    /// `true`: a register of the enclosing function; else an upvalue of it.
    pub in_stack: bool,
    pub index: u8,
    pub name: Box<[u8]>,
}

/// A local variable's name and the instructions where it is active.
#[derive(Debug, Clone)]
pub struct LocVar {
    pub name: Box<[u8]>,
    pub start_pc: u32,
    pub end_pc: u32,
}

/// A compiled function, independent of any VM.
#[derive(Debug, Clone, Default)]
pub struct Proto {
    pub code: Vec<Instruction>,
    pub constants: Vec<Constant>,
    pub protos: Vec<Arc<Proto>>,
    pub upvalues: Vec<UpvalDesc>,
    pub num_params: u8,
    pub is_vararg: bool,
    pub max_stack: u8,
    /// Source line of each instruction.
    pub lines: Vec<u32>,
    pub local_vars: Vec<LocVar>,
    /// The chunk's name as messages show it (`[string "..."]`, `stdin`).
    pub source: Arc<str>,
    /// The chunk's name as given to `load` (`@file`, `=name`, the source):
    /// `debug.getinfo(...).source`.
    pub chunk_name: Arc<str>,
    pub line_defined: u32,
    pub last_line_defined: u32,
}

/// A prototype loaded into one arena.
#[derive(Collect)]
#[collect(no_drop)]
pub struct FunctionProto<'gc> {
    #[collect(require_static)]
    pub proto: Arc<Proto>,
    /// Copies of the header fields every call reads (one pointer less).
    pub num_params: u8,
    pub is_vararg: bool,
    pub max_stack: u8,
    /// The code, copied into the VM so the instruction loop reaches it
    /// without going through the `Arc`.
    #[collect(require_static)]
    pub code: Box<[Instruction]>,
    pub constants: Box<[Value<'gc>]>,
    pub protos: Box<[Gc<'gc, FunctionProto<'gc>>]>,
}

impl<'gc> FunctionProto<'gc> {
    /// Loads `proto` and its nested functions; `intern` makes the strings.
    pub fn load(
        mc: &Mutation<'gc>,
        proto: &Arc<Proto>,
        intern: &mut dyn FnMut(&[u8]) -> LuaString<'gc>,
    ) -> Gc<'gc, FunctionProto<'gc>> {
        let constants = proto
            .constants
            .iter()
            .map(|c| match c {
                Constant::Nil => Value::Nil,
                Constant::Boolean(b) => Value::Boolean(*b),
                Constant::Integer(i) => Value::Integer(*i),
                Constant::Number(f) => Value::Number(*f),
                Constant::String(s) => Value::String(intern(s)),
            })
            .collect();
        let protos = proto
            .protos
            .iter()
            .map(|p| FunctionProto::load(mc, p, intern))
            .collect();
        Gc::new(
            mc,
            FunctionProto {
                proto: proto.clone(),
                num_params: proto.num_params,
                is_vararg: proto.is_vararg,
                max_stack: proto.max_stack,
                code: proto.code.clone().into_boxed_slice(),
                constants,
                protos,
            },
        )
    }
}

/// Where an upvalue's value lives.
#[derive(Debug, Copy, Clone, Collect)]
#[collect(no_drop)]
pub enum UpvalState<'gc> {
    /// In stack slot `index` of `thread`.
    Open {
        thread: Thread<'gc>,
        index: usize,
    },
    Closed(Value<'gc>),
}

pub type UpVal<'gc> = Gc<'gc, Lock<UpvalState<'gc>>>;

/// A Lua function: a prototype and its upvalues.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Closure<'gc>(pub(crate) Gc<'gc, ClosureState<'gc>>);

/// Upvalues kept inside the closure object: most closures have this many
/// or fewer, and are then one allocation, not two.
const INLINE_UPVALUES: usize = 4;

#[derive(Collect)]
#[collect(no_drop)]
pub struct ClosureState<'gc> {
    pub proto: Gc<'gc, FunctionProto<'gc>>,
    /// The upvalues when there are at most [`INLINE_UPVALUES`]; the slots
    /// past `len` (and all of them when `heap` is used) hold a placeholder.
    inline: [Lock<UpVal<'gc>>; INLINE_UPVALUES],
    /// All the upvalues when there are more.
    heap: Box<[Lock<UpVal<'gc>>]>,
    len: u8,
}

impl<'gc> ClosureState<'gc> {
    /// The closure's upvalues, in the prototype's order.
    #[inline]
    pub fn upvalues(&self) -> &[Lock<UpVal<'gc>>] {
        if self.heap.is_empty() {
            &self.inline[..self.len as usize]
        } else {
            &self.heap
        }
    }
}

impl<'gc> Closure<'gc> {
    /// A closure of `proto` with `upvalues` (at most 255); `placeholder`
    /// fills the unused inline slots.
    pub fn new(
        mc: &Mutation<'gc>,
        proto: Gc<'gc, FunctionProto<'gc>>,
        upvalues: &[UpVal<'gc>],
        placeholder: UpVal<'gc>,
    ) -> Closure<'gc> {
        let small = upvalues.len() <= INLINE_UPVALUES;
        let inline = std::array::from_fn(|i| match upvalues.get(i) {
            Some(&up) if small => Lock::new(up),
            _ => Lock::new(placeholder),
        });
        let heap: Box<[Lock<UpVal<'gc>>]> = if small {
            Box::default()
        } else {
            upvalues.iter().map(|&up| Lock::new(up)).collect()
        };
        Closure(Gc::new(
            mc,
            ClosureState {
                proto,
                inline,
                heap,
                len: upvalues.len().min(255) as u8,
            },
        ))
    }

    #[inline]
    pub fn ptr_eq(self, other: Closure<'gc>) -> bool {
        Gc::ptr_eq(self.0, other.0)
    }

    pub fn as_ptr(self) -> *const () {
        Gc::as_ptr(self.0) as *const ()
    }

    #[inline]
    pub fn state(self) -> &'gc ClosureState<'gc> {
        Gc::as_ref(self.0)
    }

    pub fn proto(self) -> &'gc Proto {
        &Gc::as_ref(self.0).proto.proto
    }

    /// The loaded prototype (header fields without the `Arc` hop).
    #[inline]
    pub fn fproto(self) -> &'gc FunctionProto<'gc> {
        Gc::as_ref(Gc::as_ref(self.0).proto)
    }

    /// Replaces upvalue `i` (for `debug.upvaluejoin`).
    pub fn set_upvalue(self, mc: &Mutation<'gc>, i: usize, up: UpVal<'gc>) {
        let w = Gc::write(mc, self.0);
        if i >= self.0.upvalues().len() {
            return;
        }
        if self.0.heap.is_empty() {
            gc_arena::barrier::field!(w, ClosureState, inline)[i]
                .unlock()
                .set(up);
        } else {
            gc_arena::barrier::field!(w, ClosureState, heap).as_deref()[i]
                .unlock()
                .set(up);
        }
    }
}

impl std::fmt::Debug for Closure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "function: {:p}", self.as_ptr())
    }
}
