//! The rows of many new instances in one transaction, for group commit
//! (`crate::commit`): parents looked up once per series and remembered
//! between transactions, counters added up and written once per study and
//! series.
//!
//! A remembered pair of study and series row ids is checked once per
//! transaction with one query (the rows still exist with those UIDs in that
//! tenant) before it is used: another process may have deleted them, and
//! SQLite may hand a deleted row's id to a new row. What a transaction
//! learns is remembered only once it commits.

use std::collections::{BTreeMap, HashMap};

use sqlx::AnyConnection;

use super::connection::{write_tx, Index, Tx};
use super::rows::{now_millis, NewInstance};
use super::write::{bump_series, bump_study, insert_instance_row, upsert_parents, Counters};
use crate::error::{Error, Result};

/// Most remembered series before the memory starts over.
const MAX_REMEMBERED: usize = 4096;

/// (tenant, patient ID, issuer, study UID, series UID): what
/// `upsert_parents` looks up, so that a remembered answer is the answer it
/// would give.
type ParentKey = (String, String, String, String, String);

/// Study and series row ids of series written lately.
#[derive(Debug, Default)]
pub(crate) struct ParentCache {
    ids: HashMap<ParentKey, (i64, i64)>,
}

fn parent_key(new: &NewInstance<'_>) -> ParentKey {
    let r = new.record;
    (
        new.tenant.as_str().to_owned(),
        r.patient.patient_id.clone(),
        r.patient.issuer_of_patient_id.clone(),
        r.study.study_instance_uid.as_str().to_owned(),
        r.series.series_instance_uid.as_str().to_owned(),
    )
}

impl Index {
    /// Insert every instance of `batch` in one transaction, or none: an
    /// instance whose SOP Instance UID is stored already (or twice in the
    /// batch) fails the whole batch, for the caller to insert one by one
    /// with [`Index::insert_instance`].
    pub(crate) async fn insert_group(
        &self,
        batch: &[NewInstance<'_>],
        cache: &mut ParentCache,
    ) -> Result<()> {
        if cache.ids.len() > MAX_REMEMBERED {
            cache.ids.clear();
        }
        let remembered = &cache.ids;
        let learned = write_tx!(self, |conn| {
            let now = now_millis();
            // Ids for this transaction: remembered ones that still hold,
            // then whatever upsert_parents finds or creates.
            let mut ids: HashMap<ParentKey, (i64, i64)> = HashMap::new();
            let mut learned = Vec::new();
            let mut studies: BTreeMap<i64, Counters> = BTreeMap::new();
            let mut series_counts: BTreeMap<i64, i64> = BTreeMap::new();
            for new in batch {
                let key = parent_key(new);
                let found = match ids.get(&key) {
                    Some(found) => Some(*found),
                    None => match remembered.get(&key) {
                        Some(&(study, series))
                            if still_there(conn, &key, study, series).await? =>
                        {
                            ids.insert(key.clone(), (study, series));
                            Some((study, series))
                        }
                        _ => None,
                    },
                };
                let (study, series) = match found {
                    Some(found) => found,
                    None => {
                        let (study, series, new_series) = upsert_parents(conn, new, now).await?;
                        studies.entry(study).or_default().new_series += i64::from(new_series);
                        ids.insert(key.clone(), (study, series));
                        learned.push((key, (study, series)));
                        (study, series)
                    }
                };
                if !insert_instance_row(conn, series, new, now).await? {
                    return Err(Error::Conflict {
                        sop_instance_uid: new.record.instance.sop_instance_uid.to_string(),
                    });
                }
                let c = studies.entry(study).or_default();
                c.instances += 1;
                c.size += new.blob.original_size as i64;
                *series_counts.entry(series).or_default() += 1;
            }
            for (study, c) in studies {
                bump_study(conn, study, c, now).await?;
            }
            for (series, n) in series_counts {
                bump_series(conn, series, n).await?;
            }
            Ok(Tx::Commit(learned))
        })?;
        cache.ids.extend(learned);
        Ok(())
    }
}

/// Whether the remembered study and series rows still exist as `key` names
/// them.
async fn still_there(
    conn: &mut AnyConnection,
    key: &ParentKey,
    study: i64,
    series: i64,
) -> Result<bool> {
    let (tenant, _, _, study_uid, series_uid) = key;
    let row = sqlx::query(
        "SELECT 1 FROM series se, study st WHERE se.id = $1 AND se.series_instance_uid = $2 \
         AND se.tenant_id = $3 AND st.id = $4 AND st.study_instance_uid = $5 AND st.tenant_id = $3",
    )
    .bind(series)
    .bind(series_uid.as_str())
    .bind(tenant.as_str())
    .bind(study)
    .bind(study_uid.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}
