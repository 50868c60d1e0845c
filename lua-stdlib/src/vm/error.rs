//! Lua errors. An error is a Lua value (usually a string carrying its
//! `chunk:line:` position); the VM builds its own messages here, as
//! `ldebug.c` words them.

use gc_arena::Collect;

use super::value::Value;

/// An error raised in Lua or by a callback: any Lua value.
#[derive(Debug, Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Error<'gc> {
    value: Value<'gc>,
    /// The message handler of the protected call already ran on it.
    handled: bool,
}

impl<'gc> Error<'gc> {
    pub fn from_value(value: Value<'gc>) -> Self {
        Error {
            value,
            handled: false,
        }
    }

    pub(crate) fn handled(self) -> Self {
        Error {
            handled: true,
            ..self
        }
    }

    pub(crate) fn is_handled(&self) -> bool {
        self.handled
    }

    pub fn value(&self) -> Value<'gc> {
        self.value
    }
}

impl<'gc> From<Value<'gc>> for Error<'gc> {
    fn from(value: Value<'gc>) -> Self {
        Error::from_value(value)
    }
}

impl std::fmt::Display for Error<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value {
            Value::String(s) => write!(f, "{s}"),
            Value::Nil => f.write_str("nil"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Number(n) => f.write_str(&super::number::float_to_string(n)),
            v => write!(f, "(error object is a {} value)", v.type_name()),
        }
    }
}
