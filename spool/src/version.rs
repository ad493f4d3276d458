//! The SQLite library's version, checked at run time before writing.
//!
//! SQLite before 3.51.3 has the **WAL-reset bug** (sqlite.org/wal.html,
//! "The WAL-Reset Bug"): when two connections write or checkpoint the same
//! WAL file at the same moment, a reset of the WAL can leave the database
//! inconsistent. That is the spool's normal operation (recorders in several
//! processes, the uploader's reading and deleting connections), so a
//! connection that may write is refused on such a library
//! ([`OpenError::SqliteTooOld`]), whether it is the bundled copy or the
//! system's. Read-only openings (`inspect`) are allowed: they never write
//! the WAL, never checkpoint, and a spool pulled off a device must stay
//! readable with any SQLite.
//!
//! The check reads `sqlite3_libversion_number()` at run time, not the
//! headers the crate was compiled against, so a system library swapped
//! under a built binary is caught too.

use crate::error::OpenError;

/// The oldest SQLite that may write a spool (the WAL-reset fix).
pub const MIN_SQLITE_VERSION: &str = "3.51.3";
/// [`MIN_SQLITE_VERSION`] as SQLite's version number.
pub(crate) const MIN_SQLITE_VERSION_NUMBER: i32 = 3_051_003;

/// The SQLite library this program runs with, e.g. `"3.54.1"`.
pub fn sqlite_version() -> &'static str {
    rusqlite::version()
}

/// The SQLite library's version number, e.g. `3054001`.
pub(crate) fn sqlite_version_number() -> i32 {
    rusqlite::version_number()
}

/// Whether SQLite version `number` (`X*1000000 + Y*1000 + Z`) may write a
/// spool; the error names both versions.
pub(crate) fn check_writable_version(number: i32, text: &str) -> Result<(), OpenError> {
    if number >= MIN_SQLITE_VERSION_NUMBER {
        Ok(())
    } else {
        Err(OpenError::SqliteTooOld {
            found: text.to_owned(),
            required: MIN_SQLITE_VERSION,
        })
    }
}

/// Checks the linked SQLite before a connection that may write.
pub(crate) fn require_writable_sqlite() -> Result<(), OpenError> {
    check_writable_version(sqlite_version_number(), sqlite_version())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_the_wal_reset_fix_are_refused_with_both_named() {
        let e = check_writable_version(3_050_002, "3.50.2").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("3.50.2") && text.contains("3.51.3"), "{text}");
        assert!(check_writable_version(3_051_002, "3.51.2").is_err());
        assert!(check_writable_version(3_051_003, "3.51.3").is_ok());
        assert!(check_writable_version(3_054_001, "3.54.1").is_ok());
    }

    #[test]
    #[cfg(feature = "bundled")]
    fn the_bundled_sqlite_has_the_wal_reset_fix() {
        assert!(
            sqlite_version_number() >= MIN_SQLITE_VERSION_NUMBER,
            "bundled SQLite {} is older than {MIN_SQLITE_VERSION}",
            sqlite_version()
        );
        assert!(require_writable_sqlite().is_ok());
    }

    #[test]
    fn the_number_and_the_text_agree() {
        let parts: Vec<i32> = sqlite_version()
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            parts[0] * 1_000_000 + parts[1] * 1000 + parts[2],
            sqlite_version_number()
        );
    }
}
