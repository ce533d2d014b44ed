//! The two browser-facing OpenID Connect routes. They only gather the request's parts; the
//! flow lives in `app::auth::oidc::flow` and always answers with where to go next (a 303),
//! so no provider answer, however broken, produces an error page from here.

use app::auth::oidc::flow::{self, CallbackParams};
use app::platform::session::AuthSession;
use app::platform::state::{AppState, ClientInfo};
use app::platform::Ctx;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use tower_sessions::Session;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/{id}/start", get(start))
        .route("/auth/oidc/{id}/callback", get(callback))
}

#[derive(Debug, Default, Deserialize)]
struct StartQuery {
    next: Option<String>,
    link: Option<String>,
}

fn ctx(state: AppState, session: Session, client: Option<Extension<ClientInfo>>) -> Ctx {
    let now = state.clock.now();
    Ctx {
        state,
        session: AuthSession::new(session),
        client: client.map(|Extension(c)| c).unwrap_or_default(),
        now,
    }
}

/// A 303 that no cache keeps: each answer carries one-time values.
fn see_other(location: &str) -> Response {
    let mut res = Redirect::to(location).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn start(
    State(state): State<AppState>,
    session: Session,
    client: Option<Extension<ClientInfo>>,
    Path(id): Path<String>,
    Query(query): Query<StartQuery>,
) -> Response {
    let link = query.link.as_deref() == Some("1");
    let ctx = ctx(state, session, client);
    see_other(&flow::start(&ctx, &id, query.next.as_deref(), link).await)
}

async fn callback(
    State(state): State<AppState>,
    session: Session,
    client: Option<Extension<ClientInfo>>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let ctx = ctx(state, session, client);
    let params = CallbackParams::from_pairs(pairs);
    see_other(&flow::callback(&ctx, &id, params).await)
}
