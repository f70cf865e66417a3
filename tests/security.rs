//! Access control and the audit trail, end to end: local users with
//! roles over HTTP Basic, the refusal to serve the network without
//! authentication, and the audit trail of DIMSE and DICOMweb accesses
//! (table, `filmless audit`, syslog).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use common::{
    basic, dcmtk, filmless, free_port, http, storescp, stow_body, write_files, ServerProcess,
    STOW_TYPE,
};
use filmless_test_data::{Corpus, Options};

/// A local user in the archive of `dir` (no configuration file).
fn add_user(dir: &std::path::Path, name: &str, roles: &str, password: &str) {
    common::add_user_in("--data-dir", dir, name, roles, None, password);
}

/// DCMTK storescu as the modality CT01, with extra options (TLS); panics
/// with its output unless every file was stored.
fn c_store(port: u16, options: &[&str], paths: &[std::path::PathBuf]) {
    let out = dcmtk("storescu")
        .args(options)
        .args(["-aet", "CT01", "-aec", "FILMLESS", "127.0.0.1"])
        .arg(port.to_string())
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// DCMTK findscu as the RIS: STUDY level by Patient ID, returning `keys`.
fn c_find_patient(port: u16, patient_id: &str, keys: &[&str]) {
    let mut c = dcmtk("findscu");
    c.args(["-S", "-aet", "RIS", "-aec", "FILMLESS", "127.0.0.1"])
        .arg(port.to_string())
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k"])
        .arg(format!("PatientID={patient_id}"));
    for k in keys {
        c.args(["-k", k]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn roles_decide_what_each_user_may_do_and_everything_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "alice", "viewer", "alice-password");
    add_user(dir.path(), "bob", "uploader", "bob-password");
    add_user(dir.path(), "root", "admin", "root-password");
    let out = filmless()
        .args(["user", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("alice\tviewer") && listed.contains("bob\tuploader"));
    assert!(!listed.contains("argon2"), "hashes are never shown");
    // Too short a password is refused.
    let mut child = filmless()
        .args([
            "user",
            "add",
            "eve",
            "--roles",
            "viewer",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    assert!(!child.wait_with_output().unwrap().status.success());

    // A syslog collector.
    let syslog = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let syslog_url = format!("udp://{}", syslog.local_addr().unwrap());
    // A workstation that C-MOVE sends to.
    let ws_port = free_port();
    let _ws = storescp("WS1", ws_port, &dir.path().join("ws1"));
    let ws_peer = format!("WS1@127.0.0.1:{ws_port}");
    let mut server = ServerProcess::start(
        dir.path(),
        &["--peer", "RIS@127.0.0.1:1", "--peer", &ws_peer],
        &[
            ("FILMLESS_AUTH__REQUIRED", "true"),
            ("FILMLESS_AUDIT__SYSLOG", &syslog_url),
        ],
    );
    let addr = server.http.clone();
    let corpus = Corpus::new(61, Options::small(3));
    let ct = corpus.study(0);
    let files = corpus.instances(&ct).collect::<Vec<_>>();

    // A modality stores by C-STORE.
    let paths = write_files(dir.path(), &files[..2]);
    c_store(server.dicom_port, &[], &paths);

    // No credentials: 401 with a Basic challenge; /healthz stays open.
    let (status, headers, _) = http(&addr, "GET", "/dicom-web/studies", &[], b"");
    assert_eq!(status, 401);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "www-authenticate" && v.starts_with("Basic")));
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 200);
    let (status, _, body) = http(
        &addr,
        "GET",
        "/dicom-web/studies",
        &[("Authorization", &basic("alice", "wrong"))],
        b"",
    );
    assert_eq!(status, 401);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("invalid credentials") && !body.contains("wrong password"),
        "the client is not told which part was wrong: {body}"
    );

    // alice views; she may not store or delete.
    let alice = basic("alice", "alice-password");
    let (status, _, body) = http(
        &addr,
        "GET",
        &format!("/dicom-web/studies?PatientID={}", ct.patient.id),
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = http(
        &addr,
        "GET",
        &format!("/dicom-web/studies/{}/metadata", ct.study_instance_uid),
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(status, 200);
    let stow = stow_body(&files[2].bytes);
    let (status, _, _) = http(
        &addr,
        "POST",
        "/dicom-web/studies",
        &[("Authorization", &alice), ("Content-Type", STOW_TYPE)],
        &stow,
    );
    assert_eq!(status, 403);
    let (status, _, _) = http(
        &addr,
        "DELETE",
        &format!("/dicom-web/studies/{}", ct.study_instance_uid),
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(status, 403);

    // bob uploads; he may not read.
    let bob = basic("bob", "bob-password");
    let (status, _, body) = http(
        &addr,
        "POST",
        "/dicom-web/studies",
        &[("Authorization", &bob), ("Content-Type", STOW_TYPE)],
        &stow,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        http(
            &addr,
            "GET",
            "/dicom-web/studies",
            &[("Authorization", &bob)],
            b""
        )
        .0,
        403
    );

    // The RIS queries by C-FIND, moves the study to a workstation, and
    // gets it itself.
    c_find_patient(server.dicom_port, &ct.patient.id, &["StudyInstanceUID"]);
    let study_key = format!("StudyInstanceUID={}", ct.study_instance_uid);
    let port = server.dicom_port.to_string();
    std::fs::create_dir_all(dir.path().join("got")).unwrap();
    let got = dir.path().join("got");
    let got = got.to_str().unwrap();
    for (tool, extra) in [("movescu", ["-aem", "WS1"]), ("getscu", ["-od", got])] {
        let out = dcmtk(tool)
            .args(["-S", "-aet", "RIS", "-aec", "FILMLESS"])
            .args(extra)
            .args(["-k", "QueryRetrieveLevel=STUDY", "-k", &study_key])
            .args(["127.0.0.1", &port])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let count = |d: &str| std::fs::read_dir(dir.path().join(d)).unwrap().count();
    assert_eq!(
        count("ws1"),
        count("got"),
        "the workstation and the RIS got the study"
    );
    assert!(count("got") >= 2);

    // root deletes.
    let (status, _, _) = http(
        &addr,
        "DELETE",
        &format!("/dicom-web/studies/{}", ct.study_instance_uid),
        &[("Authorization", &basic("root", "root-password"))],
        b"",
    );
    assert!(status == 200 || status == 204, "delete: {status}");

    // Stopping writes the last audit events.
    assert!(server.terminate(Duration::from_secs(30)).success());

    let out = filmless()
        .args(["audit", "--format", "jsonl", "--since", "1d", "--patient"])
        .arg(&ct.patient.id)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |actor: &str, action: &str, outcome: &str| {
        events.iter().any(|e| {
            e["actor"] == actor
                && e["action"] == action
                && e["outcome"].as_str().unwrap().starts_with(outcome)
                && e["study_instance_uid"] == ct.study_instance_uid.as_str()
        })
    };
    assert!(has("CT01", "c-store", "success"), "{events:#?}");
    assert!(has("alice", "qido-rs", "success"), "{events:#?}");
    assert!(has("alice", "wado-rs", "success"), "{events:#?}");
    assert!(has("bob", "stow-rs", "success"), "{events:#?}");
    assert!(has("RIS", "c-find", "success"), "{events:#?}");
    assert!(has("RIS", "c-move", "success"), "{events:#?}");
    assert!(has("RIS", "c-get", "success"), "{events:#?}");
    let c_move = events.iter().find(|e| e["action"] == "c-move").unwrap();
    assert!(
        c_move["detail"]
            .as_str()
            .unwrap()
            .ends_with("instances selected, sent to WS1"),
        "{c_move:#?}"
    );
    assert!(has("root", "delete", "success"), "{events:#?}");
    let c_store = events.iter().find(|e| e["action"] == "c-store").unwrap();
    assert_eq!(c_store["count"], 2, "two instances in one second: one row");
    assert_eq!(c_store["source"], "127.0.0.1");
    // Refused logins and refused operations are recorded too.
    let out = filmless()
        .args([
            "audit",
            "--format",
            "jsonl",
            "--actor",
            "alice",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let alice_events = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        alice_events.contains("\"action\":\"login\"") && alice_events.contains("wrong password"),
        "{alice_events}"
    );
    assert!(
        alice_events.contains("forbidden: needs the uploader role")
            && alice_events.contains("forbidden: needs the admin role"),
        "{alice_events}"
    );
    // The table view, for people.
    let out = filmless()
        .args(["audit", "--patient"])
        .arg(&ct.patient.id)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("alice") && table.contains("wado-rs"),
        "{table}"
    );

    // The same events reached syslog as RFC 5424.
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = syslog.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if got.iter().any(|l| l.contains("DELETE")) {
            break;
        }
    }
    assert!(
        got.iter().any(|l| l.starts_with("<85>1 ")
            && l.contains("filmless")
            && l.contains("EventID=\"DCM 110107 Import\"")
            && l.contains(&format!("PatientID=\"{}\"", ct.patient.id))),
        "{got:#?}"
    );

    // The trail cannot be changed.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        assert!(sqlx::query("DELETE FROM audit_event")
            .execute(&pool)
            .await
            .is_err());
        assert!(sqlx::query("UPDATE audit_event SET actor = 'nobody'")
            .execute(&pool)
            .await
            .is_err());
        assert!(sqlx::query(
            "INSERT OR REPLACE INTO audit_event (id, at, actor, actor_kind, source, action, outcome) \
             SELECT id, 0, 'nobody', 'user', '', 'login', 'success' FROM audit_event LIMIT 1"
        )
        .execute(&pool)
        .await
        .is_err());
    });
}

#[test]
fn the_network_is_never_served_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let out = filmless()
        .args([
            "serve",
            "--http-bind",
            "0.0.0.0:0",
            "--dicom-bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.required"), "{stderr}");
}

#[test]
fn a_peer_with_check_host_is_accepted_only_from_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        "[[dicom.peers]]\nae_title = \"HERE\"\nhost = \"127.0.0.1\"\nport = 104\ncheck_host = true\n\n\
         [[dicom.peers]]\nae_title = \"ELSEWHERE\"\nhost = \"10.9.9.9\"\nport = 104\ncheck_host = true\n",
    )
    .unwrap();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let echo = |aet: &str| {
        dcmtk("echoscu")
            .args(["-aet", aet, "-aec", "FILMLESS", "127.0.0.1"])
            .arg(server.dicom_port.to_string())
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(echo("HERE"));
    assert!(!echo("ELSEWHERE"));
    assert!(server.logged("not from its host 10.9.9.9"));
    assert!(echo("UNKNOWN"), "unknown peers follow dicom.unknown_peers");
}

#[test]
fn uploads_over_the_limit_get_413_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &[],
        &[("FILMLESS_HTTP__MAX_UPLOAD_BYTES", "1048576")],
    );
    // The declared length is enough to refuse: send only the head.
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(&server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Type: {STOW_TYPE}\r\n\
         Content-Length: 2097152\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    drop(s);
    // A chunked body (no length declared) is cut off at the limit: refused,
    // nothing stored.
    let mut s = std::net::TcpStream::connect(&server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Type: {STOW_TYPE}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let big = stow_body(&vec![0u8; 2 * 1024 * 1024]);
    for chunk in big.chunks(64 * 1024) {
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break; // the server stopped reading
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    let status: u16 = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    assert!((400..500).contains(&status), "{status}");
    drop(s);
    let corpus = Corpus::new(62, Options::small(1));
    let one = corpus.instances(&corpus.study(0)).next().unwrap();
    let (status, _, body) = http(
        &server.http,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", STOW_TYPE)],
        &stow_body(&one.bytes),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    drop(server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = rt.block_on(async {
        let a = common::open_archive(dir.path()).await;
        a.index()
            .counts(storage::TenantScope::All)
            .await
            .unwrap()
            .instances
    });
    assert_eq!(n, 1, "only the instance within the limit was stored");
}

/// An RSA key made by openssl: (private PEM, JWK of the public key).
fn rsa_key(dir: &std::path::Path, kid: &str) -> (Vec<u8>, serde_json::Value) {
    let pem = dir.join(format!("{kid}.pem"));
    let ok = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&pem)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl genrsa");
    let out = std::process::Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let hex_modulus = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("Modulus=")
        .to_owned();
    let n = hex::decode(hex_modulus).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = serde_json::json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": b64.encode(n), "e": b64.encode([1u8, 0, 1]),
    });
    (std::fs::read(&pem).unwrap(), jwk)
}

fn token(pem: &[u8], kid: &str, claims: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap(),
    )
    .unwrap()
}

/// Serve `body` at any path, as an identity provider publishes its JWKS.
fn serve_jwks(body: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Read;
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/realms/pacs/protocol/openid-connect/certs")
}

#[test]
fn oidc_bearer_tokens_are_validated_and_mapped_to_roles() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, jwk) = rsa_key(dir.path(), "k1");
    let (other_pem, _) = rsa_key(dir.path(), "k2");
    let jwks_url = serve_jwks(serde_json::json!({ "keys": [jwk] }).to_string());
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nrequired = true\n\n[auth.oidc]\nissuer = \"https://sso.test/realms/pacs\"\n\
             audience = \"ohif\"\njwks_url = \"{jwks_url}\"\nroles_claim = \"realm_access.roles\"\n\n\
             [auth.oidc.role_map]\n\"pacs-radiologist\" = \"viewer\"\n\"pacs-gateway\" = \"uploader\"\n\n\
             [dicom]\nunknown_peers = \"reject\"\n\
             [[tenants]]\nid = \"bv-quan1\"\nname = \"District 1\"\nae_title = \"Q1PACS\"\n"
        ),
    )
    .unwrap();
    let mut server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |user: &str, role: &str, iss: &str, aud: &str, exp: i64| {
        serde_json::json!({
            "iss": iss, "aud": aud, "exp": exp, "iat": now, "sub": format!("id-{user}"),
            "preferred_username": user, "realm_access": { "roles": [role, "offline_access"] },
            "tenant": "bv-quan1",
        })
    };
    let iss = "https://sso.test/realms/pacs";
    let get = |token: &str| {
        let auth = format!("Bearer {token}");
        let (status, headers, _) = http(
            &server.http,
            "GET",
            "/dicom-web/studies",
            &[("Authorization", &auth)],
            b"",
        );
        (status, headers)
    };
    let good = token(
        &pem,
        "k1",
        claims("dr.lan", "pacs-radiologist", iss, "ohif", now + 300),
    );
    assert_eq!(get(&good).0, 200);
    // Expired, another audience, another issuer, another key, no role.
    for bad in [
        token(
            &pem,
            "k1",
            claims("dr.lan", "pacs-radiologist", iss, "ohif", now - 3600),
        ),
        token(
            &pem,
            "k1",
            claims("dr.lan", "pacs-radiologist", iss, "other-app", now + 300),
        ),
        token(
            &pem,
            "k1",
            claims(
                "dr.lan",
                "pacs-radiologist",
                "https://evil.test",
                "ohif",
                now + 300,
            ),
        ),
        token(
            &other_pem,
            "k1",
            claims("dr.lan", "pacs-radiologist", iss, "ohif", now + 300),
        ),
        token(
            &other_pem,
            "k2",
            claims("dr.lan", "pacs-radiologist", iss, "ohif", now + 300),
        ),
        // Without aud, and without iss: required, not only checked when there.
        token(
            &pem,
            "k1",
            serde_json::json!({
                "iss": iss, "exp": now + 300, "preferred_username": "dr.lan",
                "realm_access": { "roles": ["pacs-radiologist"] },
            }),
        ),
        token(
            &pem,
            "k1",
            serde_json::json!({
                "aud": "ohif", "exp": now + 300, "preferred_username": "dr.lan",
                "realm_access": { "roles": ["pacs-radiologist"] },
            }),
        ),
        "not.a.token".to_owned(),
    ] {
        let (status, headers) = get(&bad);
        assert_eq!(status, 401);
        assert!(headers
            .iter()
            .any(|(k, v)| k == "www-authenticate" && v.starts_with("Bearer")));
    }
    let gateway = token(
        &pem,
        "k1",
        claims("gw", "pacs-gateway", iss, "ohif", now + 300),
    );
    assert_eq!(get(&gateway).0, 403, "uploader may not search");
    // The tenant claim: a configured tenant works, another is refused.
    let with_tenant = |tenant: &str| {
        let mut c = claims("dr.minh", "pacs-radiologist", iss, "ohif", now + 300);
        c["tenant"] = serde_json::json!(tenant);
        token(&pem, "k1", c)
    };
    assert_eq!(get(&with_tenant("bv-quan1")).0, 200);
    assert_eq!(get(&with_tenant("bv-quan9")).0, 401, "unknown tenant");
    assert_eq!(get(&with_tenant("Not A Tenant")).0, 401, "malformed tenant");
    let mut no_tenant = claims("dr.minh", "pacs-radiologist", iss, "ohif", now + 300);
    no_tenant.as_object_mut().unwrap().remove("tenant");
    assert_eq!(get(&token(&pem, "k1", no_tenant)).0, 401, "no tenant claim");
    // platform-admin only when role_map gives it, never as a raw value.
    let mut raw = claims("mallory", "platform-admin", iss, "ohif", now + 300);
    raw.as_object_mut().unwrap().remove("tenant");
    assert_eq!(
        get(&token(&pem, "k1", raw)).0,
        401,
        "no tenant, no platform role"
    );
    assert!(server.terminate(Duration::from_secs(30)).success());
    let out = filmless()
        .args(["audit", "--format", "jsonl", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let trail = String::from_utf8_lossy(&out.stdout);
    assert!(
        trail.contains("\"actor\":\"dr.lan\",\"actor_kind\":\"oidc\""),
        "{trail}"
    );
    assert!(trail.contains("token expired"), "{trail}");
    assert!(
        trail.contains("\"actor\":\"dr.minh\"") && trail.contains("\"tenant\":\"bv-quan1\""),
        "{trail}"
    );
    assert!(
        trail.contains("its tenant is not in [[tenants]]"),
        "{trail}"
    );
    assert!(
        trail.contains("bad token signature") || trail.contains("unknown key"),
        "{trail}"
    );
}

#[test]
fn https_serves_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let server = ServerProcess::start(
        dir.path(),
        &[],
        &[
            ("FILMLESS_HTTP__TLS_CERT", cert.to_str().unwrap()),
            ("FILMLESS_HTTP__TLS_KEY", key.to_str().unwrap()),
        ],
    );
    let curl = |url: String| {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&cert)
            .arg(url)
            .output()
            .unwrap()
    };
    let out = curl(format!("https://{}/healthz", server.http));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    // Store one instance over HTTPS; its RetrieveURL says https.
    let corpus = Corpus::new(63, Options::small(1));
    let one = corpus.instances(&corpus.study(0)).next().unwrap();
    let body = dir.path().join("stow.bin");
    std::fs::write(&body, stow_body(&one.bytes)).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&cert)
        .args(["-H", &format!("Content-Type: {STOW_TYPE}"), "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg(format!("https://{}/dicom-web/studies", server.http))
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.contains(&format!("https://{}/dicom-web/studies/", server.http)),
        "{reply}"
    );
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://{}/healthz", server.http))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ok"));
    // A client that does not trust the certificate is refused by curl.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("https://{}/healthz", server.http))
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The server kept serving through all that.
    assert!(curl(format!("https://{}/healthz", server.http))
        .status
        .success());
}

/// Patient names, IDs and birth dates never reach the log above TRACE,
/// even at DEBUG, whatever path they come in by (C-STORE, C-FIND,
/// QIDO-RS query strings, STOW-RS, refused data).
#[test]
fn patient_identifiers_stay_out_of_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &["--peer", "RIS@127.0.0.1:1"],
        &[("FILMLESS_LOG__LEVEL", "debug")],
    );
    let corpus = Corpus::new(64, Options::small(2));
    let ct = corpus.study(0);
    let files = corpus.instances(&ct).collect::<Vec<_>>();
    let paths = write_files(dir.path(), &files[..1]);
    c_store(server.dicom_port, &[], &paths);
    let (status, _, _) = http(
        &server.http,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", STOW_TYPE)],
        &stow_body(&files[1].bytes),
    );
    assert_eq!(status, 200);
    let family = ct.patient.name.split('^').next().unwrap().to_owned();
    for q in [
        format!("/dicom-web/studies?PatientName={family}*"),
        format!("/dicom-web/studies?PatientID={}", ct.patient.id),
        format!(
            "/dicom-web/studies?PatientBirthDate={}",
            ct.patient.birth_date
        ),
        format!(
            "/dicom-web/studies?PatientBirthDate={}-bad",
            ct.patient.birth_date
        ),
    ] {
        let (status, _, _) = http(&server.http, "GET", &q, &[], b"");
        assert!(status == 200 || status == 400, "{q}: {status}");
    }
    c_find_patient(
        server.dicom_port,
        &ct.patient.id,
        &["PatientName", "PatientBirthDate"],
    );
    // The C-FIND was the last request; once its line is in, so is the rest.
    assert!(server.logged("find done"), "the C-FIND was logged");
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("stored"), "DEBUG lines were written");
    for secret in [&ct.patient.id, &family, &ct.patient.birth_date] {
        assert!(
            !log.contains(secret.as_str()),
            "{secret:?} in the log:\n{}",
            log.lines()
                .filter(|l| l.contains(secret.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all
/// made by openssl: the paths of (ca, server cert, server key, client cert,
/// client key).
fn pki(dir: &std::path::Path) -> [std::path::PathBuf; 5] {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    std::fs::write(
        p("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for who in ["server", "client"] {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={who}"),
            "-keyout",
            &format!("{who}.key"),
            "-out",
            &format!("{who}.csr"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{who}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{who}.ext"),
            "-out",
            &format!("{who}.pem"),
        ]);
    }
    [
        p("ca.pem"),
        p("server.pem"),
        p("server.key"),
        p("client.pem"),
        p("client.key"),
    ]
}

#[test]
fn dicom_tls_on_its_own_port_with_optional_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key, client_cert, client_key] = pki(dir.path());
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let env = |client_ca: &str| {
        vec![
            ("FILMLESS_DICOM__TLS_BIND", "127.0.0.1:0".to_owned()),
            ("FILMLESS_DICOM__TLS_CERT", s(&cert)),
            ("FILMLESS_DICOM__TLS_KEY", s(&key)),
            ("FILMLESS_DICOM__TLS_CLIENT_CA", client_ca.to_owned()),
        ]
    };
    let echo = |port: u16, tls: &[&str]| {
        dcmtk("echoscu")
            .args(tls)
            .args(["-aet", "CT01", "-aec", "FILMLESS", "127.0.0.1"])
            .arg(port.to_string())
            .output()
            .unwrap()
            .status
            .success()
    };
    let anonymous = ["+tla", "+cf", ca.to_str().unwrap()];
    let with_cert = [
        "+tls",
        client_key.to_str().unwrap(),
        client_cert.to_str().unwrap(),
        "+cf",
        ca.to_str().unwrap(),
    ];

    // Encryption only: any client that trusts our certificate.
    let data = dir.path().join("a");
    let e = env("");
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start(&data, &[], &e);
    let tls_port = server.dicom_tls_port.expect("a TLS port");
    assert!(
        echo(tls_port, &anonymous),
        "TLS without a client certificate"
    );
    assert!(!echo(tls_port, &[]), "plain DICOM on the TLS port");
    assert!(echo(server.dicom_port, &[]), "the plain port stays");
    let corpus = Corpus::new(65, Options::small(2));
    let files = corpus.instances(&corpus.study(0)).collect::<Vec<_>>();
    let paths = write_files(dir.path(), &files);
    c_store(tls_port, &anonymous, &paths);
    drop(server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = rt.block_on(async {
        let a = common::open_archive(&data).await;
        a.index()
            .counts(storage::TenantScope::All)
            .await
            .unwrap()
            .instances
    });
    assert_eq!(n, 2, "stored over TLS");

    // Client certificates required.
    let e = env(ca.to_str().unwrap());
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start(&dir.path().join("b"), &[], &e);
    let tls_port = server.dicom_tls_port.unwrap();
    assert!(
        !echo(tls_port, &anonymous),
        "no client certificate: refused"
    );
    assert!(
        echo(tls_port, &with_cert),
        "a certificate from the CA: accepted"
    );
    drop(server);

    // The plain and the TLS port count associations together.
    let mut e = env("");
    e.push(("FILMLESS_DICOM__MAX_ASSOCIATIONS", "1".to_owned()));
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start(&dir.path().join("c"), &[], &e);
    let tls_port = server.dicom_tls_port.unwrap();
    let held = rt
        .block_on(dicom_net::scu::ScuAssociation::connect(
            &dicom_net::scu::ScuOptions {
                calling_ae: "CT01".into(),
                called_ae: "FILMLESS".into(),
                addr: ([127, 0, 0, 1], server.dicom_port).into(),
                max_pdu_length: 16_384,
                timeout: Duration::from_secs(10),
            },
            &[(
                dicom_net::scu::VERIFICATION.to_owned(),
                vec!["1.2.840.10008.1.2".to_owned()],
            )],
        ))
        .unwrap();
    assert!(
        !echo(tls_port, &anonymous),
        "the one association allowed is taken on the plain port"
    );
    // Refused as the plain port refuses: A-ASSOCIATE-RJ, transient, local
    // limit exceeded (inside TLS), not a closed socket.
    let out = dcmtk("echoscu")
        .args(["-v"])
        .args(anonymous)
        .args(["-aet", "CT01", "-aec", "FILMLESS", "127.0.0.1"])
        .arg(tls_port.to_string())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Rejected Transient") && said.contains("Local Limit Exceeded"),
        "{said}"
    );
    rt.block_on(held.release()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !echo(tls_port, &anonymous) {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was not freed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Anonymous mode on loopback: no web page a user opens elsewhere can use
/// the archive through their browser (no CORS, and DNS rebinding refused).
#[test]
fn anonymous_access_is_for_this_machine_only() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[], &[]);
    let (status, headers, _) = http(
        &server.http,
        "GET",
        "/dicom-web/studies",
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert!(status == 200 || status == 204);
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k == "access-control-allow-origin"),
        "{headers:?}"
    );
    let raw = |host: &str| {
        let mut s = std::net::TcpStream::connect(&server.http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /dicom-web/studies HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
    };
    // What a DNS-rebinding page sends: its own name as Host.
    let reply = raw("evil.example:8080");
    assert!(reply.starts_with("HTTP/1.1 421"), "{reply}");
    // localhost by name is this machine.
    let reply = raw("localhost");
    assert!(reply.starts_with("HTTP/1.1 20"), "{reply}");
}

/// A peer bound to a client certificate: accepted over TLS with a
/// certificate of that subject, refused (A-ASSOCIATE-RJ) with another
/// subject's or over the plain port.
#[test]
fn an_ae_title_bound_to_a_certificate_subject() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key, client_cert, client_key] = pki(dir.path());
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "[dicom]\ntls_bind = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
             tls_client_ca = \"{}\"\nunknown_peers = \"reject\"\n\
             [[dicom.peers]]\nae_title = \"CT01\"\nhost = \"127.0.0.1\"\nport = 104\n\
             tls_subject = \"CN=client\"\n\
             [[dicom.peers]]\nae_title = \"CT02\"\nhost = \"127.0.0.1\"\nport = 104\n\
             tls_subject = \"CN=ct02.hospital\"\n",
            cert.display(),
            key.display(),
            ca.display()
        ),
    )
    .unwrap();
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let tls_port = server.dicom_tls_port.unwrap();
    let with_cert = [
        "+tls",
        client_key.to_str().unwrap(),
        client_cert.to_str().unwrap(),
        "+cf",
        ca.to_str().unwrap(),
    ];
    let echo = |calling: &str, port: u16, tls: &[&str]| {
        let out = dcmtk("echoscu")
            .arg("-v")
            .args(tls)
            .args(["-aet", calling, "-aec", "FILMLESS", "127.0.0.1"])
            .arg(port.to_string())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, said) = echo("CT01", tls_port, &with_cert);
    assert!(
        ok,
        "its own certificate: {said}\n{:?}",
        server.log.lock().unwrap()
    );
    let (ok, said) = echo("CT02", tls_port, &with_cert);
    assert!(!ok && said.contains("Association Rejected"), "{said}");
    assert!(server.logged("bound to the certificate subject"));
    let (ok, said) = echo("CT01", server.dicom_port, &[]);
    assert!(
        !ok && said.contains("Association Rejected"),
        "without TLS: {said}"
    );
    assert!(server.logged("it came without TLS"));
}

/// Behind a reverse proxy: X-Forwarded-For names the client in the audit
/// trail when the proxy is trusted, and is ignored from anyone else.
#[test]
fn the_audit_trail_names_the_client_behind_a_trusted_proxy() {
    for (trusted, source) in [(true, "203.0.113.9"), (false, "127.0.0.1")] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("filmless.toml");
        let proxies = if trusted { "[\"127.0.0.0/8\"]" } else { "[]" };
        std::fs::write(&config, format!("[http]\ntrusted_proxies = {proxies}\n")).unwrap();
        let mut server = ServerProcess::start(
            &dir.path().join("data"),
            &["--config", config.to_str().unwrap()],
            &[],
        );
        let (status, _, _) = http(
            &server.http,
            "GET",
            "/dicom-web/studies",
            &[("X-Forwarded-For", "198.51.100.1, 203.0.113.9")],
            b"",
        );
        assert_eq!(status, 200);
        assert!(server.terminate(Duration::from_secs(30)).success());
        let out = filmless()
            .args(["audit", "--format", "jsonl", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let qido: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["action"] == "qido-rs")
            .collect();
        assert_eq!(qido.len(), 1, "{text}");
        assert_eq!(qido[0]["source"], source, "trusted = {trusted}: {text}");
    }
}

/// A user removed or given a new password through the server is refused
/// at its next request, though its password was remembered a moment ago
/// (the login cache is checked again after every change of users).
fn user_changes_take_effect_at_once(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!("data_dir = \"{}\"\n{storage}", dir.path().display()),
    )
    .unwrap();
    for (name, roles, password) in [
        ("root", "admin", "root-password"),
        ("alice", "viewer", "alice-password"),
        ("bob", "viewer", "bob-password"),
    ] {
        common::add_user(&config, name, roles, None, password);
    }
    let server = ServerProcess::start(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[("FILMLESS_AUTH__REQUIRED", "true")],
    );
    let get = |user: &str, password: &str| {
        http(
            &server.http,
            "GET",
            "/dicom-web/studies",
            &[("Authorization", &basic(user, password))],
            b"",
        )
        .0
    };
    let root = basic("root", "root-password");
    assert_eq!(get("alice", "alice-password"), 200);
    assert_eq!(get("bob", "bob-password"), 200);
    let (status, _, body) = http(
        &server.http,
        "DELETE",
        "/api/users/alice",
        &[("Authorization", &root)],
        b"",
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    assert_eq!(get("alice", "alice-password"), 401, "a removed user");
    let (status, _, body) = http(
        &server.http,
        "POST",
        "/api/users",
        &[
            ("Authorization", &root),
            ("Content-Type", "application/json"),
        ],
        br#"{"name": "bob", "roles": ["viewer"], "password": "bob-new-password"}"#,
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    assert_eq!(get("bob", "bob-password"), 401, "the old password");
    assert_eq!(get("bob", "bob-new-password"), 200, "the new one");
    // Disabled: refused at once, kept (listed as such); enabled: back.
    let set = |disabled: bool| {
        let (status, _, body) = http(
            &server.http,
            "PATCH",
            "/api/users/bob",
            &[
                ("Authorization", &root),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"disabled": {disabled}}}"#).as_bytes(),
        );
        assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    };
    set(true);
    assert_eq!(get("bob", "bob-new-password"), 401, "a disabled user");
    let (_, _, body) = http(
        &server.http,
        "GET",
        "/api/users",
        &[("Authorization", &root)],
        b"",
    );
    let users: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .cloned()
        .unwrap();
    assert_eq!(bob["disabled"], true, "{users}");
    set(false);
    assert_eq!(get("bob", "bob-new-password"), 200, "enabled again");
    // Roles changed without a new password: the password stays; a new
    // user without one is refused.
    let post = |body: &[u8]| {
        http(
            &server.http,
            "POST",
            "/api/users",
            &[
                ("Authorization", &root),
                ("Content-Type", "application/json"),
            ],
            body,
        )
        .0
    };
    assert_eq!(
        post(br#"{"name": "bob", "roles": ["viewer", "uploader"], "password": ""}"#),
        204
    );
    assert_eq!(get("bob", "bob-new-password"), 200, "the same password");
    let (_, _, body) = http(
        &server.http,
        "GET",
        "/api/users",
        &[("Authorization", &root)],
        b"",
    );
    let users: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .cloned()
        .unwrap();
    assert_eq!(bob["roles"], "viewer,uploader", "{users}");
    assert_eq!(
        post(br#"{"name": "carol", "roles": ["viewer"], "password": ""}"#),
        400
    );
    assert_eq!(
        post(br#"{"name": "bob", "roles": [], "password": ""}"#),
        400
    );
    // The same from the command line (which a running server takes
    // within auth.cache_secs: checked here after a restart of nothing).
    let out = common::filmless()
        .args([
            "user",
            "disable",
            "--config",
            config.to_str().unwrap(),
            "root",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::filmless()
        .args(["user", "list", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("root\t") && l.ends_with("disabled")),
        "{listed}"
    );
}

#[test]
fn user_changes_take_effect_at_once_sqlite() {
    user_changes_take_effect_at_once(None);
}

#[test]
fn user_changes_take_effect_at_once_postgres() {
    let db = common::ScratchPg::new();
    user_changes_take_effect_at_once(Some(&db.url));
}
