//! Conversions of a call's results into Rust types for the host.

use super::context::Context;
use super::error::Error;
use super::string::String as LuaString;
use super::table::Table;
use super::value::{Function, Value};

/// Types one Lua value converts to.
pub trait FromValue<'gc>: Sized {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>>;
}

fn type_error<'gc, T>(ctx: Context<'gc>, expected: &str, v: Value<'gc>) -> Result<T, Error<'gc>> {
    let msg = format!("{expected} expected, got {}", v.type_name());
    Err(Error::from_value(Value::String(ctx.intern(msg.as_bytes()))))
}

impl<'gc> FromValue<'gc> for Value<'gc> {
    fn from_value(_: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        Ok(v)
    }
}

impl<'gc> FromValue<'gc> for i64 {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        match v.to_integer() {
            Some(i) => Ok(i),
            None => type_error(ctx, "integer", v),
        }
    }
}

impl<'gc> FromValue<'gc> for f64 {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        match v.to_float() {
            Some(f) => Ok(f),
            None => type_error(ctx, "number", v),
        }
    }
}

impl<'gc> FromValue<'gc> for bool {
    fn from_value(_: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        Ok(v.to_bool())
    }
}

impl<'gc> FromValue<'gc> for LuaString<'gc> {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        match v {
            Value::String(s) => Ok(s),
            v => type_error(ctx, "string", v),
        }
    }
}

impl<'gc> FromValue<'gc> for std::string::String {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        match v {
            Value::String(s) => Ok(s.to_string()),
            Value::Integer(_) | Value::Number(_) => Ok(super::number::number_to_string(
                v.as_number().expect("a number"),
            )),
            v => type_error(ctx, "string", v),
        }
    }
}

impl<'gc> FromValue<'gc> for Table<'gc> {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        match v {
            Value::Table(t) => Ok(t),
            v => type_error(ctx, "table", v),
        }
    }
}

impl<'gc> FromValue<'gc> for Function<'gc> {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        match v {
            Value::Function(f) => Ok(f),
            v => type_error(ctx, "function", v),
        }
    }
}

impl<'gc, T: FromValue<'gc>> FromValue<'gc> for Option<T> {
    fn from_value(ctx: Context<'gc>, v: Value<'gc>) -> Result<Self, Error<'gc>> {
        if v.is_nil() {
            Ok(None)
        } else {
            T::from_value(ctx, v).map(Some)
        }
    }
}

/// Types a list of values (a call's results) converts to.
pub trait FromValues<'gc>: Sized {
    fn from_values(ctx: Context<'gc>, vs: &[Value<'gc>]) -> Result<Self, Error<'gc>>;
}

impl<'gc> FromValues<'gc> for () {
    fn from_values(_: Context<'gc>, _: &[Value<'gc>]) -> Result<Self, Error<'gc>> {
        Ok(())
    }
}

impl<'gc> FromValues<'gc> for Vec<Value<'gc>> {
    fn from_values(_: Context<'gc>, vs: &[Value<'gc>]) -> Result<Self, Error<'gc>> {
        Ok(vs.to_vec())
    }
}

impl<'gc, T: FromValue<'gc>> FromValues<'gc> for T {
    fn from_values(ctx: Context<'gc>, vs: &[Value<'gc>]) -> Result<Self, Error<'gc>> {
        T::from_value(ctx, vs.first().copied().unwrap_or(Value::Nil))
    }
}

macro_rules! tuple_from_values {
    ($($n:ident $i:tt)+) => {
        impl<'gc, $($n: FromValue<'gc>),+> FromValues<'gc> for ($($n,)+) {
            fn from_values(ctx: Context<'gc>, vs: &[Value<'gc>]) -> Result<Self, Error<'gc>> {
                Ok(($($n::from_value(ctx, vs.get($i).copied().unwrap_or(Value::Nil))?,)+))
            }
        }
    };
}
tuple_from_values!(A 0);
tuple_from_values!(A 0 B 1);
tuple_from_values!(A 0 B 1 C 2);
tuple_from_values!(A 0 B 1 C 2 D 3);
