//! The instruction set: lua5.4's opcodes and 32-bit layout (`lopcodes.h`),
//! so the code generator can follow `lcode.c` and errors can be explained
//! the way `ldebug.c` explains them.
//!
//! ```text
//!  iABC:  C(8) | B(8) | k(1) | A(8) | op(7)
//!  iABx:  Bx(17)             | A(8) | op(7)
//!  iAsBx: sBx(17)            | A(8) | op(7)
//!  iAx:   Ax(25)                    | op(7)
//!  isJ:   sJ(25)                    | op(7)
//! ```

pub type Instruction = u32;

pub const MAXARG_A: u32 = 255;
pub const MAXARG_B: u32 = 255;
pub const MAXARG_C: u32 = 255;
pub const MAXARG_BX: u32 = (1 << 17) - 1;
pub const OFFSET_SBX: i32 = (MAXARG_BX >> 1) as i32;
pub const MAXARG_SJ: u32 = (1 << 25) - 1;
pub const OFFSET_SJ: i32 = (MAXARG_SJ >> 1) as i32;
/// Offset of signed immediates in B and C (`sB`, `sC`).
pub const OFFSET_SC: i32 = (MAXARG_C >> 1) as i32;
/// Items per `SETLIST` batch (`LFIELDS_PER_FLUSH`).
pub const FIELDS_PER_FLUSH: u32 = 50;

macro_rules! opcodes {
    ($($name:ident = $n:expr, $text:expr;)*) => {
        $(pub const $name: u8 = $n;)*
        /// Opcode names, for listings and tests.
        pub fn op_name(op: u8) -> &'static str {
            match op { $($n => $text,)* _ => "?" }
        }
    };
}

opcodes! {
    MOVE = 0, "MOVE";
    LOADI = 1, "LOADI";
    LOADF = 2, "LOADF";
    LOADK = 3, "LOADK";
    LOADKX = 4, "LOADKX";
    LOADFALSE = 5, "LOADFALSE";
    LFALSESKIP = 6, "LFALSESKIP";
    LOADTRUE = 7, "LOADTRUE";
    LOADNIL = 8, "LOADNIL";
    GETUPVAL = 9, "GETUPVAL";
    SETUPVAL = 10, "SETUPVAL";
    GETTABUP = 11, "GETTABUP";
    GETTABLE = 12, "GETTABLE";
    GETI = 13, "GETI";
    GETFIELD = 14, "GETFIELD";
    SETTABUP = 15, "SETTABUP";
    SETTABLE = 16, "SETTABLE";
    SETI = 17, "SETI";
    SETFIELD = 18, "SETFIELD";
    NEWTABLE = 19, "NEWTABLE";
    SELF = 20, "SELF";
    ADDI = 21, "ADDI";
    ADDK = 22, "ADDK";
    SUBK = 23, "SUBK";
    MULK = 24, "MULK";
    MODK = 25, "MODK";
    POWK = 26, "POWK";
    DIVK = 27, "DIVK";
    IDIVK = 28, "IDIVK";
    BANDK = 29, "BANDK";
    BORK = 30, "BORK";
    BXORK = 31, "BXORK";
    SHRI = 32, "SHRI";
    SHLI = 33, "SHLI";
    ADD = 34, "ADD";
    SUB = 35, "SUB";
    MUL = 36, "MUL";
    MOD = 37, "MOD";
    POW = 38, "POW";
    DIV = 39, "DIV";
    IDIV = 40, "IDIV";
    BAND = 41, "BAND";
    BOR = 42, "BOR";
    BXOR = 43, "BXOR";
    SHL = 44, "SHL";
    SHR = 45, "SHR";
    MMBIN = 46, "MMBIN";
    MMBINI = 47, "MMBINI";
    MMBINK = 48, "MMBINK";
    UNM = 49, "UNM";
    BNOT = 50, "BNOT";
    NOT = 51, "NOT";
    LEN = 52, "LEN";
    CONCAT = 53, "CONCAT";
    CLOSE = 54, "CLOSE";
    TBC = 55, "TBC";
    JMP = 56, "JMP";
    EQ = 57, "EQ";
    LT = 58, "LT";
    LE = 59, "LE";
    EQK = 60, "EQK";
    EQI = 61, "EQI";
    LTI = 62, "LTI";
    LEI = 63, "LEI";
    GTI = 64, "GTI";
    GEI = 65, "GEI";
    TEST = 66, "TEST";
    TESTSET = 67, "TESTSET";
    CALL = 68, "CALL";
    TAILCALL = 69, "TAILCALL";
    RETURN = 70, "RETURN";
    RETURN0 = 71, "RETURN0";
    RETURN1 = 72, "RETURN1";
    FORLOOP = 73, "FORLOOP";
    FORPREP = 74, "FORPREP";
    TFORPREP = 75, "TFORPREP";
    TFORCALL = 76, "TFORCALL";
    TFORLOOP = 77, "TFORLOOP";
    SETLIST = 78, "SETLIST";
    CLOSURE = 79, "CLOSURE";
    VARARG = 80, "VARARG";
    VARARGPREP = 81, "VARARGPREP";
    EXTRAARG = 82, "EXTRAARG";
}

#[inline(always)]
pub fn op(i: Instruction) -> u8 {
    (i & 0x7f) as u8
}
#[inline(always)]
pub fn a(i: Instruction) -> usize {
    ((i >> 7) & 0xff) as usize
}
#[inline(always)]
pub fn k(i: Instruction) -> bool {
    (i >> 15) & 1 != 0
}
#[inline(always)]
pub fn b(i: Instruction) -> usize {
    ((i >> 16) & 0xff) as usize
}
#[inline(always)]
pub fn c(i: Instruction) -> usize {
    (i >> 24) as usize
}
/// Signed B (`sB`).
#[inline(always)]
pub fn sb(i: Instruction) -> i64 {
    b(i) as i64 - OFFSET_SC as i64
}
/// Signed C (`sC`).
#[inline(always)]
pub fn sc(i: Instruction) -> i64 {
    c(i) as i64 - OFFSET_SC as i64
}
#[inline(always)]
pub fn bx(i: Instruction) -> usize {
    (i >> 15) as usize
}
#[inline(always)]
pub fn sbx(i: Instruction) -> i64 {
    bx(i) as i64 - OFFSET_SBX as i64
}
#[inline(always)]
pub fn ax(i: Instruction) -> usize {
    (i >> 7) as usize
}
#[inline(always)]
pub fn sj(i: Instruction) -> i64 {
    (i >> 7) as i64 - OFFSET_SJ as i64
}

pub fn abck(op: u8, a: u32, b: u32, c: u32, k: bool) -> Instruction {
    op as u32 | (a << 7) | ((k as u32) << 15) | (b << 16) | (c << 24)
}
pub fn abx(op: u8, a: u32, bx: u32) -> Instruction {
    op as u32 | (a << 7) | (bx << 15)
}
pub fn asbx(op: u8, a: u32, sbx: i32) -> Instruction {
    abx(op, a, (sbx + OFFSET_SBX) as u32)
}
pub fn iax(op: u8, ax: u32) -> Instruction {
    op as u32 | (ax << 7)
}
pub fn isj(op: u8, sj: i32) -> Instruction {
    op as u32 | (((sj + OFFSET_SJ) as u32) << 7)
}

pub fn set_a(i: &mut Instruction, v: u32) {
    *i = (*i & !(0xff << 7)) | (v << 7);
}
pub fn set_b(i: &mut Instruction, v: u32) {
    *i = (*i & !(0xff << 16)) | (v << 16);
}
pub fn set_c(i: &mut Instruction, v: u32) {
    *i = (*i & !(0xff << 24)) | (v << 24);
}
pub fn set_k(i: &mut Instruction, v: bool) {
    *i = (*i & !(1 << 15)) | ((v as u32) << 15);
}
pub fn set_sj(i: &mut Instruction, v: i32) {
    *i = (*i & 0x7f) | (((v + OFFSET_SJ) as u32) << 7);
}
pub fn set_op(i: &mut Instruction, op: u8) {
    *i = (*i & !0x7f) | op as u32;
}

/// Whether the instruction is a test whose next instruction is a jump.
pub fn is_test(op: u8) -> bool {
    matches!(
        op,
        EQ | LT | LE | EQK | EQI | LTI | LEI | GTI | GEI | TEST | TESTSET
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let i = abck(ADD, 3, 200, 17, true);
        assert_eq!((op(i), a(i), b(i), c(i), k(i)), (ADD, 3, 200, 17, true));
        let j = asbx(FORLOOP, 9, -5000);
        assert_eq!((op(j), a(j), sbx(j)), (FORLOOP, 9, -5000));
        let mut s = isj(JMP, -3);
        assert_eq!(sj(s), -3);
        set_sj(&mut s, 70000);
        assert_eq!(sj(s), 70000);
        assert_eq!(op_name(EXTRAARG), "EXTRAARG");
    }
}
