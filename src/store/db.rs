//! The one seam between the store's SQL and its two databases: embedded SQLite (one CSP) and
//! PostgreSQL (a team). Store methods are written once, in portable SQL with `$1`-style
//! parameters, against [`Tx`]; this file turns that into rusqlite or `postgres` calls.
//!
//! Owns: connections, transactions (SQLite `BEGIN IMMEDIATE`; PostgreSQL `SERIALIZABLE`,
//! retried on a serialization failure, so a read-then-write behaves as it does on SQLite),
//! prepared-statement caches, and the neutral [`Value`]/[`Row`] both databases read into.
//! Must not: know any table, or hold a SQL text of its own beyond transaction control.

use std::collections::HashMap;
use std::sync::Mutex;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::StoreError;

/// Which database a store is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A value going into or coming out of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// Something that can be a query parameter.
pub(super) trait Arg: Sync {
    fn value(&self) -> Value;
}

impl Arg for str {
    fn value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl Arg for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl Arg for i64 {
    fn value(&self) -> Value {
        Value::Int(*self)
    }
}
impl Arg for u32 {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl Arg for u64 {
    fn value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl Arg for Value {
    fn value(&self) -> Value {
        self.clone()
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}
impl<T: Arg> Arg for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Arg::value)
    }
}

/// Something a column can be read as.
pub(super) trait Column: Sized {
    fn from_value(v: Value) -> Result<Self, String>;
}

impl Column for String {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s),
            Value::Int(i) => Ok(i.to_string()),
            Value::Null => Err("NULL where text was expected".into()),
        }
    }
}
impl Column for i64 {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(i),
            Value::Text(s) => s.parse().map_err(|_| format!("`{s}` is not a number")),
            Value::Null => Err("NULL where a number was expected".into()),
        }
    }
}
impl Column for u32 {
    fn from_value(v: Value) -> Result<Self, String> {
        let i = i64::from_value(v)?;
        u32::try_from(i).map_err(|_| format!("{i} is out of range"))
    }
}
impl Column for u64 {
    fn from_value(v: Value) -> Result<Self, String> {
        Ok(i64::from_value(v)? as u64)
    }
}
impl Column for Value {
    fn from_value(v: Value) -> Result<Self, String> {
        Ok(v)
    }
}
impl<T: Column> Column for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// Stored words of the outcome vocabulary: written with `as_str`, read with `FromStr`; an
/// unknown word in the database reads as an error naming it.
macro_rules! stored_as_text {
    ($ty:ty) => {
        impl $crate::store::db::Arg for $ty {
            fn value(&self) -> $crate::store::db::Value {
                $crate::store::db::Value::Text(self.as_str().to_string())
            }
        }
        impl $crate::store::db::Column for $ty {
            fn from_value(v: $crate::store::db::Value) -> Result<Self, String> {
                let s = String::from_value(v)?;
                s.parse().map_err(|e| format!("{e}"))
            }
        }
    };
}
pub(super) use stored_as_text;

/// One row of a result.
#[derive(Debug, Clone)]
pub(super) struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as `T`.
    pub(super) fn get<T: Column>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).cloned().unwrap_or(Value::Null);
        T::from_value(v).map_err(|why| StoreError::Column { index: i, why })
    }
}

/// Parameters of a query: `args![a, b]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$(&$a as &dyn $crate::store::db::Arg),*][..]
    };
}
pub(super) use args;

type Args<'a> = &'a [&'a dyn Arg];

/// A query in `backend`'s words: `{skip_locked}`, written after a `SELECT` that claims a
/// row, is PostgreSQL's `FOR UPDATE SKIP LOCKED` (rows other transactions hold are passed
/// over) and nothing on SQLite (whose write transaction already excludes every other
/// writer).
fn spelled(sql: &str, backend: Backend) -> std::borrow::Cow<'_, str> {
    const SKIP_LOCKED: &str = "{skip_locked}";
    if !sql.contains(SKIP_LOCKED) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let word = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    std::borrow::Cow::Owned(sql.replace(SKIP_LOCKED, word))
}

/// `$1` parameters as SQLite's `?1` (outside quoted text).
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_value(v: Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(i),
        Value::Text(s) => rusqlite::types::Value::Text(s),
    }
}

fn sqlite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Text(f.to_string()),
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Value::Text(String::from_utf8_lossy(t).into_owned())
            }
        });
    }
    Ok(Row(out))
}

/// A parameter for PostgreSQL: accepts whatever type the server infers for its place.
#[derive(Debug)]
struct PgArg(Value);

impl ToSql for PgArg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

fn pg_row(r: &postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            _ => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

/// A PostgreSQL connection and its prepared statements.
struct Pg {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

/// Opens one more connection to a team store.
pub(super) type Connect = Box<dyn Fn() -> Result<postgres::Client, StoreError> + Send + Sync>;

/// How many connections a team store's process uses at most: a rollout's devices wait on
/// the server's round trips, not on one another.
const PG_CONNECTIONS: usize = 8;

/// An open database. SQLite: one connection, used by one query or transaction at a time.
/// PostgreSQL: up to [`PG_CONNECTIONS`], opened as concurrent calls need them.
pub(super) struct Db {
    /// Slot 0 is always open; the others are opened on demand (`None` until then).
    conns: Vec<Mutex<Option<Conn>>>,
    backend: Backend,
    connect: Option<Connect>,
}

enum TxConn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres {
        tx: postgres::Transaction<'a>,
        statements: &'a mut HashMap<String, postgres::Statement>,
    },
    /// Reads on a team store: each query on its own (one round trip each), no transaction.
    PostgresRead {
        client: &'a mut postgres::Client,
        statements: &'a mut HashMap<String, postgres::Statement>,
    },
}

/// Queries inside one transaction. Written once for both databases.
pub(super) struct Tx<'a> {
    conn: TxConn<'a>,
}

impl Tx<'_> {
    pub(super) fn backend(&self) -> Backend {
        match self.conn {
            TxConn::Sqlite(_) => Backend::Sqlite,
            TxConn::Postgres { .. } | TxConn::PostgresRead { .. } => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(super) fn execute(&mut self, sql: &str, args: Args<'_>) -> Result<u64, StoreError> {
        let sql = &*spelled(sql, self.backend());
        match &mut self.conn {
            TxConn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
                let values: Vec<rusqlite::types::Value> =
                    args.iter().map(|a| sqlite_value(a.value())).collect();
                Ok(stmt.execute(rusqlite::params_from_iter(values))? as u64)
            }
            TxConn::Postgres { tx, statements } => pg_execute(tx, statements, sql, args),
            TxConn::PostgresRead { client, statements } => {
                pg_execute(*client, statements, sql, args)
            }
        }
    }

    /// Every row of a query.
    pub(super) fn query(&mut self, sql: &str, args: Args<'_>) -> Result<Vec<Row>, StoreError> {
        let sql = &*spelled(sql, self.backend());
        match &mut self.conn {
            TxConn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
                let n = stmt.column_count();
                let values: Vec<rusqlite::types::Value> =
                    args.iter().map(|a| sqlite_value(a.value())).collect();
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(values), |r| sqlite_row(r, n))?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            TxConn::Postgres { tx, statements } => pg_query(tx, statements, sql, args),
            TxConn::PostgresRead { client, statements } => pg_query(*client, statements, sql, args),
        }
    }

    /// The first row of a query, if any.
    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        args: Args<'_>,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first column of the first row, which the query always returns (a count, an id
    /// from `RETURNING`).
    pub(super) fn query_one<T: Column>(
        &mut self,
        sql: &str,
        args: Args<'_>,
    ) -> Result<T, StoreError> {
        match self.query_opt(sql, args)? {
            Some(r) => r.get(0),
            None => Err(StoreError::Column {
                index: 0,
                why: "the query returned no row".into(),
            }),
        }
    }

    /// Runs several statements without parameters (a migration).
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match &mut self.conn {
            TxConn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            TxConn::Postgres { tx, .. } => Ok(tx.batch_execute(sql)?),
            TxConn::PostgresRead { client, .. } => Ok(client.batch_execute(sql)?),
        }
    }
}

fn pg_prepare(
    c: &mut impl postgres::GenericClient,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement, StoreError> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare(sql)?;
    statements.insert(sql.to_string(), s.clone());
    Ok(s)
}

fn pg_execute(
    c: &mut impl postgres::GenericClient,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    args: Args<'_>,
) -> Result<u64, StoreError> {
    let stmt = pg_prepare(c, statements, sql)?;
    let values: Vec<PgArg> = args.iter().map(|a| PgArg(a.value())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    Ok(c.execute(&stmt, &refs)?)
}

fn pg_query(
    c: &mut impl postgres::GenericClient,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    args: Args<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = pg_prepare(c, statements, sql)?;
    let values: Vec<PgArg> = args.iter().map(|a| PgArg(a.value())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    c.query(&stmt, &refs)?.iter().map(pg_row).collect()
}

/// Whether a PostgreSQL error means "run the transaction again".
fn retryable(e: &StoreError) -> bool {
    use postgres::error::SqlState;
    match e {
        StoreError::Postgres(e) => matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::UNIQUE_VIOLATION
        ),
        _ => false,
    }
}

impl Db {
    pub(super) fn sqlite(conn: rusqlite::Connection) -> Db {
        Db {
            conns: vec![Mutex::new(Some(Conn::Sqlite(conn)))],
            backend: Backend::Sqlite,
            connect: None,
        }
    }

    pub(super) fn postgres(client: postgres::Client, connect: Connect) -> Db {
        let mut conns = vec![Mutex::new(Some(Conn::Postgres(Box::new(Pg {
            client,
            statements: HashMap::new(),
        }))))];
        conns.extend((1..PG_CONNECTIONS).map(|_| Mutex::new(None)));
        Db {
            conns,
            backend: Backend::Postgres,
            connect: Some(connect),
        }
    }

    /// A connection for this call: a free open one, else a free slot opened now, else the
    /// wait for one.
    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Option<Conn>>, StoreError> {
        let open = |g: &std::sync::MutexGuard<'_, Option<Conn>>| g.is_some();
        for m in &self.conns {
            if let Ok(g) = m.try_lock()
                && open(&g)
            {
                return Ok(g);
            }
        }
        if let Some(connect) = &self.connect {
            for m in &self.conns {
                if let Ok(mut g) = m.try_lock()
                    && g.is_none()
                {
                    *g = Some(Conn::Postgres(Box::new(Pg {
                        client: connect()?,
                        statements: HashMap::new(),
                    })));
                    return Ok(g);
                }
            }
        }
        Ok(self.conns[0].lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// After `e`: when the server ended `pg`'s connection (it restarted, or the connection
    /// was terminated), replaces it with a new one and says so; its prepared statements
    /// went with it.
    fn revive(&self, pg: &mut Pg, e: &StoreError) -> Result<bool, StoreError> {
        use postgres::error::SqlState;
        let ended = match e {
            StoreError::Postgres(e) => {
                e.is_closed()
                    || matches!(e.code(), Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                        || *c == SqlState::CRASH_SHUTDOWN
                        || *c == SqlState::CANNOT_CONNECT_NOW)
            }
            _ => false,
        } || pg.client.is_closed();
        let Some(connect) = &self.connect else {
            return Ok(false);
        };
        if !ended {
            return Ok(false);
        }
        pg.client = connect()?;
        pg.statements.clear();
        Ok(true)
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `op` where the blocking PostgreSQL client may run: not on a thread inside an
    /// async runtime (the client drives its own runtime, which cannot nest), so there on a
    /// scoped thread of its own. SQLite runs anywhere.
    fn off_runtime<T: Send>(&self, op: impl FnOnce() -> T + Send) -> T {
        if self.backend == Backend::Postgres && tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(op).join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            op()
        }
    }

    /// Runs `f` in a write transaction: SQLite's `BEGIN IMMEDIATE` (one writer at a time),
    /// PostgreSQL's `SERIALIZABLE`, run again when the server reports a conflict with a
    /// concurrent transaction. `f` may run more than once; it must only use `tx`.
    pub(super) fn write<T: Send>(
        &self,
        f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.off_runtime(|| self.write_here(f))
    }

    fn write_here<T>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn()?;
        let Some(conn) = guard.as_mut() else {
            unreachable!("conn() gives an open connection")
        };
        match conn {
            Conn::Sqlite(c) => {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&mut Tx {
                    conn: TxConn::Sqlite(&tx),
                })?;
                tx.commit()?;
                Ok(out)
            }
            Conn::Postgres(pg) => {
                let mut attempt = 0u32;
                let mut reconnected = false;
                loop {
                    attempt += 1;
                    let (r, committing) = pg_tx(pg, &mut f);
                    match r {
                        // The server ended the connection (restarted, or the connection was
                        // terminated): a new one, and the transaction again unless it
                        // failed committing (it may have been committed).
                        Err(e) if self.revive(pg, &e)? => {
                            if committing || reconnected {
                                return Err(e);
                            }
                            reconnected = true;
                        }
                        Err(e) if attempt < 50 && retryable(&e) => {
                            // Let the other transaction finish; a little jitter apart.
                            let ms = 2 + u64::from(attempt) * 3 + u64::from(std::process::id() % 7);
                            std::thread::sleep(std::time::Duration::from_millis(ms));
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    /// Runs `f` to read, taking no write lock: SQLite reads one snapshot; PostgreSQL runs
    /// each query on its own (one round trip each), so a read of several queries may see
    /// a write that lands between them: such a read goes through [`Db::write`].
    pub(super) fn read<T: Send>(
        &self,
        f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.off_runtime(|| self.read_here(f))
    }

    fn read_here<T>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn()?;
        let Some(conn) = guard.as_mut() else {
            unreachable!("conn() gives an open connection")
        };
        match conn {
            Conn::Sqlite(c) => {
                let tx = c.transaction()?;
                let out = f(&mut Tx {
                    conn: TxConn::Sqlite(&tx),
                })?;
                tx.commit()?;
                Ok(out)
            }
            Conn::Postgres(pg) => {
                let mut read = |pg: &mut Pg| {
                    let Pg { client, statements } = pg;
                    f(&mut Tx {
                        conn: TxConn::PostgresRead { client, statements },
                    })
                };
                match read(pg) {
                    // The server ended the connection: once more on a new one.
                    Err(e) if self.revive(pg, &e)? => read(pg),
                    other => other,
                }
            }
        }
    }

    /// Runs `f` with the SQLite connection itself (pragmas, integrity checks); `None` on
    /// PostgreSQL.
    pub(super) fn with_sqlite<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, StoreError>> {
        let guard = self.conns[0].lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(Conn::Sqlite(c)) => Some(f(c).map_err(StoreError::from)),
            _ => None,
        }
    }
}

impl Drop for Db {
    /// The PostgreSQL client owns a runtime of its own, which may not be dropped inside
    /// another: off such a thread, it is closed on one of its own.
    fn drop(&mut self) {
        let conns: Vec<Conn> = self
            .conns
            .iter_mut()
            .filter_map(|m| m.get_mut().unwrap_or_else(|e| e.into_inner()).take())
            .collect();
        if self.backend == Backend::Postgres && tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(move || drop(conns));
            });
        }
    }
}

/// Runs `f` in one transaction; with whether a failure came from the commit itself (the
/// transaction may then have been committed).
fn pg_tx<T>(
    pg: &mut Pg,
    f: &mut impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
) -> (Result<T, StoreError>, bool) {
    let tx = match pg
        .client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::Serializable)
        .start()
    {
        Ok(tx) => tx,
        Err(e) => return (Err(e.into()), false),
    };
    let mut t = Tx {
        conn: TxConn::Postgres {
            tx,
            statements: &mut pg.statements,
        },
    };
    let out = match f(&mut t) {
        Ok(out) => out,
        Err(e) => return (Err(e), false),
    };
    match t.conn {
        TxConn::Postgres { tx, .. } => match tx.commit() {
            Ok(()) => (Ok(out), false),
            Err(e) => (Err(e.into()), true),
        },
        _ => unreachable!("a PostgreSQL transaction"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_locked_is_spelled_per_database() {
        let sql = "SELECT tag FROM t LIMIT 1 {skip_locked}";
        assert_eq!(spelled(sql, Backend::Sqlite), "SELECT tag FROM t LIMIT 1 ");
        assert_eq!(
            spelled(sql, Backend::Postgres),
            "SELECT tag FROM t LIMIT 1 FOR UPDATE SKIP LOCKED"
        );
    }

    #[test]
    fn dollar_parameters_become_sqlite_numbered_ones_outside_quotes() {
        assert_eq!(
            sqlite_sql("SELECT '$1', x FROM t WHERE a = $1 AND b = $12"),
            "SELECT '$1', x FROM t WHERE a = ?1 AND b = ?12"
        );
    }
}
