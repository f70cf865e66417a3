//! Storage planning on SQLite and PostgreSQL: an archive seeded with known
//! monthly volumes (1, 2, … 12 CT slices in the last 12 complete months,
//! each of one size) gives those months, a growth of one slice a month in
//! its least-squares forecast, and the same numbers from `filmless stats`,
//! `GET /api/stats` and the administration console's chart (Chromium).

mod common;

use common::{filmless, http, ScratchPg, ServerProcess};
use serde_json::Value;
use sqlx::{Connection, Executor};

/// Unix ms of the 15th of the month `back` months before this one.
fn month_ago(back: i64) -> (String, i64) {
    let now = time::OffsetDateTime::now_utc();
    let index = i64::from(now.year()) * 12 + i64::from(u8::from(now.month())) - 1 - back;
    let (y, m) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let date =
        time::Date::from_calendar_date(y as i32, time::Month::try_from(m as u8).unwrap(), 15)
            .unwrap();
    (
        format!("{y:04}-{m:02}"),
        date.midnight().assume_utc().unix_timestamp() * 1000,
    )
}

fn stats(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = database_url {
        args.extend(["--database-url".to_owned(), u.to_owned()]);
    }
    let (plan, ct) = filmless_test_data::ct_series_sized(31, 78, (64, 64));
    let patient = plan.patient.id.clone();
    let files = dir.path().join("ct");
    common::write_files(&files, &ct);
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    common::import_ok(dir.path(), &arg_refs, &files);

    // Month k of the last 12 complete months (k = 1 the oldest) got k slices.
    let url = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("index.db").display()));
    let months: Vec<(String, i64)> = (1..=12).rev().map(month_ago).collect();
    // The bytes each month gets (the slices differ by a few bytes: UIDs).
    let mut expected = Vec::new();
    let mut sizes = ct.iter().map(|i| i.bytes.len() as i64);
    for k in 0..12 {
        expected.push((0..=k).map(|_| sizes.next().unwrap()).sum::<i64>());
    }
    let size = expected.iter().sum::<i64>() as f64 / 78.0;
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        let mut next = ct.iter();
        for (k, (_, at)) in months.iter().enumerate() {
            for _ in 0..=k {
                let i = next.next().unwrap();
                let sql = format!(
                    "UPDATE instance SET created_at = {at} WHERE sop_instance_uid = '{}'",
                    i.sop_instance_uid
                );
                db.execute(sql.as_str()).await.unwrap();
            }
        }
        db.close().await.unwrap();
    });

    let out = filmless()
        .args(["stats", "--data-dir"])
        .arg(dir.path())
        .args(&arg_refs)
        .args(["--by", "month,modality", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();

    let rows = cli["months"].as_array().unwrap();
    assert_eq!(rows.len(), 12, "{cli}");
    assert!(size > 64.0 * 64.0 * 2.0, "one slice: {size}");
    for (k, (row, (month, _))) in rows.iter().zip(&months).enumerate() {
        assert_eq!(row["month"], month.as_str());
        assert_eq!(row["modality"], "CT");
        assert_eq!(row["instances"], k as i64 + 1, "{row}");
        assert_eq!(row["bytes"], expected[k], "{row}");
    }
    assert_eq!(cli["total_instances"], 78);
    assert_eq!(cli["last_12_months_bytes"], expected.iter().sum::<i64>());
    assert_eq!(cli["previous_12_months_bytes"], 0);
    assert!(cli["compression_ratio"].as_f64().unwrap() >= 1.0);
    assert!(cli["free_bytes"].as_u64().unwrap() > 0);
    let t = &cli["forecast"];
    let slope = t["slope"].as_f64().unwrap();
    assert!(
        (slope - size).abs() < 0.01 * size,
        "one slice more a month: {t}"
    );
    assert!(
        t["formula"].as_str().unwrap().contains("least squares"),
        "{t}"
    );
    let next = t["next_12_months"].as_array().unwrap();
    assert_eq!(next.len(), 12);
    let near =
        |v: &Value, slices: f64| (v.as_f64().unwrap() - slices * size).abs() < 0.01 * slices * size;
    assert!(near(&next[0][1], 13.0), "this month: 13 slices' worth: {t}");
    assert!(near(&next[11][1], 24.0), "{t}");

    // The same from the HTTP API; the table for people. A DICOM peer for
    // the console's C-ECHO button.
    let echo_port = common::free_port();
    let _echo = common::storescp("ECHOSCP", echo_port, &dir.path().join("echo"));
    let peer = format!("ECHOSCP@127.0.0.1:{echo_port}");
    let mut with_peer = arg_refs.clone();
    with_peer.extend(["--peer", peer.as_str()]);
    let server = ServerProcess::start(dir.path(), &with_peer, &[]);
    let (status, _, body) = http(
        &server.http,
        "GET",
        "/api/stats?by=month,modality",
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let api: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(api["months"], cli["months"]);
    assert_eq!(api["forecast"], cli["forecast"]);
    assert_eq!(
        http(&server.http, "GET", "/api/stats?by=week", &[], b"").0,
        400
    );
    // The console draws it: a bar per month, rising as the slices do, and
    // the 12 forecast points with the formula.
    let console = common::node_json(
        "admin.mjs",
        &[&format!("http://{}/admin", server.http), &patient],
    );
    assert_eq!(console["bars"], 12, "{console}");
    assert_eq!(console["forecast_points"], 12, "{console}");
    let heights: Vec<f64> = console["bar_heights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_f64().unwrap())
        .collect();
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "{console}");
    assert!(
        console["formula"]
            .as_str()
            .unwrap()
            .contains("least squares"),
        "{console}"
    );
    assert_eq!(console["studies"], 1, "{console}");
    assert_eq!(console["accession"], "ACC-CONSOLE-1", "{console}");
    // Every other tab loads without an error; the peer answers C-ECHO.
    for tab in ["jobs", "shares", "films", "rejected", "peers"] {
        assert_eq!(console["tabs"][tab], "ok", "{tab}: {console}");
    }
    assert!(
        console["echo"].as_str().unwrap().starts_with("answers"),
        "{console}"
    );
    // One instance rejected, one deleted, from the series dialog: two
    // fewer, the rejection listed, the deletion's reason in the trail.
    assert_eq!(console["instances_before"], 78, "{console}");
    assert_eq!(console["instances_after"], 76, "{console}");
    let (_, _, body) = http(&server.http, "GET", "/api/rejected", &[], b"");
    let rejected: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        rejected[0]["sop_instance_uid"], console["rejected_sop"],
        "{rejected}"
    );
    let deleted = console["deleted_sop"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, _, body) = http(&server.http, "GET", "/api/audit?actor=anonymous", &[], b"");
        let trail = String::from_utf8_lossy(&body).into_owned();
        if trail.contains("reason: sent to the wrong patient") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{deleted}: {trail}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert!(console["audit_rows"].as_u64().unwrap() >= 1, "{console}");
    // The patient merged into a new ID from the study's row.
    assert_eq!(console["merge_from"], patient.as_str(), "{console}");
    assert_eq!(console["merged_rows"], 1, "{console}");
    assert_eq!(console["merged_name"], "MERGED^CONSOLE", "{console}");
    let merged = console["merged"].as_str().unwrap();
    assert!(merged.contains("1 studies, 76 instances"), "{console}");
    let (_, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies?PatientID={patient}"),
        &[],
        b"",
    );
    assert!(
        body.is_empty() || body == b"[]",
        "the old ID is gone: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(console["user_roles"], "uploader", "{console}");
    assert_eq!(console["user_state"], "disabled", "{console}");
    drop(server);
    let out = filmless()
        .args(["stats", "--data-dir"])
        .arg(dir.path())
        .args(&arg_refs)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("trend: bytes per month") && table.contains(&months[11].0),
        "{table}"
    );
}

#[test]
fn storage_plan_from_known_monthly_volumes_sqlite() {
    stats(None);
}

#[test]
fn storage_plan_from_known_monthly_volumes_postgres() {
    let db = ScratchPg::new();
    stats(Some(&db.url));
}
