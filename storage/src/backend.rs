//! Which database the index lives in: the one thing both the index and
//! the SQL generator of the query model need to know of each other.

/// Which database the index lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one file (WAL).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}
