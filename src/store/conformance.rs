//! The conformance suite's fixture: every store test written with [`both!`] runs once on
//! SQLite (a temp directory) and once on PostgreSQL (a private cluster of its own, see
//! `lab::Cluster`), so the two backends are held to the same behaviour. A new store file's
//! tests use `both!` too. Test-only.

use crate::lab::Cluster;

use super::{Location, Store};

/// One backend's store location, and what keeps it alive.
pub(crate) struct Fixture {
    pub location: Location,
    _dir: tempfile::TempDir,
    _cluster: Option<Cluster>,
}

impl Fixture {
    pub(crate) fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            location: Location::Sqlite(dir.path().to_path_buf()),
            _dir: dir,
            _cluster: None,
        }
    }

    pub(crate) fn postgres() -> Fixture {
        let cluster = Cluster::start().unwrap();
        Fixture {
            location: Location::postgres(&cluster.url()).unwrap(),
            _dir: tempfile::tempdir().unwrap(),
            _cluster: Some(cluster),
        }
    }

    /// Opens (again) the store, as a new process would.
    pub(crate) fn open(&self) -> Store {
        Store::open_at(&self.location).unwrap()
    }
}

/// A test run against both backends: `both! { fn name(fx: &Fixture) { ... } }` makes the
/// tests `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($(#[$m:meta])* fn $name:ident($fx:ident: &Fixture) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::store::conformance::Fixture;
            $(#[$m])*
            fn body($fx: &Fixture) $body
            #[test]
            fn sqlite() {
                body(&Fixture::sqlite())
            }
            #[test]
            fn postgres() {
                body(&Fixture::postgres())
            }
        }
    };
}
pub(crate) use both;
