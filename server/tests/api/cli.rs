//! The `keyport` binary itself.

use std::io::Write;
use std::process::{Command, Stdio};

fn keyport(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYPORT_DATA_DIR", dir)
        .env(
            "KEYPORT_DATABASE_URL",
            format!("sqlite://{}/keyport.db", dir.display()),
        )
        .env("KEYPORT_LOG", "warn");
    cmd
}

#[test]
fn help_documents_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "setup-link",
        "user",
        "service-token",
        "dev",
        "KEYPORT_DATABASE_URL",
    ] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}

#[test]
fn user_create_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = keyport(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "Admin@Example.com",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin@example.com (admin)"));

    let mut weak = keyport(dir.path())
        .args([
            "user",
            "create",
            "--email",
            "weak@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    weak.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = weak.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("12 characters"));

    let link = keyport(dir.path()).arg("setup-link").output().unwrap();
    assert!(!link.status.success(), "no setup link once an admin exists");
}

#[test]
fn production_mode_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport(dir.path())
        .env("KEYPORT_MODE", "production")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEYPORT_SECRET_KEY is required"));
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport(dir.path())
        .env("KEYPORT_LISTEN", "not-an-address")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid configuration"));
    let out = keyport(dir.path())
        .env("KEYPORT_DATABASE_URL", "mysql://x")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
}

#[test]
fn dev_mode_generates_and_keeps_a_private_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    assert!(keyport(dir.path())
        .arg("migrate")
        .output()
        .unwrap()
        .status
        .success());
    let key_path = dir.path().join("secret.key");
    let first = std::fs::read_to_string(&key_path).unwrap();
    assert!(keyport(dir.path())
        .arg("migrate")
        .output()
        .unwrap()
        .status
        .success());
    assert_eq!(
        first,
        std::fs::read_to_string(&key_path).unwrap(),
        "the key is kept, not regenerated"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn service_token_create_prints_a_token_kept_only_as_a_digest() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyport(dir.path())
        .args(["service-token", "create", "--name", "edge nginx"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("kps_") && token.len() > 40, "{token}");
    let db = std::fs::read(dir.path().join("keyport.db")).unwrap_or_default();
    let wal = std::fs::read(dir.path().join("keyport.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is stored in plain text"
        );
    }
    let empty = keyport(dir.path())
        .args(["service-token", "create", "--name", " "])
        .output()
        .unwrap();
    assert!(!empty.status.success());
}

/// `keyport serve` on a free port, once it answers `/healthz` with `request_id`.
async fn serve(mut cmd: Command, request_id: &str) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = cmd
        .env("KEYPORT_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut answered = None;
    for _ in 0..200 {
        if let Ok(res) = http
            .get(&url)
            .header("X-Request-Id", request_id)
            .send()
            .await
        {
            answered = Some(res.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answered, Some(reqwest::StatusCode::OK));
    (server, port)
}

#[tokio::test]
async fn json_logs_carry_one_span_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = keyport(dir.path());
    cmd.env("KEYPORT_LOG", "info")
        .env("KEYPORT_LOG_FORMAT", "json");
    let (server, _) = serve(cmd, "json-log-test").await;
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let out = server.wait_with_output().unwrap();
    let logs = String::from_utf8(out.stderr).unwrap();

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "keyport::http" && l["span"]["id"] == "json-log-test")
        .unwrap_or_else(|| panic!("no access line for the request in:\n{logs}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["span"]["name"], "request");
    assert_eq!(access["span"]["method"], "GET");
    assert_eq!(access["span"]["route"], "/healthz");
    assert_eq!(access["span"]["status"], 200);
    assert!(
        access["span"]["latency_ms"].as_f64().unwrap() >= 0.0,
        "{access}"
    );
}

/// A clean shutdown (SIGTERM) stores the usage events still queued: verifications answered
/// just before it are all in the rollups afterwards (the writer otherwise waits up to
/// 10 s to write the counts it sums).
#[tokio::test]
async fn a_clean_shutdown_stores_the_queued_usage() {
    let dir = tempfile::tempdir().unwrap();
    let migrated = keyport(dir.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success());
    let created = keyport(dir.path())
        .args(["service-token", "create", "--name", "edge"])
        .output()
        .unwrap();
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    let (server, port) = serve(keyport(dir.path()), "shutdown-test").await;
    let http = reqwest::Client::new();
    for i in 0..40 {
        let res = http
            .post(format!("http://127.0.0.1:{port}/v1/keys/verify"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "key": format!("made-up-{i}"), "api": "orders" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
    }
    // The writer and its SQLite connection thread run below the requests' priority.
    let threads = niceness_by_thread(server.id());
    let of = |name: &str| -> Vec<i32> {
        threads
            .iter()
            .filter(|(n, _)| n.starts_with(name))
            .map(|(_, nice)| *nice)
            .collect()
    };
    assert_eq!(of("keyport-usage"), [5], "{threads:?}");
    assert!(of("sqlx-sqlite").contains(&5), "{threads:?}");
    assert!(of("sqlx-sqlite").contains(&0), "{threads:?}");
    assert!(!of("tokio-rt").is_empty(), "{threads:?}");
    assert!(of("tokio-rt").iter().all(|&n| n == 0), "{threads:?}");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let out = server.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}/keyport.db", dir.path().display()))
        .await
        .unwrap();
    let stored: (i64,) = sqlx::query_as(
        "SELECT COALESCE(SUM(requests), 0) FROM usage_minutes WHERE code = 'MALFORMED'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(stored.0, 40);
}

/// The gateway tells HTTP/2 from HTTP/1.1 by a connection's first bytes; connections that
/// have sent none, or only part of HTTP/2's preface, do not hold up a clean stop (else every
/// restart behind a load balancer that opens connections ahead would wait 30 s).
#[tokio::test]
async fn a_stopping_gateway_does_not_wait_for_silent_connections() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = keyport(dir.path());
    cmd.env("KEYPORT_GATEWAY_LISTEN", gateway.to_string());
    let (server, _) = serve(cmd, "silent-test").await;
    let readyz = format!("http://{gateway}/_keyport/readyz");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(&readyz).await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the gateway answers at {readyz}");
    let silent = tokio::net::TcpStream::connect(gateway).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(gateway).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut partial, b"PRI * HTTP/2")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let asked = std::time::Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let out = tokio::task::spawn_blocking(move || server.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = asked.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "stopped after {took:?}, not at once"
    );
    drop((silent, partial));
}

/// Each thread of a process: its name and nice value (Linux `/proc`).
fn niceness_by_thread(pid: u32) -> Vec<(String, i32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            // After the name: state is field 3, nice field 19.
            let nice = tail.split_whitespace().nth(16)?.parse().ok()?;
            Some((name, nice))
        })
        .collect()
}
