#![recursion_limit = "512"]
//! The `keyport` binary's library: configuration, database, start-up and the HTTP surface.
//! Integration tests build the same router through [`build_state`] and [`web::router`].

pub mod config;
pub mod db;
pub mod export;
pub mod feed;
pub mod gateway;
pub mod hygiene;
pub mod metrics;
pub mod oidc;
pub mod seed;
pub mod trace;
pub mod verify;
pub mod web;

use anyhow::Context;
use app::auth::users;
use app::platform::session::DbSessionStore;
use app::platform::settings;
use app::platform::state::{AppState, Clock, Config};
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tower_sessions::session_store::ExpiredDeletion;

/// Connects and migrates the database and assembles the shared state.
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    assemble(config, clock, false).await
}

/// [`build_state`] for `keyport gateway`, which also starts while its database does not
/// answer: with a cold view that refuses every call (503) until the change feed loads it.
pub async fn build_gateway_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    assemble(config, clock, true).await
}

async fn assemble(config: Config, clock: Clock, cold_start: bool) -> anyhow::Result<AppState> {
    let secret_key = config::secret_key(&config)?;
    if !app::domain::valid_prefix(&config.key_prefix) {
        anyhow::bail!(
            "KEYPORT_KEY_PREFIX must be 2 to 10 lower-case letters or digits, starting with a letter"
        );
    }
    let url = config.database_url.expose().to_string();
    let db = match db::connect(&url).await {
        Ok(db) => {
            db::migrate(&db, &url).await?;
            Some(db)
        }
        Err(e) if cold_start => {
            tracing::warn!(error = ?e, "the database does not answer: the gateway starts cold and refuses calls (503) until it does");
            None
        }
        Err(e) => return Err(e),
    };
    let oidc =
        app::platform::oidc::Providers::from_config(&config.oidc_providers, &config.base_url())
            .map_err(|e| anyhow::anyhow!("{e} (see the configuration table in README.md)"))?;
    let mailer = app::platform::mail::Mailer::from_config(&config)
        .map_err(|e| anyhow::anyhow!("{e} (see KEYPORT_SMTP_URL in README.md)"))?
        .map(Arc::new);
    let leptos_options = LeptosOptions::builder()
        .output_name(std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "keyport".into()))
        .site_root(std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into()))
        .site_pkg_dir(std::env::var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|_| "pkg".into()))
        .site_addr(config.listen)
        .build();
    let dummy_hash: Arc<str> = tokio::task::spawn_blocking(|| {
        let mut random = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        app::auth::password::hash_blocking(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            random,
        ))
    })
    .await?
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .into();
    let config_usage_capacity = config.usage_queue_capacity;
    let view = match db {
        Some(ref db) => app::platform::feed::start(db)
            .await
            .map_err(|e| anyhow::anyhow!("loading the gateway view: {e:?}"))?,
        None => app::platform::view::View::cold(app::platform::state::new_id()),
    };
    let db = match db {
        Some(db) => db,
        None => db::connect_lazy_with(&url, 16)?,
    };
    Ok(AppState::new(app::platform::state::Shared {
        leptos_options,
        db,
        config: Arc::new(config),
        clock,
        dummy_hash,
        secret_key: Arc::new(secret_key),
        oidc: Arc::new(oidc),
        mailer,
        view: Arc::new(view),
        limiter: Default::default(),
        quotas: Default::default(),
        usage: Arc::new(app::platform::usage::Recorder::new(config_usage_capacity)),
    }))
}

/// While no active admin exists, a one-time link to create one.
pub async fn setup_link(state: &AppState) -> anyhow::Result<Option<String>> {
    if users::count_active_admins(&state.db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        > 0
    {
        return Ok(None);
    }
    let token = settings::new_setup_token(&state.db, state.clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(format!(
        "{}/setup?token={token}",
        state.config.base_url()
    )))
}

/// Serves the portal (and, with `KEYPORT_GATEWAY_LISTEN`, the gateway) until Ctrl-C /
/// SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listen = state.config.listen;
    if let Some(link) = setup_link(&state).await? {
        tracing::warn!("no administrator yet: open {link} to create the first one (valid 24 hours; `keyport setup-link` makes a new one)");
        // The banner is for people at a terminal; JSON logs stay one object per line.
        if state.config.log_format == app::platform::state::LogFormat::Text {
            eprintln!("\n  First run: create the first administrator at\n  {link}\n");
        }
    }
    spawn_cleanup(state.clone());
    spawn_lifecycle_jobs(state.clone());
    spawn_route_derivation(state.clone());
    feed::spawn(state.clone());
    spawn_usage_writer(&state)?;
    let stopping = state.clone();
    let assets = app::platform::assets::problem(&state.leptos_options);
    let stop = Stop::on_signal();
    let gateway = match state.config.gateway_listen {
        Some(addr) => Some(spawn_gateway(state.clone(), addr, &stop).await?),
        None => None,
    };
    let app = web::router(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (set KEYPORT_LISTEN)"))?;
    tracing::info!("Keyport listening on http://{listen}");
    if let Some(problem) = assets {
        tracing::error!("{problem}");
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop.wait())
    .await?;
    if let Some(gateway) = gateway {
        gateway.await??;
    }
    hand_over_at_exit(&stopping).await;
    Ok(())
}

/// `keyport gateway`: only the data plane (the gateway listener, the view and its change
/// feed, the usage writer) against the same database as the portal.
pub async fn serve_gateway(state: AppState) -> anyhow::Result<()> {
    let Some(addr) = state.config.gateway_listen else {
        anyhow::bail!("set KEYPORT_GATEWAY_LISTEN (for example 0.0.0.0:8080) to run the gateway");
    };
    spawn_cleanup(state.clone());
    feed::spawn(state.clone());
    spawn_usage_writer(&state)?;
    let stop = Stop::on_signal();
    spawn_gateway(state.clone(), addr, &stop).await?.await??;
    hand_over_at_exit(&state).await;
    Ok(())
}

/// Binds the gateway listener and serves it until `stop`.
async fn spawn_gateway(
    state: AppState,
    addr: std::net::SocketAddr,
    stop: &Stop,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let gateway = gateway::Gateway::new(state)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (set KEYPORT_GATEWAY_LISTEN)"))?;
    tracing::info!("Keyport gateway listening on http://{addr}");
    Ok(tokio::spawn(gateway::serve(gateway, listener, stop.wait())))
}

/// Requests are done: the quota this instance leased and did not use goes back, and what
/// the requests recorded is stored, before the process ends.
async fn hand_over_at_exit(state: &AppState) {
    let ten_seconds = std::time::Duration::from_secs(10);
    match tokio::time::timeout(ten_seconds, state.quotas.release(&state.db)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "giving back leased quota failed"),
        Err(_) => tracing::warn!("leased quota could not be given back in 10 s"),
    }
    if tokio::time::timeout(ten_seconds, state.usage.flush())
        .await
        .is_err()
    {
        tracing::warn!("usage events still queued at shutdown could not be stored in 10 s");
    }
}

/// Ctrl-C / SIGTERM, for every listener.
struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    fn on_signal() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = tx.send(true);
        });
        Stop(rx)
    }

    fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }
}

/// Starts the usage writer (one per instance) on a thread of its own with its own database
/// connections, at a lower processor priority (nice 5 on Linux; SQLite's connection
/// threads, started from it, inherit it), together with the SQLite log checkpoints: a
/// request seldom waits behind them for the processor (one core at a quarter of the
/// maximum rate: p99 added 10 ms before, 1.3 ms after). Under full load the writer still
/// gets about a quarter of the core, enough for the counts, shedding raw events first
/// (nice 10 left it too little: 29% of events dropped). The thread ends when the state is
/// gone.
pub fn spawn_usage_writer(state: &AppState) -> anyhow::Result<()> {
    let Some(writer) = state.usage.writer() else {
        return Ok(());
    };
    let url = state.config.database_url.expose().to_string();
    let clock = state.clock.clone();
    let retention = state.config.usage_retention();
    background_thread("keyport-usage", &url.clone(), 2, move |db| async move {
        let checkpoints = tokio::spawn(checkpoint_every_minute(db.clone(), url));
        let rollups = tokio::spawn(roll_up_every_minute(db.clone(), clock, retention));
        writer.run(db, retention.raw_days > 0).await;
        checkpoints.abort();
        rollups.abort();
    })
}

/// Runs `work` on a thread named `name` with a runtime of its own, at a lower priority
/// ([`lower_priority`]), with `connections` database connections of its own (opened
/// lazily: a gateway may start before its database answers).
pub(crate) fn background_thread<F, Fut>(
    name: &str,
    url: &str,
    connections: u32,
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce(app::platform::state::Db) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let db = db::connect_lazy_with(url, connections)
        .with_context(|| format!("{name} cannot open the database"))?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            lower_priority();
            runtime.block_on(work(db));
        })?;
    Ok(())
}

/// Lowers the calling thread's priority (and that of threads it starts) to nice 5. On
/// Linux the nice value is a thread's own.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 5) {
        tracing::warn!(error = %e, "could not lower the usage writer's priority");
    }
}

/// Every minute: rolls the due minutes up into hours and days, and deletes what is past
/// its retention (see [`app::platform::rollup`]).
async fn roll_up_every_minute(
    db: app::platform::state::Db,
    clock: app::platform::state::Clock,
    retention: app::platform::rollup::Retention,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = app::platform::rollup::roll_up(&db, clock.now()).await {
            tracing::warn!(error = ?e, "rolling up usage failed");
        }
        if let Err(e) = app::platform::rollup::prune(&db, clock.now(), retention).await {
            tracing::warn!(error = ?e, "pruning usage failed");
        }
    }
}

/// SQLite only: empties the write-ahead log every minute (see [`db::checkpoint`]).
async fn checkpoint_every_minute(db: app::platform::state::Db, url: String) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = db::checkpoint(&db, &url).await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// Deletes expired sessions and stale throttle entries every five minutes; every ten
/// seconds drops idle rate-limit buckets and gives back the quota leases of quiet
/// subscriptions and ended periods.
fn spawn_cleanup(state: AppState) {
    let idle = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tick.tick().await;
            let now = idle.clock.now();
            idle.limiter.sweep(now);
            if let Err(e) = idle.quotas.sweep(&idle.db, now).await {
                tracing::warn!(error = %e, "giving back idle quota leases failed");
            }
        }
    });
    tokio::spawn(async move {
        let store = DbSessionStore::new(state.db.clone(), state.clock.clone());
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tick.tick().await;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "session cleanup failed");
            }
            let stale = state.clock.now() - 24 * 3600 * 1000;
            if let Err(e) =
                sqlx::query("DELETE FROM throttle WHERE window_start < $1 AND locked_until < $2")
                    .bind(stale)
                    .bind(state.clock.now())
                    .execute(&state.db)
                    .await
            {
                tracing::warn!(error = %e, "throttle cleanup failed");
            }
            if let Err(e) = sqlx::query("DELETE FROM signup_requests WHERE expires_at <= $1")
                .bind(state.clock.now())
                .execute(&state.db)
                .await
            {
                tracing::warn!(error = %e, "sign-up request cleanup failed");
            }
        }
    });
}

/// Once: the gateway's routes of OpenAPI documents stored before Keyport derived them.
fn spawn_route_derivation(state: AppState) {
    tokio::spawn(async move {
        match app::catalog::service::derive_missing_routes(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(apis = n, "derived the gateway's routes of stored documents"),
            Err(e) => tracing::warn!(error = %e, "deriving the gateway's routes failed"),
        }
    });
}

/// Every minute: retires deprecated APIs past their sunset date, then runs the key
/// lifecycle job (refills, rotation age, expiry reminders) and the usage alerts.
fn spawn_lifecycle_jobs(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match app::catalog::service::retire_at_sunset(&state, state.clock.now()).await {
                Ok(retired) if !retired.is_empty() => {
                    tracing::info!(?retired, "retired APIs at their sunset date")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sunset job failed"),
            }
            match app::keys::service::lifecycle::run(&state, state.clock.now()).await {
                Ok(report) if report != Default::default() => {
                    tracing::info!(?report, "key lifecycle job")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "key lifecycle job failed"),
            }
            match app::usage::alerts::run(&state, state.clock.now()).await {
                Ok(raised) if raised != Default::default() => {
                    tracing::info!(?raised, "usage alerts")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "usage alerts failed"),
            }
            feed::follow(&state).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
