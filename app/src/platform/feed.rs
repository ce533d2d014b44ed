//! Following the change feed: the `changes` table that database triggers append to in the
//! same transaction as every write a decision depends on (see the 0009 migrations).
//! [`catch_up`] applies new changes to this instance's [`View`] in sequence order; it runs
//! after each portal write on this instance (so the writer's next request sees it), on
//! PostgreSQL's `NOTIFY` from other instances, and every second as a safety net, with a
//! full reload every few minutes that logs any difference it finds.
//!
//! On PostgreSQL a sequence number is taken before commit, so a later number can become
//! visible first. The cursor applies what it sees, and its watermark (below which
//! everything is applied) waits up to [`GAP_WAIT`] for a missing number before deciding its
//! transaction rolled back.
//!
//! Each instance has a row in `gateway_instances` (heartbeat, how far it has applied) and
//! writes when it applied each run of changes to `change_acks`: the portal shows from them
//! where a revocation is in effect, and after how long.

use super::sql::fetch_in;
use super::state::Db;
use super::view::{self, Tables, View};
use crate::domain::{InstanceStatus, Propagation};
use crate::error::AppError;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long a missing sequence number is waited for (an in-flight transaction) before it
/// is taken as rolled back.
pub const GAP_WAIT: Duration = Duration::from_secs(10);
/// An instance not heard from for this long is not counted as running.
pub const LIVE_MS: i64 = 10_000;
const BATCH: i64 = 2_000;

/// Wall-clock unix milliseconds (not the app's clock: propagation is real time).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// How far this instance has applied the feed.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Every change up to here is applied (or was never committed).
    watermark: i64,
    /// Changes applied above the watermark.
    above: BTreeSet<i64>,
    /// The first missing number above the watermark, and since when it is missing.
    gap: Option<(i64, Instant)>,
}

impl Cursor {
    pub fn starting_at(watermark: i64) -> Self {
        Cursor {
            watermark,
            ..Default::default()
        }
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Records applied changes and moves the watermark over every number that is applied
    /// or has been missing for longer than [`GAP_WAIT`].
    fn applied(&mut self, seqs: impl IntoIterator<Item = i64>, now: Instant) {
        self.above
            .extend(seqs.into_iter().filter(|s| *s > self.watermark));
        loop {
            let next = self.watermark + 1;
            if self.above.remove(&next) {
                self.watermark = next;
                continue;
            }
            if self.above.is_empty() {
                self.gap = None;
                return;
            }
            match self.gap {
                Some((seq, since)) if seq == next && now.duration_since(since) >= GAP_WAIT => {
                    self.watermark = next;
                }
                Some((seq, _)) if seq == next => return,
                _ => {
                    self.gap = Some((next, now));
                    return;
                }
            }
        }
    }
}

/// Loads the view; the instance registers with its first [`heartbeat`].
pub async fn start(db: &Db) -> Result<View, AppError> {
    let (tables, cursor) = first_load(db).await?;
    Ok(View::new(tables, super::state::new_id(), cursor))
}

/// Every row the view holds, and where in the feed to follow on from. Changes of the last
/// seconds are applied again over the load: a transaction that took its number before the
/// load and committed after it is not missed.
async fn first_load(db: &Db) -> Result<(view::Tables, Cursor), AppError> {
    let watermark: i64 = sqlx::query_scalar(
        "SELECT COALESCE((SELECT MIN(seq) - 1 FROM changes WHERE at >= $1), (SELECT MAX(seq) FROM changes), 0)",
    )
    .bind(wall_ms() - GAP_WAIT.as_millis() as i64)
    .fetch_one(db)
    .await?;
    let tables = view::load(db).await?;
    Ok((tables, Cursor::starting_at(watermark)))
}

#[derive(sqlx::FromRow)]
struct Change {
    seq: i64,
    kind: String,
    entity_id: String,
}

/// Applies every change this instance has not applied yet; returns how many.
pub async fn catch_up(view: &View, db: &Db) -> Result<usize, AppError> {
    let mut cursor = view.cursor.lock().await;
    if !view.loaded() {
        // A gateway that started without its database: its first view, once it answers.
        let (tables, loaded) = first_load(db).await?;
        let rows = tables.key_count();
        view.warm(tables, loaded, &mut cursor);
        tracing::info!(
            keys = rows,
            "the database answers: the gateway view is loaded"
        );
    }
    let mut total = 0;
    loop {
        let rows = sqlx::query_as::<_, Change>(
            "SELECT seq, kind, entity_id FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(cursor.watermark)
        .bind(BATCH)
        .fetch_all(db)
        .await?;
        let fresh: Vec<&Change> = rows
            .iter()
            .filter(|c| !cursor.above.contains(&c.seq))
            .collect();
        if fresh.is_empty() {
            cursor.applied([], Instant::now());
            return Ok(total);
        }
        let mut seen = HashSet::new();
        let mut reloaded = Vec::new();
        for c in &fresh {
            if seen.insert((c.kind.as_str(), c.entity_id.as_str())) {
                reloaded.push(view::reload(db, &c.kind, &c.entity_id).await?);
            }
        }
        view.apply(reloaded);
        let applied_at = wall_ms();
        for (first, last) in runs(fresh.iter().map(|c| c.seq)) {
            sqlx::query(
                "INSERT INTO change_acks (instance_id, first_seq, last_seq, applied_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&view.instance)
            .bind(first)
            .bind(last)
            .bind(applied_at)
            .execute(db)
            .await?;
        }
        total += fresh.len();
        let seqs: Vec<i64> = fresh.iter().map(|c| c.seq).collect();
        cursor.applied(seqs, Instant::now());
    }
}

/// Consecutive runs of ascending numbers: `1 2 3 5` → `(1, 3), (5, 5)`.
fn runs(seqs: impl IntoIterator<Item = i64>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for s in seqs {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == s => *last = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// The safety net: reloads the whole view and swaps it in; returns how many rows differed
/// from what the feed had built (0 unless a change was missed).
pub async fn reconcile(view: &View, db: &Db) -> Result<usize, AppError> {
    let _cursor = view.cursor.lock().await;
    if !view.loaded() {
        return Ok(0);
    }
    let fresh: Tables = view::load(db).await?;
    Ok(view.replace(fresh))
}

/// Writes this instance's heartbeat and progress (re-registering it if it was pruned).
pub async fn heartbeat(view: &View, db: &Db, address: &str) -> Result<(), AppError> {
    let now = wall_ms();
    let watermark = view.cursor.lock().await.watermark;
    let updated =
        sqlx::query("UPDATE gateway_instances SET seen_at = $1, applied_seq = $2 WHERE id = $3")
            .bind(now)
            .bind(watermark)
            .bind(&view.instance)
            .execute(db)
            .await?
            .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO gateway_instances (id, address, started_at, seen_at, applied_seq) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(&view.instance)
        .bind(address)
        .bind(now)
        .bind(watermark)
        .execute(db)
        .await?;
    }
    Ok(())
}

/// Forgets instances gone for a day and their acks, and changes older than a week that
/// every running instance has applied.
pub async fn prune(db: &Db) -> Result<(), AppError> {
    let now = wall_ms();
    let day = 24 * 3600 * 1000;
    sqlx::query("DELETE FROM gateway_instances WHERE seen_at < $1")
        .bind(now - day)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM change_acks WHERE applied_at < $1")
        .bind(now - day)
        .execute(db)
        .await?;
    sqlx::query(
        "DELETE FROM changes WHERE at < $1 AND seq <= (SELECT COALESCE(MIN(applied_seq), 0) FROM gateway_instances WHERE seen_at >= $2)",
    )
    .bind(now - 7 * day)
    .bind(now - LIVE_MS)
    .execute(db)
    .await?;
    Ok(())
}

/// How long after a change the portal says where it is in effect.
const SHOW_PROPAGATION_MS: i64 = 10 * 60_000;

/// The rows (of one `kind`) among `ids` that changed in the last ten minutes, each with
/// where its latest change is in effect: on how many of the running instances, and after
/// how long on the slowest of them. Two queries for a whole page; rows without a running
/// instance to report are left out.
pub async fn recent_propagations(
    db: &Db,
    kind: Kind,
    ids: &[String],
) -> Result<HashMap<String, Propagation>, AppError> {
    let sql = format!(
        "SELECT c.entity_id, c.seq, c.at FROM changes c WHERE c.kind = '{}' AND c.entity_id IN ({{in}}) \
         AND c.seq = (SELECT MAX(d.seq) FROM changes d WHERE d.kind = c.kind AND d.entity_id = c.entity_id)",
        kind.as_str()
    );
    let since = wall_ms() - SHOW_PROPAGATION_MS;
    let latest: Vec<(String, i64, i64)> = fetch_in(db, &sql, ids, |r| {
        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
    })
    .await?
    .into_iter()
    .filter(|(_, _, at)| *at >= since)
    .collect();
    let Some(oldest) = latest.iter().map(|(_, seq, _)| *seq).min() else {
        return Ok(HashMap::new());
    };
    // Each running instance, with the runs it applied from the oldest of these changes on.
    let acks = sqlx::query_as::<_, (String, Option<i64>, Option<i64>, Option<i64>)>(
        "SELECT i.id, a.first_seq, a.last_seq, a.applied_at FROM gateway_instances i \
         LEFT JOIN change_acks a ON a.instance_id = i.id AND a.last_seq >= $1 \
         WHERE i.seen_at >= $2",
    )
    .bind(oldest)
    .bind(wall_ms() - LIVE_MS)
    .fetch_all(db)
    .await?;
    let instances: HashSet<&str> = acks.iter().map(|(id, ..)| id.as_str()).collect();
    if instances.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(latest
        .into_iter()
        .map(|(id, seq, at)| {
            // When each instance applied this change (the first run that held it).
            let mut applied: HashMap<&str, i64> = HashMap::new();
            for (instance, first, last, applied_at) in &acks {
                if let (Some(first), Some(last), Some(t)) = (first, last, applied_at) {
                    if (*first..=*last).contains(&seq) {
                        let slot = applied.entry(instance.as_str()).or_insert(*t);
                        *slot = (*slot).min(*t);
                    }
                }
            }
            let propagation = Propagation {
                instances: instances.len(),
                applied: applied.len(),
                after_ms: applied.values().max().map(|t| (t - at).max(0)),
            };
            (id, propagation)
        })
        .collect())
}

/// The kinds of rows whose changes the portal shows the propagation of.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Key,
    User,
    /// An application's subscriptions (the change names the application).
    Subscriptions,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::User => "user",
            Kind::Subscriptions => "subscriptions",
        }
    }
}

#[derive(sqlx::FromRow)]
struct InstanceRow {
    id: String,
    address: String,
    started_at: i64,
    seen_at: i64,
    applied_seq: i64,
}

/// The instances heard from in the last day, most recent first, with how far behind the
/// feed each is.
pub async fn instances(db: &Db) -> Result<Vec<InstanceStatus>, AppError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
        .fetch_one(db)
        .await?;
    let now = wall_ms();
    let rows = sqlx::query_as::<_, InstanceRow>(
        "SELECT id, address, started_at, seen_at, applied_seq FROM gateway_instances ORDER BY seen_at DESC, id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| InstanceStatus {
            id: r.id,
            address: r.address,
            started: super::state::fmt_time(r.started_at),
            seen_ms_ago: (now - r.seen_at).max(0),
            running: now - r.seen_at < LIVE_MS,
            changes_behind: (head - r.applied_seq).max(0),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_consecutive_numbers() {
        assert_eq!(runs([1, 2, 3, 5, 7, 8]), vec![(1, 3), (5, 5), (7, 8)]);
        assert_eq!(runs([]), vec![]);
    }

    #[test]
    fn the_watermark_waits_for_a_missing_number_then_skips_it() {
        let t0 = Instant::now();
        let mut c = Cursor::starting_at(10);
        c.applied([11, 12], t0);
        assert_eq!(c.watermark(), 12);
        // 13 is in flight (taken, not committed), 14 is applied.
        c.applied([14], t0);
        assert_eq!(c.watermark(), 12);
        c.applied([], t0 + GAP_WAIT / 2);
        assert_eq!(c.watermark(), 12, "still waiting for 13");
        // 13 commits: the watermark moves over both.
        c.applied([13], t0 + GAP_WAIT / 2);
        assert_eq!(c.watermark(), 14);
        // 15 rolled back: after the wait, the watermark moves over it.
        c.applied([16], t0 + GAP_WAIT);
        assert_eq!(c.watermark(), 14);
        c.applied([], t0 + GAP_WAIT * 2 + Duration::from_millis(1));
        assert_eq!(c.watermark(), 16);
        assert!(c.above.is_empty());
    }
}
