//! `keyport dev seed-usage`: a demo world (a publisher with five published APIs,
//! developers with three applications each, subscriptions and keys) and realistic traffic
//! for it, written straight into the usage levels (hours, days, per-API hours; minutes for
//! the last two days; raw events for the last `--raw-days`): a daily curve peaking at
//! 14:00 UTC, quieter weekends, a few busy keys (Zipf), a few abusive ones (mostly rate
//! limited, from many addresses), revoked keys that keep being tried, and a sprinkle of
//! other refusals. Counts are drawn per key and hour, not per event, so ten million events
//! take seconds to compute; the time goes into the inserts.

use anyhow::{bail, Context};
use app::domain::{ApiKey, DisplayName, Email, KeyEnvironment, Role};
use app::platform::rollup::{DAY_MS, HOUR_MS, MINUTE_MS};
use app::platform::sql::{value_rows, Placeholders};
use app::platform::state::{new_id, token_digest, AppState, Db};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Instant;

/// What to seed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub events: u64,
    pub keys: usize,
    pub days: u32,
    /// Owns the first developer's applications (an existing user), so they see the data.
    pub owner: Option<String>,
    pub raw_days: u32,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Seeded {
    pub events: u64,
    pub hour_rows: u64,
    pub day_rows: u64,
    pub minute_rows: u64,
    pub raw_events: u64,
    pub developers: usize,
    pub applications: usize,
}

const APIS: [(&str, &str); 5] = [
    ("seed-payments", "Payments"),
    ("seed-search", "Search"),
    ("seed-weather", "Weather"),
    ("seed-maps", "Maps"),
    ("seed-mail", "Mail"),
];
const PUBLISHER: &str = "seed-publisher@example.com";

struct Key {
    id: String,
    app: String,
    apis: [String; 2],
    weight: f64,
    abusive: bool,
    revoked_at: Option<i64>,
    ips: Vec<String>,
}

/// Seeds `plan` into the database of `state`.
pub async fn seed(state: &AppState, plan: &Plan) -> anyhow::Result<Seeded> {
    if plan.keys == 0 || plan.days == 0 {
        bail!("--keys and --days must be at least 1");
    }
    let db = &state.db;
    let now = state.clock.now();
    let end = now - now.rem_euclid(MINUTE_MS);
    let start = end - i64::from(plan.days) * DAY_MS;
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let started = Instant::now();
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(PUBLISHER)
        .fetch_optional(db)
        .await?;
    if taken.is_some() {
        bail!("this database holds seeded usage already ({PUBLISHER} exists); seed a fresh one");
    }
    let mut out = Seeded::default();
    let (keys, subs) = world(state, plan, start, &mut rng, &mut out).await?;
    eprintln!(
        "seed: {} developers, {} applications, {} keys in {:.1} s",
        out.developers,
        out.applications,
        keys.len(),
        started.elapsed().as_secs_f64()
    );
    traffic(db, plan, &keys, start, end, &mut rng, &mut out).await?;
    finish(db, &keys, &subs, end).await?;
    Ok(out)
}

/// Users, APIs, plans, applications, subscriptions and keys.
async fn world(
    state: &AppState,
    plan: &Plan,
    start: i64,
    rng: &mut StdRng,
    out: &mut Seeded,
) -> anyhow::Result<(Vec<Key>, Vec<(String, String, String)>)> {
    let db = &state.db;
    let created = start - DAY_MS;
    let publisher = user(db, PUBLISHER, Role::Publisher, created).await?;
    let mut apis = Vec::new();
    for (i, (slug, name)) in APIS.iter().enumerate() {
        let api_id = new_id();
        sqlx::query(
            "INSERT INTO apis (id, slug, name, version, summary, description, description_html, \
             upstream_url, visibility, visible_roles, lifecycle, owner_id, created_at, updated_at) \
             VALUES ($1, $2, $3, '1.0', $4, '', '', $5, 'public', '', 'published', $6, $7, $7)",
        )
        .bind(&api_id)
        .bind(slug)
        .bind(name)
        .bind(format!("{name} for the usage demo"))
        .bind(format!("https://{slug}.example.com"))
        .bind(&publisher)
        .bind(created)
        .execute(db)
        .await?;
        // Search has a monthly quota, so quotas show too.
        let quota = (i == 1).then_some(100_000i64);
        let plan_id = new_id();
        sqlx::query(
            "INSERT INTO plans (id, api_id, name, description, rate_limit, rate_period, burst, quota, \
             quota_period, approval, scopes, max_key_lifetime_days, created_at, updated_at) \
             VALUES ($1, $2, 'Standard', '', 100, 'second', 0, $3, 'month', 'automatic', '', NULL, $4, $4)",
        )
        .bind(&plan_id)
        .bind(&api_id)
        .bind(quota)
        .bind(created)
        .execute(db)
        .await?;
        apis.push((api_id, plan_id));
    }
    let developers = (plan.keys / 50).max(1);
    let mut apps = Vec::new();
    let mut subs = Vec::new();
    for d in 0..developers {
        let owner = match (&plan.owner, d) {
            (Some(email), 0) => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(db)
                .await?
                .with_context(|| format!("--owner {email}: no such user"))?,
            _ => {
                user(
                    db,
                    &format!("seed-dev-{}@example.com", d + 1),
                    Role::Developer,
                    created,
                )
                .await?
            }
        };
        for name in ["Web shop", "Mobile app", "Batch jobs"] {
            let app_id = new_id();
            sqlx::query(
                "INSERT INTO applications (id, owner_kind, owner_id, name, description, created_by, created_at, updated_at) \
                 VALUES ($1, 'user', $2, $3, 'Seeded for the usage demo', $2, $4, $4)",
            )
            .bind(&app_id)
            .bind(&owner)
            .bind(name)
            .bind(created)
            .execute(db)
            .await?;
            let first = apps.len() % apis.len();
            let pair = [first, (first + 1 + apps.len() / apis.len()) % apis.len()];
            let pair = if pair[0] == pair[1] {
                [first, (first + 1) % apis.len()]
            } else {
                pair
            };
            for &a in &pair {
                let sub_id = new_id();
                sqlx::query(
                    "INSERT INTO subscriptions (id, application_id, api_id, plan_id, state, requested_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'active', $5, $6, $6)",
                )
                .bind(&sub_id)
                .bind(&app_id)
                .bind(&apis[a].0)
                .bind(&apis[a].1)
                .bind(&owner)
                .bind(created)
                .execute(db)
                .await?;
                subs.push((sub_id, app_id.clone(), apis[a].0.clone()));
            }
            apps.push((
                app_id,
                owner.clone(),
                [apis[pair[0]].0.clone(), apis[pair[1]].0.clone()],
            ));
        }
    }
    out.developers = developers;
    out.applications = apps.len();
    let prefix = state.config.key_prefix.clone();
    let mut keys = Vec::new();
    let mut tx = db.begin().await?;
    for i in 0..plan.keys {
        let (app_id, owner, api_pair) = &apps[i % apps.len()];
        let secret = ApiKey::generate(&prefix, KeyEnvironment::Live);
        let id = new_id();
        // 2% of keys are revoked part-way and keep being tried.
        let revoked_at = rng.gen_bool(0.02).then(|| {
            start + rng.gen_range(DAY_MS..(i64::from(plan.days) * DAY_MS).max(DAY_MS + 1))
        });
        sqlx::query(
            "INSERT INTO api_keys (id, application_id, name, environment, digest, display_prefix, last4, \
             scopes, api_ids, ip_allowlist, created_by, created_at, revoked_at, revoke_reason) \
             VALUES ($1, $2, $3, 'live', $4, $5, $6, '', '', '', $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(app_id)
        .bind(format!("key-{}", i + 1))
        .bind(token_digest(secret.expose()))
        .bind(secret.display_prefix())
        .bind(secret.last4())
        .bind(owner)
        .bind(created)
        .bind(revoked_at)
        .bind(revoked_at.map(|_| "Seeded: leaked"))
        .execute(&mut *tx)
        .await?;
        let abusive = rng.gen_bool(0.01);
        let ip_count = if abusive { 50 } else { rng.gen_range(1..=3) };
        keys.push(Key {
            id,
            app: app_id.clone(),
            apis: api_pair.clone(),
            weight: 0.0,
            abusive,
            revoked_at,
            ips: (0..ip_count)
                .map(|_| {
                    format!(
                        "203.0.{}.{}",
                        rng.gen_range(0..=255u8),
                        rng.gen_range(1..=254u8)
                    )
                })
                .collect(),
        });
    }
    tx.commit().await?;
    // Zipf-like weights over a random order: a few keys carry most traffic.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    let mut total = 0.0;
    for (rank, &k) in order.iter().enumerate() {
        let w = 1.0 / ((rank + 1) as f64).powf(0.8) * if keys[k].abusive { 5.0 } else { 1.0 };
        keys[k].weight = w;
        total += w;
    }
    keys.iter_mut().for_each(|k| k.weight /= total);
    Ok((keys, subs))
}

async fn user(db: &Db, email: &str, role: Role, now: i64) -> anyhow::Result<String> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = DisplayName::parse(email.as_str().split('@').next().unwrap_or("seed"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let row = app::auth::users::create(
        db,
        app::auth::users::NewUser {
            email: &email,
            display_name: &name,
            password_hash: None,
            role,
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(row.id)
}

/// The share of a day's traffic in the hour starting at `at`: a curve peaking at 14:00 UTC,
/// weekends at 45%.
fn hour_weight(at: i64) -> f64 {
    let hour = (at.rem_euclid(DAY_MS) / HOUR_MS) as f64;
    let daily = 0.35 + 0.65 * (1.0 + ((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos()) / 2.0;
    // 1 January 1970 was a Thursday: day 2 is a Saturday.
    let weekday = (at.div_euclid(DAY_MS) + 3).rem_euclid(7); // 0 = Monday
    daily * if weekday >= 5 { 0.45 } else { 1.0 }
}

/// `x` rounded up or down at random, so that the sum of many keeps its expectation.
fn dither(rng: &mut StdRng, x: f64) -> i64 {
    let floor = x.floor();
    floor as i64 + i64::from(rng.gen_bool((x - floor).clamp(0.0, 1.0)))
}

/// A row of a level by application, API, key and code.
type Row = (String, i64, String, String, &'static str);

/// Every hour's counts, written as they are drawn.
async fn traffic(
    db: &Db,
    plan: &Plan,
    keys: &[Key],
    start: i64,
    end: i64,
    rng: &mut StdRng,
    out: &mut Seeded,
) -> anyhow::Result<()> {
    let hours: Vec<i64> = (0..)
        .map(|h| start - start.rem_euclid(HOUR_MS) + h * HOUR_MS)
        .take_while(|&h| h < end)
        .collect();
    let weights: Vec<f64> = hours.iter().map(|&h| hour_weight(h)).collect();
    let total_weight: f64 = weights.iter().sum();
    let minutes_from = end - 2 * DAY_MS;
    let raw_from = end - i64::from(plan.raw_days) * DAY_MS;
    let mut days: HashMap<Row, i64> = HashMap::new();
    let mut api_hours: HashMap<(String, i64, &'static str), i64> = HashMap::new();
    let mut batch: Vec<(Row, i64)> = Vec::new();
    let mut minutes: Vec<(Row, i64)> = Vec::new();
    let mut raw: Vec<(i64, &Key, String, &'static str, String)> = Vec::new();
    let started = Instant::now();
    for (hi, &hour) in hours.iter().enumerate() {
        // The last hour may be partial.
        let span = (end - hour).min(HOUR_MS);
        let share = weights[hi] / total_weight * span as f64 / HOUR_MS as f64;
        for key in keys {
            let n = dither(rng, plan.events as f64 * key.weight * share);
            if n == 0 {
                continue;
            }
            // 70% to the application's first API, the rest to its second.
            let first = dither(rng, n as f64 * 0.7).min(n);
            for (api, n) in key.apis.iter().zip([first, n - first]) {
                for (code, count) in split(rng, key, hour, n) {
                    if count == 0 {
                        continue;
                    }
                    out.events += count as u64;
                    let row: Row = (key.app.clone(), hour, api.clone(), key.id.clone(), code);
                    *days
                        .entry((
                            row.0.clone(),
                            hour - hour.rem_euclid(DAY_MS),
                            row.2.clone(),
                            row.3.clone(),
                            code,
                        ))
                        .or_default() += count;
                    *api_hours.entry((api.clone(), hour, code)).or_default() += count;
                    if hour + span > minutes_from {
                        for (minute, c) in spread(rng, hour, span, count) {
                            if minute >= minutes_from {
                                minutes.push((
                                    (key.app.clone(), minute, api.clone(), key.id.clone(), code),
                                    c,
                                ));
                            }
                        }
                    }
                    if hour + span > raw_from {
                        for _ in 0..count {
                            let at = hour + rng.gen_range(0..span);
                            if at >= raw_from {
                                let ip = key.ips[rng.gen_range(0..key.ips.len())].clone();
                                raw.push((at, key, api.clone(), code, ip));
                            }
                        }
                    }
                    batch.push((row, count));
                }
            }
        }
        if batch.len() >= 50_000 || hi + 1 == hours.len() {
            out.hour_rows += insert_rows(db, "usage_hours", "hour", &batch).await?;
            batch.clear();
            out.minute_rows += insert_rows(db, "usage_minutes", "minute", &minutes).await?;
            minutes.clear();
            out.raw_events += insert_raw(db, &raw).await?;
            raw.clear();
            eprintln!(
                "seed: {} of {} hours, {} events, {:.0} s",
                hi + 1,
                hours.len(),
                out.events,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let days: Vec<(Row, i64)> = days.into_iter().collect();
    out.day_rows = insert_rows(db, "usage_days", "day", &days).await?;
    let api_hours: Vec<_> = api_hours.into_iter().collect();
    let style = style(db).await?;
    for chunk in api_hours.chunks(500) {
        let sql = format!(
            "INSERT INTO usage_api_hours (api_id, hour, code, requests) VALUES {}",
            value_rows(chunk.len(), 4, style)
        );
        let mut q = sqlx::query(&sql);
        for ((api, hour, code), n) in chunk {
            q = q.bind(api).bind(*hour).bind(*code).bind(*n);
        }
        q.execute(db).await?;
    }
    Ok(())
}

/// A key's requests in an hour by decision code.
fn split(rng: &mut StdRng, key: &Key, hour: i64, n: i64) -> Vec<(&'static str, i64)> {
    if key.revoked_at.is_some_and(|at| hour >= at) {
        // A leaked key's traffic, refused; a trickle only once its owner moved on.
        return vec![("REVOKED", dither(rng, n as f64 * 0.2))];
    }
    let shares: &[(&'static str, f64)] = if key.abusive {
        &[("RATE_LIMITED", 0.6), ("IP_NOT_ALLOWED", 0.05)]
    } else {
        &[
            ("RATE_LIMITED", 0.015),
            ("SCOPE_DENIED", 0.01),
            ("QUOTA_EXCEEDED", 0.005),
        ]
    };
    let mut left = n;
    let mut out = Vec::new();
    for (code, share) in shares {
        let c = dither(rng, n as f64 * share).min(left);
        left -= c;
        out.push((*code, c));
    }
    out.push(("VALID", left));
    out
}

/// `count` requests spread over the minutes of `[hour, hour + span)`.
fn spread(rng: &mut StdRng, hour: i64, span: i64, count: i64) -> Vec<(i64, i64)> {
    let minutes = (span / MINUTE_MS).max(1);
    let mut per: HashMap<i64, i64> = HashMap::new();
    let even = count / minutes;
    if even > 0 {
        for m in 0..minutes {
            per.insert(hour + m * MINUTE_MS, even);
        }
    }
    for _ in 0..count - even * minutes {
        *per.entry(hour + rng.gen_range(0..minutes) * MINUTE_MS)
            .or_default() += 1;
    }
    per.into_iter().collect()
}

async fn style(db: &Db) -> anyhow::Result<Placeholders> {
    let conn = db.acquire().await?;
    Ok(Placeholders::for_backend(conn.backend_name()))
}

async fn insert_rows(db: &Db, table: &str, time: &str, rows: &[(Row, i64)]) -> anyhow::Result<u64> {
    let style = style(db).await?;
    let mut tx = db.begin().await?;
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO {table} (application_id, {time}, api_id, key_id, code, requests) VALUES {}",
            value_rows(chunk.len(), 6, style)
        );
        let mut q = sqlx::query(&sql);
        for ((app, t, api, key, code), n) in chunk {
            q = q
                .bind(app)
                .bind(*t)
                .bind(api)
                .bind(key)
                .bind(*code)
                .bind(*n);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

async fn insert_raw(
    db: &Db,
    rows: &[(i64, &Key, String, &'static str, String)],
) -> anyhow::Result<u64> {
    let style = style(db).await?;
    let mut tx = db.begin().await?;
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO usage_events (at, key_id, application_id, api_id, code, client_ip) VALUES {}",
            value_rows(chunk.len(), 6, style)
        );
        let mut q = sqlx::query(&sql);
        for (at, key, api, code, ip) in chunk {
            q = q
                .bind(*at)
                .bind(&key.id)
                .bind(&key.app)
                .bind(api)
                .bind(*code)
                .bind(ip);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Each key's use count and last use, the quotas' use this month, and the roll-up's
/// progress (every seeded minute is in the levels already).
async fn finish(
    db: &Db,
    keys: &[Key],
    subs: &[(String, String, String)],
    end: i64,
) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for key in keys {
        sqlx::query(
            "UPDATE api_keys SET use_count = (SELECT COALESCE(SUM(requests), 0) FROM usage_days \
             WHERE key_id = $1 AND code = 'VALID'), \
             last_used_at = (SELECT MAX(hour) FROM usage_hours WHERE key_id = $1 AND code = 'VALID'), \
             last_used_ip = $2 WHERE id = $1",
        )
        .bind(&key.id)
        .bind(&key.ips[0])
        .execute(&mut *tx)
        .await?;
    }
    let month = app::domain::QuotaPeriod::Month.start(end);
    for (sub, app_id, api_id) in subs {
        sqlx::query(
            "INSERT INTO quota_usage (subscription_id, period, period_start, used) \
             SELECT $1, 'month', $2, COALESCE(SUM(requests), 0) FROM usage_hours \
             WHERE application_id = $3 AND api_id = $4 AND code = 'VALID' AND hour >= $2",
        )
        .bind(sub)
        .bind(month)
        .bind(app_id)
        .bind(api_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE usage_rollup SET done_until = $1 WHERE id = 1 AND done_until < $1")
        .bind(end)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
