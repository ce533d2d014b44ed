//! The gateway's Prometheus metrics (the `prometheus-client` crate, OpenMetrics text),
//! served at `/_keyport/metrics` on the gateway listener to callers with a service token
//! (a path no API slug can take):
//! - `keyport_gateway_requests_total{api, outcome}`: the outcome is the upstream's status
//!   class (`2xx` … `5xx`) for a proxied call, else the refusal or error code;
//! - `keyport_gateway_refusals_total{code}`;
//! - `keyport_gateway_upstream_seconds` (until the upstream's answer began) and
//!   `keyport_gateway_added_seconds` (everything else: Keyport's own latency), histograms;
//! - `keyport_usage_queue_depth`, `keyport_usage_events_dropped_total`;
//! - `keyport_view_keys`, `keyport_feed_changes_behind` and `keyport_database_up`, read
//!   when scraped (the database with a one-second limit: down, the gateway goes on deciding
//!   from its view, and says so here).

use app::platform::state::AppState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    api: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    code: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Call, Counter>,
    refusals: Family<Refusal, Counter>,
    upstream: Histogram,
    added: Histogram,
    queue_depth: Gauge,
    dropped: Counter,
    view_keys: Gauge,
    feed_behind: Gauge,
    quota_held: Gauge,
    database_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keyport");
        let requests = Family::<Call, Counter>::default();
        registry.register(
            "gateway_requests",
            "Gateway requests by API and outcome (status class or code)",
            requests.clone(),
        );
        let refusals = Family::<Refusal, Counter>::default();
        registry.register(
            "gateway_refusals",
            "Gateway requests refused, by code",
            refusals.clone(),
        );
        // 50 µs to about 6.5 s.
        let upstream = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "gateway_upstream_seconds",
            "Time until the upstream's answer began",
            upstream.clone(),
        );
        let added = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "gateway_added_seconds",
            "Time the gateway itself added to a request",
            added.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let queue_depth = gauge(
            &mut registry,
            "usage_queue_depth",
            "Usage events waiting for the writer",
        );
        let dropped = Counter::default();
        registry.register(
            "usage_events_dropped",
            "Usage events dropped (queue full, or their write failed)",
            dropped.clone(),
        );
        let view_keys = gauge(
            &mut registry,
            "view_keys",
            "Keys in this instance's in-memory view",
        );
        let feed_behind = gauge(
            &mut registry,
            "feed_changes_behind",
            "Changes in the feed this instance has not applied yet",
        );
        let quota_held = gauge(
            &mut registry,
            "quota_leased_unused",
            "Requests of plan quotas this instance leased and has not used (given back when idle or at shutdown)",
        );
        let database_up = gauge(
            &mut registry,
            "database_up",
            "1 when the database answered the scrape within a second",
        );
        Metrics {
            registry,
            requests,
            refusals,
            upstream,
            added,
            queue_depth,
            dropped,
            view_keys,
            feed_behind,
            quota_held,
            database_up,
        }
    }
}

impl Metrics {
    /// One gateway request: its API (empty when none), its outcome, whether that was a
    /// refusal, the upstream's time (when it was called) and the total.
    pub fn observe(
        &self,
        api: &str,
        outcome: &str,
        refused: bool,
        upstream: Option<Duration>,
        total: Duration,
    ) {
        self.requests
            .get_or_create(&Call {
                api: api.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        if refused {
            self.refusals
                .get_or_create(&Refusal {
                    code: outcome.to_string(),
                })
                .inc();
        }
        if let Some(up) = upstream {
            self.upstream.observe(up.as_secs_f64());
        }
        self.added.observe(
            total
                .saturating_sub(upstream.unwrap_or_default())
                .as_secs_f64(),
        );
    }

    /// The metrics as OpenMetrics text, with the gauges read now.
    pub async fn render(&self, state: &AppState) -> String {
        self.queue_depth.set(state.usage.queued() as i64);
        let dropped = state.usage.dropped();
        self.dropped
            .inc_by(dropped.saturating_sub(self.dropped.get()));
        self.view_keys.set(state.view.key_count() as i64);
        self.quota_held.set(state.quotas.held());
        let head = tokio::time::timeout(
            Duration::from_secs(1),
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(seq), 0) FROM changes")
                .fetch_one(&state.db),
        )
        .await;
        match head {
            Ok(Ok(head)) => {
                self.database_up.set(1);
                let applied = state.view.applied().await;
                self.feed_behind.set((head - applied).max(0));
            }
            _ => {
                self.database_up.set(0);
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "encoding the metrics failed");
        }
        out
    }
}
