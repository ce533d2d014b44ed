//! For `bench/gateway.sh`: Keyport's proxy stack without Keyport — an axum listener with
//! `TCP_NODELAY` and hyper-util's pooled client, forwarding every request to one upstream
//! as it came. What the gateway adds over it is the cost of deciding (and recording).
//!
//!     cargo run --release -p server --example plain_proxy -- 127.0.0.1:3336 127.0.0.1:3331

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
struct Upstream {
    client: Client<HttpConnector, Body>,
    authority: String,
}

async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("http://{}{path}", up.authority).parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    match up.client.request(Request::from_parts(parts, body)).await {
        Ok(res) => res.map(Body::new),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3336".into());
    let authority = args.next().unwrap_or_else(|| "127.0.0.1:3331".into());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Upstream { client, authority });
    let listener = tokio::net::TcpListener::bind(listen).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
