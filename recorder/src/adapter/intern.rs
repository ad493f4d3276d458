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

/// The per-thread caches are set-associative: a string's address and
/// length pick one of [`SETS`] sets, and each set holds the [`WAYS`] most
/// recently used entries. (One entry per slot, as first written, let two
/// keys of the same span evict each other on every span: the profile of
/// the OpenTelemetry benchmark showed the process-wide table's lock on
/// every span.)
const SETS: usize = 64;
const WAYS: usize = 4;

type Table = Mutex<Option<HashSet<&'static str>>>;
static KEYS: Table = Mutex::new(None);
static VALUES: Table = Mutex::new(None);

/// Longest value interned.
const MAX_VALUE_LEN: usize = 64;

/// An interned string and the address it was last seen at.
type Entry = (usize, &'static str);
/// A value seen once: its address and the hash of its content.
type Seen = (usize, u64);

thread_local! {
    static KEY_CACHE: RefCell<[[Entry; WAYS]; SETS]> =
        const { RefCell::new([[(0, ""); WAYS]; SETS]) };
    static VALUE_CACHE: RefCell<ValueCache> = const {
        RefCell::new(ValueCache {
            interned: [[(0, ""); WAYS]; SETS],
            seen: [[(0, 0); WAYS]; SETS],
        })
    };
}

/// Per set: interned values by address, and the last values seen once
/// (kept apart, so unique values do not evict the interned ones).
struct ValueCache {
    interned: [[Entry; WAYS]; SETS],
    seen: [[Seen; WAYS]; SETS],
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn set_of(addr: usize, len: usize) -> usize {
    let h = ((addr ^ len.rotate_left(40)) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 58) as usize % SETS
}

/// The interned string cached for `s` at its address, if any.
#[inline]
fn find(set: &[Entry; WAYS], addr: usize, s: &str) -> Option<&'static str> {
    set.iter()
        .find(|(a, t)| *a == addr && *t == s)
        .map(|(_, t)| *t)
}

/// Puts `e` first in its set, forgetting the least recently inserted.
#[inline]
fn insert<T: Copy>(set: &mut [T; WAYS], e: T) {
    set.rotate_right(1);
    set[0] = e;
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
    let i = set_of(addr, s.len());
    let found = VALUE_CACHE.try_with(|c| {
        let mut c = c.borrow_mut();
        if let Some(t) = find(&c.interned[i], addr, s) {
            return Some(t);
        }
        let h = fnv1a(s);
        if c.seen[i].contains(&(addr, h)) {
            if let Some(t) = lookup_or_insert(&VALUES, s, MAX_VALUE_LEN) {
                insert(&mut c.interned[i], (addr, t));
                return Some(t);
            }
        } else {
            insert(&mut c.seen[i], (addr, h));
        }
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

/// A key (or another string from a small set: a scope's name) as a
/// [`Str`]: borrowed from the intern table when it is (or can be)
/// interned, else a copy.
#[inline]
pub fn key(s: &str) -> Str {
    // The hit is inlined into the adapter's loop; the rest is out of line.
    let addr = s.as_ptr() as usize;
    let i = set_of(addr, s.len());
    if let Ok(Some(t)) = KEY_CACHE.try_with(|c| find(&c.borrow()[i], addr, s)) {
        return Cow::Borrowed(t);
    }
    key_missed(s, addr, i)
}

#[cold]
#[inline(never)]
fn key_missed(s: &str, addr: usize, i: usize) -> Str {
    if s.is_empty() {
        return Cow::Borrowed("");
    }
    match lookup_or_insert(&KEYS, s, MAX_INTERNED_LEN) {
        Some(t) => {
            let _ = KEY_CACHE.try_with(|c| insert(&mut c.borrow_mut()[i], (addr, t)));
            Cow::Borrowed(t)
        }
        None => Cow::Owned(s.to_owned()),
    }
}

fn lookup_or_insert(table: &Table, s: &str, max_len: usize) -> Option<&'static str> {
    if s.len() > max_len {
        return None;
    }
    #[cfg(test)]
    TABLE_LOOKUPS.with(|n| n.set(n.get() + 1));
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
thread_local! {
    /// How often this thread went to a process-wide table.
    static TABLE_LOOKUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_s_keys_and_values_stay_cached_together() {
        // Sixteen keys and values used by every span: after the first
        // spans, none of them goes to the shared table (with one entry per
        // slot, two of them could evict each other on every span).
        const KEYS: [&str; 16] = [
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "user.id",
            "server.address",
            "server.port",
            "url.scheme",
            "url.path",
            "client.address",
            "network.protocol.version",
            "db.system",
            "db.operation",
            "error.type",
            "thread.id",
            "code.function",
            "code.lineno",
        ];
        let before = TABLE_LOOKUPS.with(|n| n.get());
        for _ in 0..3 {
            for k in KEYS {
                assert_eq!(key(k), k);
                let _ = repeated_value(k);
            }
        }
        let warm = TABLE_LOOKUPS.with(|n| n.get());
        // Each key once, each value once (when seen the second time).
        assert_eq!(warm - before, 32);
        for _ in 0..100 {
            for k in KEYS {
                assert!(matches!(key(k), Cow::Borrowed(_)));
                assert_eq!(repeated_value(k), Some(k));
            }
        }
        assert_eq!(TABLE_LOOKUPS.with(|n| n.get()), warm);
    }

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
