//! The usage levels above the minutes. The usage writer stores per-minute rows
//! (`usage_minutes`); a job ([`roll_up`]) adds each minute, once it is [`ROLLUP_DELAY`]
//! old, to the hours and UTC days by application, API, key and code and to the hours by
//! API and code, and moves `usage_rollup.done_until` past it in the same transaction (a
//! compare-and-set, so one instance rolls each minute whatever the number of instances).
//! Minutes the writer stores for a time the job has passed (a writer held up) the writer
//! adds to the levels itself ([`add_late`]). So every minute before `done_until` is in
//! every level, and a chart adds the minutes from `done_until` on, read in the same
//! statement. [`prune`] applies each level's retention.

use super::sql::{value_rows, Placeholders};
use super::state::Db;
use super::view::Id;
use crate::error::AppError;
use sqlx::{Any, Transaction};
use std::collections::HashMap;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// How long after a minute ends it is rolled up: the writer sums up to ten seconds before it
/// writes and its queue may hold a few seconds more.
pub const ROLLUP_DELAY: i64 = 2 * MINUTE_MS;
/// The most time one step rolls up: one minute, so catching up after a pause holds
/// SQLite's write lock no longer at a time than one minute's rows take (an hour of 100,000
/// keys in one transaction would hold it for a minute).
const STEP: i64 = MINUTE_MS;

/// A minute row: (minute, application, API, key, code).
pub type MinuteRow = (i64, Id, Id, Id, &'static str);

/// A level above the minutes.
struct Level {
    table: &'static str,
    time: &'static str,
    bucket: i64,
    /// By application, API and key; otherwise by API only.
    per_key: bool,
}

const LEVELS: [Level; 3] = [
    Level {
        table: "usage_hours",
        time: "hour",
        bucket: HOUR_MS,
        per_key: true,
    },
    Level {
        table: "usage_days",
        time: "day",
        bucket: DAY_MS,
        per_key: true,
    },
    Level {
        table: "usage_api_hours",
        time: "hour",
        bucket: HOUR_MS,
        per_key: false,
    },
];

impl Level {
    /// The level's columns in its primary key's order, without `requests`.
    fn columns(&self) -> Vec<&'static str> {
        if self.per_key {
            vec!["application_id", self.time, "api_id", "key_id", "code"]
        } else {
            vec!["api_id", self.time, "code"]
        }
    }

    fn upsert(&self, rows: &str) -> String {
        let columns = self.columns().join(", ");
        format!(
            "INSERT INTO {t} ({columns}, requests) {rows} ON CONFLICT ({columns}) \
             DO UPDATE SET requests = {t}.requests + excluded.requests",
            t = self.table
        )
    }

    /// Adds the minutes in `[$1, $2)` to this level.
    fn sum_minutes(&self) -> String {
        let b = self.bucket;
        let group = self
            .columns()
            .iter()
            .map(|c| {
                if *c == self.time {
                    format!("minute - minute % {b}")
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        // `WHERE` keeps SQLite from reading `ON CONFLICT` as a join's `ON`.
        self.upsert(&format!(
            "SELECT {group}, SUM(requests) FROM usage_minutes \
             WHERE minute >= $1 AND minute < $2 GROUP BY {group}"
        ))
    }
}

/// Rolls up every minute that is due at `now`, a minute per transaction; returns the hour
/// rows written. On SQLite it pauses after each step as long as the step took, so writers
/// waiting for the lock (quota leases, the usage writer) get their turn while it catches up.
pub async fn roll_up(db: &Db, now: i64) -> Result<u64, AppError> {
    let cutoff = now - now.rem_euclid(MINUTE_MS) - ROLLUP_DELAY;
    let mut rolled = 0;
    loop {
        let began = std::time::Instant::now();
        let Some(step) = step(db, cutoff).await? else {
            return Ok(rolled);
        };
        rolled += step.hours;
        if step.until >= cutoff {
            return Ok(rolled);
        }
        if step.sqlite {
            tokio::time::sleep(began.elapsed()).await;
        }
    }
}

/// What one step rolled up.
struct Step {
    /// Hour rows written.
    hours: u64,
    /// The minutes before this are rolled up.
    until: i64,
    sqlite: bool,
}

/// Rolls up the first stored minute before `cutoff` not rolled up yet; `None` when none is
/// due or another instance is rolling it up.
async fn step(db: &Db, cutoff: i64) -> Result<Option<Step>, AppError> {
    let done: i64 = sqlx::query_scalar("SELECT done_until FROM usage_rollup WHERE id = 1")
        .fetch_one(db)
        .await?;
    if done >= cutoff {
        return Ok(None);
    }
    // Skip the gap up to the first stored minute.
    let first: Option<i64> =
        sqlx::query_scalar("SELECT MIN(minute) FROM usage_minutes WHERE minute >= $1")
            .bind(done)
            .fetch_one(db)
            .await?;
    let until = match first {
        Some(first) if first < cutoff => cutoff.min(first + STEP),
        _ => cutoff,
    };
    // The compare-and-set comes first: on SQLite it takes the write lock before anything
    // is read in the transaction, on PostgreSQL it waits for (and then loses to) a
    // concurrent roll-up or a writer holding the row (see `add_late`).
    let mut tx = db.begin().await?;
    let moved =
        sqlx::query("UPDATE usage_rollup SET done_until = $1 WHERE id = 1 AND done_until = $2")
            .bind(until)
            .bind(done)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if moved == 0 {
        return Ok(None);
    }
    let mut hours = 0;
    for level in &LEVELS {
        let n = sqlx::query(&level.sum_minutes())
            .bind(done)
            .bind(until)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if level.table == "usage_hours" {
            hours = n;
        }
    }
    let sqlite = tx.backend_name() == "SQLite";
    tx.commit().await?;
    Ok(Some(Step {
        hours,
        until,
        sqlite,
    }))
}

/// Within the usage writer's transaction, after it stored `rows`: adds those for minutes the
/// roll-up has already passed to every level. On PostgreSQL the progress row is read
/// `FOR SHARE`, so a roll-up waits for this transaction and then sees its minutes; on
/// SQLite the writer already holds the database's write lock.
pub async fn add_late(
    tx: &mut Transaction<'static, Any>,
    rows: &[(&MinuteRow, i64)],
) -> Result<(), AppError> {
    let postgres = tx.backend_name() != "SQLite";
    let lock = if postgres { " FOR SHARE" } else { "" };
    let done: i64 = sqlx::query_scalar(&format!(
        "SELECT done_until FROM usage_rollup WHERE id = 1{lock}"
    ))
    .fetch_one(&mut **tx)
    .await?;
    let late: Vec<_> = rows.iter().filter(|(row, _)| row.0 < done).collect();
    if late.is_empty() {
        return Ok(());
    }
    tracing::info!(
        rows = late.len(),
        "usage for minutes already rolled up; adding it to every level"
    );
    let style = Placeholders::for_backend(tx.backend_name());
    for level in &LEVELS {
        let mut rows: HashMap<(i64, Vec<String>), i64> = HashMap::new();
        for ((minute, app, api, key, code), n) in late.iter().map(|r| (r.0, r.1)) {
            let bucket = minute - minute.rem_euclid(level.bucket);
            let id = if level.per_key {
                vec![
                    app.to_string(),
                    api.to_string(),
                    key.to_string(),
                    code.to_string(),
                ]
            } else {
                vec![api.to_string(), code.to_string()]
            };
            *rows.entry((bucket, id)).or_insert(0) += n;
        }
        let width = level.columns().len() + 1;
        let rows: Vec<_> = rows.into_iter().collect();
        for chunk in rows.chunks(400) {
            let sql = level.upsert(&format!("VALUES {}", value_rows(chunk.len(), width, style)));
            let mut q = sqlx::query(&sql);
            for ((bucket, id), n) in chunk {
                // The columns' order: the id's first part, the time, the rest.
                q = q.bind(id[0].clone()).bind(*bucket);
                for part in &id[1..] {
                    q = q.bind(part.clone());
                }
                q = q.bind(*n);
            }
            q.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// How long each kind of usage record is kept, in days; `None` keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub raw_days: u32,
    pub minute_days: u32,
    pub hour_days: u32,
    pub day_days: Option<u32>,
}

/// What [`prune`] deleted, per kind.
#[derive(Debug, Default, PartialEq)]
pub struct Pruned {
    pub raw: u64,
    pub minutes: u64,
    pub hours: u64,
    pub days: u64,
    /// Days of client addresses (`usage_clients`), kept as long as the hours.
    pub clients: u64,
}

/// Deletes what is past its retention at `now`: raw events older than it, and rows whose
/// minute, hour or day ended before it. Minutes not yet rolled up are kept whatever their
/// age; per-API hours go with the days, the keys' client addresses with the hours.
pub async fn prune(db: &Db, now: i64, keep: Retention) -> Result<Pruned, AppError> {
    let before = |days: u32| now - i64::from(days) * DAY_MS;
    // Deletes the rows of `table` whose `time` bucket ended at or before `until`.
    let delete = |table: &'static str, time: &'static str, bucket: i64, until: i64| async move {
        let sql = format!("DELETE FROM {table} WHERE {time} <= $1");
        Ok::<_, AppError>(
            sqlx::query(&sql)
                .bind(until - bucket)
                .execute(db)
                .await?
                .rows_affected(),
        )
    };
    let done: i64 = sqlx::query_scalar("SELECT done_until FROM usage_rollup WHERE id = 1")
        .fetch_one(db)
        .await?;
    let mut pruned = Pruned {
        raw: delete("usage_events", "at", 1, before(keep.raw_days)).await?,
        minutes: delete(
            "usage_minutes",
            "minute",
            MINUTE_MS,
            before(keep.minute_days).min(done),
        )
        .await?,
        hours: delete("usage_hours", "hour", HOUR_MS, before(keep.hour_days)).await?,
        days: 0,
        clients: delete("usage_clients", "day", DAY_MS, before(keep.hour_days)).await?,
    };
    if let Some(days) = keep.day_days {
        pruned.days = delete("usage_days", "day", DAY_MS, before(days)).await?;
        delete("usage_api_hours", "hour", HOUR_MS, before(days)).await?;
    }
    Ok(pruned)
}
