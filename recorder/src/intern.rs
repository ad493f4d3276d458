//! Interning for adapters: strings that an instrumentation library hands
//! over as `&str` (often `'static` underneath, but not typed so) become
//! [`Str`]s without a copy per span.
//!
//! OpenTelemetry keeps `'static` keys as `&'static str` but hands them out
//! only as `&str`, and `tracing` passes field values as `&str`; copying
//! each (one allocation, and one free later, per attribute) was most of an
//! adapter's cost on the caller's thread. Keys come from a small set, so
//! each distinct key is copied once into a process-wide, bounded table of
//! leaked `&'static str` ([`key`]), and a span's key is then found in a
//! per-thread cache indexed by the key's address, checked by content:
//!
//! * **Correct whatever the source:** a hit needs the same address, length
//!   and bytes, so a freed key whose address is reused for other text is a
//!   miss, never a wrong key.
//! * **Bounded:** at most [`MAX_INTERNED`] strings of at most
//!   [`MAX_INTERNED_LEN`] bytes each (about 1 MiB); beyond that, keys are
//!   copied per span as before.
//!
//! String values ([`repeated_value`]) are often unique (ids, paths), so a
//! value is interned only once it was seen twice at the same address with
//! the same content (a `'static` value always is; a unique value never
//! is), in a table of its own with the same bounds; a value seen once
//! costs a per-thread note, not a lock.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Mutex;

use tracespool_schema::Str;

/// Most distinct strings interned per process.
pub const MAX_INTERNED: usize = 4096;
/// Longest string interned (longer keys are copied).
pub const MAX_INTERNED_LEN: usize = 256;

const SLOTS: usize = 256;

type Table = Mutex<Option<HashSet<&'static str>>>;
static KEYS: Table = Mutex::new(None);
static VALUES: Table = Mutex::new(None);

/// Longest value interned.
const MAX_VALUE_LEN: usize = 64;

thread_local! {
    static CACHE: RefCell<[(usize, &'static str); SLOTS]> =
        const { RefCell::new([(0, ""); SLOTS]) };
    /// Per slot: an interned value at an address, and the last value seen
    /// there (address and hash of its content) that is not interned yet.
    static VALUE_CACHE: RefCell<[ValueSlot; SLOTS]> =
        const { RefCell::new([ValueSlot { addr: 0, interned: "", seen_addr: 0, seen_hash: 0 }; SLOTS]) };
}

#[derive(Clone, Copy)]
struct ValueSlot {
    addr: usize,
    interned: &'static str,
    seen_addr: usize,
    seen_hash: u64,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The interned copy of a string value that repeats (seen before at the
/// same address with the same content), or `None`: the caller copies or
/// moves it then.
pub fn repeated_value(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("");
    }
    if s.len() > MAX_VALUE_LEN {
        return None;
    }
    let addr = s.as_ptr() as usize;
    let i = slot(addr, s.len());
    let found = VALUE_CACHE.try_with(|c| {
        let mut c = c.borrow_mut();
        let e = &mut c[i];
        if e.addr == addr && e.interned == s {
            return Some(e.interned);
        }
        let h = fnv1a(s);
        if e.seen_addr == addr && e.seen_hash == h {
            if let Some(t) = lookup_or_insert(&VALUES, s, MAX_VALUE_LEN) {
                e.addr = addr;
                e.interned = t;
                return Some(t);
            }
        }
        e.seen_addr = addr;
        e.seen_hash = h;
        None
    });
    found.ok().flatten()
}

/// A string value as a [`Str`]: interned when it repeats, else copied.
pub fn value(s: &str) -> Str {
    match repeated_value(s) {
        Some(t) => Cow::Borrowed(t),
        None => Cow::Owned(s.to_owned()),
    }
}

fn slot(addr: usize, len: usize) -> usize {
    ((addr >> 3) ^ (addr >> 11) ^ len) % SLOTS
}

/// A key (or another string from a small set: a scope's name) as a
/// [`Str`]: borrowed from the intern table when it is (or can be)
/// interned, else a copy.
pub fn key(s: &str) -> Str {
    if s.is_empty() {
        return Cow::Borrowed("");
    }
    let addr = s.as_ptr() as usize;
    let i = slot(addr, s.len());
    let hit = CACHE
        .try_with(|c| {
            let c = c.borrow();
            let (a, t) = c[i];
            (a == addr && t == s).then_some(t)
        })
        .ok()
        .flatten();
    if let Some(t) = hit {
        return Cow::Borrowed(t);
    }
    match lookup_or_insert(&KEYS, s, MAX_INTERNED_LEN) {
        Some(t) => {
            let _ = CACHE.try_with(|c| c.borrow_mut()[i] = (addr, t));
            Cow::Borrowed(t)
        }
        None => Cow::Owned(s.to_owned()),
    }
}

fn lookup_or_insert(table: &Table, s: &str, max_len: usize) -> Option<&'static str> {
    if s.len() > max_len {
        return None;
    }
    let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
    let table = table.get_or_insert_with(HashSet::new);
    if let Some(t) = table.get(s) {
        return Some(t);
    }
    if table.len() >= MAX_INTERNED {
        return None;
    }
    let t: &'static str = Box::leak(s.to_owned().into_boxed_str());
    table.insert(t);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_keys_are_borrowed_and_equal() {
        let a = key("http.request.method");
        assert!(matches!(a, Cow::Borrowed(_)));
        assert_eq!(a, "http.request.method");
        // Another address with the same text: the same interned string.
        let owned = String::from("http.request.method");
        let b = key(&owned);
        assert_eq!(b, "http.request.method");
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[test]
    fn a_reused_address_with_other_text_is_not_a_hit() {
        let mut buf = String::from("key.one");
        let a = key(&buf);
        buf.clear();
        buf.push_str("key.two");
        let b = key(&buf);
        assert_eq!(a, "key.one");
        assert_eq!(b, "key.two");
    }

    #[test]
    fn values_are_interned_only_when_they_repeat() {
        static GET: &str = "GET-interned-test";
        let first = value(GET);
        assert!(matches!(first, Cow::Owned(_)), "seen once: copied");
        let second = value(GET);
        assert!(matches!(second, Cow::Borrowed(_)), "seen twice: interned");
        assert_eq!(second, GET);
        // A unique value at a reused address is never interned.
        for i in 0..100 {
            let s = format!("user-{i}");
            assert_eq!(repeated_value(&s), None, "{s}");
        }
    }

    #[test]
    fn long_strings_are_copied() {
        let long = "k".repeat(MAX_INTERNED_LEN + 1);
        assert!(matches!(key(&long), Cow::Owned(_)));
    }
}
