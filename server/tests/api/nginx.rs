//! Keyport behind a real nginx (Debian's package, started by the test) configured exactly
//! as README.md says: the nginx block is read from the README, so the documented
//! configuration is the tested one. nginx forwards the client's own headers to the
//! `auth_request` subrequest and routes the normalised path, so a client must not be able
//! to choose what its key is checked against, by header or by dot segments.

use crate::backends;
use crate::helpers::TestApp;
use crate::helpers::{issue_key, published_api, subscribed_application};
use app::domain::Role;
use axum::extract::Request;
use axum::routing::any;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

backends!(through_nginx_the_operator_alone_chooses_api_and_scope);

/// The ```nginx block of the README's `auth_request` section.
fn readme_nginx_block() -> String {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("`GET /v1/auth_request` for nginx")
        .expect("the README documents auth_request")..];
    let start = section.find("```nginx\n").expect("an nginx block") + "```nginx\n".len();
    let end = start + section[start..].find("```").expect("the block ends");
    section[start..end].to_string()
}

/// The README's `location /pet-store/ { … }` block, as a user copies it for another API.
fn location_block(block: &str) -> String {
    let lines: Vec<&str> = block.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.trim_start().starts_with("location /pet-store/ {"))
        .expect("the API location");
    let indent = lines[first].len() - lines[first].trim_start().len();
    let last = first
        + lines[first..]
            .iter()
            .position(|l| l.trim() == "}" && l.len() - l.trim_start().len() == indent)
            .expect("the location closes");
    lines[first..=last].join("\n")
}

/// nginx in the foreground of a temporary prefix; stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// SIGTERM, as `nginx -s stop` sends it: the master stops its workers before it exits.
    /// (SIGKILL would stop only the master and orphan the worker.)
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_nginx(server_block: &str, upstreams: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         {upstreams}\n  server {{\n    listen 127.0.0.1:{port};\n{server_block}\n  }}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), &conf).unwrap();
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("Debian's nginx (apt-get install nginx; .ci/setup installs it)");
    let test = Command::new(nginx)
        .args(["-t", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t refused the README's configuration:\n{}\n{conf}",
        String::from_utf8_lossy(&test.stderr)
    );
    let child = Command::new(nginx)
        .args(["-g", "daemon off;", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        // nginx logs to error.log in its prefix; it must not hold the test's output open.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Dropping `Nginx` kills and waits for it, whatever happens below.
    let nginx = Nginx {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return nginx;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nginx did not start listening on {port}");
}

/// What an upstream saw: (path and query, X-Consumer, whether a key reached it).
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// An upstream that answers 200 and records every request it gets.
async fn upstream() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router = axum::Router::new().fallback(any(move |req: Request| {
        let record = record.clone();
        async move {
            let h = |name: &str| {
                req.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap_or_default().to_string())
                    .unwrap_or_default()
            };
            let key_seen = !h("x-api-key").is_empty() || !h("authorization").is_empty();
            let path = req.uri().to_string();
            record
                .lock()
                .unwrap()
                .push((path.clone(), h("x-consumer"), key_seen));
            format!("upstream {path}")
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (port, seen)
}

/// Sends `target` byte for byte (an HTTP client library would normalise it); the status.
async fn raw_get(port: u16, target: &str, headers: &[(&str, &str)]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

async fn through_nginx_the_operator_alone_chooses_api_and_scope(app: TestApp) {
    // Two APIs; the developer's application subscribes to `free` only.
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    published_api(&p, "pet-store", "").await;
    let free_plan = published_api(&p, "free", "").await;
    let (dev, _, _) = app
        .signed_in_with_mfa("dev@example.com", Role::Developer)
        .await;
    let app_id = subscribed_application(&dev, "Shop", &free_plan).await;
    let key = issue_key(&dev, &app_id, "1d", "pets:read").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let token = app.service_token("nginx").await;

    // The README's block, with this Keyport's address and token; its location copied for
    // `free` and for a `free-admin` location that needs `pets:write`, as a user would.
    let block = readme_nginx_block()
        .replace("127.0.0.1:3000", &app.addr.to_string())
        .replace("kps_…", &token);
    let pet_store = location_block(&block);
    let free = pet_store.replace("pet-store", "free");
    let free_admin = pet_store
        .replace("location /pet-store/", "location /free-admin/")
        .replace("set $keyport_api pet-store;", "set $keyport_api free;")
        .replace("set $keyport_scope \"\";", "set $keyport_scope pets:write;")
        .replace("pet-store-upstream", "free-upstream");
    assert!(
        free_admin.contains("set $keyport_scope pets:write;"),
        "the README's location sets the scope: {pet_store}"
    );
    let (pet_port, pet_seen) = upstream().await;
    let (free_port, free_seen) = upstream().await;
    let upstreams = format!(
        "  upstream pet-store-upstream {{ server 127.0.0.1:{pet_port}; }}\n  \
         upstream free-upstream {{ server 127.0.0.1:{free_port}; }}"
    );
    let nginx = start_nginx(&format!("{block}\n{free}\n{free_admin}"), &upstreams).await;
    let port = nginx.port;
    let with_key = [("X-Api-Key", key.as_str())];

    // The documented happy path: the key reaches `free`, the upstream learns the
    // application and never sees the key.
    assert_eq!(raw_get(port, "/free/items?limit=2", &with_key).await, 200);
    assert_eq!(
        free_seen.lock().unwrap().last().cloned(),
        Some(("/items?limit=2".to_string(), "Shop".to_string(), false))
    );
    let bearer = format!("Bearer {key}");
    assert_eq!(
        raw_get(port, "/free/x", &[("Authorization", &bearer)]).await,
        200
    );
    assert_eq!(raw_get(port, "/free/items", &[]).await, 401, "no key");

    // The key is not good for `pet-store`, whatever the client says in headers or query.
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("/pet-store/items", vec![]),
        ("/pet-store/items", vec![("X-Keyport-Api", "free")]),
        (
            "/pet-store/items",
            vec![("X-Keyport-Api", "free"), ("X-Keyport-Scope", "")],
        ),
        ("/pet-store/items?api=free", vec![]),
        ("/pet-store/items", vec![("X-Original-URI", "/free/items")]),
    ];
    for (target, extra) in cases {
        let mut headers = with_key.to_vec();
        headers.extend(extra.iter().copied());
        assert_eq!(
            raw_get(port, target, &headers).await,
            403,
            "{target} {extra:?}"
        );
    }
    // Dot segments and their encodings: nginx serves `/pet-store/` for these.
    for target in [
        "/free/../pet-store/items",
        "/free/%2e%2e/pet-store/items",
        "/free/./../pet-store/items",
        "//pet-store/items",
    ] {
        assert_eq!(raw_get(port, target, &with_key).await, 403, "{target}");
    }
    assert!(
        pet_seen.lock().unwrap().is_empty(),
        "no refused request reached pet-store: {:?}",
        pet_seen.lock().unwrap()
    );

    // The scope comes from the location: `free-admin` needs pets:write, which this key
    // lacks; a client header cannot lower it.
    let before = free_seen.lock().unwrap().len();
    for extra in [vec![], vec![("X-Keyport-Scope", "pets:read")]] {
        let mut headers = with_key.to_vec();
        headers.extend(extra.iter().copied());
        assert_eq!(
            raw_get(port, "/free-admin/x", &headers).await,
            403,
            "{extra:?}"
        );
    }
    assert_eq!(free_seen.lock().unwrap().len(), before);
}
