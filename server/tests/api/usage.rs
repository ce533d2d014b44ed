//! Usage recording: every decision is stored as per-minute rollups, raw events and the key's
//! use count and last use, in batches; a stalled database slows no verification (events
//! beyond the queue are dropped and counted).

use crate::helpers::{issue_key, spawn_app_with, subscribed_developer, Backend, TestApp};
use serde_json::json;

crate::backends!(
    every_decision_is_recorded,
    a_writer_behind_keeps_the_counts_and_skips_raw_events,
    a_large_store_lands_in_parts_and_a_failed_part_loses_only_the_rest
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_slows_no_verification_sqlite() {
    a_stalled_database_slows_no_verification(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_slows_no_verification_postgres() {
    a_stalled_database_slows_no_verification(Backend::Postgres).await
}

async fn verify(app: &TestApp, token: &str, key: &str, scope: Option<&str>) -> String {
    let body = json!({ "key": key, "api": "api-dev", "scope": scope, "ip": "198.51.100.7" });
    let answer = app.verify(token, body).await.1;
    answer["code"].as_str().unwrap().to_string()
}

async fn every_decision_is_recorded(app: TestApp) {
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let issued = issue_key(&dev, &app_id, "1d", "pets:read")
        .await
        .ok()
        .clone();
    let key = issued["key"].as_str().unwrap().to_string();
    let key_id = issued["view"]["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(verify(&app, &token, &key, None).await, "VALID");
    }
    assert_eq!(
        verify(&app, &token, &key, Some("pets:write")).await,
        "SCOPE_DENIED"
    );
    let unknown = app::domain::ApiKey::generate("kp", app::domain::KeyEnvironment::Live);
    assert_eq!(
        verify(&app, &token, unknown.expose(), None).await,
        "NOT_FOUND"
    );
    assert_eq!(
        verify(&app, &token, "kp_live_made_up", None).await,
        "MALFORMED"
    );
    app.settle().await;

    let db = &app.state.db;
    let api_id: String = sqlx::query_scalar("SELECT id FROM apis WHERE slug = 'api-dev'")
        .fetch_one(db)
        .await
        .unwrap();
    let mut rows = sqlx::query_as::<_, (String, String, String, String, i64, i64)>(
        "SELECT application_id, api_id, key_id, code, requests, minute FROM usage_minutes ORDER BY code",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let minute = app.clock.now() / 60_000 * 60_000;
    assert!(
        rows.iter().all(|r| r.5 == minute || r.5 == minute - 60_000),
        "{rows:?}"
    );
    rows.iter_mut().for_each(|r| r.5 = 0);
    assert_eq!(
        rows,
        vec![
            (
                "".into(),
                api_id.clone(),
                "".into(),
                "MALFORMED".into(),
                1,
                0
            ),
            (
                "".into(),
                api_id.clone(),
                "".into(),
                "NOT_FOUND".into(),
                1,
                0
            ),
            (
                app_id.clone(),
                api_id.clone(),
                key_id.clone(),
                "SCOPE_DENIED".into(),
                1,
                0
            ),
            (
                app_id.clone(),
                api_id.clone(),
                key_id.clone(),
                "VALID".into(),
                3,
                0
            ),
        ]
    );
    let events: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT key_id, code, client_ip FROM usage_events ORDER BY id")
            .fetch_all(db)
            .await
            .unwrap();
    assert_eq!(
        events.len(),
        4,
        "raw events of Keyport's own keys only: {events:?}"
    );
    assert!(events
        .iter()
        .all(|e| e.0 == key_id && e.2.as_deref() == Some("198.51.100.7")));
    let (uses, ip): (i64, Option<String>) =
        sqlx::query_as("SELECT use_count, last_used_ip FROM api_keys WHERE id = $1")
            .bind(&key_id)
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!((uses, ip.as_deref()), (3, Some("198.51.100.7")));
    assert_eq!(app.state.usage.dropped(), 0);

    // Past every retention but the hours': raw events and (rolled-up) minutes go, the
    // hours keep the counts.
    let later = app.clock.now() + 31 * 24 * 3600 * 1000;
    app::platform::rollup::roll_up(db, later).await.unwrap();
    let pruned = app::platform::rollup::prune(db, later, app.state.config.usage_retention())
        .await
        .unwrap();
    assert_eq!((pruned.raw, pruned.minutes, pruned.hours), (4, 4, 0));
    let kept: i64 = sqlx::query_scalar("SELECT CAST(SUM(requests) AS BIGINT) FROM usage_hours")
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(kept, 6);
}

/// Another connection holds the usage table locked: verifications go on, answered from
/// memory, while the writer waits; what the queue cannot hold is dropped and counted, and
/// every event is either stored or counted as dropped once the lock is gone.
async fn a_stalled_database_slows_no_verification(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.usage_queue_capacity = 20).await;
    let token = app.service_token("edge").await;
    let (dev, _, app_id) = subscribed_developer(&app, "dev@example.com").await;
    let key = issue_key(&dev, &app_id, "1d", "").await.ok()["key"]
        .as_str()
        .unwrap()
        .to_string();
    app.settle().await;
    let url = app.state.config.database_url.expose().to_string();
    // The lock, held until `release` is sent.
    let (locked_tx, locked) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        if url.starts_with("sqlite") {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
        } else {
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            sqlx::query("LOCK TABLE usage_minutes, usage_events IN ACCESS EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        locked_tx.send(()).unwrap();
        released.await.ok();
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    });
    locked.await.unwrap();
    // The writer takes the first event and, once its gathering time is over, starts storing
    // it and waits on the lock; it goes on taking events off the queue (of 20) meanwhile.
    assert_eq!(verify(&app, &token, &key, None).await, "VALID");
    tokio::time::sleep(app::platform::usage::FLUSH_EVERY * 2).await;
    let total = 300;
    for _ in 1..total {
        assert_eq!(verify(&app, &token, &key, None).await, "VALID");
    }
    // All answered VALID while the lock is held: none waited for the database (on SQLite a
    // write would fail after the 5 s busy timeout, on PostgreSQL it would wait for good),
    // and the writer, summing in memory, lost none of them.
    assert_eq!(
        app.state.usage.dropped(),
        0,
        "a queue of 20 is enough while the writer sums in memory"
    );
    release.send(()).unwrap();
    holder.await.unwrap();
    app.state.usage.flush().await;
    let usage = &app.state.usage;
    assert_eq!(
        (usage.written(), usage.dropped()),
        (total, 0),
        "every event is counted once the database is back"
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(requests) AS BIGINT) FROM usage_minutes WHERE code = 'VALID'",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(stored, total as i64);
}

/// A writer that finds more than half its queue waiting stores what it takes in the rollups
/// and key counts but skips the raw events (counted), so the counts stay whole under load;
/// one told to keep no raw events keeps none.
async fn a_writer_behind_keeps_the_counts_and_skips_raw_events(app: TestApp) {
    use app::platform::usage::{Event, Recorder};
    let db = &app.state.db;
    let recorder = Recorder::new(100);
    let event = |i: i64| Event {
        at: app.clock.now() + i,
        key_id: Some("key-behind".into()),
        application_id: Some("app-behind".into()),
        api_id: Some("api-behind".into()),
        code: "VALID",
        rotated: false,
        client_ip: None,
        upstream_status: None,
        latency_ms: None,
        bytes: None,
    };
    // 80 of 100 queued before the writer starts: it is behind.
    for i in 0..80 {
        recorder.record(event(i));
    }
    let writer = recorder.writer().expect("the first call gets the writer");
    assert!(recorder.writer().is_none(), "one writer per recorder");
    let running = tokio::spawn(writer.run(db.clone(), true));
    recorder.flush().await;
    // Caught up: the next events are stored raw as well.
    for i in 80..90 {
        recorder.record(event(i));
    }
    recorder.flush().await;
    let requests: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(requests) AS BIGINT) FROM usage_minutes WHERE key_id = 'key-behind'",
    )
    .fetch_one(db)
    .await
    .unwrap();
    let raw: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM usage_events WHERE key_id = 'key-behind'")
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(requests, 90, "every event is in the rollups");
    assert_eq!(
        raw, 10,
        "the raw events of the batch taken while behind are skipped"
    );
    assert_eq!(recorder.raw_skipped(), 80);
    assert_eq!((recorder.written(), recorder.dropped()), (90, 0));
    // The writer ends with its recorder.
    drop(recorder);
    tokio::time::timeout(std::time::Duration::from_secs(5), running)
        .await
        .expect("the writer ends when its recorder is gone")
        .unwrap();

    // With a raw retention of 0 days, raw events are not stored at all (and not counted as
    // skipped); the rollups are whole.
    let recorder = Recorder::new(100);
    let running = tokio::spawn(recorder.writer().unwrap().run(db.clone(), false));
    for i in 0..5 {
        recorder.record(Event {
            key_id: Some("key-no-raw".into()),
            ..event(i)
        });
    }
    recorder.flush().await;
    let stored: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT CAST(SUM(requests) AS BIGINT) FROM usage_minutes WHERE key_id = 'key-no-raw'), \
         (SELECT COUNT(*) FROM usage_events WHERE key_id = 'key-no-raw')",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(stored, (5, 0));
    assert_eq!((recorder.written(), recorder.raw_skipped()), (5, 0));
    drop(recorder);
    running.await.unwrap();
}

/// The writer stores a large batch a few hundred rows per transaction, so a store of 100,000
/// keys' counts never holds SQLite's only write lock for long (quota leases wait on it):
/// a reader sees the rows land part by part. A part that fails ends the store; the parts
/// before it stay, the events of the rest are counted as dropped.
async fn a_large_store_lands_in_parts_and_a_failed_part_loses_only_the_rest(app: TestApp) {
    use app::platform::usage::{Event, Recorder, ROWS_PER_TRANSACTION};
    let db = app.state.db.clone();
    let (part, total) = (ROWS_PER_TRANSACTION as i64, 3_500);
    let now = app.clock.now();
    let event = |i: i64, api: &str| Event {
        at: now,
        key_id: Some(format!("{api}-key-{i}").into()),
        application_id: Some("app-parts".into()),
        api_id: Some(api.into()),
        code: "VALID",
        rotated: false,
        client_ip: Some(std::net::IpAddr::from([198, 51, 100, (i % 200) as u8])),
        upstream_status: Some(200),
        latency_ms: Some(1),
        bytes: Some(10),
    };
    async fn stored(db: &app::platform::state::Db, api: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_minutes WHERE api_id = $1",
        )
        .bind(api)
        .fetch_one(db)
        .await
        .unwrap()
    }

    // A reader polls the stored count while the writer stores 3,500 rows.
    let recorder = Recorder::new(10_000);
    let running = tokio::spawn(recorder.writer().unwrap().run(db.clone(), true));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = db.clone();
    let watcher = tokio::spawn(async move {
        let mut seen = std::collections::BTreeSet::new();
        while stopped.try_recv().is_err() {
            seen.insert(stored(&reader, "api-parts").await);
        }
        seen
    });
    for i in 0..total {
        recorder.record(event(i, "api-parts"));
    }
    recorder.flush().await;
    stop.send(()).unwrap();
    let seen = watcher.await.unwrap();
    assert_eq!(stored(&db, "api-parts").await, total);
    assert!(
        seen.iter().any(|n| 0 < *n && *n < total),
        "the rows land part by part, seen: {seen:?}"
    );
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM usage_minutes WHERE api_id = 'api-parts'), \
         (SELECT COUNT(*) FROM usage_events WHERE api_id = 'api-parts'), \
         (SELECT COUNT(*) FROM usage_clients WHERE key_id LIKE 'api-parts-key-%')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        counts,
        (total, total, total),
        "rollup rows, raw events, client rows"
    );
    assert_eq!((recorder.written(), recorder.dropped()), (total as u64, 0));
    drop(recorder);
    running.await.unwrap();

    // One rollup row the database refuses: the store ends at its part.
    let poison = if app.backend() == Backend::Sqlite {
        vec![
            "CREATE TRIGGER poison BEFORE INSERT ON usage_minutes WHEN NEW.key_id = 'api-poison-key-7' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        ]
    } else {
        vec![
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.key_id = 'api-poison-key-7' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poison BEFORE INSERT ON usage_minutes FOR EACH ROW EXECUTE FUNCTION poison()",
        ]
    };
    for sql in poison {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    let recorder = Recorder::new(10_000);
    let running = tokio::spawn(recorder.writer().unwrap().run(db.clone(), true));
    for i in 0..total {
        recorder.record(event(i, "api-poison"));
    }
    recorder.flush().await;
    let kept = stored(&db, "api-poison").await;
    assert!(
        kept % part == 0 && kept < total,
        "whole parts before the refused one stay: {kept}"
    );
    assert_eq!(
        (recorder.written(), recorder.dropped()),
        (kept as u64, (total - kept) as u64),
        "what was stored is written, the rest dropped"
    );
    drop(recorder);
    running.await.unwrap();
}
