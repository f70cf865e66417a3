//! The connection to the index database: pool, migrations, and write
//! transactions.
//!
//! SQLite allows one writer: writes take a process-wide lock and begin with
//! `BEGIN IMMEDIATE`, so a second process (an import beside the server)
//! waits on the busy timeout instead of failing on a lock upgrade.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::record::{normalize_person_name, PERSON_NAME_NORM_VERSION};

/// Run a block in a write transaction, retrying a few times when the
/// database reports a lock conflict, serialization failure or deadlock.
/// The block sees `$conn: &mut AnyConnection` and evaluates to a [`Tx`].
macro_rules! write_tx {
    ($index:expr, |$conn:ident| $body:block) => {{
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let result: $crate::Result<_> = async {
                let (_guard, mut tx) = $index.begin_write().await?;
                let $conn: &mut sqlx::AnyConnection = &mut tx;
                let outcome: $crate::Result<$crate::index::connection::Tx<_>> = async { $body }.await;
                match outcome? {
                    $crate::index::connection::Tx::Commit(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    $crate::index::connection::Tx::Rollback(v) => {
                        tx.rollback().await?;
                        Ok(v)
                    }
                }
            }
            .await;
            match result {
                Err(e) if e.kind() == $crate::ErrorKind::Unavailable && attempt < 5 => {
                    tracing::debug!(error = %e, attempt, "retrying index transaction");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

pub(crate) use write_tx;

/// A wait for, or a hold of, SQLite's write turn this long is logged: one
/// slow write stalls every other (a C-STORE waiting for its commit).
const SLOW_WRITE: Duration = Duration::from_secs(5);

/// SQLite's write turn in this process, held by one transaction; logs a
/// hold longer than [`SLOW_WRITE`] when released.
pub(crate) struct WriteLock<'a> {
    _guard: tokio::sync::MutexGuard<'a, ()>,
    since: Instant,
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        let held = self.since.elapsed();
        if held >= SLOW_WRITE {
            tracing::warn!(
                held_ms = held.as_millis() as u64,
                "an index write held SQLite's write turn long"
            );
        }
    }
}

/// What a write transaction ends with.
pub(crate) enum Tx<T> {
    Commit(T),
    Rollback(T),
}

/// Connection settings for the index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// `sqlite://path` or `postgres://…`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// SQLite `synchronous` pragma: FULL survives power loss; NORMAL only crashes.
    pub sqlite_synchronous_full: bool,
}

/// The metadata index.
#[derive(Debug, Clone)]
pub struct Index {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Index {
    /// Connect, create the database if it is SQLite, and run migrations.
    pub async fn connect(options: &IndexOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let url = options.url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::Config(format!(
                "database URL must start with sqlite:// or postgres://, got {:?}",
                url.split(':').next().unwrap_or("")
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(|e| Error::Config(format!("database URL: {e}")))?;
        let synchronous = if options.sqlite_synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        };
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            format!(
                                "PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON; \
                                 PRAGMA synchronous = {synchronous}; PRAGMA journal_mode = WAL; \
                                 PRAGMA case_sensitive_like = ON;"
                            )
                            .as_str(),
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        crate::migrations::migrator(backend)
            .await
            .map_err(|source| Error::Migration { source })?
            .run(&pool)
            .await
            .map_err(|source| Error::Migration { source })?;
        let index = Index {
            pool,
            backend,
            writer: Arc::default(),
        };
        index.renormalize_names().await?;
        Ok(index)
    }

    /// Recompute the `*_norm` person-name columns when they were written by
    /// an older [`normalize_person_name`] (once per archive; a large one
    /// takes a while at that start). Rows are rewritten in batches, and the
    /// version is recorded last, so an interrupted run starts over.
    async fn renormalize_names(&self) -> Result<()> {
        let done: Option<String> =
            sqlx::query_scalar("SELECT value FROM index_fact WHERE name = 'person_name_norm'")
                .fetch_optional(&self.pool)
                .await?;
        if done.as_deref() == Some(PERSON_NAME_NORM_VERSION) {
            return Ok(());
        }
        for (table, name, norm) in [
            ("patient", "patient_name", "patient_name_norm"),
            (
                "study",
                "referring_physician_name",
                "referring_physician_name_norm",
            ),
            ("worklist_item", "patient_name", "patient_name_norm"),
            (
                "worklist_item",
                "referring_physician_name",
                "referring_physician_name_norm",
            ),
            (
                "worklist_item",
                "scheduled_performing_physician_name",
                "scheduled_performing_physician_name_norm",
            ),
        ] {
            let mut after = 0i64;
            loop {
                let rows = sqlx::query(&format!(
                    "SELECT id, {name}, {norm} FROM {table} WHERE id > $1 ORDER BY id LIMIT 1000"
                ))
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
                let Some(last) = rows.last() else { break };
                after = last.try_get(0)?;
                let (_guard, mut tx) = self.begin_write().await?;
                for row in &rows {
                    let (id, value, old): (i64, String, String) =
                        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    let new = normalize_person_name(&value);
                    if new != old {
                        sqlx::query(&format!("UPDATE {table} SET {norm} = $1 WHERE id = $2"))
                            .bind(new)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
            }
        }
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM index_fact WHERE name = 'person_name_norm'")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO index_fact (name, value) VALUES ('person_name_norm', $1)")
            .bind(PERSON_NAME_NORM_VERSION)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The database behind this index.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for the query layer.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begin a write transaction: on SQLite, under the writer lock and
    /// with `BEGIN IMMEDIATE`. Every write of this process goes through
    /// here, so on SQLite `BEGIN IMMEDIATE` waits only on other processes.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<(Option<WriteLock<'_>>, sqlx::Transaction<'static, sqlx::Any>)> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let asked = Instant::now();
                let guard = self.writer.lock().await;
                let locked = Instant::now();
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                let waited = asked.elapsed();
                if waited >= SLOW_WRITE {
                    tracing::warn!(
                        lock_ms = (locked - asked).as_millis() as u64,
                        begin_ms = locked.elapsed().as_millis() as u64,
                        "an index write waited long for its turn (writer lock, then the database)"
                    );
                }
                (
                    Some(WriteLock {
                        _guard: guard,
                        since: Instant::now(),
                    }),
                    tx,
                )
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        })
    }

    /// Whether the database answers (one trivial query).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }
}
