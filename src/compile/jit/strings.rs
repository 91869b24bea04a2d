//! Strings in compiled code. A string value in a kernel is two 64-bit
//! words, its address and its byte length; it points into one of three
//! places, all alive for the whole kernel call:
//!
//! - the string area of the input batch (a field read from a row),
//! - the kernel's literal table (a string constant, or `str` of a bool),
//! - `Scratch`, where helpers put the strings they make (`++`, `upper`,
//!   `str(x)`, …); it is emptied at the start of every call.
//!
//! Storing a string into an output row copies it into the output batch's
//! string area (`flowc_str_store`), so rows never point outside their own
//! batch. Every function whose result must equal the interpreter's calls
//! the very same Rust code (`str::to_uppercase`, `builtins::format_float`,
//! `compile::text::split_index`, …); only the glue is here. A part of a string
//! (`split_index`, `regexp_extract`) points into the string it came from.

use crate::check::patterns::{Regex, TimeFormat};
use crate::compile::builtins;
// Not `text`: that is this file's reading of a string value.
use crate::compile::text as parts;

/// Where a kernel call's string helpers read and write; passed to every
/// kernel as its first argument. `#[repr(C)]`: compiled code reads
/// `last_len`, `input_strings` and `literals` at fixed offsets.
#[repr(C)]
pub struct StringContext {
    /// The byte length of the string the last helper made (helpers return
    /// its address).
    pub last_len: u64,
    /// The input batch's string area.
    pub input_strings: *const u8,
    /// The kernel's literal table.
    pub literals: *const u8,
    /// The output batch's string area, where stored strings go; null for
    /// kernels that store none.
    output: *mut Vec<u8>,
    scratch: Scratch,
}

pub const LAST_LEN_OFFSET: i32 = 0;
pub const INPUT_STRINGS_OFFSET: i32 = 8;
pub const LITERALS_OFFSET: i32 = 16;

// SAFETY: the raw pointers are set for one call by the thread making it and
// dangle only between calls, when nothing reads them.
unsafe impl Send for StringContext {}

impl Default for StringContext {
    fn default() -> Self {
        StringContext {
            last_len: 0,
            input_strings: std::ptr::NonNull::dangling().as_ptr(),
            literals: std::ptr::NonNull::dangling().as_ptr(),
            output: std::ptr::null_mut(),
            scratch: Scratch::default(),
        }
    }
}

impl StringContext {
    /// Readies the context for one kernel call: the scratch strings of the
    /// last call are dropped.
    pub fn prepare(&mut self, input_strings: &[u8], literals: &[u8], output: Option<&mut Vec<u8>>) {
        self.scratch.reset();
        self.last_len = 0;
        self.input_strings = input_strings.as_ptr();
        self.literals = literals.as_ptr();
        self.output = output.map_or(std::ptr::null_mut(), |output| output as *mut Vec<u8>);
    }

    /// Forgets the call's pointers, so a stale one can never be followed.
    pub fn release(&mut self) {
        self.output = std::ptr::null_mut();
    }
}

/// Strings made during one kernel call. Chunks never move once written,
/// so the addresses handed to compiled code stay valid until `reset`.
#[derive(Default)]
struct Scratch {
    current: Vec<u8>,
    full: Vec<Vec<u8>>,
}

const SCRATCH_CHUNK: usize = 16 * 1024;

impl Scratch {
    fn reset(&mut self) {
        self.current.clear();
        self.full.clear();
    }

    /// Copies `bytes` in and returns their address.
    fn keep(&mut self, bytes: &[u8]) -> *const u8 {
        if self.current.capacity() - self.current.len() < bytes.len() {
            // A new chunk; the full one keeps its allocation, and so its addresses.
            let chunk = Vec::with_capacity(bytes.len().max(SCRATCH_CHUNK));
            let full = std::mem::replace(&mut self.current, chunk);
            if full.capacity() > 0 {
                self.full.push(full);
            }
        }
        let start = self.current.len();
        // Within capacity: no reallocation, no address moves.
        self.current.extend_from_slice(bytes);
        self.current[start..].as_ptr()
    }
}

/// The string at `(ptr, len)`.
///
/// # Safety
/// `(ptr, len)` must be a string value of compiled code: it points into a
/// batch's string area, the literal table or the scratch of the current
/// call, which hold only whole UTF-8 strings.
unsafe fn text<'a>(ptr: *const u8, len: u64) -> &'a str {
    // SAFETY: the caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
    // Checked all the same: a bug in the lowering must not become UB.
    std::str::from_utf8(bytes).unwrap_or("\u{fffd}")
}

/// Keeps `made` in scratch; returns its address, its length in `last_len`.
fn made(context: &mut StringContext, made: &str) -> *const u8 {
    context.last_len = made.len() as u64;
    context.scratch.keep(made.as_bytes())
}

pub extern "C" fn flowc_str_store(context: *mut StringContext, ptr: *const u8, len: u64) -> u64 {
    // SAFETY: compiled code passes the context of the current call and a
    // string value (see `text`); `output` was set by `prepare` to the
    // output batch's string area, which outlives the call and which
    // nothing else touches during it.
    let (context, bytes) = unsafe { (&mut *context, std::slice::from_raw_parts(ptr, len as usize)) };
    // SAFETY: as above; a kernel stores strings only when given an output.
    let output = unsafe { context.output.as_mut() }.expect("a kernel that stores strings has an output");
    let offset = output.len() as u64;
    output.extend_from_slice(bytes);
    // The slot layout of `row.rs`: offset in the low half, length in the high one.
    offset | (len << 32)
}

pub extern "C" fn flowc_str_concat(
    context: *mut StringContext,
    a: *const u8,
    a_len: u64,
    b: *const u8,
    b_len: u64,
) -> *const u8 {
    // SAFETY: see `text` and `flowc_str_store`.
    let (context, a, b) = unsafe { (&mut *context, text(a, a_len), text(b, b_len)) };
    let joined = [a, b].concat();
    made(context, &joined)
}

pub extern "C" fn flowc_str_upper(context: *mut StringContext, ptr: *const u8, len: u64) -> *const u8 {
    // SAFETY: see `text` and `flowc_str_store`.
    let (context, value) = unsafe { (&mut *context, text(ptr, len)) };
    made(context, &value.to_uppercase())
}

pub extern "C" fn flowc_str_lower(context: *mut StringContext, ptr: *const u8, len: u64) -> *const u8 {
    // SAFETY: see `text` and `flowc_str_store`.
    let (context, value) = unsafe { (&mut *context, text(ptr, len)) };
    made(context, &value.to_lowercase())
}

pub extern "C" fn flowc_str_of_int(context: *mut StringContext, value: i64) -> *const u8 {
    // SAFETY: the context of the current call.
    let context = unsafe { &mut *context };
    made(context, &value.to_string())
}

pub extern "C" fn flowc_str_of_float(context: *mut StringContext, value: f64) -> *const u8 {
    // SAFETY: the context of the current call.
    let context = unsafe { &mut *context };
    made(context, &builtins::format_float(value))
}

pub extern "C" fn flowc_str_of_timestamp(context: *mut StringContext, value: i64) -> *const u8 {
    // SAFETY: the context of the current call.
    let context = unsafe { &mut *context };
    made(context, &builtins::format_timestamp(value))
}

pub extern "C" fn flowc_str_of_duration(context: *mut StringContext, value: i64) -> *const u8 {
    // SAFETY: the context of the current call.
    let context = unsafe { &mut *context };
    made(context, &crate::check::format_duration(value))
}

/// -1, 0 or 1: byte order, as the interpreter compares strings.
pub extern "C" fn flowc_str_compare(a: *const u8, a_len: u64, b: *const u8, b_len: u64) -> i64 {
    // SAFETY: see `text`.
    let (a, b) = unsafe { (text(a, a_len), text(b, b_len)) };
    a.as_bytes().cmp(b.as_bytes()) as i64
}

/// `len`: characters, not bytes.
pub extern "C" fn flowc_str_len(ptr: *const u8, len: u64) -> i64 {
    // SAFETY: see `text`.
    unsafe { text(ptr, len) }.chars().count() as i64
}

pub extern "C" fn flowc_str_hash(ptr: *const u8, len: u64) -> i64 {
    // SAFETY: see `text`.
    builtins::hash_str(unsafe { text(ptr, len) })
}

pub extern "C" fn flowc_str_contains(a: *const u8, a_len: u64, b: *const u8, b_len: u64) -> u64 {
    // SAFETY: see `text`.
    let (a, b) = unsafe { (text(a, a_len), text(b, b_len)) };
    u64::from(a.contains(b))
}

pub extern "C" fn flowc_str_starts_with(a: *const u8, a_len: u64, b: *const u8, b_len: u64) -> u64 {
    // SAFETY: see `text`.
    let (a, b) = unsafe { (text(a, a_len), text(b, b_len)) };
    u64::from(a.starts_with(b))
}

pub extern "C" fn flowc_str_ends_with(a: *const u8, a_len: u64, b: *const u8, b_len: u64) -> u64 {
    // SAFETY: see `text`.
    let (a, b) = unsafe { (text(a, a_len), text(b, b_len)) };
    u64::from(a.ends_with(b))
}

/// A part of a string the helper was given: its address, its length in
/// `last_len`. It lives where the whole lives, so nothing is copied.
fn part_of(context: &mut StringContext, part: &str) -> *const u8 {
    context.last_len = part.len() as u64;
    part.as_ptr()
}

pub extern "C" fn flowc_str_split_index(
    context: *mut StringContext,
    s: *const u8,
    s_len: u64,
    separator: *const u8,
    separator_len: u64,
    index: i64,
) -> *const u8 {
    // SAFETY: see `text` and `flowc_str_store`.
    let (context, s, separator) = unsafe { (&mut *context, text(s, s_len), text(separator, separator_len)) };
    part_of(context, parts::split_index(s, separator, index))
}

pub extern "C" fn flowc_str_occurrences(s: *const u8, s_len: u64, part: *const u8, part_len: u64) -> i64 {
    // SAFETY: see `text`.
    let (s, part) = unsafe { (text(s, s_len), text(part, part_len)) };
    parts::occurrences(s, part)
}

/// The pattern at `pattern`, one of the kernel's (`Kernel::patterns`).
///
/// # Safety
/// `pattern` must be the address of a `Regex` the kernel being run holds.
unsafe fn regex<'a>(pattern: *const Regex) -> &'a Regex {
    // SAFETY: the caller's contract; the kernel keeps its patterns alive.
    unsafe { &*pattern }
}

pub extern "C" fn flowc_str_regexp_extract(
    context: *mut StringContext,
    s: *const u8,
    s_len: u64,
    pattern: *const Regex,
    group: i64,
) -> *const u8 {
    // SAFETY: see `text`, `flowc_str_store` and `regex`.
    let (context, s, regex) = unsafe { (&mut *context, text(s, s_len), regex(pattern)) };
    part_of(context, parts::regexp_extract(s, regex, group))
}

pub extern "C" fn flowc_str_matches(s: *const u8, s_len: u64, pattern: *const Regex) -> u64 {
    // SAFETY: see `text` and `regex`.
    let (s, regex) = unsafe { (text(s, s_len), regex(pattern)) };
    u64::from(parts::matches(s, regex))
}

pub extern "C" fn flowc_format_time(context: *mut StringContext, nanos: i64, format: *const TimeFormat) -> *const u8 {
    // SAFETY: the context of the current call, and a format the kernel
    // holds (`Kernel::patterns`), alive as long as its code.
    let (context, format) = unsafe { (&mut *context, &*format) };
    made(context, &builtins::format_time(nanos, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_addresses_survive_later_strings() {
        let mut scratch = Scratch::default();
        let first = scratch.keep(b"hello");
        let big = vec![b'x'; SCRATCH_CHUNK * 2];
        let second = scratch.keep(&big);
        let third = scratch.keep(b"world");
        // SAFETY: addresses from `keep`, before any reset.
        unsafe {
            assert_eq!(text(first, 5), "hello");
            assert_eq!(text(second, big.len() as u64).len(), big.len());
            assert_eq!(text(third, 5), "world");
        }
    }

    #[test]
    fn stored_strings_land_in_the_output_with_their_slot() {
        let mut output = b"abc".to_vec();
        let mut context = StringContext::default();
        context.prepare(&[], &[], Some(&mut output));
        let made = flowc_str_upper(&mut context, "grüße".as_ptr(), "grüße".len() as u64);
        let slot = flowc_str_store(&mut context, made, context.last_len);
        context.release();
        assert_eq!(slot & 0xffff_ffff, 3);
        assert_eq!(slot >> 32, "GRÜSSE".len() as u64);
        assert_eq!(std::str::from_utf8(&output[3..]).unwrap(), "GRÜSSE");
    }
}
