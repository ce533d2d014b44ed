//! For `bench/side-by-side.sh`: a plain axum handler on the runtime Keyport uses, answering
//! `POST /v1/keys/verify` with a fixed answer of the same size as Keyport's, after reading
//! the body. What Keyport adds over it is the cost of deciding.
//!
//!     cargo run --release -p server --example plain_verify -- 127.0.0.1:3213

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the keyport binary

use axum::{body::Bytes, routing::post, Router};

const ANSWER: &str = r#"{"valid":true,"code":"VALID","key_id":"01900000-0000-7000-8000-000000000000","application":"Load 1","owner":"developer@bench.test","environment":"live","scopes":["read"],"remaining":null,"expires_at":null,"rate_limit":{"requests":10,"period":"second"},"limit":{"limit":10,"remaining":9,"reset":1}}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3213".into());
    let app = Router::new().route(
        "/v1/keys/verify",
        post(|body: Bytes| async move {
            std::hint::black_box(body);
            ([("content-type", "application/json")], ANSWER)
        }),
    );
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await
}
