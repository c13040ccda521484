//! Reuse of a row's timestamp `int` in place, and a direct read of an
//! argument's value (GIL builds before 3.14).
//!
//! The read ([`read`]) serves every timestamp argument of the fast entry
//! points (`py/src/fast.rs`): the digits of an `int` of at most three
//! 30-bit digits, read as `PyLong_AsLongLongAndOverflow` reads them, without
//! the call and its loop (about twenty instructions of a `delete_before`
//! call's three hundred, measured). The rest of this text is the reuse.
//!
//! A `for` loop over a [`TimelogIter`](crate::iter::PyTimelogIter) gets
//! its `(ts, obj)` tuples refilled in place once the loop has let go of
//! them (`iter::Recycler`, as CPython's own `zip` and `enumerate` do). The
//! timestamp in such a tuple is an `int` this module's caller made with
//! `PyLong_FromLongLong`; when the tuple's reference is the only one to it
//! too, no code can observe that object any more, and instead of freeing
//! it and allocating the next row's `int` (a quarter of a scanned row's
//! time, measured), its value is rewritten: the digits and the sign, when
//! the new value needs as many digits as the old one (timestamps of one
//! range nearly always do). CPython does the same with a `str` whose only
//! reference is the caller's (`PyUnicode_Append` resizes it in place).
//!
//! That needs the layout of an `int` object, which is not part of the
//! limited API: `Include/cpython/longintrepr.h` of each version (3.12 and
//! later: a tag word holding the digit count above three flag bits, the
//! sign in the lowest two, then the digits; 3.11: `ob_size` = ±digit
//! count, then the digits), with 30-bit digits in `u32`s (the default of
//! every 64-bit build; `sys.int_info` says). [`probe`] checks all of it
//! once, at import, on objects CPython made (digit counts read back as
//! expected, rewritten values equal and hash equal to fresh `int`s of
//! theirs) and the rewrite is used only if every check passed. Never on
//! free-threaded builds (a reference count of 1 read from another thread
//! proves nothing there, and the tuples are not refilled either), nor on
//! 3.14 and later, where an object on the interpreter's stack may be
//! referenced without being counted.

#[cfg(not(any(Py_GIL_DISABLED, Py_3_14)))]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};

    use pyo3::ffi;

    /// Set once by [`probe`] when the layout checks passed.
    static ENABLED: AtomicBool = AtomicBool::new(false);

    /// Bits per digit (`PyLong_SHIFT`), and the mask of one digit.
    const SHIFT: u32 = 30;
    const MASK: u64 = (1 << SHIFT) - 1;
    /// CPython's cached small ints: values it always returns as the one
    /// shared object, so they are never made here.
    const SMALL: std::ops::RangeInclusive<i64> = -5..=256;

    /// Offset of the digit-count word (3.12+: `lv_tag`; 3.11: `ob_size`)
    /// and of the digits: right after the object header (GIL builds:
    /// reference count and type, two words).
    const HEAD: usize = std::mem::size_of::<ffi::PyObject>();
    const DIGITS: usize = HEAD + std::mem::size_of::<usize>();

    /// Digits of `mag > 0`.
    fn ndigits(mag: u64) -> usize {
        (64 - mag.leading_zeros()).div_ceil(SHIFT) as usize
    }

    /// The digit count of `p` as this module reads the layout.
    ///
    /// # Safety
    /// `p` is a live exact `int`, attached.
    unsafe fn digits_of(p: *mut ffi::PyObject) -> usize {
        // SAFETY: the word after the header of an int object (this
        // function's contract) is `lv_tag` (3.12+) or `ob_size` (3.11),
        // both a machine word (longintrepr.h; object.h's PyVarObject).
        let w = unsafe { *(p as *const u8).add(HEAD).cast::<isize>() };
        #[cfg(Py_3_12)]
        return (w as usize) >> 3;
        #[cfg(not(Py_3_12))]
        return w.unsigned_abs();
    }

    /// Rewrites `p`'s value to `v` if the layout probe passed, `p` is
    /// referenced only once, `v` is not one of CPython's cached small ints
    /// and needs as many digits as `p` holds. Returns whether it did.
    ///
    /// # Safety
    /// Attached, GIL build; `p` is a live exact `int` made by
    /// `PyLong_FromLongLong`, and the one reference the caller knows of is
    /// held by a container only the caller can reach (a spare tuple whose
    /// own count is 1): a count of 1 then means nothing else can see `p`.
    #[inline]
    pub(crate) unsafe fn refill(p: *mut ffi::PyObject, v: i64) -> bool {
        // SAFETY: this function's contract.
        ENABLED.load(Ordering::Relaxed) && unsafe { ffi::Py_REFCNT(p) } == 1 && unsafe { rewrite(p, v) }
    }

    /// The rewrite itself (see [`refill`]; the probe calls it directly).
    ///
    /// # Safety
    /// As [`refill`], and the count of `p` is 1.
    unsafe fn rewrite(p: *mut ffi::PyObject, v: i64) -> bool {
        if SMALL.contains(&v) {
            return false;
        }
        let mag = v.unsigned_abs();
        let n = ndigits(mag);
        // SAFETY: this function's contract (a live exact int).
        if unsafe { digits_of(p) } != n {
            return false;
        }
        let base = p as *mut u8;
        // SAFETY: `p` holds `n` digits (read just above from its own
        // header), allocated by CPython as `u32`s right after the count
        // word (longintrepr.h: `ob_digit`); each is rewritten with a
        // digit of `mag`, the most significant one non-zero (`n` is
        // minimal for `mag`), as a normalized int has. The count word
        // keeps `n` and its flag bits (3.12+: the bit above the sign is
        // reserved, kept as found), the sign set for `v` (3.12+: 0
        // positive, 2 negative — never 1, zero, which is a small int;
        // 3.11: the sign of `ob_size`). No other code sees `p` meanwhile
        // (the contract: only our tuple references it, GIL held).
        unsafe {
            let d = base.add(DIGITS).cast::<u32>();
            for i in 0..n {
                *d.add(i) = ((mag >> (SHIFT as usize * i)) & MASK) as u32;
            }
            let w = base.add(HEAD).cast::<isize>();
            #[cfg(Py_3_12)]
            {
                let tag = *w as usize;
                *w = ((tag & !3) | if v < 0 { 2 } else { 0 }) as isize;
            }
            #[cfg(not(Py_3_12))]
            {
                *w = if v < 0 { -(n as isize) } else { n as isize };
            }
        }
        true
    }

    /// The value of `p`, read from its digits when it fits an `i64` in at
    /// most three of them and is not `i64::MIN` (`None`: the caller asks
    /// `PyLong_AsLongLongAndOverflow`), if the layout probe passed. What
    /// the C API's own conversion does, without its call and its loop:
    /// the fixed cost of every timestamp argument of the fast paths.
    ///
    /// # Safety
    /// `p` is a live exact `int`, attached (GIL build): its digits do not
    /// change under the read (ints are immutable to every code but
    /// [`refill`]'s, which runs only on ints no other code can see).
    #[inline]
    pub(crate) unsafe fn read(p: *mut ffi::PyObject) -> Option<i64> {
        if !ENABLED.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: this function's contract.
        unsafe { read_digits(p) }
    }

    /// [`read`] without the probe's flag (the probe checks it).
    ///
    /// # Safety
    /// As [`read`].
    #[inline]
    unsafe fn read_digits(p: *mut ffi::PyObject) -> Option<i64> {
        let base = p as *const u8;
        // SAFETY: the count word and the digits are laid out as `rewrite`
        // says (the probe checked it on CPython's own ints); an int with
        // `n` digits has `n` `u32`s after the count word, and only digits
        // below `n` are read (none for zero).
        unsafe {
            let w = *base.add(HEAD).cast::<isize>();
            #[cfg(Py_3_12)]
            let (n, neg) = ((w as usize) >> 3, w & 3 == 2);
            #[cfg(not(Py_3_12))]
            let (n, neg) = (w.unsigned_abs(), w < 0);
            let d = base.add(DIGITS).cast::<u32>();
            let mag = match n {
                0 => return Some(0),
                1 => u64::from(*d),
                2 => u64::from(*d) | u64::from(*d.add(1)) << SHIFT,
                // Below 2^63: the top digit under 8 (i64::MIN goes the slow way).
                3 if *d.add(2) < 8 => {
                    u64::from(*d) | u64::from(*d.add(1)) << SHIFT | u64::from(*d.add(2)) << (2 * SHIFT)
                }
                _ => return None,
            };
            let v = mag as i64;
            Some(if neg { -v } else { v })
        }
    }

    /// Checks the layout on CPython's own objects and enables [`refill`]
    /// if every check passes (called once, at import).
    pub(crate) fn probe(_py: pyo3::Python<'_>) {
        // SAFETY: C API, attached (`_py`): PyLong_GetInfo returns a new
        // reference to `sys.int_info` (a struct sequence) or NULL;
        // PyStructSequence_GetItem borrows a field; PyLong_AsLong reads
        // an int (errors are cleared and fail the probe). The small ints
        // (CPython's cached objects, a new reference each) are only read,
        // by `read_digits`, on live exact ints; every other int made below
        // comes from PyLong_FromLongLong, outside the small-int range, so
        // it is a fresh object with a count of 1 that only this function
        // references, as `rewrite` requires. Each is released once.
        // PyObject_RichCompareBool and PyObject_Hash take live objects.
        let ok = unsafe {
            let info = ffi::PyLong_GetInfo();
            let field = |i| {
                let x = ffi::PyLong_AsLong(ffi::PyStructSequence_GetItem(info, i));
                ffi::PyErr_Clear();
                x
            };
            let digits_ok = !info.is_null() && field(0) == SHIFT as std::ffi::c_long && field(1) == 4;
            if !info.is_null() {
                ffi::Py_DECREF(info);
            }
            ffi::PyErr_Clear();
            // Cached small ints (zero has no digit): read, never made here.
            let small_ok = [0, 1, -1, -5, 256].iter().all(|&v| {
                let x = ffi::PyLong_FromLongLong(v);
                let ok = !x.is_null() && read_digits(x) == Some(v);
                if x.is_null() {
                    ffi::PyErr_Clear();
                } else {
                    ffi::Py_DECREF(x);
                }
                ok
            });
            digits_ok && small_ok && CASES.iter().all(|&(a, b)| case(a, b))
        };
        ENABLED.store(ok, Ordering::Relaxed);
    }

    /// Pairs of values of equal digit count, both signs, each count.
    const CASES: [(i64, i64); 8] = [
        (1_000, 2_000),
        (-1_000, 7_777),
        (257, -(1 << 29)),
        ((1 << 30) + 5, -(1 << 40)),
        (-(1 << 59), (1 << 60) - 1),
        (1 << 62, i64::MIN),
        (i64::MAX, (1 << 61) + 3),
        (i64::MIN, -(1 << 60)),
    ];

    /// One probe case: an int made for `a` reads back `a`'s digit count,
    /// and rewritten to `b` equals, and hashes as, a fresh int of `b`.
    ///
    /// # Safety
    /// Attached.
    unsafe fn case(a: i64, b: i64) -> bool {
        // SAFETY: see `probe`.
        unsafe {
            let x = ffi::PyLong_FromLongLong(a);
            let y = ffi::PyLong_FromLongLong(b);
            if x.is_null() || y.is_null() {
                ffi::PyErr_Clear();
                for p in [x, y] {
                    if !p.is_null() {
                        ffi::Py_DECREF(p);
                    }
                }
                return false;
            }
            let ok = digits_of(x) == ndigits(a.unsigned_abs())
                && read_digits(x).is_none_or(|v| v == a)
                && read_digits(y).is_none_or(|v| v == b)
                && ffi::Py_REFCNT(x) == 1
                && rewrite(x, b)
                && ffi::PyLong_AsLongLong(x) == b
                && ffi::PyObject_RichCompareBool(x, y, ffi::Py_EQ) == 1
                && ffi::PyObject_Hash(x) == ffi::PyObject_Hash(y);
            ffi::PyErr_Clear();
            ffi::Py_DECREF(x);
            ffi::Py_DECREF(y);
            ok
        }
    }

    /// Whether [`refill`] is in use (the probe passed): for the tests.
    pub(crate) fn enabled() -> bool {
        ENABLED.load(Ordering::Relaxed)
    }
}

#[cfg(not(any(Py_GIL_DISABLED, Py_3_14)))]
pub(crate) use imp::{enabled, probe, read, refill};

/// Free-threaded and 3.14+ builds: the caller converts through the C API.
///
/// # Safety
/// None needed; `unsafe` only to match the other builds' signature.
#[cfg(any(Py_GIL_DISABLED, Py_3_14))]
#[inline]
pub(crate) unsafe fn read(_p: *mut pyo3::ffi::PyObject) -> Option<i64> {
    None
}

/// Free-threaded and 3.14+ builds: never in use.
#[cfg(any(Py_GIL_DISABLED, Py_3_14))]
pub(crate) fn probe(_py: pyo3::Python<'_>) {}

/// Free-threaded and 3.14+ builds: never in use.
#[cfg(any(Py_GIL_DISABLED, Py_3_14))]
pub(crate) fn enabled() -> bool {
    false
}

/// GIL builds of 3.14 and later (the spare tuples are refilled there, see
/// `iter::Recycler`): never rewrites.
///
/// # Safety
/// None needed; `unsafe` only to match the other builds' signature.
#[cfg(all(Py_3_14, not(Py_GIL_DISABLED)))]
#[inline]
pub(crate) unsafe fn refill(_p: *mut pyo3::ffi::PyObject, _v: i64) -> bool {
    false
}
