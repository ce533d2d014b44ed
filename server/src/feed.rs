//! Keeping this instance's gateway view current (see `app::platform::feed`): after each
//! write request it served, on PostgreSQL's `NOTIFY keyport_changes` from any instance,
//! and every second in any case; a full reload every five minutes reports anything the
//! feed missed (on a thread of its own, see [`spawn_reconciler`]). The heartbeat records how
//! far this instance is, for the portal's propagation figures and the admin's list of
//! instances.

use crate::db::Backend;
use app::platform::feed;
use app::platform::state::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

/// Applies new changes; a failure is logged (the next tick retries).
pub async fn follow(state: &AppState) {
    if let Err(e) = feed::catch_up(&state.view, &state.db).await {
        tracing::warn!(error = ?e, "applying the change feed failed");
    }
}

/// Middleware: once a request that may have written is answered, its changes are applied
/// before the answer leaves, so the writer's next call (and every gateway call to this
/// instance) already sees them.
pub async fn after_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let res = next.run(req).await;
    if writes {
        follow(&state).await;
    }
    res
}

/// Starts following the feed: the one-second tick with the heartbeat, the five-minute
/// reconciliation and pruning ([`spawn_reconciler`]), and on PostgreSQL a listener for
/// other instances' changes.
pub fn spawn(state: AppState) {
    let address = state.config.base_url();
    let ticker = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            follow(&ticker).await;
            if let Err(e) = feed::heartbeat(&ticker.view, &ticker.db, &address).await {
                tracing::warn!(error = ?e, "gateway heartbeat failed");
            }
        }
    });
    if let Err(e) = spawn_reconciler(&state, RECONCILE_EVERY) {
        tracing::error!(error = ?e, "cannot start the view's reconciliation");
    }
    let url = state.config.database_url.expose().to_string();
    if Backend::of(&url).ok() == Some(Backend::Postgres) {
        tokio::spawn(listen(state, url));
    }
}

/// How often the whole view is reloaded and compared with what the feed built.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);

/// Every `every`: reloads the whole view, swaps it in and reports what the feed had missed,
/// then prunes the feed. On a thread of its own at the usage writer's lower priority, with
/// its own database connection: reading and comparing 100,000 keys takes the processor for
/// a second or more, which on the request threads stalled every call meanwhile (a gateway on
/// one core timed out its clients every five minutes). Ends when the view is gone.
pub fn spawn_reconciler(state: &AppState, every: Duration) -> anyhow::Result<()> {
    let view = std::sync::Arc::downgrade(&state.view);
    let url = state.config.database_url.expose();
    crate::background_thread("keyport-reconcile", url, 1, move |db| async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(view) = view.upgrade() else { return };
            match feed::reconcile(&view, &db).await {
                Ok(0) => {}
                Ok(differences) => tracing::warn!(
                    differences,
                    "the gateway view differed from the database; reloaded"
                ),
                Err(e) => tracing::warn!(error = ?e, "reloading the gateway view failed"),
            }
            if let Err(e) = feed::prune(&db).await {
                tracing::warn!(error = ?e, "pruning the change feed failed");
            }
        }
    })
}

/// Catches up on each notification, and after each reconnection (notifications sent
/// while disconnected are lost; the feed table is not).
async fn listen(state: AppState, url: String) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen("keyport_changes").await {
            tracing::warn!(error = %e, "LISTEN keyport_changes failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        follow(&state).await;
        loop {
            match listener.try_recv().await {
                // A notification, or a reconnection after which some may have been lost.
                Ok(_) => follow(&state).await,
                Err(e) => {
                    tracing::warn!(error = %e, "the change listener lost its connection");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}
