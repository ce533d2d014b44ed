//! For `bench/gateway.sh`: Keyport's proxy stack without Keyport — hyper's HTTP/1.1
//! connections with `TCP_NODELAY` and hyper-util's pooled client, forwarding every request
//! to one upstream as it came. What the gateway adds over it is the cost of deciding (and
//! recording).
//!
//!     cargo run --release -p server --example plain_proxy -- 127.0.0.1:3336 127.0.0.1:3331

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the keyport binary

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;

struct Upstream {
    client: Client<HttpConnector, Body>,
    authority: String,
}

async fn forward(up: Arc<Upstream>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("http://{}{path}", up.authority).parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    Ok(
        match up
            .client
            .request(Request::from_parts(parts, Body::new(body)))
            .await
        {
            Ok(res) => res.map(Body::new),
            Err(_) => status(StatusCode::BAD_GATEWAY),
        },
    )
}

fn status(code: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = code;
    res
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3336".into());
    let authority = args.next().unwrap_or_else(|| "127.0.0.1:3331".into());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let up = Arc::new(Upstream { client, authority });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let up = up.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| forward(up.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
