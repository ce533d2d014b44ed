//! Plan quotas counted from memory. Each instance leases blocks of a subscription's quota
//! from the database — one atomic statement that never leases past the quota, whatever the
//! number of instances — and counts its requests down from the block in memory, so a call
//! reaches the database only when its instance's block runs out.
//!
//! A block starts at one request, doubles while blocks last under [`GROW_UNDER_MS`] and
//! halves when one lasts over [`SHRINK_OVER_MS`]; it is never more than [`MAX_BLOCK`] nor
//! more than an eighth of what the quota has left, so a quota's last 15 requests are
//! leased one at a time. When half of a block is used and the quota is far from its end
//! (the block is at most a sixteenth of what is left), the next block is leased in the
//! background, so a busy subscription's calls do not wait on the database (only a first
//! call, and a call that outruns the lease in flight, wait). What an instance leased and
//! did not use is given back when the subscription has been quiet for [`IDLE_MS`] (its
//! block size is kept, so a subscription busy again leases as much as before instead of
//! growing from one; it is forgotten after [`FORGET_MS`]), when its period is over
//! ([`Quotas::sweep`]) and when the instance stops
//! ([`Quotas::release`]). The database's `used` therefore counts requests passed *or
//! leased*; an instance that dies strands at most its blocks: the quota under-serves, it
//! never over-serves.

use crate::domain::QuotaPeriod;
use crate::error::AppError;
use crate::platform::state::Db;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The largest block an instance leases at once.
pub const MAX_BLOCK: i64 = 65_536;
/// A block used up faster than this makes the next one twice as large: a subscription's
/// instance asks the database about once every few seconds, however busy (one lease a
/// second per subscription was most of a gateway's database work with 1,000 busy
/// subscriptions).
pub const GROW_UNDER_MS: i64 = 5_000;
/// A block that lasted longer than this makes the next one half as large.
pub const SHRINK_OVER_MS: i64 = 60_000;
/// A subscription without requests for this long gives its unused requests back.
pub const IDLE_MS: i64 = 10_000;
/// A subscription without requests for this long is forgotten, its block size too.
pub const FORGET_MS: i64 = 10 * 60_000;
/// After the database said a quota is used up, how long the instance believes it before
/// asking again (another instance may give requests back; a larger quota resets at once).
const RECHECK_MS: i64 = 1_000;

/// One subscription's counter: the period's kind and its first instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    pub subscription_id: super::view::Id,
    pub period: QuotaPeriod,
    pub start: i64,
}

/// This instance's lease on one slot.
#[derive(Debug, Default)]
struct Lease {
    /// The quota the lease was taken under (a plan change starts a new lease).
    quota: i64,
    /// Requests leased and not used yet.
    left: i64,
    /// The database's count after the last lease: every instance's requests and leases.
    used: i64,
    /// The size of the last block leased.
    block: i64,
    /// A block is being leased in the background.
    fetching: bool,
    leased_at: Option<i64>,
    touched_at: i64,
    /// When the database last said the quota was used up.
    exhausted_at: Option<i64>,
    /// Counts fresh starts, so a refund never lands in a lease that did not count it.
    generation: u64,
    /// Swept: whoever still holds this cell takes a new one from the map.
    retired: bool,
}

impl Lease {
    /// Starts over under `quota`: what is left goes back to the database.
    fn restart(&mut self, quota: i64) -> i64 {
        let back = self.left;
        *self = Lease {
            quota,
            block: 1,
            touched_at: self.touched_at,
            generation: self.generation + 1,
            ..Lease::default()
        };
        back
    }

    /// Rests a quiet lease: what is left goes back to the database; the block size and when
    /// it was leased stay, so the next block is as large (or half as large after a minute).
    fn rest(&mut self) -> i64 {
        let back = self.left;
        *self = Lease {
            quota: self.quota,
            used: self.used,
            block: self.block,
            leased_at: self.leased_at,
            touched_at: self.touched_at,
            generation: self.generation + 1,
            ..Lease::default()
        };
        back
    }

    /// Takes a block the database granted.
    fn add(&mut self, (used, granted): (i64, i64), block: i64, now: i64) {
        self.left += granted;
        self.used = used;
        self.block = block;
        self.leased_at = Some(now);
        self.exhausted_at = None;
    }

    /// Whether `block` should be leased now, ahead of need: half of the last block is used
    /// and the quota is far from its end (the block is at most a sixteenth of what is left;
    /// near the end, requests are leased as they come, so the counter stays close to what
    /// passed).
    fn wants_ahead(&self, block: i64) -> bool {
        !self.fetching
            && self.exhausted_at.is_none()
            && self.left <= self.block / 2
            && block <= (self.quota - self.used) / 16
    }

    fn next_block(&self, now: i64) -> i64 {
        let block = match self.leased_at {
            Some(at) if now - at < GROW_UNDER_MS => self.block * 2,
            Some(at) if now - at > SHRINK_OVER_MS => self.block / 2,
            _ => self.block,
        };
        block.clamp(1, MAX_BLOCK)
    }
}

/// A lease and the signal that a block leased in the background has landed.
#[derive(Debug, Default)]
struct Entry {
    lease: tokio::sync::Mutex<Lease>,
    landed: Notify,
}

type Cell = Arc<Entry>;

/// What a sweep does with a lease.
#[derive(Debug, PartialEq)]
enum Sweep {
    /// Gives back what is left, keeps the block size.
    Rest,
    /// Gives back what is left and forgets the slot.
    Forget,
}

const SHARDS: usize = 16;

type Shard = Mutex<HashMap<Slot, Cell, foldhash::fast::RandomState>>;

/// The leases of this instance.
pub struct Quotas {
    shards: Vec<Shard>,
    /// Picks a slot's shard.
    hasher: foldhash::fast::RandomState,
    /// Background leases in flight, and the signal that one finished.
    fetching: Arc<(AtomicUsize, Notify)>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: Default::default(),
            fetching: Arc::default(),
        }
    }
}

/// A request counted against a quota: what the quota has left after it, and what
/// [`Quotas::refund`] needs to give it back.
#[derive(Debug)]
pub struct Spent {
    pub remaining: i64,
    slot: Slot,
    cell: Cell,
    generation: u64,
}

impl Quotas {
    fn shard(&self, slot: &Slot) -> &Shard {
        use std::hash::BuildHasher;
        &self.shards[(self.hasher.hash_one(slot) as usize) % SHARDS]
    }

    fn cell(&self, slot: &Slot) -> Cell {
        let mut map = self.shard(slot).lock().unwrap_or_else(|e| e.into_inner());
        match map.get(slot) {
            Some(cell) => cell.clone(),
            None => {
                let cell = Cell::default();
                map.insert(slot.clone(), cell.clone());
                cell
            }
        }
    }

    /// Counts one request against `quota` for `slot` at `now`: from this instance's block,
    /// leasing a new one when it is used up; `None` when the quota is reached.
    pub async fn spend(
        &self,
        db: &Db,
        slot: Slot,
        quota: i64,
        now: i64,
    ) -> Result<Option<Spent>, AppError> {
        if quota <= 0 {
            return Ok(None);
        }
        loop {
            let cell = self.cell(&slot);
            let mut lease = cell.lease.lock().await;
            if lease.retired {
                continue;
            }
            lease.touched_at = now;
            if lease.quota != quota {
                let back = lease.restart(quota);
                give_back(db, &slot, back).await?;
            }
            if lease.left == 0 && lease.fetching {
                // The next block is on its way: wait for it rather than lease another.
                let landed = cell.landed.notified();
                tokio::pin!(landed);
                landed.as_mut().enable();
                drop(lease);
                landed.await;
                continue;
            }
            if lease.left == 0 {
                if lease.exhausted_at.is_some_and(|at| now - at < RECHECK_MS) {
                    return Ok(None);
                }
                let block = lease.next_block(now);
                match take_block(db, &slot, quota, block).await? {
                    Some(grant) => lease.add(grant, block, now),
                    None => {
                        lease.exhausted_at = Some(now);
                        return Ok(None);
                    }
                }
            }
            lease.left -= 1;
            let remaining = (quota - lease.used + lease.left).max(0);
            let generation = lease.generation;
            let block = lease.next_block(now);
            if lease.wants_ahead(block) {
                lease.fetching = true;
                self.lease_ahead(db, &slot, &cell, (quota, block, generation), now);
            }
            drop(lease);
            return Ok(Some(Spent {
                remaining,
                slot,
                cell,
                generation,
            }));
        }
    }

    /// Leases the next block of `slot` in the background and adds it to the lease when it
    /// lands (or gives it straight back when the lease was swept or started over meanwhile).
    fn lease_ahead(
        &self,
        db: &Db,
        slot: &Slot,
        cell: &Cell,
        (quota, block, generation): (i64, i64, u64),
        now: i64,
    ) {
        let (db, slot, cell, fetching) = (
            db.clone(),
            slot.clone(),
            cell.clone(),
            self.fetching.clone(),
        );
        fetching.0.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let taken = take_block(&db, &slot, quota, block).await;
            let stale = {
                let mut lease = cell.lease.lock().await;
                let current = !lease.retired && lease.generation == generation;
                if current {
                    lease.fetching = false;
                    match &taken {
                        Ok(Some(grant)) => lease.add(*grant, block, now),
                        Ok(None) => lease.exhausted_at = Some(now),
                        Err(_) => {}
                    }
                }
                !current
            };
            cell.landed.notify_waiters();
            match taken {
                Ok(Some((_, granted))) if stale => {
                    if let Err(e) = give_back(&db, &slot, granted).await {
                        tracing::warn!(error = %e, "could not give back a quota block");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not lease a quota block ahead"),
                _ => {}
            }
            fetching.0.fetch_sub(1, Ordering::SeqCst);
            fetching.1.notify_waiters();
        });
    }

    /// Waits until no block is being leased in the background.
    pub async fn settled(&self) {
        loop {
            let done = self.fetching.1.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.fetching.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }

    /// Gives back a request [`Quotas::spend`] counted (a later check refused the call): to
    /// the block it came from, or to the database when that lease has been given back.
    pub async fn refund(&self, db: &Db, spent: Spent) -> Result<(), AppError> {
        {
            let mut lease = spent.cell.lease.lock().await;
            if !lease.retired && lease.generation == spent.generation {
                lease.left += 1;
                return Ok(());
            }
        }
        give_back(db, &spent.slot, 1).await
    }

    /// Gives back the unused requests of subscriptions quiet since `now - IDLE_MS` (keeping
    /// their block sizes) and forgets those quiet for [`FORGET_MS`] or whose period is over;
    /// returns how many slots gave requests back. Leases in use right now are left alone.
    pub async fn sweep(&self, db: &Db, now: i64) -> Result<usize, AppError> {
        self.give_back_where(db, |slot, lease| {
            let quiet = now - lease.touched_at;
            if quiet >= FORGET_MS || slot.period.start(now) != slot.start {
                Some(Sweep::Forget)
            } else {
                (quiet >= IDLE_MS && lease.left > 0).then_some(Sweep::Rest)
            }
        })
        .await
    }

    /// Gives back every unused request (the instance is stopping), after the blocks being
    /// leased in the background have landed.
    pub async fn release(&self, db: &Db) -> Result<usize, AppError> {
        self.settled().await;
        self.give_back_where(db, |_, _| Some(Sweep::Forget)).await
    }

    async fn give_back_where(
        &self,
        db: &Db,
        due: impl Fn(&Slot, &Lease) -> Option<Sweep>,
    ) -> Result<usize, AppError> {
        let mut back = Vec::new();
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|slot, cell| {
                // A lease being spent from right now is in use: not swept.
                let Ok(mut lease) = cell.lease.try_lock() else {
                    return true;
                };
                let Some(sweep) = due(slot, &lease) else {
                    return true;
                };
                let left = lease.rest();
                if left > 0 {
                    back.push((slot.clone(), left));
                }
                lease.retired = sweep == Sweep::Forget;
                !lease.retired
            });
        }
        let given = back.len();
        for (slot, n) in back {
            give_back(db, &slot, n).await?;
        }
        Ok(given)
    }

    /// How many requests this instance holds leased and unused (for the metrics).
    pub fn held(&self) -> i64 {
        let mut held = 0;
        for shard in &self.shards {
            let map = shard.lock().unwrap_or_else(|e| e.into_inner());
            held += map
                .values()
                .filter_map(|cell| cell.lease.try_lock().ok().map(|l| l.left))
                .sum::<i64>();
        }
        held
    }
}

/// Leases up to `block` requests of `quota` for `slot`, never more than an eighth of what
/// is left (at least one): the database's count with the block and the block's size, or
/// `None` when the quota is used up. One atomic upsert (every `SET` expression reads the
/// row as it was), so instances together never lease more than the quota.
async fn take_block(
    db: &Db,
    slot: &Slot,
    quota: i64,
    block: i64,
) -> Result<Option<(i64, i64)>, AppError> {
    let first = block.min((quota / 8).max(1));
    let grant = "CASE WHEN ($4 - quota_usage.used) / 8 >= $6 THEN $6 \
                 WHEN ($4 - quota_usage.used) / 8 >= 1 THEN ($4 - quota_usage.used) / 8 ELSE 1 END";
    let sql = format!(
        "INSERT INTO quota_usage (subscription_id, period, period_start, used, granted) \
         VALUES ($1, $2, $3, $5, $5) \
         ON CONFLICT (subscription_id, period, period_start) DO UPDATE \
         SET used = quota_usage.used + {grant}, granted = {grant} \
         WHERE quota_usage.used < $4 RETURNING used, granted"
    );
    Ok(sqlx::query_as(&sql)
        .bind(&*slot.subscription_id)
        .bind(slot.period.as_str())
        .bind(slot.start)
        .bind(quota)
        .bind(first)
        .bind(block)
        .fetch_optional(db)
        .await?)
}

/// Gives `n` leased, unused requests back to the quota.
async fn give_back(db: &Db, slot: &Slot, n: i64) -> Result<(), AppError> {
    if n <= 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE quota_usage SET used = CASE WHEN used > $4 THEN used - $4 ELSE 0 END \
         WHERE subscription_id = $1 AND period = $2 AND period_start = $3",
    )
    .bind(&*slot.subscription_id)
    .bind(slot.period.as_str())
    .bind(slot.start)
    .bind(n)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_double_while_they_last_under_five_seconds_and_halve_after_a_minute() {
        let mut lease = Lease {
            block: 8,
            leased_at: Some(0),
            ..Lease::default()
        };
        assert_eq!(lease.next_block(4_999), 16);
        assert_eq!(lease.next_block(5_000), 8);
        assert_eq!(lease.next_block(60_000), 8);
        assert_eq!(lease.next_block(60_001), 4);
        lease.block = MAX_BLOCK;
        assert_eq!(lease.next_block(1), MAX_BLOCK);
        lease.block = 1;
        assert_eq!(lease.next_block(120_000), 1);
        lease.leased_at = None;
        assert_eq!(lease.next_block(0), 1);
    }

    #[test]
    fn the_next_block_is_leased_ahead_at_half_and_far_from_the_end_only() {
        let lease = Lease {
            quota: 10_000,
            used: 1_000,
            block: 64,
            left: 33,
            ..Lease::default()
        };
        assert!(!lease.wants_ahead(128), "more than half of the block left");
        let half = Lease { left: 32, ..lease };
        assert!(half.wants_ahead(128));
        assert!(
            half.wants_ahead(562) && !half.wants_ahead(563),
            "a sixteenth of 9,000"
        );
        assert!(!Lease {
            fetching: true,
            ..half
        }
        .wants_ahead(128));
        assert!(!Lease {
            exhausted_at: Some(0),
            ..half
        }
        .wants_ahead(128));
    }

    #[test]
    fn a_restart_hands_back_what_was_left_and_counts_a_generation() {
        let mut lease = Lease {
            quota: 100,
            left: 7,
            block: 64,
            touched_at: 5,
            ..Lease::default()
        };
        assert_eq!(lease.restart(50), 7);
        assert_eq!(
            (
                lease.quota,
                lease.left,
                lease.block,
                lease.generation,
                lease.touched_at
            ),
            (50, 0, 1, 1, 5)
        );
    }
}
