//! The Lua value: 16 bytes, `Copy`, with the integer and float subtypes of
//! 5.4 kept apart. Type names and the raw (metamethod-free) equality live
//! here; conversions between numbers and strings are in [`super::number`].

use gc_arena::{Collect, Gc};

use super::callback::Callback;
use super::closure::Closure;
use super::number::{self, Number};
use super::string::String as LuaString;
use super::table::Table;
use super::thread::Thread;
use super::userdata::UserData;

/// A function: Lua closure or Rust callback.
#[derive(Debug, Copy, Clone, Collect)]
#[collect(no_drop)]
pub enum Function<'gc> {
    Closure(Closure<'gc>),
    Callback(Callback<'gc>),
}

impl<'gc> Function<'gc> {
    pub fn ptr_eq(self, other: Function<'gc>) -> bool {
        match (self, other) {
            (Function::Closure(a), Function::Closure(b)) => a.ptr_eq(b),
            (Function::Callback(a), Function::Callback(b)) => a.ptr_eq(b),
            _ => false,
        }
    }

    pub fn as_ptr(self) -> *const () {
        match self {
            Function::Closure(c) => c.as_ptr(),
            Function::Callback(c) => c.as_ptr(),
        }
    }
}

impl<'gc> From<Closure<'gc>> for Function<'gc> {
    fn from(c: Closure<'gc>) -> Self {
        Function::Closure(c)
    }
}

impl<'gc> From<Callback<'gc>> for Function<'gc> {
    fn from(c: Callback<'gc>) -> Self {
        Function::Callback(c)
    }
}

/// A Lua value.
#[derive(Debug, Copy, Clone, Default, Collect)]
#[collect(no_drop)]
pub enum Value<'gc> {
    #[default]
    Nil,
    Boolean(bool),
    Integer(i64),
    Number(f64),
    String(LuaString<'gc>),
    Table(Table<'gc>),
    Function(Function<'gc>),
    Thread(Thread<'gc>),
    UserData(UserData<'gc>),
}

const _: () = assert!(std::mem::size_of::<Value<'static>>() == 16);

impl<'gc> Value<'gc> {
    /// lua5.4's type name (`luaT_typenames_`).
    pub fn type_name(self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) | Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
            Value::Function(_) => "function",
            Value::Thread(_) => "thread",
            Value::UserData(_) => "userdata",
        }
    }

    #[inline]
    pub fn is_nil(self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Lua truthiness: everything but `nil` and `false`.
    #[inline]
    pub fn to_bool(self) -> bool {
        !matches!(self, Value::Nil | Value::Boolean(false))
    }

    /// The number this value is, without string coercion.
    #[inline]
    pub fn as_number(self) -> Option<Number> {
        match self {
            Value::Integer(i) => Some(Number::Int(i)),
            Value::Number(f) => Some(Number::Float(f)),
            _ => None,
        }
    }

    /// The number this value is or converts to (strings are converted as
    /// `lua_tonumber` does).
    pub fn to_number(self) -> Option<Number> {
        match self {
            Value::Integer(i) => Some(Number::Int(i)),
            Value::Number(f) => Some(Number::Float(f)),
            Value::String(s) => number::str_to_number(s.as_bytes()),
            _ => None,
        }
    }

    /// `lua_tointegerx`: integers, floats with an exact integer value, and
    /// strings denoting either.
    pub fn to_integer(self) -> Option<i64> {
        match self.to_number()? {
            Number::Int(i) => Some(i),
            Number::Float(f) => number::float_to_integer(f),
        }
    }

    /// `lua_tonumberx` as a float.
    pub fn to_float(self) -> Option<f64> {
        match self.to_number()? {
            Number::Int(i) => Some(i as f64),
            Number::Float(f) => Some(f),
        }
    }

    /// Raw equality (`rawequal`): no metamethods, exact int/float.
    #[inline]
    pub fn raw_eq(self, other: Value<'gc>) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Boolean(a), Value::Boolean(b)) => a == b,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::Integer(a), Value::Number(b)) | (Value::Number(b), Value::Integer(a)) => {
                number::int_eq_float(a, b)
            }
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Table(a), Value::Table(b)) => a.ptr_eq(b),
            (Value::Function(a), Value::Function(b)) => a.ptr_eq(b),
            (Value::Thread(a), Value::Thread(b)) => a.ptr_eq(b),
            (Value::UserData(a), Value::UserData(b)) => a.ptr_eq(b),
            _ => false,
        }
    }

    /// The address shown by `tostring` for objects (`table: 0x...`).
    pub fn object_ptr(self) -> Option<*const ()> {
        match self {
            Value::Table(t) => Some(t.as_ptr()),
            Value::Function(f) => Some(f.as_ptr()),
            Value::Thread(t) => Some(t.as_ptr()),
            Value::UserData(u) => Some(u.as_ptr()),
            Value::String(s) => Some(s.as_ptr() as *const ()),
            _ => None,
        }
    }

    pub fn as_string(self) -> Option<LuaString<'gc>> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(self) -> Option<Table<'gc>> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }
}

impl<'gc> From<bool> for Value<'gc> {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl<'gc> From<i64> for Value<'gc> {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl<'gc> From<i32> for Value<'gc> {
    fn from(v: i32) -> Self {
        Value::Integer(v as i64)
    }
}
impl<'gc> From<usize> for Value<'gc> {
    fn from(v: usize) -> Self {
        Value::Integer(v as i64)
    }
}
impl<'gc> From<f64> for Value<'gc> {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}
impl<'gc> From<Number> for Value<'gc> {
    fn from(n: Number) -> Self {
        match n {
            Number::Int(i) => Value::Integer(i),
            Number::Float(f) => Value::Number(f),
        }
    }
}
impl<'gc> From<LuaString<'gc>> for Value<'gc> {
    fn from(v: LuaString<'gc>) -> Self {
        Value::String(v)
    }
}
impl<'gc> From<Table<'gc>> for Value<'gc> {
    fn from(v: Table<'gc>) -> Self {
        Value::Table(v)
    }
}
impl<'gc> From<Function<'gc>> for Value<'gc> {
    fn from(v: Function<'gc>) -> Self {
        Value::Function(v)
    }
}
impl<'gc> From<Closure<'gc>> for Value<'gc> {
    fn from(v: Closure<'gc>) -> Self {
        Value::Function(Function::Closure(v))
    }
}
impl<'gc> From<Callback<'gc>> for Value<'gc> {
    fn from(v: Callback<'gc>) -> Self {
        Value::Function(Function::Callback(v))
    }
}
impl<'gc> From<Thread<'gc>> for Value<'gc> {
    fn from(v: Thread<'gc>) -> Self {
        Value::Thread(v)
    }
}
impl<'gc> From<UserData<'gc>> for Value<'gc> {
    fn from(v: UserData<'gc>) -> Self {
        Value::UserData(v)
    }
}
impl<'gc, T: Into<Value<'gc>>> From<Option<T>> for Value<'gc> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Nil, Into::into)
    }
}

/// Pointer identity hash of a `Gc` object (tables, functions …).
pub(crate) fn ptr_hash<T: ?Sized>(p: Gc<'_, T>) -> u64 {
    mix(Gc::as_ptr(p) as *const () as usize as u64)
}

/// A strong integer mixer (splitmix64's finaliser).
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
