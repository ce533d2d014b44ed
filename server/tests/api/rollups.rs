//! The usage levels: at any moment, each level before the roll-up's progress plus the
//! minutes from it (what a chart reads, in one statement) sums to exactly the events
//! recorded, whether the roll-up took a minute or the writer stored it late; concurrent
//! roll-ups count each minute once; retention removes exactly what is past it.

use crate::helpers::{Backend, TestApp};
use app::platform::rollup::{self, Retention, DAY_MS, HOUR_MS, MINUTE_MS};
use app::platform::usage::Event;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

crate::backends!(
    every_level_sums_to_the_events_at_any_moment,
    concurrent_roll_ups_count_each_minute_once,
    catching_up_rolls_a_minute_at_a_time,
    retention_removes_exactly_what_is_past_it
);

/// A UTC day start ten days ahead of the real clock: the instance's own roll-up job (which
/// runs on the real time) never reaches these events.
fn day_zero(app: &TestApp) -> i64 {
    let now = app.clock.now();
    now - now.rem_euclid(DAY_MS) + 10 * DAY_MS
}

const CODES: [&str; 3] = ["VALID", "RATE_LIMITED", "REVOKED"];

/// A random event at `at`: one of six keys in three applications, one of two APIs, or an
/// unknown key.
fn random_event(rng: &mut StdRng, at: i64) -> Event {
    let key = rng.gen_range(0..7);
    let (key_id, application_id) = if key == 6 {
        (None, None)
    } else {
        (
            Some(format!("key-{key}").into()),
            Some(format!("app-{}", key % 3).into()),
        )
    };
    Event {
        at,
        key_id,
        application_id,
        api_id: rng
            .gen_bool(0.9)
            .then(|| format!("api-{}", rng.gen_range(0..2)).into()),
        code: CODES[rng.gen_range(0..CODES.len())],
        rotated: false,
        client_ip: None,
        upstream_status: None,
        latency_ms: None,
        bytes: None,
    }
}

/// What each level reads as, as a chart reads it: its rows plus the minutes not yet rolled
/// up, in one statement. Keys are `application|time|api|key|code` (per key) or
/// `api|time|code` (per API).
async fn read_levels(app: &TestApp) -> [BTreeMap<String, i64>; 3] {
    let db = &app.state.db;
    let mut out: [BTreeMap<String, i64>; 3] = Default::default();
    for (i, (table, time, bucket)) in [
        ("usage_hours", "hour", HOUR_MS),
        ("usage_days", "day", DAY_MS),
        ("usage_api_hours", "hour", HOUR_MS),
    ]
    .into_iter()
    .enumerate()
    {
        let per_key = table != "usage_api_hours";
        let (cols, minute_cols) = if per_key {
            (
                format!("application_id, {time} AS t, api_id, key_id, code"),
                format!("application_id, minute - minute % {bucket}, api_id, key_id, code"),
            )
        } else {
            (
                format!("'' AS application_id, {time} AS t, api_id, '' AS key_id, code"),
                format!("'', minute - minute % {bucket}, api_id, '', code"),
            )
        };
        let sql = format!(
            "SELECT application_id, t, api_id, key_id, code, CAST(SUM(requests) AS BIGINT) FROM ( \
             SELECT {cols}, requests FROM {table} UNION ALL \
             SELECT {minute_cols}, requests FROM usage_minutes \
             WHERE minute >= (SELECT done_until FROM usage_rollup WHERE id = 1)) AS l \
             GROUP BY application_id, t, api_id, key_id, code"
        );
        let rows: Vec<(String, i64, String, String, String, i64)> =
            sqlx::query_as(&sql).fetch_all(db).await.unwrap();
        for (a, t, api, k, code, n) in rows {
            let id = if per_key {
                format!("{a}|{t}|{api}|{k}|{code}")
            } else {
                format!("{api}|{t}|{code}")
            };
            out[i].insert(id, n);
        }
    }
    out
}

/// The same sums, computed from the events.
fn expected_levels(events: &[Event]) -> [BTreeMap<String, i64>; 3] {
    let mut out: [BTreeMap<String, i64>; 3] = Default::default();
    for e in events {
        let (a, api, k) = (
            e.application_id.clone().unwrap_or_default(),
            e.api_id.clone().unwrap_or_default(),
            e.key_id.clone().unwrap_or_default(),
        );
        let (hour, day) = (e.at - e.at % HOUR_MS, e.at - e.at % DAY_MS);
        for (i, id) in [
            format!("{a}|{hour}|{api}|{k}|{}", e.code),
            format!("{a}|{day}|{api}|{k}|{}", e.code),
            format!("{api}|{hour}|{}", e.code),
        ]
        .into_iter()
        .enumerate()
        {
            *out[i].entry(id).or_insert(0) += 1;
        }
    }
    out
}

async fn record(app: &TestApp, events: &[Event]) {
    for e in events {
        app.state.usage.record(e.clone());
    }
    app.state.usage.flush().await;
    assert_eq!(app.state.usage.dropped(), 0);
}

/// Records `events`, then sets the roll-up's progress to `done`.
async fn record_rolled_until(app: &TestApp, events: &[Event], done: i64) {
    record(app, events).await;
    sqlx::query("UPDATE usage_rollup SET done_until = $1")
        .bind(done)
        .execute(&app.state.db)
        .await
        .unwrap();
}

/// A valid call at `at` by the key `key` of `application` to the API `api`.
fn valid_call(at: i64, application: &str, client_ip: Option<std::net::IpAddr>) -> Event {
    Event {
        at,
        key_id: Some("key".into()),
        application_id: Some(application.into()),
        api_id: Some("api".into()),
        code: "VALID",
        rotated: false,
        client_ip,
        upstream_status: None,
        latency_ms: None,
        bytes: None,
    }
}

async fn done_until(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT done_until FROM usage_rollup WHERE id = 1")
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

async fn every_level_sums_to_the_events_at_any_moment(app: TestApp) {
    let db = &app.state.db;
    let zero = day_zero(&app);
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        sqlx::query("DELETE FROM usage_minutes")
            .execute(db)
            .await
            .unwrap();
        for table in ["usage_hours", "usage_days", "usage_api_hours"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(db)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE usage_rollup SET done_until = $1")
            .bind(zero - DAY_MS)
            .execute(db)
            .await
            .unwrap();
        let mut events = Vec::new();
        let mut late = 0;
        // Rounds of events across the last few hours before `now`, then a roll-up at `now`:
        // later rounds bring events for minutes already rolled up (a writer held up).
        for round in 1..=6 {
            let now = zero + round * 7 * HOUR_MS + rng.gen_range(0..HOUR_MS);
            let done = done_until(&app).await;
            let batch: Vec<Event> = (0..rng.gen_range(20..80))
                .map(|_| {
                    let at = now - rng.gen_range(0..9 * HOUR_MS);
                    random_event(&mut rng, at)
                })
                .collect();
            late += batch.iter().filter(|e| e.at < done).count();
            record(&app, &batch).await;
            events.extend(batch);
            assert_eq!(
                read_levels(&app).await,
                expected_levels(&events),
                "seed {seed}, round {round}, before the roll-up"
            );
            rollup::roll_up(db, now).await.unwrap();
            assert_eq!(
                done_until(&app).await,
                now - now % MINUTE_MS - rollup::ROLLUP_DELAY
            );
            assert_eq!(
                read_levels(&app).await,
                expected_levels(&events),
                "seed {seed}, round {round}, after the roll-up"
            );
        }
        assert!(late > 0, "some events came for minutes already rolled up");
        // Everything rolled up: the levels alone hold every event.
        rollup::roll_up(db, zero + 5 * DAY_MS).await.unwrap();
        let minutes: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM usage_minutes WHERE minute >= $1")
                .bind(done_until(&app).await)
                .fetch_one(db)
                .await
                .unwrap();
        assert_eq!(minutes, 0);
        let hours: i64 =
            sqlx::query_scalar("SELECT CAST(SUM(requests) AS BIGINT) FROM usage_hours")
                .fetch_one(db)
                .await
                .unwrap();
        assert_eq!(hours, events.len() as i64);
    }
}

async fn concurrent_roll_ups_count_each_minute_once(app: TestApp) {
    let zero = day_zero(&app);
    let mut rng = StdRng::seed_from_u64(7);
    let events: Vec<Event> = (0..400)
        .map(|_| {
            let at = zero + rng.gen_range(0..12 * HOUR_MS);
            random_event(&mut rng, at)
        })
        .collect();
    record_rolled_until(&app, &events, zero).await;
    let now = zero + 13 * HOUR_MS;
    let (a, b, c) = tokio::join!(
        rollup::roll_up(&app.state.db, now),
        rollup::roll_up(&app.state.db, now),
        rollup::roll_up(&app.state.db, now)
    );
    let hours = a.unwrap() + b.unwrap() + c.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_hours")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert!(
        hours >= rows as u64,
        "every hour row written by one of them"
    );
    assert_eq!(read_levels(&app).await, expected_levels(&events));
}

/// Catching up goes a minute per transaction (on SQLite, with the write lock free between
/// them): a minute the database refuses to roll up stops the roll-up there, every minute
/// before it stays rolled up, and charts stay exact meanwhile.
async fn catching_up_rolls_a_minute_at_a_time(app: TestApp) {
    let db = &app.state.db;
    let zero = day_zero(&app);
    // One event in each of ten minutes; the hours refuse the seventh's application.
    let events: Vec<Event> = (0..10)
        .map(|m| {
            let application = if m == 6 { "refused" } else { "app" };
            valid_call(zero + m * MINUTE_MS + 1_000, application, None)
        })
        .collect();
    record_rolled_until(&app, &events, zero).await;
    let (refuse, allow): (&[&str], &str) = if app.backend() == Backend::Sqlite {
        (
            &["CREATE TRIGGER refuse BEFORE INSERT ON usage_hours \
               WHEN NEW.application_id = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END"],
            "DROP TRIGGER refuse",
        )
    } else {
        (
            &[
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
                 IF NEW.application_id = 'refused' THEN RAISE EXCEPTION 'refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse BEFORE INSERT ON usage_hours \
                 FOR EACH ROW EXECUTE FUNCTION refuse()",
            ],
            "DROP TRIGGER refuse ON usage_hours",
        )
    };
    for sql in refuse {
        sqlx::query(sql).execute(db).await.unwrap();
    }
    let hours = || async {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT CAST(SUM(requests) AS BIGINT) FROM usage_hours",
        )
        .fetch_one(db)
        .await
        .unwrap()
        .unwrap_or(0)
    };
    let now = zero + HOUR_MS;
    assert!(rollup::roll_up(db, now).await.is_err());
    assert_eq!(done_until(&app).await, zero + 6 * MINUTE_MS);
    assert_eq!(hours().await, 6, "the six minutes before the refused one");
    assert_eq!(read_levels(&app).await, expected_levels(&events));

    sqlx::query(allow).execute(db).await.unwrap();
    rollup::roll_up(db, now).await.unwrap();
    assert_eq!(done_until(&app).await, now - rollup::ROLLUP_DELAY);
    assert_eq!(hours().await, 10);
    assert_eq!(read_levels(&app).await, expected_levels(&events));
}

async fn retention_removes_exactly_what_is_past_it(app: TestApp) {
    let db = &app.state.db;
    let zero = day_zero(&app);
    // One event on each of days 0–5, half past midnight, by a known key (raw events too).
    let events: Vec<Event> = (0..6)
        .map(|d| {
            let at = zero + d * DAY_MS + 30 * MINUTE_MS;
            valid_call(at, "app", Some("203.0.113.7".parse().unwrap()))
        })
        .collect();
    record_rolled_until(&app, &events, zero).await;
    // Days 0–2 rolled up; days 3–5 not yet.
    rollup::roll_up(db, zero + 3 * DAY_MS).await.unwrap();
    let now = zero + 5 * DAY_MS + 2 * HOUR_MS;
    let keep = Retention {
        raw_days: 1,
        minute_days: 1,
        hour_days: 2,
        day_days: Some(3),
    };
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(db)
            .await
            .unwrap()
    };
    assert_eq!(
        (
            count("usage_events").await,
            count("usage_minutes").await,
            count("usage_hours").await
        ),
        (6, 6, 3)
    );
    let pruned = rollup::prune(db, now, keep).await.unwrap();
    // Raw events before day 4, 02:00 (days 0–4); minutes rolled up (days 0–2), though days 3
    // and 4 are older than a day; hours that ended before day 3, 02:00 (days 0–2); days
    // that ended before day 2, 02:00 (days 0 and 1); per-API hours likewise (days 0–2's).
    assert_eq!(pruned.raw, 5);
    assert_eq!(pruned.minutes, 3);
    assert_eq!(pruned.hours, 3);
    assert_eq!(pruned.days, 2);
    assert_eq!(
        pruned.clients, 3,
        "client addresses go with the hours: days 0–2"
    );
    assert_eq!(count("usage_clients").await, 3);
    assert_eq!(count("usage_api_hours").await, 0);
    let kept_day: i64 = sqlx::query_scalar("SELECT day FROM usage_days")
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(kept_day, zero + 2 * DAY_MS);
    // Without a day retention the days are kept.
    let pruned = rollup::prune(
        db,
        now + 100 * DAY_MS,
        Retention {
            day_days: None,
            ..keep
        },
    )
    .await
    .unwrap();
    assert_eq!(pruned.days, 0);
    assert_eq!(count("usage_days").await, 1);
}
