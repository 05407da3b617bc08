//! The report as one self-contained HTML file: inline CSS, inline SVG charts (alerts per day,
//! availability per day, each resource's daily mean and peak), no scripts and nothing fetched,
//! so it opens the same from a mail attachment, a file share or a browser with no network.
//! Every text from the store or the system is escaped.

use std::fmt::Write as _;

use super::Report;
use super::markdown::{Section, sections, title};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:72em}\
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-top:1em}\
table{border-collapse:collapse;margin:0.5em 0 1em}td,th{border:1px solid #ccc;padding:0.2em 0.5em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}caption{text-align:left;font-weight:bold;padding:0.3em 0}\
.status-OK{color:#1a7f37}.status-WARN{color:#9a6700}.status-CRIT{color:#cf222e}.status-UNKNOWN{color:#57606a}\
svg.chart{display:block;margin:0.5em 0 1em;background:#fafafa;border:1px solid #ddd}\
svg.chart text{font:11px system-ui,sans-serif;fill:#444}";

/// Chart size in SVG user units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const MARGIN: f64 = 36.0;
/// Series colours, in order.
const COLOURS: [&str; 6] = [
    "#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#57606a",
];

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// One line of a chart: a name and a value per slot (`None`: no value there).
struct Series {
    name: String,
    values: Vec<Option<f64>>,
}

/// A line chart (or bars, for counts) over the period's days.
struct Chart {
    id: &'static str,
    title: String,
    labels: Vec<String>,
    series: Vec<Series>,
    bars: bool,
}

impl Chart {
    fn svg(&self) -> String {
        let values = || {
            self.series
                .iter()
                .flat_map(|series| series.values.iter().flatten())
        };
        let (mut low, mut high) = values().fold((f64::MAX, f64::MIN), |(low, high), value| {
            (low.min(*value), high.max(*value))
        });
        if low > high {
            (low, high) = (0.0, 1.0);
        }
        if self.bars || low > 0.0 && low < high * 0.5 {
            low = low.min(0.0);
        }
        if (high - low).abs() < f64::EPSILON {
            high = low + 1.0;
        }
        let slots = self.labels.len().max(1) as f64;
        let plot_width = WIDTH - 2.0 * MARGIN;
        let plot_height = HEIGHT - 2.0 * MARGIN;
        let x = |index: usize| MARGIN + plot_width * (index as f64 + 0.5) / slots;
        let y = |value: f64| MARGIN + plot_height * (1.0 - (value - low) / (high - low));
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg class=\"chart\" data-chart=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\"><title>{}</title>",
            self.id,
            escape(&self.title)
        );
        let _ = write!(
            svg,
            "<text x=\"{MARGIN}\" y=\"16\">{}</text>",
            escape(&self.title)
        );
        let _ = write!(
            svg,
            "<line x1=\"{MARGIN}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#999\"/><line x1=\"{MARGIN}\" y1=\"{MARGIN}\" x2=\"{MARGIN}\" y2=\"{bottom}\" stroke=\"#999\"/>",
            bottom = HEIGHT - MARGIN,
            right = WIDTH - MARGIN
        );
        for value in [low, high] {
            let _ = write!(
                svg,
                "<text x=\"2\" y=\"{:.1}\">{}</text>",
                y(value) + 4.0,
                escape(&short_number(value))
            );
        }
        let step = (self.labels.len() / 8).max(1);
        for (index, label) in self.labels.iter().enumerate().step_by(step) {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x(index),
                HEIGHT - MARGIN + 14.0,
                escape(label)
            );
        }
        let series_count = self.series.len().max(1) as f64;
        let bar_width = plot_width / slots / series_count * 0.8;
        for (number, series) in self.series.iter().enumerate() {
            let colour = COLOURS[number % COLOURS.len()];
            if self.bars {
                for (index, value) in series.values.iter().enumerate() {
                    if let Some(value) = value {
                        let left = x(index) - plot_width / slots * 0.4 + bar_width * number as f64;
                        let top = y(*value);
                        let _ = write!(
                            svg,
                            "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{bar_width:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{} {}: {}</title></rect>",
                            (y(low) - top).max(0.0),
                            escape(&series.name),
                            escape(&self.labels[index]),
                            escape(&short_number(*value))
                        );
                    }
                }
            } else {
                let points: Vec<String> = series
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(index, value)| {
                        value.map(|value| format!("{:.1},{:.1}", x(index), y(value)))
                    })
                    .collect();
                let _ = write!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
                    points.join(" "),
                    escape(&series.name)
                );
            }
        }
        let legend: Vec<String> = self
            .series
            .iter()
            .enumerate()
            .map(|(number, series)| {
                format!(
                    "<tspan fill=\"{}\">■ {}</tspan>",
                    COLOURS[number % COLOURS.len()],
                    escape(&series.name)
                )
            })
            .collect();
        let _ = write!(
            svg,
            "<text x=\"{MARGIN}\" y=\"{:.1}\">{}</text></svg>",
            HEIGHT - 4.0,
            legend.join(" ")
        );
        svg
    }
}

fn short_number(value: f64) -> String {
    if value.abs() >= 1e9 {
        format!("{:.1}G", value / 1e9)
    } else if value.abs() >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value.abs() >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn day_labels(report: &Report) -> Vec<String> {
    report
        .alerts
        .per_day
        .iter()
        .map(|day| day.date.format("%m-%d").to_string())
        .collect()
}

/// The charts of a section, by its id.
fn charts(report: &Report, section: &str) -> Vec<Chart> {
    match section {
        "alerts" => vec![Chart {
            id: "alerts-per-day",
            title: "Alerts opened per day".to_owned(),
            labels: report
                .alerts
                .per_day
                .iter()
                .map(|day| day.date.format("%m-%d").to_string())
                .collect(),
            series: vec![Series {
                name: "alerts".to_owned(),
                values: report
                    .alerts
                    .per_day
                    .iter()
                    .map(|day| Some(day.count as f64))
                    .collect(),
            }],
            bars: true,
        }],
        "services" if !report.services.is_empty() => vec![Chart {
            id: "availability-per-day",
            title: "Availability per day (%)".to_owned(),
            labels: day_labels(report),
            series: report
                .services
                .iter()
                .map(|service| Series {
                    name: service.name.clone(),
                    values: service
                        .days
                        .iter()
                        .map(|day| day.availability_pct)
                        .collect(),
                })
                .collect(),
            bars: false,
        }],
        "resources" => report
            .resources
            .metrics
            .iter()
            .map(|metric| Chart {
                id: "resource",
                title: format!("{}: daily mean and peak", metric.key),
                labels: metric
                    .days
                    .iter()
                    .map(|day| day.date.format("%m-%d").to_string())
                    .collect(),
                series: vec![
                    Series {
                        name: "mean".to_owned(),
                        values: metric.days.iter().map(|day| Some(day.mean)).collect(),
                    },
                    Series {
                        name: "peak".to_owned(),
                        values: metric.days.iter().map(|day| Some(day.peak)).collect(),
                    },
                ],
                bars: false,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn write_section(out: &mut String, report: &Report, section: &Section) {
    let _ = write!(
        out,
        "<section id=\"{}\"><h2>{}</h2>",
        section.id,
        escape(section.title)
    );
    let mut in_list = false;
    for line in &section.lines {
        match line.strip_prefix("- ") {
            Some(item) => {
                if !in_list {
                    out.push_str("<ul>");
                    in_list = true;
                }
                let _ = write!(out, "<li>{}</li>", escape(item));
            }
            None => {
                if in_list {
                    out.push_str("</ul>");
                    in_list = false;
                }
                let _ = write!(out, "<p>{}</p>", escape(line));
            }
        }
    }
    if in_list {
        out.push_str("</ul>");
    }
    for chart in charts(report, section.id) {
        out.push_str(&chart.svg());
    }
    for table in &section.tables {
        out.push_str("<table>");
        if let Some(caption) = &table.caption {
            let _ = write!(out, "<caption>{}</caption>", escape(caption));
        }
        out.push_str("<tr>");
        for header in &table.headers {
            let _ = write!(out, "<th>{}</th>", escape(header));
        }
        out.push_str("</tr>");
        if table.rows.is_empty() {
            let _ = write!(
                out,
                "<tr><td colspan=\"{}\">(none)</td></tr>",
                table.headers.len()
            );
        }
        for row in &table.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    out.push_str("</section>\n");
}

/// The report as one HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let heading = escape(&title(report));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"generator\" content=\"opsdeck ({})\"><title>{heading}</title><style>{STYLE}</style></head><body>\n<h1>{heading}</h1>\n<p>{} to {} · generated {} · overall <strong class=\"status-{}\">{}</strong></p>\n",
        report.schema,
        report.period.start.format("%Y-%m-%d %H:%M UTC"),
        report.period.end.format("%Y-%m-%d %H:%M UTC"),
        report.generated_at.format("%Y-%m-%d %H:%M UTC"),
        report.overall.status.label(),
        report.overall.status.label()
    );
    for section in sections(report) {
        write_section(&mut out, report, &section);
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
