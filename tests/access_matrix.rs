//! Who may do what, everywhere: every HTTP route and every DIMSE service,
//! each tried as {anonymous, viewer, uploader, admin, another tenant's
//! admin}, on SQLite and on PostgreSQL. The expectation table below must
//! name exactly the routes the server has (`filmless::http::
//! protected_routes`), so a route added without deciding its access fails
//! here.
//!
//! Two tenants: `h1` (AE title H1PACS) holds study S, stored by its
//! modality; `h2` (H2PACS) holds another study. A study of another tenant
//! answers exactly as one that does not exist.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{
    add_user, basic, dcmtk, free_port, http, python, stow_body, write_files, ScratchPg,
    ServerProcess, STOW_TYPE,
};
use filmless_test_data::{Corpus, Instance, Options};

/// The identities, in the order of every expectation row.
const WHO: [&str; 5] = ["anonymous", "viewer", "uploader", "admin", "other tenant"];

/// Expected statuses, in [`WHO`] order.
const SEARCH: [u16; 5] = [401, 200, 403, 200, 200];
const READ: [u16; 5] = [401, 200, 403, 200, 404];
const STORE: [u16; 5] = [401, 403, 200, 200, 200];
/// STOW-RS to study S: the other tenant sends its own instance, of another
/// study, so it is refused for the path (409, A900), not stored in S.
const STORE_TO_S: [u16; 5] = [401, 403, 200, 200, 409];
const DELETE: [u16; 5] = [401, 403, 403, 204, 404];
const STATUS: [u16; 5] = [401, 200, 403, 200, 200];
const NO_DELETE_ALL: [u16; 5] = [401, 405, 405, 405, 405];
/// Scheduling a worklist item (role scheduler or admin); the other
/// tenant's admin schedules in its own tenant.
const ORDER: [u16; 5] = [401, 403, 403, 201, 201];
/// Routing jobs: administrators, each of its own tenant's.
const JOBS: [u16; 5] = [401, 403, 403, 200, 200];
const JOB: [u16; 5] = [401, 403, 403, 200, 404];
const JOB_ACTION: [u16; 5] = [401, 403, 403, 204, 404];
/// Sending study S: the other tenant's admin does not see it.
const SEND: [u16; 5] = [401, 403, 403, 202, 404];
/// Share links (role share, or admin): the other tenant's admin cannot
/// share study S nor see our shares.
const SHARE_CREATE: [u16; 5] = [401, 403, 403, 201, 404];
const SHARES: [u16; 5] = [401, 403, 403, 200, 200];
const SHARE: [u16; 5] = [401, 403, 403, 200, 404];
const SHARE_REVOKE: [u16; 5] = [401, 403, 403, 204, 404];
/// Correcting a patient: schedulers and administrators.
const CORRECT: [u16; 5] = [401, 403, 403, 200, 404];
const MERGE: [u16; 5] = [401, 403, 403, 404, 404];
const BAD_REASON: [u16; 5] = [401, 403, 403, 400, 400];
/// Restoring or purging an instance nobody rejected.
const NO_REJECTION: [u16; 5] = [401, 403, 403, 404, 404];
/// A viewer's error, logged: whoever may search (not an uploader).
const VIEWER_LOG: [u16; 5] = [401, 204, 403, 204, 204];
/// Adding (and removing) a user of the caller's tenant.
const USER_PUT: [u16; 5] = [401, 403, 403, 204, 404];
/// C-ECHO to our peer DEST1: the other tenant's administrator has none.
const ECHO: [u16; 5] = [401, 403, 403, 200, 404];
/// Metrics cover every tenant: with tenants, a tenant's admin may not read
/// them (a platform administrator or the scrape token may).
const METRICS: [u16; 5] = [401, 403, 403, 403, 403];

/// Every protected route: method, path template, expected statuses, and
/// whether the answer is a search (the other tenant's answer must be empty).
fn expectations() -> Vec<(&'static str, &'static str, [u16; 5], bool)> {
    let i = "/dicom-web/studies/{study}/series/{series}/instances/{instance}";
    let leak = |p: &str| -> &'static str { Box::leak(format!("{i}{p}").into_boxed_str()) };
    vec![
        ("GET", "/status", STATUS, false),
        ("GET", "/metrics", METRICS, false),
        ("GET", "/dicom-web/studies", SEARCH, true),
        ("POST", "/dicom-web/studies", STORE, false),
        ("DELETE", "/dicom-web/studies", NO_DELETE_ALL, false),
        ("GET", "/dicom-web/series", SEARCH, true),
        ("GET", "/dicom-web/instances", SEARCH, true),
        ("GET", "/dicom-web/studies/{study}", READ, false),
        ("POST", "/dicom-web/studies/{study}", STORE_TO_S, false),
        ("DELETE", "/dicom-web/studies/{study}", DELETE, false),
        ("GET", "/dicom-web/studies/{study}/metadata", READ, false),
        ("GET", "/dicom-web/studies/{study}/series", SEARCH, true),
        ("GET", "/dicom-web/studies/{study}/instances", SEARCH, true),
        ("GET", "/dicom-web/studies/{study}/rendered", READ, false),
        ("GET", "/dicom-web/studies/{study}/thumbnail", READ, false),
        (
            "GET",
            "/dicom-web/studies/{study}/series/{series}",
            READ,
            false,
        ),
        (
            "DELETE",
            "/dicom-web/studies/{study}/series/{series}",
            DELETE,
            false,
        ),
        (
            "GET",
            "/dicom-web/studies/{study}/series/{series}/metadata",
            READ,
            false,
        ),
        (
            "GET",
            "/dicom-web/studies/{study}/series/{series}/instances",
            SEARCH,
            true,
        ),
        (
            "GET",
            "/dicom-web/studies/{study}/series/{series}/rendered",
            READ,
            false,
        ),
        (
            "GET",
            "/dicom-web/studies/{study}/series/{series}/thumbnail",
            READ,
            false,
        ),
        ("GET", leak(""), READ, false),
        ("DELETE", leak(""), DELETE, false),
        ("GET", leak("/metadata"), READ, false),
        ("GET", leak("/rendered"), READ, false),
        ("GET", leak("/thumbnail"), READ, false),
        ("GET", leak("/frames/{frames}"), READ, false),
        ("GET", leak("/frames/{frames}/rendered"), READ, false),
        ("GET", leak("/frames/{frames}/thumbnail"), READ, false),
        ("GET", leak("/bulkdata/{*path}"), READ, false),
        ("GET", "/dicom-web/workitems", SEARCH, true),
        ("GET", "/api/worklist", SEARCH, true),
        ("POST", "/api/worklist", ORDER, false),
        ("GET", "/api/worklist/{id}", READ, false),
        ("DELETE", "/api/worklist/{id}", DELETE, false),
        ("POST", "/api/studies/{study}/send", SEND, false),
        ("GET", "/api/jobs", JOBS, true),
        ("GET", "/api/jobs/{id}", JOB, false),
        // Cancelled first (it is pending), then retried (it failed).
        ("POST", "/api/jobs/{id}/cancel", JOB_ACTION, false),
        ("POST", "/api/jobs/{id}/retry", JOB_ACTION, false),
        ("POST", "/api/shares", SHARE_CREATE, false),
        ("GET", "/api/shares", SHARES, true),
        ("GET", "/api/shares/{id}", SHARE, false),
        ("GET", "/api/shares/{id}/qr.svg", SHARE, false),
        ("GET", "/api/shares/{id}/qr.png", SHARE, false),
        ("GET", "/api/shares/{id}/slip", SHARE, false),
        ("DELETE", "/api/shares/{id}", SHARE_REVOKE, false),
        ("GET", "/api/print/sheets", JOBS, true),
        ("GET", "/api/stats", STATUS, false),
        ("POST", "/api/studies/{study}/export", READ, false),
        ("GET", "/admin", JOBS, false),
        // The trail may name a study the caller asked about itself (another
        // tenant asking for ours), so it is not checked as a search.
        ("GET", "/api/audit", JOBS, false),
        // Correcting study S's patient: the other tenant has no study S.
        ("PATCH", "/api/studies/{study}", CORRECT, false),
        // Merging a patient nobody has: refused before it is looked for.
        ("POST", "/api/patients/merge", MERGE, false),
        // Rejecting study S with a reason that is none: refused after the
        // access check (S stays for the routes after).
        ("POST", "/api/studies/{study}/reject", BAD_REASON, false),
        ("GET", "/api/rejected", JOBS, false),
        ("POST", "/api/rejected/{sop}/restore", NO_REJECTION, false),
        ("DELETE", "/api/rejected/{sop}", NO_REJECTION, false),
        ("GET", "/api/users", JOBS, false),
        // Users are named once over every tenant: the other tenant's
        // administrator cannot take ours.
        ("POST", "/api/viewer-log", VIEWER_LOG, false),
        ("POST", "/api/users", USER_PUT, false),
        ("PATCH", "/api/users/{name}", USER_PUT, false),
        ("DELETE", "/api/users/{name}", USER_PUT, false),
        ("GET", "/api/peers", JOBS, false),
        ("POST", "/api/peers/{ae}/echo", ECHO, false),
    ]
}

/// Study S (MR: two series) for h1, its UID, and one other study for h2.
fn studies() -> (Vec<Instance>, String, Vec<Instance>) {
    let corpus = Corpus::new(
        42,
        Options {
            patients: 2,
            ..Options::small(6)
        },
    );
    let plan = corpus.study(3);
    let s = corpus.instances(&plan).collect::<Vec<_>>();
    let t = corpus.instances(&corpus.study(1)).collect::<Vec<_>>();
    (s, plan.study_instance_uid, t)
}

fn config(dir: &Path, database_url: Option<&str>, dest_port: u16) -> std::path::PathBuf {
    let storage = match database_url {
        Some(url) => format!("[storage]\ndatabase_url = \"{url}\"\n"),
        None => String::new(),
    };
    let peer = |ae: &str, port: u16, tenant: &str, permissions: &str| {
        format!(
            "[[dicom.peers]]\nae_title = \"{ae}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             tenant = \"{tenant}\"\npermissions = [{permissions}]\n"
        )
    };
    let text = format!(
        "data_dir = \"{}\"\n{storage}[auth]\nrequired = true\n[dicom]\nunknown_peers = \"reject\"\n\n{}{}{}{}{}{}\
         [[tenants]]\nid = \"h1\"\nname = \"Hospital One\"\nae_title = \"H1PACS\"\n\
         [[tenants]]\nid = \"h2\"\nname = \"Hospital Two\"\nae_title = \"H2PACS\"\n",
        dir.display(),
        peer("CT1", 104, "h1", "\"store\""),
        peer("RIS1", 104, "h1", "\"find\", \"get\""),
        peer(
            "WS1",
            104,
            "h1",
            "\"store\", \"find\", \"move\", \"get\", \"worklist\", \"mpps\", \"commitment\", \"print\""
        ),
        peer("DEST1", dest_port, "h1", ""),
        peer(
            "RIS2",
            104,
            "h2",
            "\"store\", \"find\", \"move\", \"get\", \"worklist\", \"mpps\", \"commitment\", \"print\""
        ),
        peer("DEST2", dest_port, "h2", ""),
    );
    let path = dir.join("filmless.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// tests/peers/access_checks.py for each `NAME:CALLING:CALLED:DEST:FILE`:
/// the final status of every DIMSE service, by identity name.
fn access_checks(
    port: u16,
    dest_port: u16,
    study: &str,
    identities: &[String],
) -> serde_json::Value {
    let out = python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/access_checks.py"))
        .args(["--port", &port.to_string()])
        .args(["--dest-port", &dest_port.to_string()])
        .args(["--study", study])
        .args(identities)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn store(port: u16, calling: &str, called: &str, files: &[std::path::PathBuf]) {
    let out = dcmtk("storescu")
        .args([
            "-aet",
            calling,
            "-aec",
            called,
            "127.0.0.1",
            &port.to_string(),
        ])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn access_matrix(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let dest_port = free_port();
    let config = config(dir.path(), database_url, dest_port);
    for (name, roles, tenant) in [
        ("viewer1", "viewer", "h1"),
        ("uploader1", "uploader", "h1"),
        ("admin1", "admin", "h1"),
        ("admin2", "admin", "h2"),
    ] {
        add_user(&config, name, roles, Some(tenant), "correct-horse");
    }
    let (s, study, t) = studies();
    // A worklist item of study S in h1.
    let out = common::filmless()
        .args([
            "worklist",
            "--config",
            config.to_str().unwrap(),
            "--tenant",
            "h1",
        ])
        .args([
            "add",
            "--patient-id",
            "PWL",
            "--name",
            "WORK^LIST",
            "--station",
            "CT1",
        ])
        .args([
            "--modality",
            "CT",
            "--start",
            "202612021030",
            "--study-uid",
            &study,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item_id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let s_files = write_files(&dir.path().join("s"), &s);
    let t_files = write_files(&dir.path().join("t"), &t);
    store(server.dicom_port, "CT1", "H1PACS", &s_files);
    let n = s.len() as u64;

    // ---- DIMSE: every service as every kind of peer.
    let file = |f: &std::path::PathBuf| f.to_str().unwrap().to_owned();
    let (sf, tf) = (file(&s_files[0]), file(&t_files[0]));
    let r = access_checks(
        server.dicom_port,
        dest_port,
        &study,
        &[
            format!("anonymous:STRANGER:H1PACS:DEST1:{sf}"),
            format!("viewer:RIS1:H1PACS:DEST1:{sf}"),
            format!("uploader:CT1:H1PACS:DEST1:{sf}"),
            format!("admin:WS1:H1PACS:DEST1:{sf}"),
            format!("other tenant:RIS2:H2PACS:DEST2:{tf}"),
            format!("other tenant, our AE title:RIS2:H1PACS:DEST1:{tf}"),
            format!("other tenant, our destination:RIS2:H2PACS:DEST1:{tf}"),
        ],
    );
    const OK: u64 = 0;
    const NOT_AUTHORIZED: u64 = 0x0124;
    const DESTINATION_UNKNOWN: u64 = 0xA801;
    // (identity, echo, store, find, found, move, moved, get, got)
    type Row<'a> = (&'a str, u64, u64, u64, u64, u64, u64, u64, u64);
    // The anonymous peer (an AE title not listed) never gets an association:
    // with tenants, unknown peers must be rejected (checked below).
    let dimse: [Row; 5] = [
        (
            "viewer",
            OK,
            NOT_AUTHORIZED,
            OK,
            1,
            NOT_AUTHORIZED,
            0,
            OK,
            n,
        ),
        (
            "uploader",
            OK,
            OK,
            NOT_AUTHORIZED,
            0,
            NOT_AUTHORIZED,
            0,
            NOT_AUTHORIZED,
            0,
        ),
        ("admin", OK, OK, OK, 1, OK, n, OK, n),
        ("other tenant", OK, OK, OK, 0, OK, 0, OK, 0),
        (
            "other tenant, our destination",
            OK,
            OK,
            OK,
            0,
            DESTINATION_UNKNOWN,
            0,
            OK,
            0,
        ),
    ];
    for (who, echo, store, find, found, mv, moved, get, got) in dimse {
        let x = &r[who];
        let seen = (
            x["echo"].as_u64(),
            x["store"].as_u64(),
            x["find"].as_u64(),
            x["found"].as_u64(),
            x["move"].as_u64(),
            x["moved"].as_u64(),
            x["get"].as_u64(),
            x["got"].as_u64(),
        );
        let want = (
            Some(echo),
            Some(store),
            Some(find),
            Some(found),
            Some(mv),
            Some(moved),
            Some(get),
            Some(got),
        );
        assert_eq!(seen, want, "DIMSE as {who}: {x}");
    }
    // Printing (a Basic Film Session N-CREATE, then a film naming the
    // identity's file, printed into its study): peers with the `print`
    // permission, each in its own tenant.
    for (who, want) in [
        ("viewer", NOT_AUTHORIZED),
        ("uploader", NOT_AUTHORIZED),
        ("admin", OK),
        ("other tenant", OK),
    ] {
        assert_eq!(
            r[who]["print"].as_u64(),
            Some(want),
            "print as {who}: {}",
            r[who]
        );
        let printed = (want == OK).then_some(OK);
        assert_eq!(
            r[who]["printed"].as_u64(),
            printed,
            "printed as {who}: {}",
            r[who]
        );
    }
    // The RIS workflow's services: (identity, worklist, items, mpps,
    // commit, report event type).
    type WorkflowRow<'a> = (&'a str, u64, u64, u64, u64, Option<u64>);
    let workflow: [WorkflowRow; 5] = [
        (
            "viewer",
            NOT_AUTHORIZED,
            0,
            NOT_AUTHORIZED,
            NOT_AUTHORIZED,
            None,
        ),
        // A modality allowed to store only may not ask what is kept.
        (
            "uploader",
            NOT_AUTHORIZED,
            0,
            NOT_AUTHORIZED,
            NOT_AUTHORIZED,
            None,
        ),
        ("admin", OK, 1, OK, OK, Some(1)),
        ("other tenant", OK, 0, OK, OK, Some(1)),
        ("other tenant, our destination", OK, 0, OK, OK, Some(1)),
    ];
    for (who, worklist, items, mpps, commit, report) in workflow {
        let x = &r[who];
        assert_eq!(
            (
                x["worklist"].as_u64(),
                x["items"].as_u64(),
                x["mpps"].as_u64(),
                x["commit"].as_u64(),
                x["report"].as_u64()
            ),
            (
                Some(worklist),
                Some(items),
                Some(mpps),
                Some(commit),
                report
            ),
            "worklist, MPPS and storage commitment as {who}: {x}"
        );
    }
    assert_eq!(
        r["other tenant, our AE title"]["associated"], false,
        "a peer of h2 calling h1's AE title is rejected"
    );
    assert_eq!(
        r["anonymous"]["associated"], false,
        "with tenants, an AE title not listed is rejected: {}",
        r["anonymous"]
    );

    // ---- HTTP: the table names exactly the server's protected routes.
    let table = expectations();
    let named: BTreeSet<(String, String)> = table
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let routes: BTreeSet<(String, String)> =
        filmless::http::protected_routes().into_iter().collect();
    assert_eq!(
        named, routes,
        "every protected route needs an expectation here (and only those)"
    );
    let public: Vec<&str> = filmless::http::PUBLIC_ROUTES
        .iter()
        .map(|(_, p, _)| *p)
        .collect();
    assert_eq!(
        public,
        [
            "/healthz",
            "/health",
            "/ready",
            "/ (fallback)",
            "/s/{token}",
            "/s/{token}/pin",
            "/s/{token}/images.zip",
            "/s/{token}/dicom-web/{*rest}"
        ],
        "the public routes"
    );

    let credentials = [
        None,
        Some(basic("viewer1", "correct-horse")),
        Some(basic("uploader1", "correct-horse")),
        Some(basic("admin1", "correct-horse")),
        Some(basic("admin2", "correct-horse")),
    ];
    // Deletes go last, narrowest first, so each finds what it deletes.
    let (series_a, series_b) = (
        s[0].series_instance_uid.clone(),
        s.iter()
            .map(|i| i.series_instance_uid.clone())
            .find(|se| *se != s[0].series_instance_uid)
            .expect("two series"),
    );
    // A routing job of tenant h1 for study S, to a peer that is not
    // listening (it stays pending).
    let (status, _, reply) = http(
        &server.http,
        "POST",
        &format!("/api/studies/{study}/send"),
        &[
            ("Authorization", credentials[3].as_deref().unwrap()),
            ("Content-Type", "application/json"),
        ],
        br#"{"to": "RIS1"}"#,
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&reply));
    let job_id = serde_json::from_slice::<serde_json::Value>(&reply).unwrap()["job"]
        .as_i64()
        .unwrap()
        .to_string();
    // A share of study S, made by h1's admin.
    let (status, _, reply) = http(
        &server.http,
        "POST",
        "/api/shares",
        &[
            ("Authorization", credentials[3].as_deref().unwrap()),
            ("Content-Type", "application/json"),
        ],
        format!(r#"{{"study": "{study}"}}"#).as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&reply));
    let made: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    let share_id = made["id"].as_i64().unwrap().to_string();
    let share_token = made["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let fill = |template: &str| {
        let item_id = if template.starts_with("/api/jobs/") {
            &job_id
        } else if template.starts_with("/api/shares/") {
            &share_id
        } else {
            &item_id
        };
        let token = if template.ends_with("/qr.svg")
            || template.ends_with("/qr.png")
            || template.ends_with("/slip")
        {
            format!("?token={share_token}")
        } else {
            String::new()
        };
        template
            .replace("{study}", &study)
            .replace("{series}", &series_a)
            .replace("{instance}", &s[0].sop_instance_uid)
            .replace("{frames}", "1")
            .replace("{*path}", "7FE00010")
            .replace("{id}", item_id)
            .replace("{name}", "matrix-user")
            .replace("{ae}", "DEST1")
            .replace("{sop}", "1.2.3.4.5.6")
            + &token
    };
    let share_body = format!(r#"{{"study": "{study}"}}"#);
    let mut order: Vec<_> = table.iter().filter(|r| r.0 != "DELETE").collect();
    for p in [
        "/api/rejected/{sop}",
        "/api/users/{name}",
        "/api/shares/{id}",
        "/api/worklist/{id}",
        "/dicom-web/studies",
        "/dicom-web/studies/{study}/series/{series}/instances/{instance}",
        "/dicom-web/studies/{study}/series/{series}",
        "/dicom-web/studies/{study}",
    ] {
        order.extend(table.iter().filter(|r| r.0 == "DELETE" && r.1 == p));
    }
    assert_eq!(order.len(), table.len());
    // The other tenant uploads its own study's instance; everyone else one
    // of study S (stored already: identical, so 200 and nothing changes).
    let stow = stow_body(&s[1].bytes);
    let other_stow = stow_body(&t[0].bytes);
    let order_body = serde_json::json!({
        "00100020": {"vr": "LO", "Value": ["PNEW"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.999.1"]},
        "00400100": {"vr": "SQ", "Value": [{
            "00400001": {"vr": "AE", "Value": ["CT1"]},
            "00080060": {"vr": "CS", "Value": ["CT"]}
        }]}
    })
    .to_string()
    .into_bytes();
    for &(method, template, want, search) in order {
        let mut path = fill(template);
        if template.starts_with("/dicom-web/studies/{study}/series/{series}")
            && method == "DELETE"
            && !template.contains("{instance}")
        {
            path = path.replace(&series_a, &series_b);
        }
        // The admin of the tenant goes last on deletes.
        let who_order: Vec<usize> = if method == "DELETE" {
            vec![0, 1, 2, 4, 3]
        } else {
            (0..5).collect()
        };
        for k in who_order {
            let mut headers: Vec<(&str, &str)> = Vec::new();
            if let Some(c) = &credentials[k] {
                headers.push(("Authorization", c));
            }
            let body: &[u8] = if method == "POST" && template == "/api/worklist" {
                headers.push(("Content-Type", "application/json"));
                &order_body
            } else if method == "POST" && template == "/api/shares" {
                headers.push(("Content-Type", "application/json"));
                share_body.as_bytes()
            } else if method == "PATCH" && template == "/api/users/{name}" {
                headers.push(("Content-Type", "application/json"));
                br#"{"disabled": false}"#
            } else if method == "PATCH" {
                headers.push(("Content-Type", "application/json"));
                br#"{"patient_sex": "O"}"#
            } else if method == "POST" && template == "/api/patients/merge" {
                headers.push(("Content-Type", "application/json"));
                br#"{"from_id": "NOBODY", "into_id": "ALSO-NOBODY", "name": "X^Y"}"#
            } else if method == "POST" && template.ends_with("/reject") {
                headers.push(("Content-Type", "application/json"));
                br#"{"reason": "999"}"#
            } else if method == "POST" && template == "/api/viewer-log" {
                headers.push(("Content-Type", "application/json"));
                br#"{"message": "TypeError: x is undefined", "source": "app.js:1"}"#
            } else if method == "POST" && template == "/api/users" {
                headers.push(("Content-Type", "application/json"));
                br#"{"name": "matrix-user", "roles": ["viewer"], "password": "long-enough-9"}"#
            } else if method == "POST" && template.ends_with("/send") {
                headers.push(("Content-Type", "application/json"));
                br#"{"to": "RIS1"}"#
            } else if method == "POST"
                && (template.starts_with("/api/jobs/")
                    || template.ends_with("/export")
                    || template.ends_with("/restore"))
            {
                b""
            } else if method == "POST" {
                headers.push(("Content-Type", STOW_TYPE));
                if k == 4 {
                    &other_stow
                } else {
                    &stow
                }
            } else {
                b""
            };
            let (status, _, reply) = http(&server.http, method, &path, &headers, body);
            let reply = String::from_utf8_lossy(&reply);
            assert_eq!(
                status, want[k],
                "{method} {template} as {}: {reply}",
                WHO[k]
            );
            if search && status == 200 {
                let sees = reply.contains(&study);
                assert_eq!(sees, k != 4, "{method} {template} as {}: {reply}", WHO[k]);
            }
        }
    }
    // The public routes answer anyone.
    assert_eq!(http(&server.http, "GET", "/healthz", &[], b"").0, 200);
    assert_eq!(http(&server.http, "GET", "/health", &[], b"").0, 200);
    assert_eq!(http(&server.http, "GET", "/ready", &[], b"").0, 200);
    assert_eq!(http(&server.http, "GET", "/", &[], b"").0, 200);
    assert_eq!(http(&server.http, "GET", "/no/such/page", &[], b"").0, 404);
}

/// One hospital, no tenants, the default `dicom.unknown_peers = "store"`:
/// an AE title not listed may echo and store, and nothing else.
fn anonymous_peer_without_tenants(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let dest_port = free_port();
    let storage = match database_url {
        Some(url) => format!("[storage]\ndatabase_url = \"{url}\"\n"),
        None => String::new(),
    };
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{storage}[[dicom.peers]]\nae_title = \"DEST1\"\n\
             host = \"127.0.0.1\"\nport = {dest_port}\npermissions = []\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let (s, study, _) = studies();
    let files = write_files(&dir.path().join("s"), &s[..1]);
    store(server.dicom_port, "WS1", "FILMLESS", &files);
    let r = access_checks(
        server.dicom_port,
        dest_port,
        &study,
        &[format!(
            "anonymous:STRANGER:FILMLESS:DEST1:{}",
            files[0].to_str().unwrap()
        )],
    );
    let x = &r["anonymous"];
    const NOT_AUTHORIZED: u64 = 0x0124;
    for (service, want) in [
        ("echo", 0),
        ("store", 0),
        ("find", NOT_AUTHORIZED),
        ("found", 0),
        ("move", NOT_AUTHORIZED),
        ("moved", 0),
        ("get", NOT_AUTHORIZED),
        ("got", 0),
        ("worklist", NOT_AUTHORIZED),
        ("items", 0),
        ("mpps", NOT_AUTHORIZED),
        // Storage commitment tells whether instances exist: not for a
        // stranger (only for peers with the `commitment` permission).
        ("commit", NOT_AUTHORIZED),
        // Printing files sheets into studies: peers with `print` only.
        ("print", NOT_AUTHORIZED),
    ] {
        assert_eq!(x[service].as_u64(), Some(want), "{service}: {x}");
    }
    assert!(x["report"].is_null(), "no report: {x}");
}

#[test]
fn every_route_and_service_as_everyone_sqlite() {
    access_matrix(None);
    anonymous_peer_without_tenants(None);
}

#[test]
fn every_route_and_service_as_everyone_postgres() {
    let db = ScratchPg::new();
    access_matrix(Some(&db.url));
    let db = ScratchPg::new();
    anonymous_peer_without_tenants(Some(&db.url));
}
