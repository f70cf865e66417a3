//! The metadata index: patient / study / series / instance rows in SQL.
//!
//! One code path serves SQLite (the single-box default) and PostgreSQL (many
//! nodes) through sqlx's `Any` driver; both dialects share the schema in
//! `migrations/` with the same version numbers. SQL here uses only what both
//! understand: `$n` parameters, `ON CONFLICT … DO NOTHING`, `RETURNING`.
//!
//! Invariants kept here:
//! - one patient / study / series row per identity, whatever the concurrency:
//!   unique constraints plus `INSERT … ON CONFLICT DO NOTHING` then `SELECT`
//!   (on PostgreSQL the insert waits for a concurrent inserter to commit);
//! - study and series counters change in the same transaction as the
//!   instance rows they count, and rows left empty by a delete go with it.
//!
//! SQLite allows one writer: writes take a process-wide lock and begin with
//! `BEGIN IMMEDIATE`, so a second process (an import beside the server)
//! waits on the busy timeout instead of failing on a lock upgrade.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Executor, Row};

use crate::blob::{BlobRef, CompressionKind};
use crate::error::{Error, ErrorKind, Result};
use crate::query::{Bind, Match, Query};
use crate::record::{normalize_person_name, InstanceRecord};
use crate::scan::FrameRange;

/// Run a block in a write transaction, retrying a few times when the
/// database reports a lock conflict, serialization failure or deadlock.
/// The block sees `$conn: &mut AnyConnection` and evaluates to a [`Tx`].
macro_rules! write_tx {
    ($index:expr, |$conn:ident| $body:block) => {{
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let result: Result<_> = async {
                let (_guard, mut tx) = $index.begin_write().await?;
                let $conn: &mut AnyConnection = &mut tx;
                let outcome: Result<Tx<_>> = async { $body }.await;
                match outcome? {
                    Tx::Commit(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Tx::Rollback(v) => {
                        tx.rollback().await?;
                        Ok(v)
                    }
                }
            }
            .await;
            match result {
                Err(e) if e.kind() == ErrorKind::Unavailable && attempt < 5 => {
                    tracing::debug!(error = %e, attempt, "retrying index transaction");
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

/// Which database the index lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one file (WAL).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// An instance as the index knows it: identity, blob and frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// Row id.
    pub id: i64,
    /// (0020,000D).
    pub study_instance_uid: String,
    /// (0020,000E).
    pub series_instance_uid: String,
    /// (0008,0018).
    pub sop_instance_uid: String,
    /// (0008,0016).
    pub sop_class_uid: String,
    /// (0002,0010) as stored.
    pub transfer_syntax_uid: String,
    /// Frames in the instance (0 without pixel data).
    pub number_of_frames: i64,
    /// Where the blob is.
    pub blob: BlobRef,
    /// SHA-256 of the original bytes, lower-case hex.
    pub sha256: String,
    /// Byte range of each frame in the original file.
    pub frames: Vec<FrameRange>,
    /// Whether frame ranges include item headers (encapsulated pixel data).
    pub frames_encapsulated: bool,
}

/// An instance's stored DICOM JSON and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceJson {
    /// (0020,000E).
    pub series_instance_uid: String,
    /// (0008,0018).
    pub sop_instance_uid: String,
    /// DICOM JSON, bulk data as relative `bulkdata/…` URIs.
    pub dicom_json: String,
}

/// Study-level aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudySummary {
    /// Number of Study Related Series.
    pub series: i64,
    /// Number of Study Related Instances.
    pub instances: i64,
    /// Original bytes of all instances.
    pub size: i64,
    /// Modalities in Study, sorted.
    pub modalities: Vec<String>,
}

/// Row counts per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Patients.
    pub patients: i64,
    /// Studies.
    pub studies: i64,
    /// Series.
    pub series: i64,
    /// Instances.
    pub instances: i64,
}

/// What [`Index::insert_instance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// New rows were committed.
    Inserted,
    /// An instance with this SOP Instance UID exists; nothing changed.
    Exists(Box<StoredInstance>),
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

const INSTANCE_COLUMNS: &str =
    "i.id, st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, \
     i.sop_class_uid, i.transfer_syntax_uid, i.number_of_frames, i.blob_key, i.compression, \
     i.original_size, i.stored_size, i.chunk_table, i.sha256, i.frames, i.frames_encapsulated";
const INSTANCE_JOIN: &str =
    "instance i JOIN series se ON se.id = i.series_ref JOIN study st ON st.id = se.study_ref";

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
        Ok(Index {
            pool,
            backend,
            writer: Arc::default(),
        })
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
    /// with `BEGIN IMMEDIATE`.
    async fn begin_write(
        &self,
    ) -> Result<(
        Option<tokio::sync::MutexGuard<'_, ()>>,
        sqlx::Transaction<'static, sqlx::Any>,
    )> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let guard = self.writer.lock().await;
                (Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        })
    }

    /// The stored instance with this SOP Instance UID.
    pub async fn instance(&self, sop_instance_uid: &str) -> Result<Option<StoredInstance>> {
        let sql =
            format!("SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} WHERE i.sop_instance_uid = $1");
        let row = sqlx::query(&sql)
            .bind(sop_instance_uid)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| stored_instance(&r)).transpose()
    }

    /// A page of stored instances in row order, after row id `after`.
    pub async fn instances_after(&self, after: i64, limit: i64) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} WHERE i.id > $1 ORDER BY i.id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// The instances of a series, by instance number.
    pub async fn series_instances(&self, series_instance_uid: &str) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} WHERE se.series_instance_uid = $1 \
             ORDER BY i.instance_number, i.id"
        );
        let rows = sqlx::query(&sql)
            .bind(series_instance_uid)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// The instances of a study.
    pub async fn study_instances(&self, study_instance_uid: &str) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} WHERE st.study_instance_uid = $1 \
             ORDER BY se.series_number, se.id, i.instance_number, i.id"
        );
        let rows = sqlx::query(&sql)
            .bind(study_instance_uid)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// The stored DICOM JSON of an instance.
    pub async fn instance_json(&self, sop_instance_uid: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT dicom_json FROM instance WHERE sop_instance_uid = $1")
            .bind(sop_instance_uid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// The stored DICOM JSON of every instance of a series (or of a whole
    /// study when `series_instance_uid` is `None`), in instance order.
    pub async fn metadata(
        &self,
        study_instance_uid: &str,
        series_instance_uid: Option<&str>,
    ) -> Result<Vec<InstanceJson>> {
        let rows = match series_instance_uid {
            Some(series) => sqlx::query(
                "SELECT se.series_instance_uid, i.sop_instance_uid, i.dicom_json FROM instance i \
                     JOIN series se ON se.id = i.series_ref JOIN study st ON st.id = se.study_ref \
                     WHERE st.study_instance_uid = $1 AND se.series_instance_uid = $2 \
                     ORDER BY i.instance_number, i.id",
            )
            .bind(study_instance_uid)
            .bind(series)
            .fetch_all(&self.pool)
            .await?,
            None => sqlx::query(
                "SELECT se.series_instance_uid, i.sop_instance_uid, i.dicom_json FROM instance i \
                     JOIN series se ON se.id = i.series_ref JOIN study st ON st.id = se.study_ref \
                     WHERE st.study_instance_uid = $1 \
                     ORDER BY se.series_number, se.id, i.instance_number, i.id",
            )
            .bind(study_instance_uid)
            .fetch_all(&self.pool)
            .await?,
        };
        rows.iter()
            .map(|r| {
                Ok(InstanceJson {
                    series_instance_uid: r.try_get(0)?,
                    sop_instance_uid: r.try_get(1)?,
                    dicom_json: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Aggregates of a study.
    pub async fn study_summary(&self, study_instance_uid: &str) -> Result<Option<StudySummary>> {
        let row = sqlx::query(
            "SELECT id, number_of_study_related_series, number_of_study_related_instances, study_size \
             FROM study WHERE study_instance_uid = $1",
        )
        .bind(study_instance_uid)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get(0)?;
        let modalities = sqlx::query(
            "SELECT DISTINCT modality FROM series WHERE study_ref = $1 AND modality <> '' ORDER BY modality",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<std::result::Result<_, _>>()?;
        Ok(Some(StudySummary {
            series: row.try_get(1)?,
            instances: row.try_get(2)?,
            size: row.try_get(3)?,
            modalities,
        }))
    }

    /// Number of series-related instances of a series.
    pub async fn series_instance_count(&self, series_instance_uid: &str) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT number_of_series_related_instances FROM series WHERE series_instance_uid = $1",
        )
        .bind(series_instance_uid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }

    /// Run a query: one [`Match`] per patient, study, series or instance.
    pub async fn query(&self, query: &Query) -> Result<Vec<Match>> {
        let (sql, binds) = query.select_sql(self.backend);
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&self.pool)
            .await?;
        let returned = query.returned();
        rows.iter()
            .map(|row| {
                let values = returned
                    .iter()
                    .enumerate()
                    .map(|(n, a)| Ok((*a, row.try_get::<Option<String>, _>(n)?)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Match { values })
            })
            .collect()
    }

    /// The instances a query selects, whatever its level (C-MOVE, C-GET).
    pub async fn query_instances(&self, query: &Query) -> Result<Vec<StoredInstance>> {
        let (sql, binds) = query.instances_sql(INSTANCE_COLUMNS, self.backend);
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// Whether the database answers (one trivial query).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Rows per level.
    pub async fn counts(&self) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM patient), (SELECT COUNT(*) FROM study), \
             (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM instance)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            patients: row.try_get(0)?,
            studies: row.try_get(1)?,
            series: row.try_get(2)?,
            instances: row.try_get(3)?,
        })
    }

    /// Insert the rows of a new instance in one transaction. When an
    /// instance with the same SOP Instance UID exists, nothing changes and
    /// the existing one is returned.
    pub async fn insert_instance(&self, new: &NewInstance<'_>) -> Result<Insert> {
        write_tx!(self, |conn| {
            // A stored UID makes the instance row's insert do nothing; only
            // then is the existing row read (and the transaction rolled back).
            match insert_rows(conn, new).await? {
                true => Ok(Tx::Commit(Insert::Inserted)),
                false => {
                    let existing =
                        select_instance(conn, new.record.instance.sop_instance_uid.as_str())
                            .await?
                            .ok_or_else(|| {
                                Error::Internal("instance vanished during insert".into())
                            })?;
                    Ok(Tx::Rollback(Insert::Exists(Box::new(existing))))
                }
            }
        })
    }

    /// Insert many instances in one transaction, through the same statements
    /// as [`Index::insert_instance`]; those already present are skipped.
    /// Returns how many were inserted. For bulk loaders (building a
    /// million-instance index for the scale benchmark): one commit per batch
    /// instead of one per instance.
    pub async fn insert_batch(&self, batch: &[NewInstance<'_>]) -> Result<u64> {
        write_tx!(self, |conn| {
            let now = now_millis();
            // Parents are looked up once per series, and counters added up
            // and written once per study and series.
            let mut parents: HashMap<&str, (i64, i64)> = HashMap::new();
            let mut studies: BTreeMap<i64, Counters> = BTreeMap::new();
            let mut series_counts: BTreeMap<i64, i64> = BTreeMap::new();
            let mut inserted = 0;
            for new in batch {
                let uid = new.record.series.series_instance_uid.as_str();
                let (study, series) = match parents.get(uid) {
                    Some(ids) => *ids,
                    None => {
                        let (study, series, new_series) = upsert_parents(conn, new, now).await?;
                        studies.entry(study).or_default().new_series += i64::from(new_series);
                        parents.insert(uid, (study, series));
                        (study, series)
                    }
                };
                if insert_instance_row(conn, series, new, now).await? {
                    let c = studies.entry(study).or_default();
                    c.instances += 1;
                    c.size += new.blob.original_size as i64;
                    *series_counts.entry(series).or_default() += 1;
                    inserted += 1;
                }
            }
            for (study, c) in studies {
                bump_study(conn, study, c, now).await?;
            }
            for (series, n) in series_counts {
                bump_series(conn, series, n).await?;
            }
            Ok(Tx::Commit(inserted))
        })
    }

    /// Replace the instance with this SOP Instance UID by `new`, in one
    /// transaction. Returns the blob key of the replaced instance.
    pub async fn replace_instance(&self, new: &NewInstance<'_>) -> Result<Option<String>> {
        write_tx!(self, |conn| {
            let old =
                delete_instance_rows(conn, new.record.instance.sop_instance_uid.as_str()).await?;
            if !insert_rows(conn, new).await? {
                return Err(Error::Internal("instance reappeared during replace".into()));
            }
            Ok(Tx::Commit(old))
        })
    }

    /// Delete an instance's rows; returns its blob key.
    pub async fn delete_instance(&self, sop_instance_uid: &str) -> Result<String> {
        write_tx!(self, |conn| {
            match delete_instance_rows(conn, sop_instance_uid).await? {
                Some(key) => Ok(Tx::Commit(key)),
                None => Err(Error::NotFound {
                    level: "instance",
                    uid: sop_instance_uid.to_owned(),
                }),
            }
        })
    }

    /// Delete a series' rows; returns the blob keys of its instances.
    pub async fn delete_series(&self, series_instance_uid: &str) -> Result<Vec<String>> {
        write_tx!(self, |conn| {
            let Some(row) = sqlx::query(
                    "SELECT se.id, se.study_ref, st.patient_ref FROM series se JOIN study st ON st.id = se.study_ref \
                     WHERE se.series_instance_uid = $1",
                )
                .bind(series_instance_uid)
                .fetch_optional(&mut *conn)
                .await?
                else {
                    return Err(Error::NotFound {
                        level: "series",
                        uid: series_instance_uid.to_owned(),
                    });
                };
            let (series, study, patient): (i64, i64, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let rows = sqlx::query(
                "DELETE FROM instance WHERE series_ref = $1 RETURNING blob_key, original_size",
            )
            .bind(series)
            .fetch_all(&mut *conn)
            .await?;
            let size: i64 = rows
                .iter()
                .map(|r| r.try_get::<i64, _>(1))
                .sum::<std::result::Result<_, _>>()?;
            let keys = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            sqlx::query("DELETE FROM series WHERE id = $1")
                .bind(series)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                    "UPDATE study SET number_of_study_related_series = number_of_study_related_series - 1, \
                     number_of_study_related_instances = number_of_study_related_instances - $1, \
                     study_size = study_size - $2, updated_at = $3 WHERE id = $4",
                )
                .bind(keys.len() as i64)
                .bind(size)
                .bind(now_millis())
                .bind(study)
                .execute(&mut *conn)
                .await?;
            remove_if_empty(conn, study, patient).await?;
            Ok(Tx::Commit(keys))
        })
    }

    /// Delete a study's rows; returns the blob keys of its instances.
    pub async fn delete_study(&self, study_instance_uid: &str) -> Result<Vec<String>> {
        write_tx!(self, |conn| {
            let Some(row) =
                sqlx::query("SELECT id, patient_ref FROM study WHERE study_instance_uid = $1")
                    .bind(study_instance_uid)
                    .fetch_optional(&mut *conn)
                    .await?
            else {
                return Err(Error::NotFound {
                    level: "study",
                    uid: study_instance_uid.to_owned(),
                });
            };
            let (study, patient): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let keys = sqlx::query(
                    "DELETE FROM instance WHERE series_ref IN (SELECT id FROM series WHERE study_ref = $1) \
                     RETURNING blob_key",
                )
                .bind(study)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            sqlx::query("DELETE FROM series WHERE study_ref = $1")
                .bind(study)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM study WHERE id = $1")
                .bind(study)
                .execute(&mut *conn)
                .await?;
            remove_if_empty(conn, study, patient).await?;
            Ok(Tx::Commit(keys))
        })
    }
}

/// What a write transaction ends with.
enum Tx<T> {
    Commit(T),
    Rollback(T),
}

/// Everything needed to index a new instance.
#[derive(Debug)]
pub struct NewInstance<'a> {
    /// Attributes from the header.
    pub record: &'a InstanceRecord,
    /// The blob just written.
    pub blob: &'a BlobRef,
    /// SHA-256 of the original bytes, lower-case hex.
    pub sha256: &'a str,
    /// Frame byte ranges.
    pub frames: &'a [FrameRange],
    /// Whether frame ranges include item headers.
    pub frames_encapsulated: bool,
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn select_instance(conn: &mut AnyConnection, sop: &str) -> Result<Option<StoredInstance>> {
    let sql =
        format!("SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} WHERE i.sop_instance_uid = $1");
    let row = sqlx::query(&sql)
        .bind(sop)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| stored_instance(&r)).transpose()
}

/// `INSERT … ON CONFLICT DO NOTHING RETURNING id`, else the existing id.
/// Returns (id, inserted).
async fn upsert_id<'q>(
    conn: &mut AnyConnection,
    insert: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    select: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<(i64, bool)> {
    if let Some(row) = insert.fetch_optional(&mut *conn).await? {
        return Ok((row.try_get(0)?, true));
    }
    let row = select.fetch_one(&mut *conn).await?;
    Ok((row.try_get(0)?, false))
}

/// Insert patient/study/series as needed and the instance row, and bump
/// counters. Returns false (and changes nothing visible) when the instance
/// row exists already.
async fn insert_rows(conn: &mut AnyConnection, new: &NewInstance<'_>) -> Result<bool> {
    let now = now_millis();
    let (study, series, new_series) = upsert_parents(conn, new, now).await?;
    if !insert_instance_row(conn, series, new, now).await? {
        return Ok(false);
    }
    bump_counters(
        conn,
        study,
        series,
        Counters {
            instances: 1,
            new_series: i64::from(new_series),
            size: new.blob.original_size as i64,
        },
        now,
    )
    .await?;
    Ok(true)
}

/// What one or more new instances add to their study's and series' counters.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    instances: i64,
    new_series: i64,
    size: i64,
}

/// Insert the patient, study and series rows as needed: their ids (study,
/// series) and whether the series row is new.
async fn upsert_parents(
    conn: &mut AnyConnection,
    new: &NewInstance<'_>,
    now: i64,
) -> Result<(i64, i64, bool)> {
    let r = new.record;
    let (patient, _) = upsert_id(
        conn,
        sqlx::query(
            "INSERT INTO patient (patient_id, issuer_of_patient_id, patient_name, patient_name_norm, \
             patient_birth_date, patient_sex, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (patient_id, issuer_of_patient_id) DO NOTHING RETURNING id",
        )
        .bind(&r.patient.patient_id)
        .bind(&r.patient.issuer_of_patient_id)
        .bind(&r.patient.patient_name)
        .bind(normalize_person_name(&r.patient.patient_name))
        .bind(&r.patient.patient_birth_date)
        .bind(&r.patient.patient_sex)
        .bind(now),
        sqlx::query("SELECT id FROM patient WHERE patient_id = $1 AND issuer_of_patient_id = $2")
            .bind(&r.patient.patient_id)
            .bind(&r.patient.issuer_of_patient_id),
    )
    .await?;
    let s = &r.study;
    let (study, _) = upsert_id(
        conn,
        sqlx::query(
            "INSERT INTO study (patient_ref, study_instance_uid, study_date, study_time, accession_number, \
             referring_physician_name, referring_physician_name_norm, study_description, study_id, \
             institution_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (study_instance_uid) DO NOTHING RETURNING id",
        )
        .bind(patient)
        .bind(s.study_instance_uid.as_str())
        .bind(&s.study_date)
        .bind(&s.study_time)
        .bind(&s.accession_number)
        .bind(&s.referring_physician_name)
        .bind(normalize_person_name(&s.referring_physician_name))
        .bind(&s.study_description)
        .bind(&s.study_id)
        .bind(&s.institution_name)
        .bind(now)
        .bind(now),
        sqlx::query("SELECT id FROM study WHERE study_instance_uid = $1").bind(s.study_instance_uid.as_str()),
    )
    .await?;
    let se = &r.series;
    let (series, new_series) = upsert_id(
        conn,
        sqlx::query(
            "INSERT INTO series (study_ref, series_instance_uid, modality, series_number, series_description, \
             body_part_examined, series_date, series_time, station_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (series_instance_uid) DO NOTHING RETURNING id",
        )
        .bind(study)
        .bind(se.series_instance_uid.as_str())
        .bind(&se.modality)
        .bind(se.series_number.map(i64::from))
        .bind(&se.series_description)
        .bind(&se.body_part_examined)
        .bind(&se.series_date)
        .bind(&se.series_time)
        .bind(&se.station_name)
        .bind(now),
        sqlx::query("SELECT id FROM series WHERE series_instance_uid = $1").bind(se.series_instance_uid.as_str()),
    )
    .await?;
    Ok((study, series, new_series))
}

/// Insert the instance row; false when one with its SOP Instance UID exists.
async fn insert_instance_row(
    conn: &mut AnyConnection,
    series: i64,
    new: &NewInstance<'_>,
    now: i64,
) -> Result<bool> {
    let r = new.record;
    let i = &r.instance;
    let inserted = sqlx::query(
        "INSERT INTO instance (series_ref, sop_instance_uid, sop_class_uid, instance_number, number_of_frames, \
         rows, columns, transfer_syntax_uid, content_date, content_time, blob_key, compression, original_size, \
         stored_size, sha256, chunk_table, frames, frames_encapsulated, dicom_json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING id",
    )
    .bind(series)
    .bind(i.sop_instance_uid.as_str())
    .bind(i.sop_class_uid.as_str())
    .bind(i.instance_number.map(i64::from))
    .bind(i64::from(i.number_of_frames))
    .bind(i.rows.map(i64::from))
    .bind(i.columns.map(i64::from))
    .bind(&i.transfer_syntax_uid)
    .bind(&i.content_date)
    .bind(&i.content_time)
    .bind(&new.blob.key)
    .bind(new.blob.compression.as_str())
    .bind(new.blob.original_size as i64)
    .bind(new.blob.stored_size as i64)
    .bind(new.sha256)
    .bind(new.blob.chunk_table.clone())
    .bind(encode_frames(new.frames))
    .bind(i64::from(new.frames_encapsulated))
    .bind(&r.dicom_json)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(inserted.is_some())
}

/// Add `c` to a study's and a series' counters. Lock order: study, then
/// series (deletes take the same order).
async fn bump_counters(
    conn: &mut AnyConnection,
    study: i64,
    series: i64,
    c: Counters,
    now: i64,
) -> Result<()> {
    bump_study(conn, study, c, now).await?;
    bump_series(conn, series, c.instances).await
}

async fn bump_study(conn: &mut AnyConnection, study: i64, c: Counters, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE study SET number_of_study_related_instances = number_of_study_related_instances + $1, \
         number_of_study_related_series = number_of_study_related_series + $2, \
         study_size = study_size + $3, updated_at = $4 WHERE id = $5",
    )
    .bind(c.instances)
    .bind(c.new_series)
    .bind(c.size)
    .bind(now)
    .bind(study)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn bump_series(conn: &mut AnyConnection, series: i64, instances: i64) -> Result<()> {
    sqlx::query(
        "UPDATE series SET number_of_series_related_instances = number_of_series_related_instances + $1 WHERE id = $2",
    )
    .bind(instances)
    .bind(series)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Delete one instance row and fix counters; returns its blob key.
async fn delete_instance_rows(conn: &mut AnyConnection, sop: &str) -> Result<Option<String>> {
    let Some(row) = sqlx::query(
        "SELECT i.id, i.blob_key, i.original_size, i.series_ref, se.study_ref, st.patient_ref \
         FROM instance i JOIN series se ON se.id = i.series_ref JOIN study st ON st.id = se.study_ref \
         WHERE i.sop_instance_uid = $1",
    )
    .bind(sop)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let key: String = row.try_get(1)?;
    let size: i64 = row.try_get(2)?;
    let (series, study, patient): (i64, i64, i64) =
        (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
    sqlx::query("DELETE FROM instance WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE study SET number_of_study_related_instances = number_of_study_related_instances - 1, \
         study_size = study_size - $1, updated_at = $2 WHERE id = $3",
    )
    .bind(size)
    .bind(now_millis())
    .bind(study)
    .execute(&mut *conn)
    .await?;
    let left: i64 = sqlx::query(
        "UPDATE series SET number_of_series_related_instances = number_of_series_related_instances - 1 \
         WHERE id = $1 RETURNING number_of_series_related_instances",
    )
    .bind(series)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    if left <= 0 {
        sqlx::query("DELETE FROM series WHERE id = $1")
            .bind(series)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE study SET number_of_study_related_series = number_of_study_related_series - 1 WHERE id = $1",
        )
        .bind(study)
        .execute(&mut *conn)
        .await?;
    }
    remove_if_empty(conn, study, patient).await?;
    Ok(Some(key))
}

/// Remove a study without series, then a patient without studies.
async fn remove_if_empty(conn: &mut AnyConnection, study: i64, patient: i64) -> Result<()> {
    sqlx::query("DELETE FROM study WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM series WHERE study_ref = $1)")
        .bind(study)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM patient WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM study WHERE patient_ref = $1)")
        .bind(patient)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

fn encode_frames(frames: &[FrameRange]) -> Vec<u8> {
    let mut v = Vec::with_capacity(frames.len() * 16);
    for (a, b) in frames {
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
    }
    v
}

fn decode_frames(b: &[u8]) -> Vec<FrameRange> {
    b.chunks_exact(16)
        .map(|c| {
            let (a, z) = c.split_at(8);
            (
                u64::from_le_bytes(a.try_into().unwrap_or_default()),
                u64::from_le_bytes(z.try_into().unwrap_or_default()),
            )
        })
        .collect()
}

fn stored_instance(r: &AnyRow) -> Result<StoredInstance> {
    Ok(StoredInstance {
        id: r.try_get(0)?,
        study_instance_uid: r.try_get(1)?,
        series_instance_uid: r.try_get(2)?,
        sop_instance_uid: r.try_get(3)?,
        sop_class_uid: r.try_get(4)?,
        transfer_syntax_uid: r.try_get(5)?,
        number_of_frames: r.try_get(6)?,
        blob: BlobRef {
            key: r.try_get(7)?,
            compression: CompressionKind::from_name(&r.try_get::<String, _>(8)?)?,
            original_size: r.try_get::<i64, _>(9)? as u64,
            stored_size: r.try_get::<i64, _>(10)? as u64,
            chunk_table: r.try_get(11)?,
        },
        sha256: r.try_get(12)?,
        frames: decode_frames(&r.try_get::<Vec<u8>, _>(13)?),
        frames_encapsulated: r.try_get::<i64, _>(14)? != 0,
    })
}
