#![recursion_limit = "512"]
//! `keyport`: the portal, the migrations and the admin commands in one binary.

use anyhow::Context;
use app::domain::{DisplayName, Email, Password, Role};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keyport: a self-hosted API management portal.
///
/// Configuration comes from defaults, then the optional TOML file, then KEYPORT_*
/// environment variables (KEYPORT_LISTEN, KEYPORT_DATABASE_URL, KEYPORT_MODE,
/// KEYPORT_SECRET_KEY, KEYPORT_PUBLIC_URL, …; see README.md).
#[derive(Parser)]
#[command(name = "keyport", version, about)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, env = "KEYPORT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal (the default), and the gateway when KEYPORT_GATEWAY_LISTEN is set.
    /// Applies pending migrations first.
    Serve,
    /// Serve only the gateway (KEYPORT_GATEWAY_LISTEN) against the portal's database.
    Gateway,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a one-time link to create the first administrator (only while there is none).
    SetupLink,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the service tokens gateways use with the verify API.
    ServiceToken {
        #[command(subcommand)]
        command: ServiceTokenCommand,
    },
    /// Tools for demos and benchmarks.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Create a demo world (a publisher, five APIs, developers, applications, keys) and write
    /// realistic traffic for it straight into the usage tables. For a fresh database.
    SeedUsage {
        /// How many requests in all.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1_000)]
        keys: usize,
        /// How many days back from now.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// An existing user who gets the first developer's three applications.
        #[arg(long)]
        owner: Option<String>,
        /// Days of raw events (the newest); the levels get every day.
        #[arg(long, default_value_t = 1)]
        raw_days: u32,
        /// The random generator's seed (the same seed draws the same traffic).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ServiceTokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user without a browser.
    Create {
        #[arg(long)]
        email: String,
        /// admin, publisher or developer.
        #[arg(long, default_value = "developer")]
        role: String,
        /// The name shown in the portal (defaults to the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = keyport::config::load(cli.config.as_deref())?;
    keyport::trace::init_logging(&config.log, config.log_format);
    let command = cli.command.unwrap_or(Command::Serve);
    let clock = app::platform::state::Clock::default();
    let state = match command {
        Command::Gateway => keyport::build_gateway_state(config, clock).await?,
        _ => keyport::build_state(config, clock).await?,
    };
    match command {
        Command::Serve => keyport::serve(state).await,
        Command::Gateway => keyport::serve_gateway(state).await,
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::SetupLink => match keyport::setup_link(&state).await? {
            Some(link) => {
                println!("{link}");
                Ok(())
            }
            None => {
                anyhow::bail!("an active administrator exists already; sign in as them instead")
            }
        },
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    role,
                    name,
                    password_stdin: _,
                },
        } => create_user(&state, &email, &role, name.as_deref()).await,
        Command::ServiceToken {
            command: ServiceTokenCommand::Create { name },
        } => create_service_token(&state, &name).await,
        Command::Dev {
            command:
                DevCommand::SeedUsage {
                    events,
                    keys,
                    days,
                    owner,
                    raw_days,
                    seed,
                },
        } => {
            let started = std::time::Instant::now();
            let plan = keyport::seed::Plan {
                events,
                keys,
                days,
                owner,
                raw_days,
                seed,
            };
            let done = keyport::seed::seed(&state, &plan).await?;
            println!(
                "seeded {} events ({} hour rows, {} day rows, {} minute rows, {} raw events) for {} developers' {} applications in {:.1} s",
                done.events,
                done.hour_rows,
                done.day_rows,
                done.minute_rows,
                done.raw_events,
                done.developers,
                done.applications,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

async fn create_service_token(
    state: &app::platform::state::AppState,
    name: &str,
) -> anyhow::Result<()> {
    use app::platform::audit::{record, Event};
    let name = app::domain::line(name, "a name", 60).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let now = state.clock.now();
    let (id, token) = app::admin::store::create_service_token(&state.db, &name, None, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let event = Event::new("service_token.create")
        .target("service_token", &id)
        .details(serde_json::json!({ "name": name, "via": "cli" }));
    record(
        &state.db,
        now,
        &app::platform::state::ClientInfo::default(),
        event,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{token}");
    Ok(())
}

async fn create_user(
    state: &app::platform::state::AppState,
    email: &str,
    role: &str,
    name: Option<&str>,
) -> anyhow::Result<()> {
    use app::platform::audit::{record, Event};
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let name = name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("user"));
    let name = DisplayName::parse(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.trim_end_matches(['\r', '\n']);
    let password = Password::parse(password, Some(email.as_str()))
        .map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let hash = app::auth::password::hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = state.clock.now();
    let user = app::auth::users::create(
        &state.db,
        app::auth::users::NewUser {
            email: &email,
            display_name: &name,
            password_hash: Some(&hash),
            role,
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{email}: {}", describe(&e)))?;
    let event = Event::new("user.create")
        .target("user", &user.id)
        .details(serde_json::json!({ "email": user.email, "role": role, "via": "cli" }));
    record(
        &state.db,
        now,
        &app::platform::state::ClientInfo::default(),
        event,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created {} ({}) with id {}", user.email, role, user.id);
    Ok(())
}

fn describe(e: &app::error::AppError) -> String {
    match e {
        app::error::AppError::Validation { fields } => fields
            .values()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}
