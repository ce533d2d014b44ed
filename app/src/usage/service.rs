//! Building a developer's usage report: which applications and keys are theirs (another's
//! id is "not found"), the buckets in their time zone, and one read per chart or table.

use super::buckets::{buckets, zone, Buckets};
use super::store::{sums, By, Filter, Sum};
use super::*;
use crate::applications::service as apps;
use crate::auth::CurrentUser;
use crate::components::chart::{count, size, Bucket, Series};
use crate::domain::QuotaPeriod;
use crate::keys::service as keys;
use crate::platform::state::AppState;
use chrono::TimeZone;
use std::collections::{BTreeMap, HashMap};

/// What the caller asked to see.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    All,
    Application(String),
    Key(String),
}

impl Wanted {
    /// A key wins over an application; empty values count as absent.
    pub fn from_query(app: Option<&str>, key: Option<&str>) -> Self {
        match (app.filter(|s| !s.is_empty()), key.filter(|s| !s.is_empty())) {
            (_, Some(key)) => Wanted::Key(key.to_string()),
            (Some(app), None) => Wanted::Application(app.to_string()),
            (None, None) => Wanted::All,
        }
    }
}

/// The time a report is made at and the zone it is cut in: the caller's profile zone, else
/// their browser's, else UTC.
#[derive(Debug, Clone, Copy)]
pub struct When {
    pub now: i64,
    pub tz: chrono_tz::Tz,
}

impl When {
    pub fn new(now: i64, user: &CurrentUser, browser: Option<&str>) -> Self {
        When {
            now,
            tz: zone(user.time_zone.as_deref().or(browser)),
        }
    }
}

/// The caller's usage report (see [`usage_report`]).
pub async fn report(
    state: &AppState,
    user: &CurrentUser,
    range: UsageRange,
    wanted: Wanted,
    When { now, tz }: When,
) -> Result<UsageData, AppError> {
    let db = &state.db;
    let mine = apps::mine(db, user).await?;
    let app_ids: Vec<String> = mine.iter().map(|a| a.id.clone()).collect();
    let all_keys = keys::of_applications(db, &app_ids).await?;
    let b = buckets(range, now, tz);
    let (from, to) = b.span();
    let by_minute = b.by_minute;
    let r = range.as_str();

    let (scope, scope_apps, key) = match &wanted {
        Wanted::All => (UsageScope::All, app_ids.clone(), None),
        Wanted::Application(id) => {
            let app = mine
                .iter()
                .find(|a| &a.id == id)
                .ok_or(AppError::NotFound)?;
            let scope = UsageScope::Application {
                id: app.id.clone(),
                name: app.name.clone(),
            };
            (scope, vec![app.id.clone()], None)
        }
        Wanted::Key(id) => {
            let k = all_keys
                .iter()
                .find(|k| &k.id == id)
                .ok_or(AppError::NotFound)?;
            let scope = UsageScope::Key {
                id: k.id.clone(),
                name: k.name.clone(),
                masked: k.masked(),
                application_id: k.application_id.clone(),
                application_name: k.application_name.clone(),
            };
            (scope, vec![k.application_id.clone()], Some(k))
        }
    };
    let key_ids: Vec<String> = key.iter().map(|k| k.id.clone()).collect();
    let filter = match key {
        Some(k) => Filter::Keys(&k.application_id, &key_ids),
        None => Filter::Applications(&scope_apps),
    };

    let chart = chart(&b, &sums(db, filter, from, to, by_minute, By::Time).await?);
    let subs = crate::subscriptions::service::of_applications(db, &scope_apps).await?;
    let api_names: HashMap<&str, &str> = subs
        .iter()
        .map(|s| (s.api_id.as_str(), s.api_name.as_str()))
        .collect();
    let apis = rows(
        &sums(db, filter, from, to, by_minute, By::Api).await?,
        |api| {
            let name = api_names.get(api).copied();
            (
                name.unwrap_or(if api.is_empty() {
                    "No API named"
                } else {
                    "Another API"
                })
                .to_string(),
                String::new(),
                None,
            )
        },
    );
    let breakdown = match &wanted {
        Wanted::All => {
            let names: HashMap<&str, &str> = mine
                .iter()
                .map(|a| (a.id.as_str(), a.name.as_str()))
                .collect();
            rows(
                &sums(db, filter, from, to, by_minute, By::Application).await?,
                |id| {
                    (
                        names
                            .get(id)
                            .copied()
                            .unwrap_or("Deleted application")
                            .to_string(),
                        String::new(),
                        Some(format!("/usage?app={id}&range={r}")),
                    )
                },
            )
        }
        Wanted::Application(_) => {
            let by_id: HashMap<&str, &keys::KeyRow> =
                all_keys.iter().map(|k| (k.id.as_str(), k)).collect();
            rows(
                &sums(db, filter, from, to, by_minute, By::Key).await?,
                |id| match by_id.get(id) {
                    Some(k) => (
                        k.name.clone(),
                        k.masked(),
                        Some(format!("/usage?key={id}&range={r}")),
                    ),
                    None => ("Deleted key".into(), String::new(), None),
                },
            )
        }
        Wanted::Key(_) => Vec::new(),
    };

    let rotation = match key {
        Some(k) => match (k.replaces.as_ref(), k.replaced_by.as_ref()) {
            (Some(old), _) => Some((old.clone(), k.id.clone())),
            (None, Some(new)) => Some((k.id.clone(), new.clone())),
            (None, None) => None,
        },
        None => None,
    };
    let rotation = match (rotation, key) {
        (Some((old, new)), Some(k)) => {
            let ids = [old.clone(), new.clone()];
            let filter = Filter::Keys(&k.application_id, &ids);
            let sums = sums(db, filter, from, to, by_minute, By::TimeAndKey).await?;
            Some(rotation_chart(&b, &sums, &old, &new))
        }
        _ => None,
    };

    let quotas = quotas(state, &subs, &mine, now, tz).await?;
    let clients_from = from - from.rem_euclid(crate::platform::rollup::DAY_MS);
    let clients = match key {
        Some(k) => super::store::top_clients(db, &k.id, clients_from, 10)
            .await?
            .into_iter()
            .map(|(ip, network, requests, last)| super::ClientUse {
                ip,
                network,
                requests,
                last_seen: local_time(tz, last),
            })
            .collect(),
        None => Vec::new(),
    };
    // One application's or key's latest calls, from the raw events.
    let recent = match &wanted {
        Wanted::All => None,
        Wanted::Application(_) | Wanted::Key(_) => {
            let kept_days = state.config.usage_retention_days;
            let calls = super::store::latest_calls(
                db,
                &scope_apps[0],
                key.map(|k| k.id.as_str()),
                from,
                LATEST_CALLS,
            )
            .await?;
            let key_names: HashMap<&str, &str> = all_keys
                .iter()
                .map(|k| (k.id.as_str(), k.name.as_str()))
                .collect();
            let calls = calls
                .into_iter()
                .map(|c| {
                    let api = match c.api_id.as_deref() {
                        None | Some("") => "—",
                        Some(id) => api_names.get(id).copied().unwrap_or("Another API"),
                    };
                    RecentCall {
                        at: local_second(tz, c.at),
                        key: match key {
                            Some(_) => String::new(),
                            None => key_names
                                .get(c.key_id.as_str())
                                .copied()
                                .unwrap_or("Deleted key")
                                .to_string(),
                        },
                        api: api.to_string(),
                        outcome: super::outcome(&c.code).0.to_string(),
                        status: c.upstream_status.and_then(|s| u16::try_from(s).ok()),
                        latency: c.latency_ms.map(|ms| format!("{} ms", count(ms))),
                        size: c.bytes.map(size),
                        client: c.client_ip,
                        code: c.code,
                    }
                })
                .collect();
            Some(RecentCalls {
                calls,
                kept_days,
                searched: super::store::LATEST_CALLS_SEARCHED,
            })
        }
    };
    let key = key.map(|k| KeyFacts {
        clients,
        clients_since: local_time(tz, clients_from),
        remaining_uses: k.remaining_uses,
        max_uses: k.max_uses,
        last_used: k.last_used_at.map(|t| local_time(tz, t)),
        last_ip: k.last_used_ip.clone(),
        state: if k.revoked_at.is_some() {
            "Revoked".into()
        } else if k.expires_at.is_some_and(|e| e <= now) {
            "Expired".into()
        } else if k.replaced_by.is_some() {
            "Rotated: works until its grace period ends".into()
        } else {
            "Active".into()
        },
    });
    Ok(UsageData {
        range,
        time_zone: tz.name().to_string(),
        scope,
        chart,
        breakdown,
        apis,
        quotas,
        rotation,
        key,
        recent,
        applications: mine
            .iter()
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect(),
    })
}

/// The most rows a top list shows.
const TOP: usize = 20;

/// A publisher's APIs (or one of them) or, with `platform`, every API (see
/// [`api_usage`] and [`platform_usage`]).
pub async fn overview(
    state: &AppState,
    user: &CurrentUser,
    range: UsageRange,
    api: Option<&str>,
    platform: bool,
    When { now, tz }: When,
) -> Result<OverviewData, AppError> {
    let db = &state.db;
    let choices = crate::catalog::service::managed_ids(state, user).await?;
    let picked = match api {
        Some(id) => Some(
            choices
                .iter()
                .find(|(i, _)| i == id)
                .cloned()
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let ids: Vec<String> = match &picked {
        Some((id, _)) => vec![id.clone()],
        None => choices.iter().map(|(id, _)| id.clone()).collect(),
    };
    let filter = if platform && picked.is_none() {
        Filter::All
    } else {
        Filter::Apis(&ids)
    };
    let b = buckets(range, now, tz);
    let (from, to) = b.span();
    let fine = b.by_minute;
    let r = range.as_str();
    let chart = chart(&b, &sums(db, filter, from, to, fine, By::Time).await?);

    let api_names: HashMap<&str, &str> = choices
        .iter()
        .map(|(id, name)| (id.as_str(), name.as_str()))
        .collect();
    // Every list from one read: the sums by application, API and key, regrouped.
    let cells = sums(db, filter, from, to, fine, By::Cell).await?;
    let regroup = |part: fn(&str, &str, &str) -> String| -> Vec<Sum> {
        cells
            .iter()
            .map(|s| {
                let mut parts = s.g.splitn(3, ' ');
                let (app, api, key) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                Sum {
                    g: part(app, api, key),
                    ..s.clone()
                }
            })
            .collect()
    };
    let apis = rows(
        &regroup(|_, api, _| api.to_string()),
        |id| match api_names.get(id) {
            Some(name) => (
                name.to_string(),
                String::new(),
                Some(format!("/publish/usage?api={id}&range={r}")),
            ),
            None if id.is_empty() => ("No API named".into(), String::new(), None),
            None => ("Deleted API".into(), String::new(), None),
        },
    );

    let by_app = top(regroup(|app, _, _| app.to_string()));
    let app_ids: Vec<String> = by_app.iter().map(|s| s.g.clone()).collect();
    let app_names = apps::names(db, &app_ids).await?;
    let applications = rows(&by_app, |id| match app_names.get(id) {
        Some(name) => (name.clone(), String::new(), None),
        None => ("Unknown keys".into(), "not Keyport's".into(), None),
    });

    let keys = if platform {
        let by_key = top(regroup(|_, _, key| key.to_string()));
        let key_ids: Vec<String> = by_key.iter().map(|s| s.g.clone()).collect();
        let found = keys::find_many(db, &key_ids).await?;
        let by_id: HashMap<&str, &keys::KeyRow> =
            found.iter().map(|k| (k.id.as_str(), k)).collect();
        rows(&by_key, |id| match by_id.get(id) {
            Some(k) => (
                format!("{} · {}", k.name, k.application_name),
                format!(
                    "{} · {}",
                    k.masked(),
                    k.owner_email.as_deref().unwrap_or("no owner")
                ),
                None,
            ),
            None => ("Unknown keys".into(), "not Keyport's".into(), None),
        })
    } else {
        Vec::new()
    };

    let by_sub = regroup(|app, api, _| format!("{app} {api}"));
    let sub_apps: Vec<String> = {
        let mut ids: Vec<String> = by_sub
            .iter()
            .filter_map(|s| s.g.split_once(' ').map(|(a, _)| a.to_string()))
            .filter(|a| !a.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let subs = crate::subscriptions::service::of_applications(db, &sub_apps).await?;
    let subscriptions = rows(&by_sub, |g| {
        let (app, api) = g.split_once(' ').unwrap_or((g, ""));
        match subs
            .iter()
            .find(|s| s.application_id == app && s.api_id == api)
        {
            Some(s) => (
                format!("{} → {}", s.application_name, s.api_name),
                format!("{} plan · {}", s.plan_name, s.state.label()),
                None,
            ),
            None if app.is_empty() => ("Unknown keys".into(), "not Keyport's".into(), None),
            None => ("No subscription".into(), format!("{app} → {api}"), None),
        }
    });
    // The same sums by plan: each subscription's rows under its plan's id.
    let by_plan: Vec<Sum> = by_sub
        .iter()
        .map(|s| {
            let (app, api) = s.g.split_once(' ').unwrap_or((&s.g, ""));
            let plan = subs
                .iter()
                .find(|x| x.application_id == app && x.api_id == api)
                .map(|x| x.plan_id.clone())
                .unwrap_or_default();
            Sum {
                g: plan,
                ..s.clone()
            }
        })
        .collect();
    let plans = rows(&by_plan, |plan| {
        match subs.iter().find(|x| x.plan_id == plan) {
            Some(x) => (x.plan_name.clone(), x.api_name.clone(), None),
            None => (
                "No plan".into(),
                "unknown keys or ended subscriptions".into(),
                None,
            ),
        }
    });

    let requested = crate::subscriptions::service::requested_since(
        db,
        (!platform || picked.is_some()).then_some(ids.as_slice()),
        from,
    )
    .await?;
    let mut counts = vec![0i64; b.labels.len()];
    for at in requested {
        if let Some(i) = b.index(at) {
            counts[i] += 1;
        }
    }
    let new_subscriptions = ChartData {
        buckets: labels(&b),
        series: vec![Series {
            label: "New subscriptions".into(),
            tone: 4,
            values: counts,
        }],
    };

    let health = if platform {
        let done: i64 = sqlx::query_scalar("SELECT done_until FROM usage_rollup WHERE id = 1")
            .fetch_one(db)
            .await?;
        let behind = (now - done).max(0) / 60_000;
        Some(QueueHealth {
            written: state.usage.written(),
            dropped: state.usage.dropped(),
            raw_skipped: state.usage.raw_skipped(),
            capacity: state.config.usage_queue_capacity,
            rollup_behind: match behind {
                0..=5 => format!(
                    "{behind} min (as designed: minutes are rolled up two minutes after they end)"
                ),
                m if m < 120 => format!("{m} min: behind"),
                m => format!("{} h: behind", m / 60),
            },
        })
    } else {
        None
    };
    Ok(OverviewData {
        range,
        time_zone: tz.name().to_string(),
        platform,
        api: picked,
        chart,
        apis,
        applications,
        keys,
        subscriptions,
        plans,
        new_subscriptions,
        health,
        choices,
    })
}

/// The sums of the [`TOP`] busiest groups.
fn top(sums: Vec<Sum>) -> Vec<Sum> {
    let mut totals: HashMap<&str, i64> = HashMap::new();
    for s in &sums {
        *totals.entry(s.g.as_str()).or_default() += s.n;
    }
    let mut ranked: Vec<(&str, i64)> = totals.into_iter().collect();
    ranked.sort_by_key(|(g, n)| (std::cmp::Reverse(*n), *g));
    let keep: std::collections::HashSet<String> = ranked
        .iter()
        .take(TOP)
        .map(|(g, _)| g.to_string())
        .collect();
    sums.into_iter().filter(|s| keep.contains(&s.g)).collect()
}

/// How many of an application's or key's latest calls its usage page lists.
const LATEST_CALLS: i64 = 50;

/// "Sat 28 Nov, 10:21:03".
fn local_second(tz: chrono_tz::Tz, at: i64) -> String {
    tz.timestamp_millis_opt(at)
        .single()
        .map(|t| t.format("%a %-d %b, %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn local_time(tz: chrono_tz::Tz, at: i64) -> String {
    tz.timestamp_millis_opt(at)
        .single()
        .map(|t| t.format("%a %-d %b %Y, %H:%M").to_string())
        .unwrap_or_default()
}

fn labels(b: &Buckets) -> Vec<Bucket> {
    b.labels
        .iter()
        .map(|(short, full)| Bucket {
            short: short.clone(),
            full: full.clone(),
        })
        .collect()
}

/// A series' place: by colour, then label.
fn order(code: &str) -> (usize, &'static str) {
    let (label, tone) = outcome(code);
    (tone, label)
}

/// One series per decision code present (allowed always), in the order of their colours.
pub fn chart(b: &Buckets, sums: &[Sum]) -> ChartData {
    let n = b.labels.len();
    let mut by_code: BTreeMap<(usize, &'static str), Vec<i64>> = BTreeMap::new();
    by_code.insert(order("VALID"), vec![0; n]);
    for s in sums {
        let Some(i) = b.index(s.t) else { continue };
        by_code.entry(order(&s.code)).or_insert_with(|| vec![0; n])[i] += s.n;
    }
    ChartData {
        buckets: labels(b),
        series: by_code
            .into_iter()
            .map(|((tone, label), values)| Series {
                label: label.to_string(),
                tone,
                values,
            })
            .collect(),
    }
}

/// The allowed requests of a rotated key and its successor, side by side.
fn rotation_chart(b: &Buckets, sums: &[Sum], old: &str, new: &str) -> ChartData {
    let n = b.labels.len();
    let mut values = [vec![0; n], vec![0; n]];
    for s in sums.iter().filter(|s| s.code == "VALID") {
        let (Some(i), Some(k)) = (b.index(s.t), [old, new].iter().position(|k| *k == s.g)) else {
            continue;
        };
        values[k][i] += s.n;
    }
    let [old_values, new_values] = values;
    ChartData {
        buckets: labels(b),
        series: vec![
            Series {
                label: "Old key".into(),
                tone: 6,
                values: old_values,
            },
            Series {
                label: "New key".into(),
                tone: 0,
                values: new_values,
            },
        ],
    }
}

/// Breakdown rows from sums by group, busiest first; `describe(id)` gives the label, a
/// detail and a link.
fn rows(
    sums: &[Sum],
    describe: impl Fn(&str) -> (String, String, Option<String>),
) -> Vec<UsageRow> {
    let mut groups: BTreeMap<&str, (i64, HashMap<&str, i64>)> = BTreeMap::new();
    for s in sums {
        let g = groups.entry(s.g.as_str()).or_default();
        if s.code == "VALID" {
            g.0 += s.n;
        } else {
            *g.1.entry(outcome(&s.code).0).or_default() += s.n;
        }
    }
    let mut rows: Vec<UsageRow> = groups
        .into_iter()
        .map(|(id, (allowed, refusals))| {
            let (label, detail, link) = describe(id);
            let top_refusal = refusals
                .iter()
                .max_by_key(|(label, n)| (**n, std::cmp::Reverse(**label)))
                .map(|(label, _)| label.to_string());
            UsageRow {
                label,
                detail,
                link,
                allowed,
                refused: refusals.values().sum(),
                top_refusal,
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.allowed + r.refused));
    rows
}

/// Each live subscription with a quota: what it used this period, and where it ends at
/// the pace so far.
async fn quotas(
    state: &AppState,
    subs: &[crate::subscriptions::service::SubRow],
    mine: &[apps::AppRow],
    now: i64,
    tz: chrono_tz::Tz,
) -> Result<Vec<QuotaUse>, AppError> {
    let live: Vec<_> = subs.iter().filter(|s| s.state.is_live()).collect();
    let plans = keys::plans_of(state, subs).await?;
    let ids: Vec<String> = live.iter().map(|s| s.id.clone()).collect();
    let since = QuotaPeriod::Month.start(now);
    let used = keys::quota_used(&state.db, &ids, since).await?;
    let mut out = Vec::new();
    for s in live {
        let Some(plan) = plans.get(&s.plan_id) else {
            continue;
        };
        let Some(limit) = plan.quota else { continue };
        let period = plan.quota_period;
        let (start, end) = (period.start(now), period.end(now));
        let used = used
            .iter()
            .find(|(id, p, at, _)| id == &s.id && p == period.as_str() && *at == start)
            .map(|u| u.3)
            .unwrap_or(0);
        out.push(QuotaUse {
            application: mine
                .iter()
                .find(|a| a.id == s.application_id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            api: s.api_name.clone(),
            plan: s.plan_name.clone(),
            used,
            limit,
            projected: project(used, start, end, now),
            period: match period {
                QuotaPeriod::Day => "today (UTC)".into(),
                QuotaPeriod::Month => "this month (UTC)".into(),
            },
            resets: local_time(tz, end),
        });
    }
    Ok(out)
}

/// Where `used` ends at the period's end at the pace since it began (at least an hour of
/// it, so a period's first minutes do not project wildly).
pub fn project(used: i64, start: i64, end: i64, now: i64) -> i64 {
    let elapsed = (now - start).max(crate::platform::rollup::HOUR_MS);
    let length = end - start;
    if now >= end || elapsed >= length {
        return used;
    }
    ((used as i128 * length as i128) / elapsed as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::rollup::HOUR_MS;

    #[test]
    fn a_projection_scales_the_pace_so_far_to_the_whole_period() {
        let day = 24 * HOUR_MS;
        assert_eq!(project(100, 0, day, 6 * HOUR_MS), 400);
        assert_eq!(project(100, 0, day, day), 100);
        assert_eq!(project(5, 0, day, 60_000), 120, "at least an hour counts");
        assert_eq!(project(0, 0, day, 12 * HOUR_MS), 0);
    }

    fn sum(t: i64, g: &str, code: &str, n: i64) -> Sum {
        Sum {
            t,
            g: g.into(),
            code: code.into(),
            n,
        }
    }

    #[test]
    fn a_chart_has_a_series_per_outcome_in_colour_order_and_allowed_always() {
        let b = buckets(UsageRange::Day, 24 * HOUR_MS + 5, chrono_tz::Tz::UTC);
        let empty = chart(&b, &[]);
        assert_eq!(empty.series.len(), 1);
        assert_eq!(empty.series[0].label, "Allowed");
        let c = chart(
            &b,
            &[
                sum(2 * HOUR_MS, "", "REVOKED", 3),
                sum(2 * HOUR_MS, "", "VALID", 7),
                sum(24 * HOUR_MS, "", "RATE_LIMITED", 2),
                sum(-HOUR_MS, "", "VALID", 99),
            ],
        );
        let labels: Vec<_> = c.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Allowed", "Rate limited", "Revoked key"]);
        assert_eq!(
            c.series[0].values[1], 7,
            "02:00 is the second of 01:00…00:00"
        );
        assert_eq!(c.series[1].values[23], 2);
        assert_eq!(
            c.series[0].values.iter().sum::<i64>(),
            7,
            "before the range: left out"
        );
    }

    #[test]
    fn breakdown_rows_are_busiest_first_with_their_main_refusal() {
        let rows = rows(
            &[
                sum(0, "a", "VALID", 5),
                sum(0, "b", "VALID", 1),
                sum(0, "b", "RATE_LIMITED", 8),
                sum(0, "b", "REVOKED", 2),
            ],
            |id| (id.to_uppercase(), String::new(), None),
        );
        assert_eq!(rows[0].label, "B");
        assert_eq!((rows[0].allowed, rows[0].refused), (1, 10));
        assert_eq!(rows[0].top_refusal.as_deref(), Some("Rate limited"));
        assert_eq!(
            (rows[1].label.as_str(), rows[1].top_refusal.clone()),
            ("A", None)
        );
    }
}
