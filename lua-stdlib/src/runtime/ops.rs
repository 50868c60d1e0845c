//! Arithmetic, bitwise and ordering operators with the full Lua 5.4
//! semantics: integer/float rules, string coercion, exact comparisons
//! between integers and floats, and the `__add` ... `__lt`/`__le`
//! metamethods the 0.3.3 VM lacks. Chunks that mention such a metamethod
//! compile their operators to these helpers (see `compiler::compile`).

use piccolo::{meta_ops, CallbackReturn, Context, Error, Execution, Stack, Value};

use super::{
    as_float, error_at, float_mod, int_floor_div, int_mod, metamethod, operand_name, to_num,
    type_name, ArithOp, CompareOp, Num,
};

/// 2^63 as a float.
const TWO_63: f64 = 9.223_372_036_854_776e18;

const ARITH_OPS: [ArithOp; 14] = [
    ArithOp::Add,
    ArithOp::Sub,
    ArithOp::Mul,
    ArithOp::Div,
    ArithOp::Mod,
    ArithOp::Pow,
    ArithOp::IDiv,
    ArithOp::BAnd,
    ArithOp::BOr,
    ArithOp::BXor,
    ArithOp::Shl,
    ArithOp::Shr,
    ArithOp::Unm,
    ArithOp::BNot,
];

fn event(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "__add",
        ArithOp::Sub => "__sub",
        ArithOp::Mul => "__mul",
        ArithOp::Div => "__div",
        ArithOp::Mod => "__mod",
        ArithOp::Pow => "__pow",
        ArithOp::IDiv => "__idiv",
        ArithOp::BAnd => "__band",
        ArithOp::BOr => "__bor",
        ArithOp::BXor => "__bxor",
        ArithOp::Shl => "__shl",
        ArithOp::Shr => "__shr",
        ArithOp::Unm => "__unm",
        ArithOp::BNot => "__bnot",
    }
}

fn is_bitwise(op: ArithOp) -> bool {
    matches!(
        op,
        ArithOp::BAnd | ArithOp::BOr | ArithOp::BXor | ArithOp::Shl | ArithOp::Shr | ArithOp::BNot
    )
}

/// A float with an exact integer value, as Lua's `luaV_tointegerns`.
fn float_to_int(f: f64) -> Option<i64> {
    if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

fn shift_left(x: i64, y: i64) -> i64 {
    if y <= -64 || y >= 64 {
        0
    } else if y >= 0 {
        ((x as u64) << y) as i64
    } else {
        ((x as u64) >> -y) as i64
    }
}

enum Outcome {
    Value(Num),
    /// Operands unsuitable: try metamethods, else this error.
    NoNumbers(&'static str),
    Error(&'static str),
}

fn compute(op: ArithOp, a: Option<Num>, b: Option<Num>) -> Outcome {
    let (Some(x), Some(y)) = (a, b) else {
        return Outcome::NoNumbers(if is_bitwise(op) {
            "perform bitwise operation on"
        } else {
            "perform arithmetic on"
        });
    };
    if is_bitwise(op) {
        let to_i = |n: &Num| match *n {
            Num::Int(i) => Some(i),
            Num::Float(f) => float_to_int(f),
        };
        let (Some(i), Some(j)) = (to_i(&x), to_i(&y)) else {
            return Outcome::Error("number has no integer representation");
        };
        return Outcome::Value(Num::Int(match op {
            ArithOp::BAnd => i & j,
            ArithOp::BOr => i | j,
            ArithOp::BXor => i ^ j,
            ArithOp::Shl => shift_left(i, j),
            ArithOp::Shr => shift_left(i, j.wrapping_neg()),
            _ => !i,
        }));
    }
    match (x, y) {
        (Num::Int(i), Num::Int(j)) if !matches!(op, ArithOp::Div | ArithOp::Pow) => {
            Outcome::Value(Num::Int(match op {
                ArithOp::Add => i.wrapping_add(j),
                ArithOp::Sub => i.wrapping_sub(j),
                ArithOp::Mul => i.wrapping_mul(j),
                ArithOp::Unm => i.wrapping_neg(),
                ArithOp::Mod | ArithOp::IDiv if j == 0 => {
                    return Outcome::Error(if op == ArithOp::Mod {
                        "attempt to perform 'n%0'"
                    } else {
                        "attempt to divide by zero"
                    })
                }
                ArithOp::Mod => int_mod(i, j),
                _ => int_floor_div(i, j),
            }))
        }
        (x, y) => {
            let (f, g) = (as_float(&x), as_float(&y));
            Outcome::Value(Num::Float(match op {
                ArithOp::Add => f + g,
                ArithOp::Sub => f - g,
                ArithOp::Mul => f * g,
                ArithOp::Div => f / g,
                ArithOp::Pow => f.powf(g),
                ArithOp::Mod => {
                    if g.is_infinite() && f.is_finite() {
                        if (f >= 0.0) == (g > 0.0) {
                            f
                        } else {
                            g
                        }
                    } else {
                        float_mod(f, g)
                    }
                }
                ArithOp::IDiv => (f / g).floor(),
                _ => -f,
            }))
        }
    }
}

/// `arith(op, a, b)`; unary operators get `(op, a, a)` like Lua's
/// metamethod calls.
pub(super) fn arith<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let op = match stack.get(0) {
        Value::Integer(i) => ARITH_OPS.get(i as usize).copied(),
        _ => None,
    }
    .unwrap_or(ArithOp::Add);
    let (a, b) = (stack.get(1), stack.get(2));
    // strings coerce to numbers (for bitwise operators too, as lua 5.4.8
    // and the 0.3.3 VM do; 5.4.4 refused them)
    let num = |v: Value<'gc>| to_num(v);
    let msg = match compute(op, num(a), num(b)) {
        Outcome::Value(n) => {
            let v = match n {
                Num::Int(i) => Value::Integer(i),
                Num::Float(f) => Value::Number(f),
            };
            stack.replace(ctx, v);
            return Ok(CallbackReturn::Return);
        }
        Outcome::Error(msg) => return Err(error_at(ctx, &exec, msg)),
        Outcome::NoNumbers(what) => what,
    };
    let mut mm = metamethod(ctx, a, event(op));
    if mm.is_nil() {
        mm = metamethod(ctx, b, event(op));
    }
    if mm.is_nil() {
        let string_involved = matches!(a, Value::String(_)) || matches!(b, Value::String(_));
        let msg = if string_involved && !is_bitwise(op) {
            // the message of lua5.4's string arithmetic metamethods
            format!(
                "attempt to {} a '{}' with a '{}'",
                &event(op)[2..],
                type_name(a),
                type_name(b)
            )
        } else {
            let (bad, at) = if num(a).is_some() { (b, 1) } else { (a, 0) };
            format!(
                "attempt to {msg} a {} value{}",
                type_name(bad),
                operand_name(stack.get(3), at)
            )
        };
        return Err(error_at(ctx, &exec, &msg));
    }
    stack.clear();
    stack.push_back(a);
    stack.push_back(b);
    Ok(CallbackReturn::Call {
        function: meta_ops::call(ctx, mm)?,
        then: None,
    })
}

/// `i < f` exactly, for an integer and a float.
fn int_lt_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        false
    } else if f >= 9.223_372_036_854_776e18 {
        true
    } else if f > -9.223_372_036_854_776e18 {
        i < f.ceil() as i64
    } else {
        false
    }
}

fn int_le_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        false
    } else if f >= 9.223_372_036_854_776e18 {
        true
    } else if f >= -9.223_372_036_854_776e18 {
        i <= f.floor() as i64
    } else {
        false
    }
}

fn float_lt_int(f: f64, i: i64) -> bool {
    if f.is_nan() || f >= TWO_63 {
        false
    } else if f >= -TWO_63 {
        (f.floor() as i64) < i
    } else {
        true
    }
}

fn float_le_int(f: f64, i: i64) -> bool {
    if f.is_nan() || f >= TWO_63 {
        false
    } else if f > -TWO_63 {
        (f.ceil() as i64) <= i
    } else {
        true
    }
}

/// Orders two values without metamethods; `None` when they need one.
fn raw_order(op: CompareOp, a: Value<'_>, b: Value<'_>) -> Option<bool> {
    let lt = op == CompareOp::Lt;
    Some(match (a, b) {
        (Value::Integer(i), Value::Integer(j)) => {
            if lt {
                i < j
            } else {
                i <= j
            }
        }
        (Value::Number(f), Value::Number(g)) => {
            if lt {
                f < g
            } else {
                f <= g
            }
        }
        (Value::Integer(i), Value::Number(f)) => {
            if lt {
                int_lt_float(i, f)
            } else {
                int_le_float(i, f)
            }
        }
        (Value::Number(f), Value::Integer(i)) => {
            if lt {
                float_lt_int(f, i)
            } else {
                float_le_int(f, i)
            }
        }
        (Value::String(s), Value::String(t)) => {
            if lt {
                s.as_bytes() < t.as_bytes()
            } else {
                s.as_bytes() <= t.as_bytes()
            }
        }
        _ => return None,
    })
}

/// `compare(op, a, b)` for `<` and `<=` (the compiler swaps `>`/`>=`).
pub(super) fn compare<'gc>(
    ctx: Context<'gc>,
    exec: Execution<'gc, '_>,
    mut stack: Stack<'gc, '_>,
) -> Result<CallbackReturn<'gc>, Error<'gc>> {
    let op = if matches!(stack.get(0), Value::Integer(1)) {
        CompareOp::Le
    } else {
        CompareOp::Lt
    };
    let (a, b) = (stack.get(1), stack.get(2));
    if let Some(r) = raw_order(op, a, b) {
        stack.replace(ctx, r);
        return Ok(CallbackReturn::Return);
    }
    let name = if op == CompareOp::Lt { "__lt" } else { "__le" };
    let mut mm = metamethod(ctx, a, name);
    if mm.is_nil() {
        mm = metamethod(ctx, b, name);
    }
    if mm.is_nil() {
        let (ta, tb) = (type_name(a), type_name(b));
        let msg = if ta == tb {
            format!("attempt to compare two {ta} values")
        } else {
            format!("attempt to compare {ta} with {tb}")
        };
        return Err(error_at(ctx, &exec, &msg));
    }
    stack.clear();
    stack.push_back(a);
    stack.push_back(b);
    Ok(CallbackReturn::Call {
        function: meta_ops::call(ctx, mm)?,
        then: None,
    })
}
