//! Recognising a damaged database file before SQLite writes to it: a header that is not
//! SQLite's, or a file shorter than its header says (truncated); and SQLite's own
//! "corrupt" and "not a database" errors met while opening. Reads the file; never writes.

use std::io::Read;
use std::path::Path;

use super::StoreError;

/// The first 16 bytes of every SQLite 3 database.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Fails with [`StoreError::Damaged`] when `path` exists and is not a sound database file.
/// An empty file is a database not yet written (SQLite creates it so).
pub(super) fn check(path: &Path) -> Result<(), StoreError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(()); // absent (created next) or unreadable (SQLite says why)
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Ok(());
    }
    let damaged = |why: String| {
        Err(StoreError::Damaged {
            path: path.to_path_buf(),
            why,
        })
    };
    let mut header = [0u8; 100];
    if len < 100 || file.read_exact(&mut header).is_err() {
        return damaged(format!(
            "{len} bytes, shorter than a database header: truncated"
        ));
    }
    if &header[..16] != MAGIC {
        return damaged("not a SQLite database: its header is overwritten".into());
    }
    let be32 = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    if page_size < 512 || !page_size.is_power_of_two() {
        return damaged(format!("its header gives page size {page_size}"));
    }
    // The page count is valid when the change counter matches "version valid for". Pages
    // still in the write-ahead log may be counted before they reach the file, so a file
    // with a log is not measured.
    let pages = u64::from(be32(28));
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let wal_len = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if be32(24) == be32(92) && wal_len == 0 && pages * page_size > len {
        return damaged(format!(
            "{len} bytes where its header says {}: truncated",
            pages * page_size
        ));
    }
    Ok(())
}

/// SQLite's "corrupt" and "not a database" errors as [`StoreError::Damaged`]; other errors
/// as they are.
pub(super) fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => StoreError::Damaged {
            path: path.to_path_buf(),
            why: e.to_string(),
        },
        _ => StoreError::Sql(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    fn sound() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for i in 0..200 {
            s.record(
                &[super::super::Entry::new(&format!("LAP-{i}"), "ana", "note")
                    .message("x".repeat(200))],
            )
            .unwrap();
        }
        drop(s);
        let path = dir.path().join("state.db");
        (dir, path)
    }

    fn refused_unchanged(path: &Path) -> String {
        let before = std::fs::read(path).unwrap();
        let err = Store::open(path.parent().unwrap()).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert_eq!(std::fs::read(path).unwrap(), before, "not written to");
        err.to_string()
    }

    #[test]
    fn garbage_over_the_file_is_refused_and_left_alone() {
        let (_d, path) = sound();
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        std::fs::write(&path, vec![0x5a; len]).unwrap();
        let err = refused_unchanged(&path);
        assert!(
            err.starts_with(&format!(
                "the state store {} is damaged (not a SQLite database: its header is overwritten); nothing was written to it. Restore it from a backup, or move it aside",
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_file_is_refused_and_left_alone() {
        let (_d, path) = sound();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 8192, "several pages");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = refused_unchanged(&path);
        assert!(err.contains("bytes where its header says"), "{err}");
        std::fs::write(&path, &bytes[..60]).unwrap();
        let err = refused_unchanged(&path);
        assert!(
            err.contains("60 bytes, shorter than a database header"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_is_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.db"), b"").unwrap();
        Store::open(dir.path()).unwrap();
    }
}
