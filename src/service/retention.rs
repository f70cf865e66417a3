//! Retention: studies deleted once older than their rules keep them
//! (`[[retention.rules]]`), once a day at `[retention] run_at` when
//! `[retention] enabled`, each deletion audited with its rule; `filmless
//! retention plan` shows what would go and the bytes it would free,
//! whether enabled or not.

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Context, Error, Result, Right, Service, Target};
use crate::audit::Action;
use crate::config::{keep_days, time_of_day, RetentionConfig};

/// The next `at` of the day after `now`, in `now`'s time zone (tomorrow's
/// when today's has passed; an hour later when a clock change skips it).
fn next_run<Tz: chrono::TimeZone>(
    at: chrono::NaiveTime,
    now: &chrono::DateTime<Tz>,
) -> chrono::DateTime<Tz> {
    let zone = now.timezone();
    let today = now.date_naive();
    for day in today.iter_days().take(3) {
        let local = day.and_time(at);
        let when = zone.from_local_datetime(&local).earliest().or_else(|| {
            zone.from_local_datetime(&(local + chrono::TimeDelta::hours(1)))
                .earliest()
        });
        if let Some(when) = when.filter(|w| w > now) {
            return when;
        }
    }
    now.clone() + chrono::TimeDelta::days(1)
}

/// A study the rules let go.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Expired {
    /// Its tenant (`""`: the implicit one).
    pub tenant: String,
    /// Study Instance UID.
    pub study: String,
    /// Study Date (empty: dated by its arrival).
    pub study_date: String,
    /// Its modalities.
    pub modalities: Vec<String>,
    /// Original bytes it holds.
    pub bytes: i64,
    /// The rule that keeps it longest, and how long.
    pub rule: String,
    /// That rule's `keep`.
    pub keep: String,
}

/// What retention would delete now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RetentionPlan {
    /// Whether deleting is on (`[retention] enabled`).
    pub enabled: bool,
    /// The studies, oldest first.
    pub studies: Vec<Expired>,
    /// The bytes they free.
    pub bytes: i64,
}

/// Days since the Unix epoch of a `YYYYMMDD` date.
fn day_of(date: &str) -> Option<i64> {
    let d = time::Date::parse(
        date.get(..8)?,
        &time::macros::format_description!("[year][month][day]"),
    )
    .ok()?;
    Some(d.midnight().assume_utc().unix_timestamp() / 86_400)
}

/// `YYYYMMDD` of a day number.
fn date_of(day: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

impl Service {
    /// What the rules would delete today (the platform's: every tenant).
    pub async fn retention_plan(&self, ctx: &Context) -> Result<RetentionPlan> {
        self.require(ctx, Right::Delete, Action::Delete, "retention plan")
            .await?;
        if ctx.tenant().is_some() {
            return Err(Error::Forbidden(
                "retention spans every tenant: it is the platform's".into(),
            ));
        }
        let config = &self.inner.retention;
        let rules: Vec<(&crate::config::RetentionRule, i64)> = config
            .rules
            .iter()
            .filter_map(|r| keep_days(&r.keep).map(|d| (r, d)))
            .collect();
        let mut plan = RetentionPlan {
            enabled: config.enabled,
            studies: Vec::new(),
            bytes: 0,
        };
        let Some(shortest) = rules.iter().map(|(_, d)| *d).min() else {
            return Ok(plan);
        };
        let today = storage::now_millis() / 86_400_000;
        let candidates = self
            .archive()
            .index()
            .studies_before(&date_of(today - shortest), (today - shortest) * 86_400_000)
            .await?;
        for (tenant, study, study_date, stored_at, bytes, modalities) in candidates {
            // Young by either its date or its arrival: kept (a modality
            // with a wrong clock, or old priors just imported).
            let arrived = stored_at.div_euclid(86_400_000);
            let age = today - day_of(&study_date).unwrap_or(arrived).max(arrived);
            // A rule is about the images: presentation states, key objects,
            // reports and series without a modality do not decide.
            let imaging: Vec<&String> = modalities
                .iter()
                .filter(|m| !matches!(m.trim(), "" | "PR" | "KO" | "SR" | "DOC"))
                .collect();
            let applies = |r: &crate::config::RetentionRule| {
                r.tenants.is_empty() || r.tenants.iter().any(|t| t == tenant.as_str())
            };
            let covers = |r: &crate::config::RetentionRule, m: &str| {
                r.modalities.is_empty() || r.modalities.iter().any(|w| w.eq_ignore_ascii_case(m))
            };
            // Every imaging modality of the study must be some rule's: a
            // CT and CR study is kept while no rule speaks for its CT.
            if !imaging
                .iter()
                .all(|m| rules.iter().any(|(r, _)| applies(r) && covers(r, m)))
            {
                continue;
            }
            let matching = rules.iter().filter(|(r, _)| {
                applies(r) && (r.modalities.is_empty() || imaging.iter().any(|m| covers(r, m)))
            });
            let Some((rule, keep)) = matching.max_by_key(|(_, d)| *d) else {
                continue;
            };
            if age <= *keep {
                continue;
            }
            plan.bytes += bytes;
            plan.studies.push(Expired {
                tenant: tenant.as_str().to_owned(),
                study,
                study_date,
                modalities,
                bytes,
                rule: rule.name.clone(),
                keep: rule.keep.clone(),
            });
        }
        Ok(plan)
    }

    /// Delete what the plan names, if retention is enabled; the studies
    /// deleted and the bytes freed. Each deletion is audited with its rule.
    pub async fn retention_run(&self, ctx: &Context) -> Result<(usize, i64)> {
        if !self.inner.retention.enabled {
            return Err(Error::Invalid(
                "retention is not enabled ([retention] enabled = true): see `filmless retention plan`"
                    .into(),
            ));
        }
        let plan = self.retention_plan(ctx).await?;
        let (mut studies, mut bytes) = (0, 0);
        for e in plan.studies {
            let Ok(uid) = storage::Uid::parse("StudyInstanceUID", &e.study) else {
                continue;
            };
            // The study's own tenant decides, even for a UID two share.
            let scoped = match storage::TenantId::parse(&e.tenant) {
                Ok(t) => Context::system("retention").within(t),
                Err(_) => continue,
            };
            let detail = format!(
                "retention rule {:?}: kept {} since {}",
                e.rule,
                e.keep,
                if e.study_date.is_empty() {
                    "arrival"
                } else {
                    &e.study_date
                }
            );
            match self.delete(&scoped, &Target::Study(uid), &detail).await {
                Ok(_) => {
                    studies += 1;
                    bytes += e.bytes;
                }
                Err(err) => {
                    tracing::warn!(study = %e.study, error = %err, "retention: not deleted")
                }
            }
        }
        if studies > 0 {
            tracing::info!(studies, bytes, "retention: studies deleted");
        }
        Ok((studies, bytes))
    }

    /// Once a day (the first time 5 minutes after start), when enabled.
    pub async fn run_retention(self, stop: CancellationToken) {
        if !self.inner.retention.enabled || self.inner.retention.rules.is_empty() {
            return;
        }
        let at = time_of_day(&self.inner.retention.run_at).unwrap_or_default();
        loop {
            let next = next_run(at, &chrono::Local::now());
            tracing::debug!(at = %next, "retention runs next");
            // Slept again while the wall clock has not reached it (a clock
            // stepped back, a suspended machine): never early, so never
            // twice in a day. A day the server is down at that time is
            // skipped; the next day's run deletes what it would have.
            while let Ok(left) = (next - chrono::Local::now()).to_std() {
                if left.is_zero() {
                    break;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(left) => {}
                }
            }
            let ctx = Context::system("retention");
            if let Err(e) = self.retention_run(&ctx).await {
                tracing::warn!(error = %e, "retention did not run");
            }
            // Past the minute it ran at, however quick the run.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// The retention settings.
    pub fn retention(&self) -> &RetentionConfig {
        &self.inner.retention
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone, Utc};

    #[test]
    fn retention_runs_next_at_its_time_of_day() {
        let at = NaiveTime::from_hms_opt(2, 0, 0).unwrap();
        let at_one = Utc.with_ymd_and_hms(2026, 12, 3, 1, 0, 0).unwrap();
        assert_eq!((next_run(at, &at_one) - at_one).num_seconds(), 3600);
        // Passed today (or just now): tomorrow's.
        let at_three = Utc.with_ymd_and_hms(2026, 12, 3, 3, 0, 0).unwrap();
        assert_eq!(
            (next_run(at, &at_three) - at_three).num_seconds(),
            23 * 3600
        );
        let at_two = Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap();
        assert_eq!((next_run(at, &at_two) - at_two).num_seconds(), 24 * 3600);
        // Across a year's end.
        let late = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap();
        assert_eq!((next_run(at, &late) - late).num_seconds(), 2 * 3600 + 1800);
        assert_eq!(time_of_day("02:00"), Some(at));
        assert_eq!(time_of_day("23:59:30"), NaiveTime::from_hms_opt(23, 59, 30));
        assert_eq!(time_of_day("2am"), None);
        assert_eq!(time_of_day("25:00"), None);
    }
}
