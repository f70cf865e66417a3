//! Storage planning: what the archive stored month by month and by
//! modality, how well it compresses, how it grew over the last 12 months,
//! a forecast of the next 12 (a least-squares line through the last 12
//! complete months, its formula given), and the free space of local
//! storage. What a hospital's annual storage plan is written from
//! (`filmless stats`, `GET /api/stats`).

use serde::Serialize;
use storage::TenantScope;

use super::{Context, Result, Right, Service};
use crate::audit::Action;

/// One month (of arrival), of one modality or all.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MonthVolume {
    /// `YYYY-MM`.
    pub month: String,
    /// The modality; empty when summed over every modality.
    pub modality: String,
    /// Instances stored.
    pub instances: i64,
    /// Their original bytes.
    pub bytes: i64,
    /// What they take in storage (after compression at rest).
    pub stored_bytes: i64,
}

/// A straight line through monthly volumes: bytes = intercept + slope × m,
/// m counted in months from `origin`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trend {
    /// The month m = 0 (`YYYY-MM`).
    pub origin: String,
    /// Bytes a month at m = 0.
    pub intercept: f64,
    /// Change of the monthly bytes per month.
    pub slope: f64,
    /// The line in words.
    pub formula: String,
    /// The next 12 months: (`YYYY-MM`, forecast bytes, at least 0).
    pub next_12_months: Vec<(String, i64)>,
    /// Their sum: what the next 12 months will add.
    pub next_12_months_bytes: i64,
}

/// The storage plan's numbers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StorageStats {
    /// Month by month (and by modality when asked), oldest first.
    pub months: Vec<MonthVolume>,
    /// Everything stored: instances, original bytes, stored bytes.
    pub total_instances: i64,
    /// Original bytes.
    pub total_bytes: i64,
    /// Bytes in storage.
    pub total_stored_bytes: i64,
    /// Original over stored bytes (1.0: no gain).
    pub compression_ratio: f64,
    /// Original bytes that arrived in the last 12 complete months.
    pub last_12_months_bytes: i64,
    /// The 12 complete months before those.
    pub previous_12_months_bytes: i64,
    /// The forecast; `None` with fewer than 2 months of data.
    pub forecast: Option<Trend>,
    /// Free bytes of the file system under local storage: the objects, or
    /// the spool in front of S3 (`None`: in memory).
    pub free_bytes: Option<u64>,
}

/// `YYYY-MM` of a Unix day number, and its month index (years × 12 +
/// month − 1).
fn month_of_day(day: i64) -> (String, i64) {
    let date = time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, m) = (i64::from(date.year()), i64::from(u8::from(date.month())));
    (format!("{y:04}-{m:02}"), y * 12 + m - 1)
}

fn month_name(index: i64) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// The least-squares line through `points` (x, y).
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// Bytes in words: GiB with two decimals.
fn gib(bytes: f64) -> String {
    format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
}

/// The statistics from per-day volumes, as of `today` (a Unix day).
pub fn storage_stats(
    days: &[(i64, String, i64, i64, i64)],
    by_modality: bool,
    today: i64,
    free_bytes: Option<u64>,
) -> StorageStats {
    use std::collections::BTreeMap;
    let mut months: BTreeMap<(i64, String), MonthVolume> = BTreeMap::new();
    let mut per_month: BTreeMap<i64, i64> = BTreeMap::new();
    let (mut instances, mut bytes, mut stored) = (0i64, 0i64, 0i64);
    for (day, modality, n, original, at_rest) in days {
        let (name, index) = month_of_day(*day);
        let key = (
            index,
            if by_modality {
                modality.clone()
            } else {
                String::new()
            },
        );
        let row = months.entry(key.clone()).or_insert_with(|| MonthVolume {
            month: name,
            modality: key.1.clone(),
            instances: 0,
            bytes: 0,
            stored_bytes: 0,
        });
        row.instances += n;
        row.bytes += original;
        row.stored_bytes += at_rest;
        *per_month.entry(index).or_default() += original;
        instances += n;
        bytes += original;
        stored += at_rest;
    }
    let (_, this_month) = month_of_day(today);
    let sum = |from: i64, to: i64| -> i64 { per_month.range(from..to).map(|(_, b)| *b).sum() };
    // The last 12 complete months, months without data counted as 0 after
    // the first month with data (itself left out: the archive began in it,
    // so it is likely partial).
    let first = per_month.keys().next().copied();
    let window: Vec<(f64, f64)> = match first {
        None => Vec::new(),
        Some(first) => (this_month - 12..this_month)
            .filter(|m| *m > first)
            .map(|m| {
                (
                    (m - (this_month - 12)) as f64,
                    *per_month.get(&m).unwrap_or(&0) as f64,
                )
            })
            .collect(),
    };
    let forecast = fit(&window).map(|(intercept, slope)| {
        let origin = this_month - 12;
        let next: Vec<(String, i64)> = (12..24)
            .map(|m| {
                let y = (intercept + slope * m as f64).max(0.0).round() as i64;
                (month_name(origin + m), y)
            })
            .collect();
        Trend {
            origin: month_name(origin),
            intercept,
            slope,
            formula: format!(
                "bytes per month ≈ {} + {} × m, m = months since {} (least squares over the \
                 last {} complete months)",
                gib(intercept),
                gib(slope),
                month_name(origin),
                window.len()
            ),
            next_12_months_bytes: next.iter().map(|(_, b)| b).sum(),
            next_12_months: next,
        }
    });
    StorageStats {
        months: months.into_values().collect(),
        total_instances: instances,
        total_bytes: bytes,
        total_stored_bytes: stored,
        compression_ratio: if stored > 0 {
            bytes as f64 / stored as f64
        } else {
            1.0
        },
        last_12_months_bytes: sum(this_month - 12, this_month),
        previous_12_months_bytes: sum(this_month - 24, this_month - 12),
        forecast,
        free_bytes,
    }
}

impl Service {
    /// The storage plan's numbers for the caller's tenant (every tenant's
    /// for the platform).
    pub async fn storage_stats(&self, ctx: &Context, by_modality: bool) -> Result<StorageStats> {
        self.require(ctx, Right::Status, Action::QidoRs, "storage statistics")
            .await?;
        let scope: TenantScope<'_> = ctx.tenant_scope();
        let days = self.archive().index().volume_by_day(scope).await?;
        // The file system is every tenant's: its free space is the
        // platform's to see (or the only hospital's).
        let whole =
            ctx.scope == super::context::Scope::Platform || self.peers().tenants().is_empty();
        let free = self
            .archive()
            .blobs()
            .local_root()
            .filter(|_| whole)
            .and_then(|dir| rustix::fs::statvfs(&dir).ok())
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize));
        let today = storage::now_millis() / 86_400_000;
        Ok(storage_stats(&days, by_modality, today, free))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Day number of the first of a month.
    fn day(year: i32, month: u8) -> i64 {
        let d =
            time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), 1).unwrap();
        d.midnight().assume_utc().unix_timestamp() / 86_400
    }

    #[test]
    fn months_growth_and_a_straight_forecast() {
        // 12 months of CT growing by 10 a month, from 100; some MR.
        let mut days = Vec::new();
        for k in 0..12 {
            let (y, m) = (2025 + (k + 11) / 12, ((k + 11) % 12 + 1) as u8);
            days.push((
                day(y as i32, m),
                "CT".to_owned(),
                1,
                100 + 10 * k,
                50 + 5 * k,
            ));
        }
        days.push((day(2026, 3), "MR".to_owned(), 2, 0, 0));
        let today = day(2026, 12) + 5;
        let s = storage_stats(&days, false, today, Some(7));
        assert_eq!(s.months.len(), 12);
        assert_eq!(s.months[0].month, "2025-12");
        assert_eq!(s.months[3].instances, 3, "March: CT and MR together");
        assert_eq!(s.total_bytes, (0..12).map(|k| 100 + 10 * k).sum::<i64>());
        assert!((s.compression_ratio - 2.0).abs() < 1e-9);
        let t = s.forecast.unwrap();
        assert_eq!(t.origin, "2025-12");
        assert!((t.slope - 10.0).abs() < 1e-9 && (t.intercept - 100.0).abs() < 1e-9);
        assert_eq!(t.next_12_months[0], ("2026-12".to_owned(), 220));
        assert_eq!(t.next_12_months[11], ("2027-11".to_owned(), 330));
        assert_eq!(
            t.next_12_months_bytes,
            (12..24).map(|m| 100 + 10 * m).sum::<i64>()
        );
        assert_eq!(s.last_12_months_bytes, s.total_bytes);
        assert_eq!(s.free_bytes, Some(7));
        let by = storage_stats(&days, true, today, None);
        assert_eq!(by.months.len(), 13);
        assert!(by
            .months
            .iter()
            .any(|m| m.modality == "MR" && m.instances == 2));
        assert!(storage_stats(&[], false, today, None).forecast.is_none());
    }
}
