//! Connecting to SQLite or PostgreSQL through one `AnyPool`, and applying the migrations of
//! that backend. The dialect difference lives here and in `migrations/<backend>/`.

use anyhow::Context;
use app::platform::state::Db;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::Executor;

static SQLITE: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("KEYPORT_DATABASE_URL must start with sqlite:// or postgres://")
        }
    }
}

/// Opens the pool; for SQLite, creates the file and its folder, and turns on WAL and
/// foreign keys on every connection.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    connect_with(url, 16).await
}

/// [`connect`] with at most `connections` connections.
pub async fn connect_with(url: &str, connections: u32) -> anyhow::Result<Db> {
    let (options, url) = options(url, connections)?;
    options
        .connect(&url)
        .await
        .context("cannot open the database (check KEYPORT_DATABASE_URL)")
}

/// [`connect_with`] without connecting yet: connections are opened when first used, so a
/// database that does not answer now is no error (each use fails until it does).
pub fn connect_lazy_with(url: &str, connections: u32) -> anyhow::Result<Db> {
    let (options, url) = options(url, connections)?;
    options
        .connect_lazy(&url)
        .context("cannot open the database (check KEYPORT_DATABASE_URL)")
}

/// The pool's options for `url`, and the URL to open (SQLite's with `mode=rwc`).
fn options(url: &str, connections: u32) -> anyhow::Result<(AnyPoolOptions, String)> {
    install_default_drivers();
    let backend = Backend::of(url)?;
    let mut url = url.to_string();
    let mut options = AnyPoolOptions::new().max_connections(connections);
    if backend == Backend::Sqlite {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        if let Some(parent) = std::path::Path::new(&path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("creating the database folder {}", parent.display())
                })?;
            }
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        options = options.after_connect(|conn, _| {
            Box::pin(async move {
                // journal_size_limit: after a checkpoint the log file shrinks back to 64 MiB.
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;")
                    .await?;
                Ok(())
            })
        });
    }
    Ok((options, url))
}

pub async fn migrate(db: &Db, url: &str) -> anyhow::Result<()> {
    let migrator = match Backend::of(url)? {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    migrator
        .run(db)
        .await
        .context("applying database migrations")?;
    Ok(())
}

/// SQLite only: copies the write-ahead log into the database and truncates it. SQLite's own
/// checkpoints run after commits but never finish while readers keep reading (under steady
/// load the log grew to hundreds of MB beside a 2 MB database); this one waits for them
/// (busy timeout) and empties the log. Run every minute; a no-op on PostgreSQL.
pub async fn checkpoint(db: &Db, url: &str) -> anyhow::Result<()> {
    if Backend::of(url)? == Backend::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(db)
            .await
            .context("checkpointing the SQLite write-ahead log")?;
    }
    Ok(())
}
