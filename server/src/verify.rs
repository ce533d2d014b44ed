//! The verify API for gateways: `POST /v1/keys/verify`, authenticated with a service token
//! (`Authorization: Bearer kps_…`). Decisions are 200 with `{valid, code, …}`; a missing or
//! wrong token is 401 and a malformed body 400, both with a JSON error.

use app::error::AppError;
use app::keys::verify::{verify, VerifyRequest};
use app::state::AppState;
use axum::extract::{rejection::JsonRejection, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/keys/verify", post(verify_key))
}

async fn verify_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    let now = state.clock.now();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match app::admin::service_tokens::store::authenticate(&state.db, token, now).await {
        Ok(Some(_)) => {}
        Ok(None) => return AppError::Unauthorized.into_response(),
        Err(e) => return e.into_response(),
    }
    let Json(req) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return AppError::BadRequest {
                message: format!(
                    "Send JSON like {{\"key\": \"kp_live_…\", \"api\": \"slug\"}}: {}",
                    rejection.body_text()
                ),
            }
            .into_response()
        }
    };
    match verify(&state, &req, now).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}
