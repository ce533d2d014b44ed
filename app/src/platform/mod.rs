//! The layer every area stands on and that imports no area: the shared state and
//! configuration ([`state`]), the clock and the id and token helpers, SQL helpers ([`sql`]),
//! sessions ([`session`]), the gateways' in-memory view ([`view`]) and the change feed
//! that keeps it current ([`feed`]), usage recording ([`usage`]) and its hours and days ([`rollup`]), rate limits ([`limits`]), quota leases ([`quota`]), the audit log writer ([`audit`]), portal settings ([`settings`]),
//! the mailer ([`mail`]), OpenID Connect clients ([`oidc`]), the browser assets' version
//! ([`assets`]) and the per-request context ([`Ctx`]) every service takes.

#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod audit;
#[cfg(feature = "ssr")]
pub mod feed;
#[cfg(feature = "ssr")]
pub mod limits;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod oidc;
#[cfg(feature = "ssr")]
pub mod quota;
#[cfg(feature = "ssr")]
pub mod rollup;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod settings;
#[cfg(feature = "ssr")]
pub mod sql;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod usage;
#[cfg(feature = "ssr")]
pub mod view;

#[cfg(feature = "ssr")]
pub use ctx::Ctx;

#[cfg(feature = "ssr")]
mod ctx {
    use super::audit::{record, Event};
    use super::session::AuthSession;
    use super::state::{app_state, AppState, ClientInfo};
    use crate::error::AppError;

    /// What a flow needs from its request: state, session, client and the time.
    pub struct Ctx {
        pub state: AppState,
        pub session: AuthSession,
        pub client: ClientInfo,
        pub now: i64,
    }

    impl Ctx {
        pub async fn current() -> Result<Self, AppError> {
            let state = app_state()?;
            let now = state.clock.now();
            Ok(Ctx {
                state,
                session: AuthSession::current().await?,
                client: ClientInfo::current(),
                now,
            })
        }

        pub async fn audit(&self, event: Event) -> Result<(), AppError> {
            record(&self.state.db, self.now, &self.client, event).await
        }
    }
}
