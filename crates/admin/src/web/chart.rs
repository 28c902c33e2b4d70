//! Charts drawn on the server as SVG: stacked bars per time bucket, with a title and a
//! summary for assistive technology and the same figures as a table beside them.

use maud::{Markup, html};

use super::i18n::{Words, fill};
use super::layout::date;
use crate::views::{FlowBucketView, HistoryHourView};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 8.0;

/// One stacked series: its class (colour in the stylesheet), its label, its values.
struct Series<'a> {
    class: &'static str,
    label: &'a str,
    values: Vec<u64>,
}

/// A rounded-up maximum for the axis.
fn axis_max(max: u64) -> u64 {
    let mut step = 1;
    while step * 10 < max.max(1) {
        step *= 10;
    }
    max.max(1).div_ceil(step) * step
}

/// Bars for each bucket: one or two stacks side by side (`groups`), sharing an axis.
fn bars(
    id: &str,
    title: &str,
    summary: &str,
    starts: &[u64],
    groups: &[Vec<Series<'_>>],
    line: Option<(f64, &str)>,
) -> Markup {
    let n = starts.len().max(1);
    let totals = groups.iter().flat_map(|g| {
        (0..n).map(move |i| g.iter().map(|s| s.values.get(i).copied().unwrap_or(0)).sum::<u64>())
    });
    let max = axis_max(totals.chain(line.map(|(v, _)| v.ceil() as u64)).max().unwrap_or(0));
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8 / groups.len().max(1) as f64).max(0.5);
    let y = |v: f64| TOP + plot_h - v / max as f64 * plot_h;
    let label_every = (n / 6).max(1);
    let days = starts.last().zip(starts.first()).is_some_and(|(last, first)| last - first > 2 * 86_400);
    let mut rects: Vec<(&str, f64, f64, f64)> = Vec::new();
    for i in 0..starts.len() {
        for (g, group) in groups.iter().enumerate() {
            let x = LEFT + i as f64 * slot + slot * 0.1 + g as f64 * bar_w;
            let mut base = 0u64;
            for s in group {
                let v = s.values.get(i).copied().unwrap_or(0);
                if v > 0 {
                    rects.push((s.class, x, y((base + v) as f64), v as f64 / max as f64 * plot_h));
                }
                base += v;
            }
        }
    }
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby=(format!("{id}-title {id}-desc")) {
            title #(format!("{id}-title")) { (title) }
            desc #(format!("{id}-desc")) { (summary) }
            line.axis x1=(LEFT) y1=(y(0.0)) x2=(WIDTH - 4.0) y2=(y(0.0)) {}
            line.grid x1=(LEFT) y1=(y(max as f64)) x2=(WIDTH - 4.0) y2=(y(max as f64)) {}
            text.tick x=(LEFT - 4.0) y=(y(max as f64) + 4.0) text-anchor="end" { (max) }
            text.tick x=(LEFT - 4.0) y=(y(0.0)) text-anchor="end" { "0" }
            @for (class, x, top, h) in &rects {
                rect class=(class) x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{bar_w:.1}")) height=(format!("{h:.1}")) {}
            }
            @for (i, start) in starts.iter().enumerate() {
                @if i % label_every == 0 {
                    text.tick x=(format!("{:.1}", LEFT + i as f64 * slot)) y=(HEIGHT - 6.0) { (short_time(*start, days)) }
                }
            }
            @if let Some((value, label)) = line {
                line.limit x1=(LEFT) y1=(format!("{:.1}", y(value))) x2=(WIDTH - 4.0) y2=(format!("{:.1}", y(value))) {}
                // Above the line, or below it when the line runs along the top.
                @let label_y = if y(value) < TOP + 14.0 { y(value) + 12.0 } else { y(value) - 4.0 };
                text.tick x=(WIDTH - 6.0) y=(format!("{label_y:.1}")) text-anchor="end" { (label) }
            }
        }
    }
}

/// `14:00` on a chart of hours, `05-01 18:00` on a chart of days.
fn short_time(unix_s: u64, days: bool) -> String {
    let full = date(unix_s);
    if days { full[5..16].to_string() } else { full[11..16].to_string() }
}

fn legend(items: &[(&'static str, &str)]) -> Markup {
    html! {
        ul.legend {
            @for (class, label) in items {
                li { span class=(format!("swatch {class}")) aria-hidden="true" {} (label) }
            }
        }
    }
}

/// The mail flow: arrivals (accepted recipients, throttled, refused) and outcomes
/// (delivered, bounced) side by side per bucket, then the table.
pub fn flow(w: &Words, id: &str, title: &str, buckets: &[FlowBucketView]) -> Markup {
    let starts: Vec<u64> = buckets.iter().map(|b| b.start_unix_s).collect();
    let col = |f: fn(&FlowBucketView) -> u64| buckets.iter().map(f).collect::<Vec<u64>>();
    let arrivals = vec![
        Series { class: "s-accepted", label: w.s_accepted, values: col(|b| b.accepted_recipients) },
        Series { class: "s-throttled", label: w.s_throttled, values: col(|b| b.throttled) },
        Series { class: "s-refused", label: w.s_refused, values: col(|b| b.refused) },
    ];
    let outcomes = vec![
        Series { class: "s-delivered", label: w.s_delivered, values: col(|b| b.delivered) },
        Series { class: "s-bounced", label: w.s_bounced, values: col(|b| b.bounced) },
    ];
    let sum = |s: &Series<'_>| s.values.iter().sum::<u64>();
    let summary = fill(
        w.chart_summary,
        &[&sum(&arrivals[0]), &sum(&arrivals[1]), &sum(&arrivals[2]), &sum(&outcomes[0]), &sum(&outcomes[1])],
    );
    let groups = [arrivals, outcomes];
    html! {
        figure.chart-box {
            figcaption #(format!("{id}-caption")) { (title) }
            (bars(id, title, &summary, &starts, &groups, None))
            (legend(&groups.iter().flatten().map(|s| (s.class, s.label)).collect::<Vec<_>>()))
            details {
                summary { (w.chart_table) }
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { (w.period_start) }
                            @for s in groups.iter().flatten() { th scope="col" { (s.label) } }
                        } }
                        tbody {
                            @for (i, start) in starts.iter().enumerate() {
                                tr {
                                    th scope="row" { (date(*start)) }
                                    @for s in groups.iter().flatten() { td { (s.values[i]) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One client network's hours (recipients accepted and deferred by throttling) with its
/// allowance now as a line, then the hours that saw mail as a table with their deferred
/// share.
pub fn client(w: &Words, id: &str, title: &str, hours: &[HistoryHourView], allowance: Option<f32>) -> Markup {
    let starts: Vec<u64> = hours.iter().map(|h| h.start_unix_s).collect();
    let accepted: Vec<u64> = hours.iter().map(|h| h.accepted).collect();
    let deferred: Vec<u64> = hours.iter().map(|h| h.deferred).collect();
    let summary =
        fill(w.chart_summary, &[&accepted.iter().sum::<u64>(), &deferred.iter().sum::<u64>(), &0, &0, &0]);
    let group = vec![
        Series { class: "s-accepted", label: w.s_accepted, values: accepted },
        Series { class: "s-throttled", label: w.s_throttled, values: deferred },
    ];
    let line = allowance.map(|a| (f64::from(a), w.allowance_line));
    let items: Vec<(&'static str, &str)> = group.iter().map(|s| (s.class, s.label)).collect();
    html! {
        figure.chart-box {
            figcaption { (title) }
            (bars(id, title, &summary, &starts, std::slice::from_ref(&group), line))
            (legend(&items))
            p.hint { (w.allowance_not_kept) }
            details {
                summary { (w.chart_table) }
                p.hint { (w.busy_hours_only) }
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { (w.period_start) }
                            th scope="col" { (w.s_accepted) }
                            th scope="col" { (w.s_throttled) }
                            th scope="col" { (w.share_col) }
                        } }
                        tbody {
                            @for h in hours.iter().filter(|h| h.accepted + h.deferred > 0) {
                                tr {
                                    th scope="row" { (date(h.start_unix_s)) }
                                    td { (h.accepted) }
                                    td { (h.deferred) }
                                    td { (h.deferred_percent) "\u{a0}%" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up() {
        assert_eq!(axis_max(0), 1);
        assert_eq!(axis_max(7), 7);
        assert_eq!(axis_max(13), 20);
        assert_eq!(axis_max(1_234), 2_000);
    }

    #[test]
    fn a_client_history_lists_only_busy_hours_with_their_deferred_share_and_says_allowance_is_current() {
        let h = |start, accepted, deferred, deferred_percent| HistoryHourView {
            start_unix_s: start,
            accepted,
            deferred,
            deferred_percent,
        };
        let hours = [h(0, 0, 0, 0), h(3_600, 1, 3, 75), h(7_200, 0, 0, 0)];
        let html = client(&super::super::i18n::EN, "c", "t", &hours, Some(12.0)).into_string();
        assert_eq!(html.matches("<tr>").count(), 2, "the header and the one busy hour: {html}");
        assert!(html.contains("<td>75\u{a0}%</td>"), "{html}");
        assert!(html.contains("allowance now") && html.contains("Past allowances are not kept"), "{html}");
    }

    #[test]
    fn a_chart_draws_one_rect_per_nonzero_value_and_says_its_totals() {
        let b = |start, accepted, throttled| FlowBucketView {
            start_unix_s: start,
            accepted,
            accepted_recipients: accepted,
            throttled,
            refused: 0,
            delivered: 0,
            bounced: 0,
        };
        let svg = flow(&super::super::i18n::EN, "c", "t", &[b(0, 3, 0), b(3_600, 2, 5)]).into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("5 accepted, 5 deferred by throttling"), "{svg}");
    }
}
