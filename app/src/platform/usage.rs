//! Usage recording: every gateway decision becomes an [`Event`] in a bounded queue that
//! never blocks the request (when the queue is full the event is dropped and counted); one
//! background writer takes what arrived in each 500 ms and stores:
//! - the raw events of known keys (`usage_events`) at once, kept for the configured
//!   retention (none at all with a retention of 0 days);
//! - per-minute rollups by application, API, key and decision code (`usage_minutes`, keyed
//!   time first, so its rows land at the end of one B-tree; [`rollup`] sums them into the
//!   hours and days the charts read), and each key's use count (and, once rotated, uses
//!   since the rotation) and last use (time and address): both summed in memory and
//!   written every [`COUNT_EVERY`], or every [`COUNT_EVERY_MANY`] while more than
//!   [`MANY_ROWS`] rows are summed (with many keys, one row per key and minute instead of
//!   one per event, or per flush);
//! - each key's requests by UTC day and client address (`usage_clients`), summed in memory
//!   and written every [`CLIENTS_EVERY`].
//!
//! A database that is slow or down slows only the writer's stores: it goes on taking
//! events off the queue and summing them in memory while one store runs (up to twice
//! [`MAX_ROLLUP_ROWS`] rows, then it waits). A writer that falls behind (the queue more
//! than half full) still counts what it takes but skips the raw events
//! ([`Recorder::raw_skipped`], which also counts raw events whose write failed); once the
//! queue is full, further events are dropped and counted ([`Recorder::dropped`]).
//! [`Recorder::flush`] writes what is queued and returns when it is stored (a clean
//! shutdown, and tests).

use super::rollup::{self, MinuteRow, MINUTE_MS};
use super::sql::{value_rows, Placeholders};
use super::state::Db;
use super::view::Id;
use crate::error::AppError;
use sqlx::{Any, Transaction};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the writer gathers events before it writes them.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// The most events one write takes.
const BATCH: usize = 20_000;

/// One decision (and, once the proxy serves it, the upstream's answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: i64,
    /// `None` for a key that is not one of Keyport's (malformed or unknown).
    pub key_id: Option<Id>,
    pub application_id: Option<Id>,
    /// `None` when the asked API is not known.
    pub api_id: Option<Id>,
    /// The decision code (`VALID`, `REVOKED`, …).
    pub code: &'static str,
    /// The deciding gateway knew the key as rotated: a valid use counts as one since the
    /// rotation.
    pub rotated: bool,
    pub client_ip: Option<IpAddr>,
    pub upstream_status: Option<u16>,
    pub latency_ms: Option<u32>,
    pub bytes: Option<u64>,
}

enum Message {
    Event(Event),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// The queue's sending side, shared by every request.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    rx: Mutex<Option<mpsc::Receiver<Message>>>,
    stats: Arc<Stats>,
}

/// What the writer has done, for the queue's health.
#[derive(Debug, Default)]
struct Stats {
    dropped: AtomicU64,
    written: AtomicU64,
    raw_skipped: AtomicU64,
}

/// The queue's receiving side: [`Writer::run`] stores what arrives. It holds nothing that
/// keeps the [`Recorder`] alive, so it ends when the recorder is gone.
#[derive(Debug)]
pub struct Writer {
    rx: mpsc::Receiver<Message>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Event(e) => e.fmt(f),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Recorder {
    /// A queue holding up to `capacity` events.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Recorder {
            tx,
            rx: Mutex::new(Some(rx)),
            stats: Arc::default(),
        }
    }

    /// The writer; only the first call gets it.
    pub fn writer(&self) -> Option<Writer> {
        let rx = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(Writer {
            rx,
            stats: self.stats.clone(),
        })
    }

    /// Queues `event`, or drops and counts it when the queue is full. Never waits.
    pub fn record(&self, event: Event) {
        if self.tx.try_send(Message::Event(event)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Events dropped since start: the queue was full, or their write failed.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Events stored since start (in the rollups and key counts).
    pub fn written(&self) -> u64 {
        self.stats.written.load(Ordering::Relaxed)
    }

    /// Events whose raw record was skipped because the writer was behind or its write failed
    /// (they are in the rollups and key counts).
    pub fn raw_skipped(&self) -> u64 {
        self.stats.raw_skipped.load(Ordering::Relaxed)
    }

    /// Writes everything queued so far; returns once it is stored (or the writer is gone).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl Writer {
    /// Stores what arrives until the recorder is gone. Taking events off the queue never
    /// waits for the database: one store runs at a time in a task of its own while the next
    /// events are summed in memory (a slow store, or the roll-up job holding SQLite's write
    /// lock, makes the next store larger, not the queue longer). The writer looks at the
    /// queue every [`POLL_EVERY`] rather than waiting on it: a waiting receiver would have
    /// every request wake its thread (a system call and a context switch per event; on one
    /// core 15% of the gateway's time went there).
    /// `raw`: whether raw events are stored at all.
    pub async fn run(self, db: Db, raw: bool) {
        let Writer { mut rx, stats } = self;
        let mut pending = Pending {
            no_raw: !raw,
            ..Pending::default()
        };
        let mut store: Option<tokio::task::JoinHandle<()>> = None;
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if store.is_none() {
                if let Some(job) = pending.take_due(tokio::time::Instant::now()) {
                    store = Some(tokio::spawn(job.run(db.clone(), stats.clone())));
                }
            }
            tokio::select! {
                biased;
                _ = async { store.as_mut().expect("guarded").await }, if store.is_some() => {
                    store = None;
                }
                _ = poll.tick() => {
                    if !pending.drain(&mut rx, &stats) {
                        break;
                    }
                }
            }
        }
        // The recorder is gone: store what is left.
        if let Some(running) = store {
            let _ = running.await;
        }
        pending.take_all().run(db, stats).await;
    }
}

/// The writer's sums in memory (a fast seeded hash: with many keys, one entry per event).
type Sums<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What `sums` held, leaving it empty with room for as many rows (the next period's are
/// about as many: no growing the map step by step while events arrive).
fn emptied<K, V>(sums: &mut Sums<K, V>) -> Sums<K, V> {
    let room = Sums::with_capacity_and_hasher(sums.len(), Default::default());
    std::mem::replace(sums, room)
}

/// How often the writer takes what is queued.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// What the writer holds between stores.
#[derive(Default)]
struct Pending {
    raw: Vec<Event>,
    /// Raw events are not kept (a retention of 0 days).
    no_raw: bool,
    /// The current batch of raw events is skipped: the writer was behind when it began.
    raw_behind: bool,
    raw_since: Option<tokio::time::Instant>,
    counts: Counts,
    clients: Clients,
    /// Flushes waiting for everything before them to be stored.
    waiting: Vec<oneshot::Sender<()>>,
}

impl Pending {
    /// Takes what is queued (while there is room); `false` once the recorder is gone and
    /// the queue is empty.
    fn drain(&mut self, rx: &mut mpsc::Receiver<Message>, stats: &Stats) -> bool {
        while !self.is_full() {
            match rx.try_recv() {
                Ok(message) => self.take(message, rx, stats),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    /// A message from the queue: an event to sum, or a flush to answer.
    fn take(&mut self, message: Message, rx: &mpsc::Receiver<Message>, stats: &Stats) {
        match message {
            Message::Event(e) => {
                // Behind: more than half the queue was waiting when this batch of raw events
                // began. Its raw events are then skipped (and counted); the rollups, which
                // charts and exports read, stay whole.
                let behind = rx.len() * 2 > rx.max_capacity();
                self.add(e, behind, stats);
            }
            Message::Flush(done) => self.waiting.push(done),
        }
    }

    fn add(&mut self, event: Event, behind: bool, stats: &Stats) {
        if self.raw_since.is_none() {
            self.raw_since = Some(tokio::time::Instant::now());
            self.raw_behind = behind;
        }
        self.counts.add(std::slice::from_ref(&event));
        self.clients.add(&event);
        if self.no_raw {
            return;
        }
        if self.raw_behind || self.raw.len() >= BATCH {
            stats.raw_skipped.fetch_add(1, Ordering::Relaxed);
        } else {
            self.raw.push(event);
        }
    }

    /// Counts twice as large as make a store due: stop taking events until it is done.
    fn is_full(&self) -> bool {
        self.counts.rollups.len() >= 2 * MAX_ROLLUP_ROWS
            || self.clients.rows.len() >= 2 * MAX_ROLLUP_ROWS
    }

    /// The store that is due at `now`, if one is.
    fn take_due(&mut self, now: tokio::time::Instant) -> Option<Store> {
        if !self.waiting.is_empty() {
            return Some(self.take_all());
        }
        let counts = self.counts.is_due(now);
        let clients = self.clients.is_due(now);
        let raw = self
            .raw_since
            .is_some_and(|since| since + FLUSH_EVERY <= now)
            || self.raw.len() >= BATCH;
        if !(counts || clients || raw) {
            return None;
        }
        self.raw_since = None;
        Some(Store {
            raw: std::mem::take(&mut self.raw),
            counts: counts.then(|| self.counts.take()),
            clients: clients.then(|| self.clients.take()),
            waiting: Vec::new(),
        })
    }

    fn take_all(&mut self) -> Store {
        self.raw_since = None;
        Store {
            raw: std::mem::take(&mut self.raw),
            counts: Some(self.counts.take()),
            clients: Some(self.clients.take()),
            waiting: std::mem::take(&mut self.waiting),
        }
    }
}

/// One store: raw events, then (when due) the summed counts and client addresses; then the
/// flushes it answers.
struct Store {
    raw: Vec<Event>,
    counts: Option<Counts>,
    clients: Option<Clients>,
    waiting: Vec<oneshot::Sender<()>>,
}

impl Store {
    async fn run(self, db: Db, stats: Arc<Stats>) {
        if let Err((stored, e)) =
            in_parts(&db, &self.raw, |tx, part| Box::pin(store_events(tx, part))).await
        {
            // Their counts are stored with the rest: only the raw records are lost.
            let lost = self.raw.len() - stored;
            stats.raw_skipped.fetch_add(lost as u64, Ordering::Relaxed);
            tracing::warn!(error = ?e, events = lost, "storing raw usage events failed; they are skipped");
        }
        if let Some(counts) = self.counts.filter(|c| c.events > 0) {
            // Each event is in one rollup row: a row's requests are its events.
            let rollups: Vec<_> = counts.rollups.into_iter().collect();
            let events = |rows: &[(MinuteRow, i64)]| rows.iter().map(|(_, n)| *n as u64).sum();
            let stored = match in_parts(&db, &rollups, |tx, part| Box::pin(store_rollups(tx, part)))
                .await
            {
                Ok(()) => rollups.len(),
                Err((stored, e)) => {
                    let lost = events(&rollups[stored..]);
                    tracing::warn!(error = ?e, events = lost, "storing usage counts failed; the events are dropped");
                    stats.dropped.fetch_add(lost, Ordering::Relaxed);
                    stored
                }
            };
            stats
                .written
                .fetch_add(events(&rollups[..stored]), Ordering::Relaxed);
            let uses: Vec<_> = counts.uses.into_iter().collect();
            if let Err((stored, e)) =
                in_parts(&db, &uses, |tx, part| Box::pin(store_uses(tx, part))).await
            {
                tracing::warn!(error = ?e, keys = uses.len() - stored, "storing the keys' uses failed");
            }
        }
        if let Some(clients) = self.clients.filter(|c| !c.rows.is_empty()) {
            let rows: Vec<_> = clients.rows.into_iter().collect();
            if let Err((stored, e)) =
                in_parts(&db, &rows, |tx, part| Box::pin(store_clients(tx, part))).await
            {
                tracing::warn!(error = ?e, rows = rows.len() - stored, "storing the keys' client addresses failed");
            }
        }
        for done in self.waiting {
            let _ = done.send(());
        }
    }
}

/// How long the writer sums the keys' client addresses before it writes them: they feed
/// the top addresses of a key and the new-network alert, which need no fresher data.
pub const CLIENTS_EVERY: Duration = Duration::from_secs(60);

/// One key's requests from one address on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ClientUse {
    requests: i64,
    first: i64,
    last: i64,
}

/// The events' client addresses since they were last written, by key, UTC day and address.
#[derive(Debug, Default)]
struct Clients {
    rows: Sums<(Id, i64, IpAddr), ClientUse>,
    since: Option<tokio::time::Instant>,
}

impl Clients {
    fn add(&mut self, e: &Event) {
        let (Some(key), Some(ip)) = (&e.key_id, e.client_ip) else {
            return;
        };
        self.since.get_or_insert_with(tokio::time::Instant::now);
        let day = e.at - e.at.rem_euclid(rollup::DAY_MS);
        let slot = self
            .rows
            .entry((key.clone(), day, ip.to_canonical()))
            .or_insert(ClientUse {
                requests: 0,
                first: e.at,
                last: e.at,
            });
        slot.requests += 1;
        slot.first = slot.first.min(e.at);
        slot.last = slot.last.max(e.at);
    }

    /// What was summed, leaving room for as many rows ([`emptied`]).
    fn take(&mut self) -> Clients {
        Clients {
            rows: emptied(&mut self.rows),
            since: self.since.take(),
        }
    }

    fn due_at(&self) -> Option<tokio::time::Instant> {
        self.since.map(|since| since + CLIENTS_EVERY)
    }

    fn is_due(&self, now: tokio::time::Instant) -> bool {
        self.rows.len() >= MAX_ROLLUP_ROWS || self.due_at().is_some_and(|due| due <= now)
    }
}

/// The network an address belongs to, as the new-network alert compares them: its /24
/// (IPv4) or /48 (IPv6).
pub fn network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{prefix}/48")
        }
    }
}

/// How long the writer sums rollups and key uses in memory before it writes them: with
/// many keys most events are a rollup row of their own within 500 ms, far fewer within
/// ten seconds. Charts and "last used" lag by up to this much; raw events do not wait.
pub const COUNT_EVERY: Duration = Duration::from_secs(10);
/// How long while more than [`MANY_ROWS`] rows are summed: with 100,000 keys in use, a
/// minute holds a row per key, and writing it once rather than six times is most of the
/// writer's cost (charts and "last used" then lag by up to a minute).
pub const COUNT_EVERY_MANY: Duration = Duration::from_secs(60);
/// Summed rows from which the counts are written every [`COUNT_EVERY_MANY`].
pub const MANY_ROWS: usize = 10_000;
/// Rollup rows held at most before they are written early (bounds the memory).
const MAX_ROLLUP_ROWS: usize = 200_000;

/// One key's valid uses since the counts were last written.
#[derive(Debug)]
struct Uses {
    count: i64,
    since_rotation: i64,
    last_at: i64,
    last_ip: Option<IpAddr>,
}

/// The events stored since the counts were last written, summed: requests by rollup row,
/// and each key's valid uses.
#[derive(Debug)]
struct Counts {
    rollups: Sums<MinuteRow, i64>,
    uses: Sums<Id, Uses>,
    events: u64,
    since: Option<tokio::time::Instant>,
    /// The empty id a rollup row has for an unknown key, application or API.
    none: Id,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            rollups: Sums::default(),
            uses: Sums::default(),
            events: 0,
            since: None,
            none: Id::from(""),
        }
    }
}

impl Counts {
    /// What was summed, leaving room for as many rows ([`emptied`]).
    fn take(&mut self) -> Counts {
        Counts {
            rollups: emptied(&mut self.rollups),
            uses: emptied(&mut self.uses),
            events: std::mem::take(&mut self.events),
            since: self.since.take(),
            none: self.none.clone(),
        }
    }

    fn add(&mut self, events: &[Event]) {
        self.since.get_or_insert_with(tokio::time::Instant::now);
        self.events += events.len() as u64;
        for e in events {
            let id = |id: &Option<Id>| id.as_ref().unwrap_or(&self.none).clone();
            let row = (
                e.at - e.at.rem_euclid(MINUTE_MS),
                id(&e.application_id),
                id(&e.api_id),
                id(&e.key_id),
                e.code,
            );
            *self.rollups.entry(row).or_insert(0) += 1;
            let (Some(key), "VALID") = (&e.key_id, e.code) else {
                continue;
            };
            let slot = self.uses.entry(key.clone()).or_insert(Uses {
                count: 0,
                since_rotation: 0,
                last_at: i64::MIN,
                last_ip: None,
            });
            slot.count += 1;
            slot.since_rotation += i64::from(e.rotated);
            if e.at >= slot.last_at {
                slot.last_at = e.at;
                slot.last_ip = e.client_ip;
            }
        }
    }

    fn due_at(&self) -> Option<tokio::time::Instant> {
        let wait = if self.rollups.len().max(self.uses.len()) > MANY_ROWS {
            COUNT_EVERY_MANY
        } else {
            COUNT_EVERY
        };
        self.since.map(|since| since + wait)
    }

    fn is_due(&self, now: tokio::time::Instant) -> bool {
        self.rollups.len() >= MAX_ROLLUP_ROWS || self.due_at().is_some_and(|due| due <= now)
    }
}

/// Rows per transaction, stored in one statement (well under either database's limit of
/// parameters). SQLite lets one connection write at a time and this writer runs at a lower
/// priority: a store of 94,000 rows in one transaction held the write lock for six seconds
/// of a gateway under full load, and every call that needed a quota lease meanwhile waited
/// out the busy timeout and failed; in parts of 1,000 rows such a lease still waited
/// 150 ms (median) for its turn.
pub const ROWS_PER_TRANSACTION: usize = 250;

/// A part being stored (boxed: a generic async function here trips the compiler's check
/// that the writer's task is `Send`).
type Stored<'a> = futures::future::BoxFuture<'a, Result<(), AppError>>;

/// Stores `rows` [`ROWS_PER_TRANSACTION`] at a time, each part in a transaction of its
/// own. On SQLite the writer then pauses as long as the part took: the write lock is free
/// half the time, for writers waiting in SQLite's busy handler (which retries after
/// sleeping up to 100 ms; it keeps no queue). The first part that fails ends the store:
/// `Err` says how many rows were stored before it.
async fn in_parts<T: Sync>(
    db: &Db,
    rows: &[T],
    store: impl for<'a> Fn(&'a mut Transaction<'static, Any>, &'a [T]) -> Stored<'a>,
) -> Result<(), (usize, AppError)> {
    let parts = rows.len().div_ceil(ROWS_PER_TRANSACTION);
    for (i, part) in rows.chunks(ROWS_PER_TRANSACTION).enumerate() {
        let began = std::time::Instant::now();
        let sqlite = async {
            let mut tx = db.begin().await?;
            store(&mut tx, part).await?;
            let sqlite = tx.backend_name() == "SQLite";
            tx.commit().await?;
            Ok(sqlite)
        }
        .await
        .map_err(|e| (i * ROWS_PER_TRANSACTION, e))?;
        if sqlite && i + 1 < parts {
            tokio::time::sleep(began.elapsed()).await;
        }
    }
    Ok(())
}

/// Adds rollup rows to `usage_minutes` and, for minutes already rolled up, to every level.
async fn store_rollups(
    tx: &mut Transaction<'static, Any>,
    rows: &[(MinuteRow, i64)],
) -> Result<(), AppError> {
    let style = Placeholders::for_backend(tx.backend_name());
    let sql = format!(
        "INSERT INTO usage_minutes (minute, application_id, api_id, key_id, code, requests) \
         VALUES {} ON CONFLICT (minute, application_id, api_id, key_id, code) \
         DO UPDATE SET requests = usage_minutes.requests + excluded.requests",
        value_rows(rows.len(), 6, style)
    );
    let mut q = sqlx::query(&sql);
    for ((minute, app, api, key, code), n) in rows {
        q = q
            .bind(minute)
            .bind(&**app)
            .bind(&**api)
            .bind(&**key)
            .bind(*code)
            .bind(n);
    }
    q.execute(&mut **tx).await?;
    let rows: Vec<(&MinuteRow, i64)> = rows.iter().map(|(row, n)| (row, *n)).collect();
    rollup::add_late(tx, &rows).await
}

/// Adds keys' uses to their counts and moves their latest use; `v.column1…5` are the id,
/// uses, time, address and uses since the rotation.
async fn store_uses(
    tx: &mut Transaction<'static, Any>,
    uses: &[(Id, Uses)],
) -> Result<(), AppError> {
    let style = Placeholders::for_backend(tx.backend_name());
    let sql = format!(
        "UPDATE api_keys SET use_count = api_keys.use_count + v.column2, \
         uses_since_rotation = api_keys.uses_since_rotation + v.column5, \
         last_used_ip = CASE WHEN api_keys.last_used_at IS NULL OR api_keys.last_used_at <= v.column3 \
         THEN v.column4 ELSE api_keys.last_used_ip END, \
         last_used_at = CASE WHEN api_keys.last_used_at IS NULL OR api_keys.last_used_at <= v.column3 \
         THEN v.column3 ELSE api_keys.last_used_at END \
         FROM (VALUES {}) AS v WHERE api_keys.id = v.column1",
        value_rows(uses.len(), 5, style)
    );
    let mut q = sqlx::query(&sql);
    for (key, used) in uses {
        q = q
            .bind(&**key)
            .bind(used.count)
            .bind(used.last_at)
            .bind(used.last_ip.map(|ip| ip.to_string()))
            .bind(used.since_rotation);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Adds client addresses to `usage_clients`.
async fn store_clients(
    tx: &mut Transaction<'static, Any>,
    rows: &[((Id, i64, IpAddr), ClientUse)],
) -> Result<(), AppError> {
    let style = Placeholders::for_backend(tx.backend_name());
    let sql = format!(
        "INSERT INTO usage_clients (key_id, day, client_ip, network, requests, first_seen, last_seen) \
         VALUES {} ON CONFLICT (key_id, day, client_ip) DO UPDATE SET \
         requests = usage_clients.requests + excluded.requests, \
         first_seen = CASE WHEN excluded.first_seen < usage_clients.first_seen \
         THEN excluded.first_seen ELSE usage_clients.first_seen END, \
         last_seen = CASE WHEN excluded.last_seen > usage_clients.last_seen \
         THEN excluded.last_seen ELSE usage_clients.last_seen END",
        value_rows(rows.len(), 7, style)
    );
    let mut q = sqlx::query(&sql);
    for ((key, day, ip), used) in rows {
        q = q
            .bind(&**key)
            .bind(day)
            .bind(ip.to_string())
            .bind(network(*ip))
            .bind(used.requests)
            .bind(used.first)
            .bind(used.last);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Stores the raw events of Keyport's own keys.
async fn store_events(
    tx: &mut Transaction<'static, Any>,
    events: &[Event],
) -> Result<(), AppError> {
    let style = Placeholders::for_backend(tx.backend_name());
    let known: Vec<&Event> = events.iter().filter(|e| e.key_id.is_some()).collect();
    if known.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO usage_events (at, key_id, application_id, api_id, code, client_ip, \
         upstream_status, latency_ms, bytes) VALUES {}",
        value_rows(known.len(), 9, style)
    );
    let mut q = sqlx::query(&sql);
    for e in known {
        q = q
            .bind(e.at)
            .bind(e.key_id.as_deref())
            .bind(e.application_id.as_deref())
            .bind(e.api_id.as_deref())
            .bind(e.code)
            .bind(e.client_ip.map(|ip| ip.to_string()))
            .bind(e.upstream_status.map(i64::from))
            .bind(e.latency_ms.map(i64::from))
            .bind(e.bytes.map(|b| b as i64));
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: i64, key: Option<&str>, code: &'static str) -> Event {
        Event {
            at,
            key_id: key.map(Id::from),
            application_id: key.map(|_| Id::from("app")),
            api_id: Some("api".into()),
            code,
            rotated: false,
            client_ip: Some(format!("203.0.113.{}", at % 200).parse().unwrap()),
            upstream_status: None,
            latency_ms: None,
            bytes: None,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_waits() {
        let r = Recorder::new(10);
        for i in 0..25 {
            r.record(event(i, Some("k"), "VALID"));
        }
        assert_eq!(r.dropped(), 15);
    }

    #[test]
    fn rollups_count_by_minute_application_api_key_and_code() {
        let events = [
            event(60_000, Some("k"), "VALID"),
            event(119_999, Some("k"), "VALID"),
            event(120_000, Some("k"), "VALID"),
            event(120_001, Some("k"), "RATE_LIMITED"),
            event(120_002, None, "NOT_FOUND"),
        ];
        let mut counts = Counts::default();
        counts.add(&events);
        let r = counts.rollups;
        let at = |m: i64, key: &str, code: &'static str| {
            let app = if key.is_empty() { "" } else { "app" };
            r.get(&(m, Id::from(app), Id::from("api"), Id::from(key), code))
                .copied()
        };
        assert_eq!(at(60_000, "k", "VALID"), Some(2));
        assert_eq!(at(120_000, "k", "VALID"), Some(1));
        assert_eq!(at(120_000, "k", "RATE_LIMITED"), Some(1));
        assert_eq!(at(120_000, "", "NOT_FOUND"), Some(1));
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn a_key_counts_its_valid_uses_and_keeps_the_latest() {
        let rotated = |mut e: Event| {
            e.rotated = true;
            e
        };
        let events = [
            event(5, Some("k"), "VALID"),
            rotated(event(9, Some("k"), "VALID")),
            rotated(event(7, Some("k"), "VALID")),
            rotated(event(11, Some("k"), "REVOKED")),
        ];
        let mut counts = Counts::default();
        counts.add(&events[..2]);
        counts.add(&events[2..]);
        let uses = &counts.uses["k"];
        assert_eq!(uses.count, 3);
        assert_eq!(
            uses.since_rotation, 2,
            "valid uses of the key known as rotated"
        );
        assert_eq!(uses.last_at, 9);
        assert_eq!(uses.last_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(counts.events, 4);
    }

    #[test]
    fn client_addresses_are_summed_by_key_day_and_address_with_first_and_last_seen() {
        let mut clients = Clients::default();
        let at = |at: i64, ip: &str| Event {
            client_ip: Some(ip.parse().unwrap()),
            ..event(at, Some("k"), "REVOKED")
        };
        let day = rollup::DAY_MS;
        for e in [
            at(day + 50, "203.0.113.9"),
            at(day + 10, "::ffff:203.0.113.9"),
            at(day + 30, "203.0.113.9"),
            at(2 * day, "203.0.113.9"),
            at(day, "2001:db8:1:2::1"),
            event(day, None, "NOT_FOUND"),
        ] {
            clients.add(&e);
        }
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            clients.rows[&(Id::from("k"), day, ip)],
            ClientUse {
                requests: 3,
                first: day + 10,
                last: day + 50
            },
            "an IPv4-mapped address is the IPv4 address"
        );
        assert_eq!(clients.rows[&(Id::from("k"), 2 * day, ip)].requests, 1);
        assert_eq!(clients.rows.len(), 3, "unknown keys have no addresses");
    }

    #[test]
    fn a_network_is_the_addresses_slash_24_or_slash_48() {
        let net = |ip: &str| network(ip.parse().unwrap());
        assert_eq!(net("203.0.113.9"), "203.0.113.0/24");
        assert_eq!(net("::ffff:198.51.100.200"), "198.51.100.0/24");
        assert_eq!(net("2001:db8:1:2::1"), "2001:db8:1::/48");
    }

    #[tokio::test]
    async fn a_flush_without_a_writer_returns() {
        let r = Recorder::new(4);
        drop(r.rx.lock().unwrap().take());
        r.flush().await;
    }
}
