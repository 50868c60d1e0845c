//! Appending a short slice of unknown length (a header name or value) to
//! a head being written, without a call to `memcpy`.
//!
//! `Vec::extend_from_slice` of a slice whose length the compiler cannot
//! see is a call to the C library's `memcpy`. glibc's costs about 2 ns at
//! these sizes; musl's (the static build's: `rep movsq` from 8 bytes up,
//! a byte loop below) about 20 ns at any size on the bench machine
//! (bench/PROFILE.md, the static build's memcpy), and a proxied request
//! made some 36 of them for its heads. [`put_bytes`] copies a slice of up
//! to 32 bytes (64 in two pieces) as two fixed-size pieces that overlap in
//! the middle, which the compiler writes as a few loads and stores; longer
//! slices are left to `memcpy`, whose fixed cost is small against them.

/// Appends `s` to `buf`: the same bytes as `buf.extend_from_slice(s)`.
#[inline]
pub fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 64 {
        put_short(buf, s);
    } else {
        buf.extend_from_slice(s);
    }
}

/// `s` of up to 64 bytes. For each size class (1-3, 4-7, 8-15, 16-32
/// bytes) a zeroed block of a constant size is appended (stores, no
/// `memset`), `s` is copied over its start (constant sizes: loads and
/// stores, no `memcpy`) and the rest of the block is cut off again; 33
/// to 64 bytes go as two pieces.
///
/// Four blocks, in a function of their own: rustc 1.95 inlines a
/// constant-size `extend_from_slice` as stores in four places of one
/// function, not always in five (the fifth was a `memcpy` call again).
/// After a change, verify with the memcpy calls per request of
/// bench/instructions.sh (bench/PROFILE.md, the static build's memcpy).
/// The buffer grows and long slices are split in functions of their own,
/// so that this one calls nothing but in its last step and needs no
/// registers saved.
#[inline(never)]
fn put_short(buf: &mut Vec<u8>, s: &[u8]) {
    if buf.capacity() - buf.len() < 32 {
        return grow_and_put(buf, s);
    }
    match s.len() {
        0 => {}
        1..=3 => put_in_block::<4>(buf, s, copy_first_middle_last),
        4..=7 => put_in_block::<8>(buf, s, copy_ends::<4>),
        8..=15 => put_in_block::<16>(buf, s, copy_ends::<8>),
        16..=32 => put_in_block::<32>(buf, s, copy_ends::<16>),
        _ => put_in_two(buf, s),
    }
}

#[cold]
#[inline(never)]
fn grow_and_put(buf: &mut Vec<u8>, s: &[u8]) {
    buf.reserve(s.len().max(32));
    put_short(buf, s);
}

#[inline(never)]
fn put_in_two(buf: &mut Vec<u8>, s: &[u8]) {
    let (first, rest) = s.split_at(32);
    put_short(buf, first);
    put_short(buf, rest);
}

/// Appends a zeroed block of `BLOCK` bytes, `copy`s `s` over its start
/// and cuts the block to `s`'s length.
#[inline(always)]
fn put_in_block<const BLOCK: usize>(
    buf: &mut Vec<u8>,
    s: &[u8],
    copy: impl FnOnce(&mut [u8], &[u8]),
) {
    let at = buf.len();
    buf.extend_from_slice(&[0u8; BLOCK]);
    copy(&mut buf[at..], s);
    buf.truncate(at + s.len());
}

/// Copies `s` (1 to 3 bytes) into the start of `dst`: its first, middle
/// and last byte (some of them the same one) cover it.
#[inline(always)]
fn copy_first_middle_last(dst: &mut [u8], s: &[u8]) {
    let n = s.len();
    dst[0] = s[0];
    dst[n / 2] = s[n / 2];
    dst[n - 1] = s[n - 1];
}

/// Copies `s` (`HALF..=2 * HALF` bytes) into the start of `dst` as its
/// first and its last `HALF` bytes, which overlap unless `s` is `2 * HALF`
/// long.
#[inline(always)]
fn copy_ends<const HALF: usize>(dst: &mut [u8], s: &[u8]) {
    let n = s.len();
    dst[..HALF].copy_from_slice(&s[..HALF]);
    dst[n - HALF..n].copy_from_slice(&s[n - HALF..]);
}

#[cfg(test)]
mod tests {
    use super::put_bytes;

    /// Every length up to and past the longest block, appended to buffers
    /// of different lengths and spare capacities (none: the block must
    /// grow the buffer): the bytes `extend_from_slice` gives.
    #[test]
    fn puts_the_bytes_extend_from_slice_puts() {
        let source: Vec<u8> = (0..130u32).map(|i| (i * 7 + 1) as u8).collect();
        for len in 0..=130 {
            let s = &source[130 - len..];
            for before in [0usize, 1, 3, 7, 8, 15, 63, 64, 100] {
                let prefix: Vec<u8> = (0..before).map(|i| 200u8.wrapping_add(i as u8)).collect();
                for spare in [0usize, 1, len, 64] {
                    let mut expected = Vec::with_capacity(before + spare);
                    expected.extend_from_slice(&prefix);
                    expected.extend_from_slice(s);
                    let mut got = Vec::with_capacity(before + spare);
                    got.extend_from_slice(&prefix);
                    put_bytes(&mut got, s);
                    assert_eq!(got, expected, "length {len} after {before} (spare {spare})");
                }
            }
        }
    }

    /// Appends one after another: each starts where the last ended.
    #[test]
    fn appends_follow_each_other() {
        let mut got = Vec::new();
        let mut expected = Vec::new();
        for len in (0..=130).rev().chain(0..=130) {
            let s: Vec<u8> = (0..len).map(|i| (len + i) as u8).collect();
            put_bytes(&mut got, &s);
            expected.extend_from_slice(&s);
        }
        assert_eq!(got, expected);
    }
}
