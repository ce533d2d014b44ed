//! Stacked bar charts over time, drawn as SVG on the server and readable without
//! JavaScript: each bar group carries a `<title>` with its exact values, the chart has a
//! text summary and a data table. Once hydrated, a tooltip follows the pointer or the arrow
//! keys and the legend hides and shows series. Axis labels are HTML laid over the SVG, so
//! they stay legible when the chart is squeezed onto a phone. Our own (a few hundred
//! lines): `leptos-chartistry` renders nothing on the server, `charming` needs V8 there,
//! and `plotters` draws fixed colours and text into the SVG (no dark mode, no HTML labels,
//! no hydration).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What a chart shows: one value per bucket and series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartData {
    pub buckets: Vec<Bucket>,
    pub series: Vec<Series>,
}

/// A time bucket's labels: short under the axis, full in tooltips and the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub short: String,
    pub full: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    /// An index into the palette (allowed, rate limited, …, other).
    pub tone: usize,
    pub values: Vec<i64>,
}

/// Bar fill and legend swatch per tone: green for what passed, warm colours for limits,
/// red for dead keys, then violet, sky and grey.
const PALETTE: [(&str, &str); 7] = [
    (
        "fill-emerald-500 dark:fill-emerald-400",
        "bg-emerald-500 dark:bg-emerald-400",
    ),
    (
        "fill-amber-400 dark:fill-amber-300",
        "bg-amber-400 dark:bg-amber-300",
    ),
    (
        "fill-orange-600 dark:fill-orange-400",
        "bg-orange-600 dark:bg-orange-400",
    ),
    (
        "fill-rose-600 dark:fill-rose-400",
        "bg-rose-600 dark:bg-rose-400",
    ),
    (
        "fill-violet-600 dark:fill-violet-400",
        "bg-violet-600 dark:bg-violet-400",
    ),
    (
        "fill-sky-600 dark:fill-sky-400",
        "bg-sky-600 dark:bg-sky-400",
    ),
    (
        "fill-slate-400 dark:fill-slate-500",
        "bg-slate-400 dark:bg-slate-500",
    ),
];

fn tone(index: usize) -> (&'static str, &'static str) {
    PALETTE[index.min(PALETTE.len() - 1)]
}

/// `532 B`, `1.2 KB`, `50.0 MB` (powers of 1,024).
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `12,345`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// The axis top and tick step for values up to `max`: a step of 1, 2 or 5 times a power of
/// ten giving at most five ticks above zero, and the top the first tick at or above `max`.
pub fn scale(max: i64) -> (i64, i64) {
    if max <= 0 {
        return (4, 1);
    }
    let mut magnitude = 1i64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            let ticks = (max + step - 1) / step;
            if ticks <= 5 {
                return (ticks.max(1) * step, step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// Which buckets get an axis label: every `n`-th so that at most `room` labels show.
pub fn label_every(buckets: usize, room: usize) -> usize {
    buckets.div_ceil(room.max(1)).max(1)
}

/// Per-bucket sums of the series not in `hidden`.
fn totals(data: &ChartData, hidden: &[bool]) -> Vec<i64> {
    (0..data.buckets.len())
        .map(|i| {
            data.series
                .iter()
                .enumerate()
                .filter(|(s, _)| !hidden.get(*s).copied().unwrap_or(false))
                .map(|(_, s)| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect()
}

/// `Rate limited` → `rate limited`, but `IP not allowed` stays.
fn lower_first(label: &str) -> String {
    let mut chars = label.chars();
    match (chars.next(), label.chars().nth(1)) {
        (Some(first), Some(second)) if !second.is_uppercase() => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => label.to_string(),
    }
}

/// One sentence for screen readers and the caption: the total, each series' share and the
/// busiest bucket.
pub fn summary(data: &ChartData, unit: &str) -> String {
    let all = totals(data, &[]);
    let total: i64 = all.iter().sum();
    if total == 0 {
        return format!("No {unit} in this period.");
    }
    let parts: Vec<String> = data
        .series
        .iter()
        .map(|s| (s, s.values.iter().sum::<i64>()))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{} {}", count(n), lower_first(&s.label)))
        .collect();
    let (peak, peak_n) = all
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
        .map(|(i, n)| (i, *n))
        .unwrap_or_default();
    format!(
        "{} {unit}: {}. Busiest: {} with {}.",
        count(total),
        parts.join(", "),
        data.buckets[peak].full,
        count(peak_n)
    )
}

/// A stacked bar chart with its legend, summary and data table.
#[component]
pub fn BarChart(
    data: ChartData,
    /// Names the chart for screen readers ("Requests to Billing app, last 24 hours").
    #[prop(into)]
    label: String,
    /// What the values count, plural ("requests").
    #[prop(into)]
    unit: String,
) -> impl IntoView {
    let n = data.buckets.len().max(1);
    let summary_text = summary(&data, &unit);
    let hidden = RwSignal::new(vec![false; data.series.len()]);
    let active = RwSignal::new(None::<usize>);
    let data = StoredValue::new(data);
    let scale_now =
        move || scale(data.with_value(|d| totals(d, &hidden.get()).into_iter().max().unwrap_or(0)));
    let every = label_every(n, 8);
    let width = n * 10;
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let last = n - 1;
        let next = match (ev.key().as_str(), active.get_untracked()) {
            ("ArrowRight", None) | ("Home", _) => Some(0),
            ("ArrowLeft", None) | ("End", _) => Some(last),
            ("ArrowRight", Some(i)) => Some((i + 1).min(last)),
            ("ArrowLeft", Some(i)) => Some(i.saturating_sub(1)),
            ("Escape", _) => None,
            _ => return,
        };
        ev.prevent_default();
        active.set(next);
    };
    let bars = move || {
        let hidden = hidden.get();
        let (top, _) = scale_now();
        data.with_value(|d| {
            (0..d.buckets.len())
                .map(|i| {
                    let mut base = 0i64;
                    let rects = d
                        .series
                        .iter()
                        .enumerate()
                        .filter(|(s, _)| !hidden.get(*s).copied().unwrap_or(false))
                        .filter_map(|(_, s)| {
                            let v = s.values.get(i).copied().unwrap_or(0);
                            if v <= 0 {
                                return None;
                            }
                            let y0 = 100.0 - (base as f64) * 100.0 / top as f64;
                            base += v;
                            let y1 = 100.0 - (base as f64) * 100.0 / top as f64;
                            Some(view! {
                                <rect
                                    x=i * 10 + 1
                                    width="8"
                                    y=format!("{y1:.3}")
                                    height=format!("{:.3}", (y0 - y1).max(0.0))
                                    class=tone(s.tone).0
                                />
                            })
                        })
                        .collect_view();
                    let title = bucket_text(d, i);
                    view! {
                        <g>
                            <title>{title}</title>
                            <rect
                                x=i * 10
                                width="10"
                                y="0"
                                height="100"
                                class=move || if active.get() == Some(i) { "fill-slate-900/10 dark:fill-white/15" } else { "fill-transparent" }
                                on:mouseenter=move |_| active.set(Some(i))
                            />
                            {rects}
                        </g>
                    }
                })
                .collect_view()
        })
    };
    // Gridlines and their values, evenly spaced from the top tick down to zero (the page's
    // CSP allows no inline styles, so positions come from layout, not `style`).
    let ticks = move || {
        let (top, step) = scale_now();
        (0..=top / step)
            .rev()
            .map(|k| {
                view! {
                    <div class="relative h-0 border-t border-slate-200 dark:border-slate-700">
                        <span class="absolute -top-2 -left-2 -translate-x-full text-xs leading-4 text-slate-500 dark:text-slate-400">{count(k * step)}</span>
                    </div>
                }
            })
            .collect_view()
    };
    // The tooltip sits in the corner away from the bucket it describes.
    let tooltip = move || {
        active.get().map(|i| {
            let corner = if i * 2 >= n { "left-1" } else { "right-1" };
            let hidden = hidden.get();
            data.with_value(|d| {
                let rows = d
                    .series
                    .iter()
                    .enumerate()
                    .filter(|(s, _)| !hidden.get(*s).copied().unwrap_or(false))
                    .map(|(_, s)| {
                        let v = s.values.get(i).copied().unwrap_or(0);
                        view! {
                            <li class="flex items-center gap-2">
                                <span class=format!("inline-block h-2 w-2 rounded-sm {}", tone(s.tone).1) aria-hidden="true"></span>
                                <span class="flex-1">{s.label.clone()}</span>
                                <span class="tabular-nums font-medium">{count(v)}</span>
                            </li>
                        }
                    })
                    .collect_view();
                view! {
                    <div class=format!("pointer-events-none absolute top-1 z-10 min-w-44 rounded-md border border-slate-200 bg-white p-2 text-xs shadow-lg dark:border-slate-600 dark:bg-slate-800 dark:text-slate-100 {corner}")>
                        <p class="mb-1 font-semibold">{d.buckets[i].full.clone()}</p>
                        <ul class="space-y-0.5">{rows}</ul>
                    </div>
                }
            })
        })
    };
    let live = move || {
        active
            .get()
            .map(|i| data.with_value(|d| bucket_text(d, i)))
            .unwrap_or_default()
    };
    let legend = data.with_value(|d| {
        d.series
            .iter()
            .enumerate()
            .map(|(s, series)| {
                let total: i64 = series.values.iter().sum();
                view! {
                    <li>
                        <button
                            type="button"
                            class="inline-flex items-center gap-1.5 rounded px-1.5 py-0.5 text-xs text-slate-700 hover:bg-slate-100 aria-[pressed=false]:opacity-50 dark:text-slate-200 dark:hover:bg-slate-700"
                            aria-pressed=move || (!hidden.get().get(s).copied().unwrap_or(false)).to_string()
                            title="Show or hide this series"
                            on:click=move |_| hidden.update(|h| if let Some(x) = h.get_mut(s) { *x = !*x })
                        >
                            <span class=format!("inline-block h-2.5 w-2.5 rounded-sm {}", tone(series.tone).1) aria-hidden="true"></span>
                            {series.label.clone()}
                            <span class="tabular-nums text-slate-500 dark:text-slate-400">{count(total)}</span>
                        </button>
                    </li>
                }
            })
            .collect_view()
    });
    // One equal cell per bucket; every `every`-th holds its label, centred on the bucket.
    let axis = data.with_value(|d| {
        d.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let text = (i % every == 0).then(|| b.short.clone());
                view! { <span class="flex min-w-0 flex-1 basis-0 justify-center whitespace-nowrap">{text}</span> }
            })
            .collect_view()
    });
    let table = data.with_value(|d| {
        let head = d
            .series
            .iter()
            .map(|s| view! { <th scope="col" class="px-2 py-1 text-right font-medium">{s.label.clone()}</th> })
            .collect_view();
        let all = totals(d, &[]);
        let rows = d
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let cells = d
                    .series
                    .iter()
                    .map(|s| view! { <td class="px-2 py-1 text-right tabular-nums">{count(s.values.get(i).copied().unwrap_or(0))}</td> })
                    .collect_view();
                view! {
                    <tr class="border-t border-slate-100 dark:border-slate-700">
                        <th scope="row" class="px-2 py-1 text-left font-normal whitespace-nowrap">{b.full.clone()}</th>
                        {cells}
                        <td class="px-2 py-1 text-right font-medium tabular-nums">{count(all[i])}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="min-w-full text-xs">
                <thead><tr><th scope="col" class="px-2 py-1 text-left font-medium">"Period"</th>{head}<th scope="col" class="px-2 py-1 text-right font-medium">"Total"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    view! {
        <figure class="space-y-3">
            <figcaption class="text-sm text-slate-600 dark:text-slate-300">{summary_text}</figcaption>
            <ul class="flex flex-wrap gap-1" aria-label="Series">{legend}</ul>
            <div
                class="relative ml-12 mr-1 h-48 sm:h-56"
                tabindex="0"
                role="group"
                aria-label=format!("{label}. Arrow keys step through the periods.")
                on:keydown=on_key
                on:mouseleave=move |_| active.set(None)
                on:blur=move |_| active.set(None)
            >
                <div class="pointer-events-none absolute inset-0 flex flex-col justify-between" aria-hidden="true">{ticks}</div>
                <svg
                    class="absolute inset-0 h-full w-full overflow-visible"
                    viewBox=format!("0 0 {width} 100")
                    preserveAspectRatio="none"
                    role="img"
                    aria-label=label.clone()
                >
                    {bars}
                </svg>
                {tooltip}
                <p class="sr-only" aria-live="polite">{live}</p>
            </div>
            <div class="ml-12 mr-1 flex text-xs text-slate-500 dark:text-slate-400" aria-hidden="true">{axis}</div>
            <details class="text-sm">
                <summary class="cursor-pointer text-slate-600 dark:text-slate-300">"Show the numbers as a table"</summary>
                <div class="mt-2 max-h-80 overflow-auto rounded border border-slate-200 dark:border-slate-700" tabindex="0" role="region" aria-label=format!("{label}, as a table")>
                    {table}
                </div>
            </details>
        </figure>
    }
}

/// "Tue 14:00 · 210 requests: Allowed 200, Rate limited 10".
fn bucket_text(d: &ChartData, i: usize) -> String {
    let parts: Vec<String> = d
        .series
        .iter()
        .map(|s| (s, s.values.get(i).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .map(|(s, v)| format!("{} {}", s.label, count(v)))
        .collect();
    let total: i64 = totals(d, &[])[i];
    if parts.is_empty() {
        format!("{}: none", d.buckets[i].full)
    } else {
        format!(
            "{}: {} ({})",
            d.buckets[i].full,
            count(total),
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_picks_a_round_top_with_at_most_five_ticks() {
        assert_eq!(scale(0), (4, 1));
        assert_eq!(scale(1), (1, 1));
        assert_eq!(scale(3), (3, 1));
        assert_eq!(scale(5), (5, 1));
        assert_eq!(scale(6), (6, 2));
        assert_eq!(scale(9), (10, 2));
        assert_eq!(scale(11), (15, 5));
        assert_eq!(scale(99), (100, 20));
        assert_eq!(scale(101), (150, 50));
        assert_eq!(scale(1_234_567), (1_500_000, 500_000));
        for max in 1..5_000 {
            let (top, step) = scale(max);
            assert!(top >= max && top / step <= 5 && top % step == 0, "{max}");
            assert!(
                top - step < max,
                "the top is the first tick at or above {max}"
            );
        }
    }

    #[test]
    fn labels_thin_out_to_fit() {
        assert_eq!(label_every(24, 8), 3);
        assert_eq!(label_every(60, 8), 8);
        assert_eq!(label_every(7, 8), 1);
        assert_eq!(label_every(0, 8), 1);
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(-4321), "-4,321");
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1229), "1.2 KB");
        assert_eq!(size(50 * 1024 * 1024), "50.0 MB");
        assert_eq!(size(3 * 1024_i64.pow(4)), "3.0 TB");
    }

    fn data() -> ChartData {
        ChartData {
            buckets: ["13:00", "14:00", "15:00"]
                .map(|h| Bucket {
                    short: h.into(),
                    full: format!("Tue {h}"),
                })
                .to_vec(),
            series: vec![
                Series {
                    label: "Allowed".into(),
                    tone: 0,
                    values: vec![5, 200, 0],
                },
                Series {
                    label: "Rate limited".into(),
                    tone: 1,
                    values: vec![0, 10, 0],
                },
            ],
        }
    }

    #[test]
    fn the_summary_gives_totals_per_series_and_the_busiest_bucket() {
        assert_eq!(
            summary(&data(), "requests"),
            "215 requests: 205 allowed, 10 rate limited. Busiest: Tue 14:00 with 210."
        );
        assert_eq!(lower_first("IP not allowed"), "IP not allowed");
        assert_eq!(lower_first("Quota exceeded"), "quota exceeded");
        let mut empty = data();
        empty.series.iter_mut().for_each(|s| s.values = vec![0; 3]);
        assert_eq!(summary(&empty, "requests"), "No requests in this period.");
    }

    #[test]
    fn a_bucket_reads_as_its_total_and_its_parts() {
        assert_eq!(
            bucket_text(&data(), 1),
            "Tue 14:00: 210 (Allowed 200, Rate limited 10)"
        );
        assert_eq!(bucket_text(&data(), 2), "Tue 15:00: none");
        assert_eq!(totals(&data(), &[true, false]), vec![0, 10, 0]);
    }
}
