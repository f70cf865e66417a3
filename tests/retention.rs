//! Retention on SQLite and PostgreSQL: a radiograph from 2010 goes after
//! 10 years, a CT of the same day (no rule) and last year's radiograph
//! stay; the plan says so and what it frees; nothing is deleted until
//! `[retention] enabled`, and the deletion is audited with its rule. A 2010
//! radiograph imported today is young by its arrival, and stays. The
//! server deletes by itself at `[retention] run_at`, not before.

mod common;

use std::path::Path;

use common::{filmless, write_files, ScratchPg};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use serde_json::Value;

/// A study of `slices` instances with this modality and date; its UID.
fn study(dir: &Path, seed: u64, modality: &str, date: &str, slices: u32) -> String {
    let (plan, mut instances) = filmless_test_data::ct_series_sized(seed, slices, (32, 32));
    for i in &mut instances {
        let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
        for (tag, vr, v) in [
            (tags::MODALITY, VR::CS, modality),
            (tags::STUDY_DATE, VR::DA, date),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        i.bytes = bytes;
    }
    write_files(&dir.join(format!("s{seed}")), &instances);
    plan.study_instance_uid
}

fn config(dir: &Path, database_url: Option<&str>, enabled: bool) -> std::path::PathBuf {
    config_at(dir, database_url, enabled, "02:00")
}

/// The radiographs' rule, run at `run_at`.
fn config_at(
    dir: &Path,
    database_url: Option<&str>,
    enabled: bool,
    run_at: &str,
) -> std::path::PathBuf {
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let path = dir.join("filmless.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}\"\n{storage}[retention]\nenabled = {enabled}\nrun_at = \"{run_at}\"\n\
             [[retention.rules]]\nname = \"Radiographs: 10 years\"\nmodalities = [\"CR\"]\nkeep = \"10y\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

/// `filmless import` of a folder with this configuration, which must
/// succeed.
fn import(config: &Path, files: &Path, extra: &[&str]) {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    common::import_ok(config.parent().unwrap(), &args, files);
}

/// Date every study but `except` as arrived in 2010 (in the index of
/// `data_dir`, or of `database_url`).
fn arrived_in_2010(data_dir: &Path, database_url: Option<&str>, except: &str) {
    let url = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("index.db").display()));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        let sql = format!(
            "UPDATE study SET created_at = 1262563200000 WHERE study_instance_uid <> '{except}'"
        );
        db.execute(sql.as_str()).await.unwrap();
        db.close().await.unwrap();
    });
}

fn run(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = filmless()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn retention(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("in");
    let last_year = {
        let d = time::OffsetDateTime::now_utc() - time::Duration::days(365);
        format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let old_cr = study(&files, 1, "CR", "20100104", 2);
    // Kept: a CT of the same day (no rule for CT), last year's radiograph.
    study(&files, 2, "CT", "20100104", 3);
    study(&files, 3, "CR", &last_year, 2);
    // Dated 2010 but imported today (old priors, or a modality's clock):
    // kept, as young by its arrival.
    let just_imported = study(&files, 4, "CR", "20100104", 1);
    // A Study Date that is no date (a modality's free text): its arrival
    // in 2010 decides, on both databases alike.
    let undated = study(&files, 5, "CR", "UNKNOWN", 1);
    // A 2010 study with a CR and a CT series: no rule speaks for its CT,
    // so it is kept.
    let mixed = {
        let (plan, mut instances) = filmless_test_data::ct_series_sized(6, 2, (32, 32));
        let ct_series = format!("2.25.{}", rand::random::<u64>());
        for (n, i) in instances.iter_mut().enumerate() {
            let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
            obj.put(DataElement::new(
                tags::MODALITY,
                VR::CS,
                PrimitiveValue::from(if n == 0 { "CR" } else { "CT" }),
            ));
            obj.put(DataElement::new(
                tags::STUDY_DATE,
                VR::DA,
                PrimitiveValue::from("20100104"),
            ));
            if n == 1 {
                obj.put(DataElement::new(
                    tags::SERIES_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(ct_series.as_str()),
                ));
            }
            let mut bytes = Vec::new();
            obj.write_all(&mut bytes).unwrap();
            i.bytes = bytes;
        }
        write_files(&files.join("s6"), &instances);
        plan.study_instance_uid
    };
    let cfg = config(dir.path(), database_url, false);
    import(&cfg, &files, &[]);
    // Everything but the just-imported study arrived in 2010.
    arrived_in_2010(dir.path(), database_url, &just_imported);

    // The plan: the 2010 radiographs only.
    let (ok, plan, err) = run(&cfg, &["retention", "plan", "--json"]);
    assert!(ok, "{err}");
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let studies = plan["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 2, "{plan}");
    let planned: Vec<&str> = studies
        .iter()
        .map(|s| s["study"].as_str().unwrap())
        .collect();
    assert!(
        planned.contains(&old_cr.as_str()) && planned.contains(&undated.as_str()),
        "{plan}"
    );
    assert!(!planned.contains(&mixed.as_str()), "{plan}");
    for s in studies {
        assert_eq!(s["rule"], "Radiographs: 10 years");
        assert_eq!(s["modalities"][0], "CR");
    }
    assert!(plan["bytes"].as_i64().unwrap() > 2 * 32 * 32 * 2, "{plan}");
    assert_eq!(plan["enabled"], false);
    let (_, table, _) = run(&cfg, &["retention", "plan"]);
    assert!(
        table.contains("not enabled") && table.contains(&old_cr),
        "{table}"
    );

    // Not enabled: nothing goes.
    let (ok, _, err) = run(&cfg, &["retention", "run"]);
    assert!(!ok && err.contains("not enabled"), "{err}");
    let (_, stats, _) = run(&cfg, &["stats", "--json"]);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["total_instances"], 11);

    // Enabled: the radiograph goes, audited with its rule; the rest stay.
    let cfg = config(dir.path(), database_url, true);
    let (ok, said, err) = run(&cfg, &["retention", "run"]);
    assert!(ok, "{err}");
    assert!(said.contains("2 studies deleted"), "{said}");
    let (_, stats, _) = run(&cfg, &["stats", "--json"]);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["total_instances"], 8, "{stats}");
    let (_, plan, _) = run(&cfg, &["retention", "plan", "--json"]);
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["studies"].as_array().unwrap().len(), 0, "{plan}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, trail, _) = run(
            &cfg,
            &["audit", "--actor", "retention", "--format", "jsonl"],
        );
        let deleted = trail
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|e| {
                e["action"] == "delete"
                    && e["study_instance_uid"] == old_cr.as_str()
                    && e["detail"]
                        .as_str()
                        .unwrap_or("")
                        .contains("Radiographs: 10 years")
            });
        if deleted {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not audited: {trail}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[test]
fn old_studies_go_by_their_rules_only_when_enabled_sqlite() {
    retention(None);
}

#[test]
fn old_studies_go_by_their_rules_only_when_enabled_postgres() {
    let db = ScratchPg::new();
    retention(Some(&db.url));
}

/// A rule for one tenant: the city platform keeps one hospital's studies
/// a year, another's as long as no rule says (forever).
fn retention_by_tenant(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let cfg = dir.path().join("filmless.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n{storage}[auth]\nrequired = true\n[dicom]\nunknown_peers = \"reject\"\n\
             [[tenants]]\nid = \"h1\"\nname = \"Hospital 1\"\nae_title = \"H1PACS\"\n\
             [[tenants]]\nid = \"h2\"\nname = \"Hospital 2\"\nae_title = \"H2PACS\"\n\
             [retention]\nenabled = false\n\
             [[retention.rules]]\nname = \"Hospital 1: a year\"\ntenants = [\"h1\"]\nkeep = \"1y\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let files = dir.path().join("in");
    let h1 = study(&files.join("h1"), 11, "CT", "20100104", 1);
    let h2 = study(&files.join("h2"), 12, "CT", "20100104", 1);
    for tenant in ["h1", "h2"] {
        import(&cfg, &files.join(tenant), &["--tenant", tenant]);
    }
    // Both arrived in 2010.
    arrived_in_2010(dir.path(), database_url, "");
    let (ok, plan, err) = run(&cfg, &["retention", "plan", "--json"]);
    assert!(ok, "{err}");
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let studies = plan["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 1, "{plan}");
    assert_eq!(studies[0]["study"], h1.as_str());
    assert_eq!(studies[0]["tenant"], "h1");
    assert!(!plan.to_string().contains(&h2), "{plan}");
}

#[test]
fn a_rule_for_one_tenant_sqlite() {
    retention_by_tenant(None);
}

#[test]
fn a_rule_for_one_tenant_postgres() {
    let db = ScratchPg::new();
    retention_by_tenant(Some(&db.url));
}

/// The server deletes by itself, at `[retention] run_at` of the day (here
/// 20 s after it is configured, time for it to start), and not before.
fn retention_at_its_hour(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("in");
    let old_cr = study(&files, 21, "CR", "20100104", 2);
    let ct = study(&files, 22, "CT", "20100104", 1);
    let write_config = |run_at: &str| config_at(dir.path(), database_url, true, run_at);
    let cfg = write_config("02:00");
    import(&cfg, &files, &[]);
    arrived_in_2010(dir.path(), database_url, "");
    // A time of day that parses neither way is refused at start.
    let bad = write_config("2am");
    let (ok, _, err) = run(&bad, &["retention", "plan"]);
    assert!(!ok && err.contains("run_at"), "{err}");

    let at = chrono::Local::now() + chrono::TimeDelta::seconds(20);
    let cfg = write_config(&at.format("%H:%M:%S").to_string());
    let cfg_arg = cfg.to_str().unwrap().to_owned();
    let server = common::ServerProcess::start(dir.path(), &["--config", &cfg_arg], &[]);
    let instances = || {
        let (ok, stats, err) = run(&cfg, &["stats", "--json"]);
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&stats).unwrap()["total_instances"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(instances(), 3, "deleted before its time");
    let deadline = at + chrono::TimeDelta::seconds(45);
    while instances() != 1 {
        assert!(
            chrono::Local::now() < deadline,
            "not deleted at {at}: {:?}",
            server.log.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(
        chrono::Local::now() >= at - chrono::TimeDelta::milliseconds(1500),
        "deleted before {at}"
    );
    assert!(server.logged("retention: studies deleted"));
    // The radiograph went (its 2 instances), the CT (no rule) stayed.
    let (_, plan, _) = run(&cfg, &["retention", "plan", "--json"]);
    assert!(!plan.contains(&old_cr), "{plan}");
    let (status, _, body) = common::http(&server.http, "GET", "/dicom-web/studies", &[], b"");
    let listed = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed.contains(&ct) && !listed.contains(&old_cr),
        "{listed}"
    );
}

#[test]
fn the_server_deletes_at_run_at_sqlite() {
    retention_at_its_hour(None);
}

#[test]
fn the_server_deletes_at_run_at_postgres() {
    let db = ScratchPg::new();
    retention_at_its_hour(Some(&db.url));
}
