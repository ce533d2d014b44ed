//! A chart's time buckets in the viewer's time zone: the last hour by minute, the last day
//! by hour, the last week by quarter day and the last 30 days by day, with edges at local
//! midnight (a day across a daylight-saving change has 23 or 25 hours). Sums come per UTC
//! minute or hour and go to the bucket their start falls in; in a zone half or three
//! quarters of an hour off UTC a local day's edges are therefore off by that much.

use super::UsageRange;
use crate::platform::rollup::{HOUR_MS, MINUTE_MS};
use chrono::{DateTime, Duration, LocalResult, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;

/// Edges and labels of a chart's buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// `n + 1` instants (unix ms): bucket `i` is `[edges[i], edges[i + 1])`.
    pub edges: Vec<i64>,
    /// (short, full) per bucket.
    pub labels: Vec<(String, String)>,
    /// Whether the sums come per minute (otherwise per hour).
    pub by_minute: bool,
}

impl Buckets {
    /// The bucket holding `at`, if any.
    pub fn index(&self, at: i64) -> Option<usize> {
        if self.edges.len() < 2 || at < self.edges[0] || at >= *self.edges.last()? {
            return None;
        }
        Some(self.edges.partition_point(|&e| e <= at) - 1)
    }

    /// The time range to read: from the first edge, floored to the sums' unit, to the last.
    pub fn span(&self) -> (i64, i64) {
        let unit = if self.by_minute { MINUTE_MS } else { HOUR_MS };
        let from = self.edges.first().copied().unwrap_or_default();
        (
            from - from.rem_euclid(unit),
            self.edges.last().copied().unwrap_or_default(),
        )
    }
}

/// Local midnight of `date` in `tz` (or the first instant of that day when a
/// daylight-saving change skips midnight).
fn local_start(tz: Tz, date: NaiveDate, hour: u32) -> i64 {
    let mut local = date.and_hms_opt(hour, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.timestamp_millis(),
            LocalResult::None => local += Duration::minutes(30),
        }
    }
    local.and_utc().timestamp_millis()
}

fn local(tz: Tz, at: i64) -> DateTime<Tz> {
    tz.timestamp_millis_opt(at)
        .single()
        .unwrap_or_else(|| tz.timestamp_millis_opt(0).unwrap())
}

/// The buckets of `range` ending with the one that holds `now`.
pub fn buckets(range: UsageRange, now: i64, tz: Tz) -> Buckets {
    let label = |at: i64, short: &str, full: &str| {
        let t = local(tz, at);
        (t.format(short).to_string(), t.format(full).to_string())
    };
    match range {
        UsageRange::Hour | UsageRange::Day => {
            let (unit, n) = if range == UsageRange::Hour {
                (MINUTE_MS, 60)
            } else {
                (HOUR_MS, 24)
            };
            let last = now - now.rem_euclid(unit);
            let edges: Vec<i64> = (0..=n).map(|i| last - (n - 1 - i) * unit).collect();
            let labels = edges[..n as usize]
                .iter()
                .map(|&e| label(e, "%H:%M", "%a %-d %b, %H:%M"))
                .collect();
            Buckets {
                edges,
                labels,
                by_minute: range == UsageRange::Hour,
            }
        }
        UsageRange::Week | UsageRange::Month => {
            let today = local(tz, now).date_naive();
            let (days, hours): (i64, &[u32]) = if range == UsageRange::Week {
                (7, &[0, 6, 12, 18])
            } else {
                (30, &[0])
            };
            let mut edges = Vec::new();
            for d in (0..days).rev() {
                let date = today - Duration::days(d);
                for &h in hours {
                    edges.push(local_start(tz, date, h));
                }
            }
            edges.push(local_start(tz, today + Duration::days(1), 0));
            edges.dedup();
            let labels = edges[..edges.len() - 1]
                .iter()
                .map(|&e| {
                    if range == UsageRange::Week {
                        let t = local(tz, e);
                        let short = if t.hour() == 0 {
                            t.format("%a %-d").to_string()
                        } else {
                            t.format("%H:%M").to_string()
                        };
                        (short, t.format("%a %-d %b, %H:%M").to_string())
                    } else {
                        label(e, "%-d %b", "%a %-d %b %Y")
                    }
                })
                .collect();
            Buckets {
                edges,
                labels,
                by_minute: false,
            }
        }
    }
}

/// The zone named `name` (IANA, e.g. `Europe/Berlin`), or UTC.
pub fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn the_last_hour_is_sixty_minutes_ending_with_the_current_one() {
        let b = buckets(UsageRange::Hour, at("2026-11-27T14:05:30Z"), Tz::UTC);
        assert_eq!(b.edges.len(), 61);
        assert_eq!(b.edges[0], at("2026-11-27T13:06:00Z"));
        assert_eq!(*b.edges.last().unwrap(), at("2026-11-27T14:06:00Z"));
        assert_eq!(b.labels[59].0, "14:05");
        assert!(b.by_minute);
        assert_eq!(b.index(at("2026-11-27T14:05:59Z")), Some(59));
        assert_eq!(b.index(at("2026-11-27T13:06:00Z")), Some(0));
        assert_eq!(b.index(at("2026-11-27T13:05:59Z")), None);
        assert_eq!(b.index(at("2026-11-27T14:06:00Z")), None);
    }

    #[test]
    fn hours_are_labelled_in_the_viewers_zone() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let b = buckets(UsageRange::Day, at("2026-11-27T14:05:00Z"), tz);
        assert_eq!(b.edges.len(), 25);
        assert_eq!(b.labels[23].0, "19:30", "14:00 UTC is 19:30 in India");
        assert_eq!(
            b.span(),
            (at("2026-11-26T15:00:00Z"), at("2026-11-27T15:00:00Z"))
        );
    }

    #[test]
    fn days_start_at_local_midnight_in_a_utc_plus_13_zone() {
        // Tonga is UTC+13 all year: its 27 November starts at 11:00 UTC on the 26th.
        let tz: Tz = "Pacific/Tongatapu".parse().unwrap();
        let b = buckets(UsageRange::Month, at("2026-11-27T02:00:00Z"), tz);
        assert_eq!(b.edges.len(), 31);
        assert_eq!(b.edges[29], at("2026-11-26T11:00:00Z"));
        assert_eq!(b.edges[30], at("2026-11-27T11:00:00Z"));
        assert_eq!(b.labels[29], ("27 Nov".into(), "Fri 27 Nov 2026".into()));
        // 10:59 UTC on the 26th is still the 26th there.
        assert_eq!(b.index(at("2026-11-26T10:59:00Z")), Some(28));
        assert_eq!(b.index(at("2026-11-26T11:00:00Z")), Some(29));
    }

    #[test]
    fn days_start_at_local_midnight_in_a_utc_minus_10_zone() {
        // Honolulu is UTC−10: at 02:00 UTC on the 27th it is still the 26th there.
        let tz: Tz = "Pacific/Honolulu".parse().unwrap();
        let b = buckets(UsageRange::Month, at("2026-11-27T02:00:00Z"), tz);
        assert_eq!(b.labels[29].1, "Thu 26 Nov 2026");
        assert_eq!(b.edges[29], at("2026-11-26T10:00:00Z"));
        assert_eq!(b.edges[30], at("2026-11-27T10:00:00Z"));
    }

    #[test]
    fn a_day_across_a_daylight_saving_change_has_23_or_25_hours() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // Clocks went forward on 29 March 2026 and back on 25 October 2026.
        let spring = buckets(UsageRange::Month, at("2026-04-10T12:00:00Z"), tz);
        let i = spring.labels.iter().position(|l| l.0 == "29 Mar").unwrap();
        assert_eq!(spring.edges[i], at("2026-03-28T23:00:00Z"));
        assert_eq!(spring.edges[i + 1] - spring.edges[i], 23 * HOUR_MS);
        let autumn = buckets(UsageRange::Month, at("2026-11-10T12:00:00Z"), tz);
        let i = autumn.labels.iter().position(|l| l.0 == "25 Oct").unwrap();
        assert_eq!(autumn.edges[i + 1] - autumn.edges[i], 25 * HOUR_MS);
        // The week's quarter days follow local time too.
        let week = buckets(UsageRange::Week, at("2026-03-31T12:00:00Z"), tz);
        assert_eq!(week.edges.len(), 29);
        let i = week
            .labels
            .iter()
            .position(|l| l.1 == "Sun 29 Mar, 00:00")
            .unwrap();
        assert_eq!(week.edges[i + 1] - week.edges[i], 5 * HOUR_MS);
        assert_eq!(week.labels[i + 1].0, "06:00");
    }

    #[test]
    fn a_midnight_skipped_by_a_clock_change_starts_the_day_at_its_first_instant() {
        // Santiago moved its clocks from 00:00 to 01:00 on 6 September 2026.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let start = local_start(tz, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap(), 0);
        assert_eq!(start, at("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn unknown_zones_fall_back_to_utc() {
        assert_eq!(zone(Some("Mars/Olympus")), Tz::UTC);
        assert_eq!(zone(None), Tz::UTC);
        assert_eq!(zone(Some("Europe/Berlin")), Tz::Europe__Berlin);
    }
}
