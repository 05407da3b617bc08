//! The resources pane: CPU (total and per core), memory, swap, filesystems and network, each a
//! row with a bar, a sparkline over the chosen time span (ten minutes to thirty days, the title
//! says which) and details; collapses to fewer rows when short, and to one line (CPU, memory,
//! the fullest filesystem, load) when collapsed.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::checks::Evaluation;
use crate::core::checks::rules::format_bytes;
use crate::core::collectors::resources::ResourceSample;
use crate::core::history::{Point, Resolution};
use crate::core::model::Status;
use crate::core::protocol::Event;
use crate::tui::history::{History, Span as TimeSpan};
use crate::tui::panes::{
    Command, Component, Ctx, Handled, Pane, Problem, Summary, View, pane_block,
};
use crate::tui::strings::{self, pad, printable};
use crate::tui::style::Look;
use crate::tui::widgets::{bar::bar, sparkline::sparkline};

/// The latest resources sample with its judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceView {
    pub sample: ResourceSample,
    pub statuses: HashMap<String, Status>,
}

impl ResourceView {
    pub fn status(&self, key: &str) -> Status {
        self.statuses.get(key).copied().unwrap_or(Status::Ok)
    }
}

#[derive(Debug, Clone)]
pub struct ResourcesPane {
    pub resources: Option<ResourceView>,
    pub history: History,
    /// The time the sparklines cover.
    pub span: TimeSpan,
    pub problem: Option<Problem>,
    /// How often the gauges are sampled.
    pub interval: Duration,
}

/// The stored series behind the CPU and memory sparklines (the network's are per interface).
const CPU_KEY: &str = "cpu.used_pct";
const MEMORY_KEY: &str = "memory.used_pct";
const NET_RX: &str = "net.rx_bytes_per_s";
const NET_TX: &str = "net.tx_bytes_per_s";

impl Default for ResourcesPane {
    fn default() -> Self {
        ResourcesPane {
            resources: None,
            history: History::default(),
            span: TimeSpan::default(),
            problem: None,
            interval: Duration::from_secs(1),
        }
    }
}

impl ResourcesPane {
    /// When the data is older than three intervals, how old it is.
    pub fn stale_for(&self, now: DateTime<Utc>) -> Option<chrono::TimeDelta> {
        let taken = self.resources.as_ref()?.sample.taken_at;
        let age = now - taken;
        let limit =
            chrono::TimeDelta::from_std(self.interval * 3).unwrap_or(chrono::TimeDelta::MAX);
        (age > limit.max(chrono::TimeDelta::seconds(3))).then_some(age)
    }

    fn on_sample(&mut self, sample: &ResourceSample, evaluations: &[Evaluation]) {
        let at = sample.taken_at;
        if let Some(cpu) = sample.cpu_total_pct {
            self.history.record("cpu", at, cpu);
        }
        self.history.record("memory", at, sample.memory.used_pct());
        for net in &sample.networks {
            if let (Some(rx), Some(tx)) = (net.rx_bytes_per_s, net.tx_bytes_per_s) {
                self.history
                    .record(&format!("net:{}", net.interface), at, rx + tx);
            }
        }
        let statuses = evaluations
            .iter()
            .map(|evaluation| (evaluation.metric.key(), evaluation.status))
            .collect();
        self.resources = Some(ResourceView {
            sample: sample.clone(),
            statuses,
        });
        self.problem = None;
    }

    /// The stored series the sparklines show.
    pub fn history_keys(&self) -> Vec<String> {
        let mut keys = vec![CPU_KEY.to_owned(), MEMORY_KEY.to_owned()];
        for net in self.resources.iter().flat_map(|view| &view.sample.networks) {
            keys.push(format!("{NET_RX}:{}", net.interface));
            keys.push(format!("{NET_TX}:{}", net.interface));
        }
        keys
    }

    /// Takes the stored history read for the span: a network's line is its receive and send
    /// peaks added, as its live line adds the two rates.
    fn load_history(&mut self, resolution: Resolution, series: &[(String, Vec<Point>)]) {
        let mut loaded: HashMap<String, Vec<(DateTime<Utc>, f64)>> = HashMap::new();
        let mut net: HashMap<String, std::collections::BTreeMap<DateTime<Utc>, f64>> =
            HashMap::new();
        for (key, points) in series {
            let peaks = points.iter().map(|point| (point.at, point.max));
            let single = match key.as_str() {
                CPU_KEY => Some("cpu"),
                MEMORY_KEY => Some("memory"),
                _ => None,
            };
            if let Some(name) = single {
                loaded.insert(name.to_owned(), peaks.collect());
            } else if let Some((name, interface)) = key.split_once(':')
                && (name == NET_RX || name == NET_TX)
            {
                let sums = net.entry(format!("net:{interface}")).or_default();
                for (at, peak) in peaks {
                    *sums.entry(at).or_default() += peak;
                }
            }
        }
        loaded.extend(
            net.into_iter()
                .map(|(key, sums)| (key, sums.into_iter().collect())),
        );
        self.history.load(resolution, loaded);
    }

    /// The pane reduced to its one-line summary, in its frame.
    pub fn render_compact(&self, view: &View, area: Rect, frame: &mut Frame) {
        let block = pane_block(title(self, view), false, view.look);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        self.render_summary(view, inner, frame);
    }
}

impl Component for ResourcesPane {
    fn id(&self) -> Pane {
        Pane::Resources
    }

    fn title(&self) -> &'static str {
        "Resources"
    }

    fn summary(&self, view: &View) -> Summary {
        match &self.resources {
            None => Summary {
                text: "Resources collecting…".to_owned(),
                level: Status::Unknown,
            },
            Some(resources) => Summary {
                text: summary_spans(self, resources, view)
                    .iter()
                    .map(|span| span.content.as_ref())
                    .collect(),
                level: resources
                    .statuses
                    .values()
                    .copied()
                    .max()
                    .unwrap_or(Status::Ok),
            },
        }
    }

    fn render_summary(&self, view: &View, area: Rect, frame: &mut Frame) {
        let Some(resources) = &self.resources else {
            frame.render_widget(
                Paragraph::new("collecting…").style(view.look.palette.get(Slot::Muted)),
                area,
            );
            return;
        };
        let mut spans = vec![Span::styled("─ ", view.look.palette.get(Slot::Border))];
        spans.extend(summary_spans(self, resources, view));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn wanted_height(&self, _view: &View, width: u16) -> u16 {
        wanted_height(self, width.saturating_sub(2)) + 2
    }

    fn commands(&self) -> &'static [Command] {
        &[]
    }

    fn handle(&mut self, _action: Action, _ctx: &mut Ctx) -> Handled {
        Handled::No
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        match event {
            Event::Resources {
                sample,
                evaluations,
            } => self.on_sample(sample, evaluations),
            Event::MetricHistory {
                resolution, series, ..
            } => self.load_history(*resolution, series),
            Event::Warning { source, message } if *source != "store" && *source != "notify" => {
                self.problem = Some(Problem {
                    message: message.clone(),
                    at: now,
                });
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }
}

const CORE_CELL: usize = 14;
const PCT_WIDTH: usize = 4;
const DETAIL_WIDTH: usize = 26;

struct Columns {
    label: usize,
    bar: usize,
    spark: usize,
    detail: usize,
}

impl Columns {
    fn for_width(width: usize, view: &ResourceView) -> Columns {
        let longest = view
            .sample
            .filesystems
            .iter()
            .map(|fs| strings::width(&fs.path))
            .chain(
                view.sample
                    .networks
                    .iter()
                    .map(|n| strings::width(&n.interface)),
            )
            .max()
            .unwrap_or(0);
        let label = longest.clamp(5, (width / 6).max(5));
        let detail = DETAIL_WIDTH.min(width.saturating_sub(label + PCT_WIDTH + 4));
        let rest = width.saturating_sub(label + PCT_WIDTH + detail + 4);
        let spark = if rest >= 30 {
            (rest / 2).max(rest.saturating_sub(40)).min(60)
        } else {
            0
        };
        Columns {
            label,
            bar: rest - spark,
            spark,
            detail,
        }
    }

    fn bucket_seconds(&self, span: TimeSpan) -> i64 {
        (span.seconds() + self.spark as i64 - 1) / self.spark.max(1) as i64
    }
}

fn core_rows(sample: &ResourceSample, width: usize, label: usize) -> usize {
    let per_row = (width.saturating_sub(label + 1) / CORE_CELL).max(1);
    sample.cpu_per_core_pct.len().div_ceil(per_row)
}

/// Rows the pane would like inside its frame.
fn wanted_height(pane: &ResourcesPane, width: u16) -> u16 {
    let Some(view) = &pane.resources else {
        return 2;
    };
    let columns = Columns::for_width(usize::from(width), view);
    let sample = &view.sample;
    let rows = 4
        + core_rows(sample, usize::from(width), columns.label)
        + sample.filesystems.len()
        + sample.networks.len()
        + usize::from(pane.problem.is_some());
    u16::try_from(rows).unwrap_or(u16::MAX)
}

fn title(pane: &ResourcesPane, view: &View) -> Vec<Span<'static>> {
    let look = view.look;
    let mut spans = vec![
        Span::styled("Resources", look.palette.get(Slot::Title)),
        Span::styled(
            format!(" · {}", pane.span.label()),
            look.palette.get(Slot::Muted),
        ),
    ];
    let note = match (&pane.resources, pane.stale_for(view.now)) {
        (None, _) => Span::styled(" · collecting…", look.palette.get(Slot::Muted)),
        (Some(_), Some(age)) => Span::styled(
            format!(" · STALE {}", strings::duration(age.num_seconds())),
            look.palette.status(Status::Warn),
        ),
        // The first frame's CPU is the average since boot, until the first interval is measured.
        (Some(resources), None) if resources.sample.cpu_since_boot => Span::styled(
            " · CPU since boot, measuring…",
            look.palette.get(Slot::Muted),
        ),
        (Some(_), None) => Span::styled(
            format!(" · every {}", humantime::format_duration(pane.interval)),
            look.palette.get(Slot::Muted),
        ),
    };
    spans.push(note);
    spans
}

fn render(pane: &ResourcesPane, view: &View, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let block = pane_block(title(pane, view), view.focused, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = match &pane.resources {
        Some(resources) => rows(pane, view, resources, inner),
        None => vec![Line::styled(
            "waiting for the first sample…",
            look.palette.get(Slot::Muted),
        )],
    };
    let mut lines = lines;
    if let Some(problem) = &pane.problem {
        lines.insert(
            0,
            Line::styled(
                printable(&problem.message),
                look.palette.status(Status::Crit),
            ),
        );
    }
    lines.truncate(usize::from(inner.height));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn status_tag(status: Status) -> String {
    match status {
        Status::Ok => String::new(),
        other => format!("{} ", other.label()),
    }
}

struct GaugeRow<'a> {
    label: &'a str,
    percent: f64,
    status: Status,
    spark: Option<Span<'static>>,
    detail: String,
}

fn gauge_line(row: GaugeRow, columns: &Columns, look: &Look) -> Line<'static> {
    let palette = &look.palette;
    let mut spans = vec![
        Span::styled(
            pad(&printable(row.label), columns.label),
            palette.get(Slot::Text),
        ),
        Span::styled(
            format!(" {:>3.0}%", row.percent),
            palette.status(row.status),
        ),
        Span::raw(" "),
    ];
    spans.extend(bar(
        row.percent,
        columns.bar,
        look.glyphs,
        palette.gauge(row.status),
        palette.get(Slot::GaugeEmpty),
    ));
    spans.push(Span::raw(" "));
    if columns.spark > 0 {
        spans.push(
            row.spark
                .unwrap_or_else(|| Span::raw(" ".repeat(columns.spark))),
        );
        spans.push(Span::raw(" "));
    }
    let detail = format!("{}{}", status_tag(row.status), row.detail);
    spans.push(Span::styled(
        strings::fit(&detail, columns.detail),
        palette.status(row.status).patch(palette.get(Slot::Text)),
    ));
    Line::from(spans)
}

fn rows(pane: &ResourcesPane, shown: &View, view: &ResourceView, area: Rect) -> Vec<Line<'static>> {
    let look = shown.look;
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    let columns = Columns::for_width(width, view);
    let sample = &view.sample;
    let palette = &look.palette;
    let spark_of = |key: &str, scale: Option<f64>| -> Option<Span<'static>> {
        if columns.spark == 0 {
            return None;
        }
        let buckets = pane.history.buckets(
            key,
            shown.now,
            columns.bucket_seconds(pane.span),
            columns.spark,
        );
        let max = scale.unwrap_or_else(|| buckets.iter().flatten().fold(0.0_f64, |a, b| a.max(*b)));
        Some(sparkline(
            &buckets,
            max,
            look.glyphs,
            palette.get(Slot::Muted),
        ))
    };

    let cpu_status = view.status("cpu.used_pct");
    let cpu = gauge_line(
        GaugeRow {
            label: "CPU",
            percent: sample.cpu_total_pct.unwrap_or(0.0),
            status: cpu_status,
            spark: spark_of("cpu", Some(100.0)),
            detail: format!(
                "load {:.2} {:.2} {:.2}",
                sample.load.one, sample.load.five, sample.load.fifteen
            ),
        },
        &columns,
        look,
    );
    let memory = gauge_line(
        GaugeRow {
            label: "MEM",
            percent: sample.memory.used_pct(),
            status: view.status("memory.used_pct"),
            spark: spark_of("memory", Some(100.0)),
            detail: format!(
                "{} / {}",
                format_bytes(sample.memory.used_bytes as f64),
                format_bytes(sample.memory.total_bytes as f64)
            ),
        },
        &columns,
        look,
    );
    let swap = gauge_line(
        GaugeRow {
            label: "SWAP",
            percent: sample.swap.used_pct(),
            status: view.status("swap.used_pct"),
            spark: None,
            detail: if sample.swap.total_bytes == 0 {
                "no swap".into()
            } else {
                format!(
                    "{} / {}",
                    format_bytes(sample.swap.used_bytes as f64),
                    format_bytes(sample.swap.total_bytes as f64)
                )
            },
        },
        &columns,
        look,
    );
    let filesystems: Vec<Line<'static>> = sample
        .filesystems
        .iter()
        .map(|fs| match &fs.error {
            Some(error) => Line::from(vec![
                Span::styled(
                    pad(&printable(&fs.path), columns.label),
                    palette.get(Slot::Text),
                ),
                Span::styled(
                    strings::fit(
                        &format!("    ? UNKNOWN {}", printable(error)),
                        width.saturating_sub(columns.label),
                    ),
                    palette.status(Status::Unknown),
                ),
            ]),
            None => gauge_line(
                GaugeRow {
                    label: &fs.path,
                    percent: fs.used_pct(),
                    status: view.status(&format!("disk.used_pct:{}", fs.path)),
                    spark: None,
                    detail: format!(
                        "{} free/{}",
                        format_bytes(fs.available_bytes as f64),
                        format_bytes(fs.total_bytes as f64)
                    ),
                },
                &columns,
                look,
            ),
        })
        .collect();
    let networks: Vec<Line<'static>> = sample
        .networks
        .iter()
        .map(|net| {
            let rate = |value: Option<f64>| {
                value.map_or_else(
                    || "-".to_owned(),
                    |v| format!("{}/s", format_bytes(v).replace(' ', "")),
                )
            };
            let mut spans = vec![
                Span::styled(
                    pad(&printable(&net.interface), columns.label),
                    palette.get(Slot::Text),
                ),
                Span::raw(" ".repeat(PCT_WIDTH + columns.bar + 2)),
            ];
            if let Some(spark) = spark_of(&format!("net:{}", net.interface), None) {
                spans.push(spark);
                spans.push(Span::raw(" "));
            }
            let rates = format!(
                "rx {} tx {}",
                rate(net.rx_bytes_per_s),
                rate(net.tx_bytes_per_s)
            );
            spans.push(Span::styled(
                strings::fit(&rates, columns.detail),
                palette.get(Slot::Text),
            ));
            Line::from(spans)
        })
        .collect();
    let cores = core_lines(sample, view, &columns, width, look);
    let summary = Line::styled(
        format!(
            "{} processes · {} cores · up {}",
            sample.process_count,
            sample.cpu_per_core_pct.len(),
            strings::duration(sample.uptime_secs as i64 / 60 * 60)
        ),
        palette.get(Slot::Muted),
    );

    // Fill the rows in order of importance, then show them in their natural order.
    let mut budget = height.saturating_sub(usize::from(pane.problem.is_some()));
    let mut take = |wanted: usize, all_or_nothing: bool| {
        let granted = if all_or_nothing && wanted > budget {
            0
        } else {
            wanted.min(budget)
        };
        budget -= granted;
        granted
    };
    let cpu_rows = take(1, false);
    let mem_rows = take(1, false);
    let fs_rows = take(filesystems.len(), false);
    let net_rows = take(networks.len(), false);
    let swap_rows = take(1, false);
    let summary_rows = take(1, false);
    let core_rows = take(cores.len(), true);

    let mut lines = Vec::with_capacity(height);
    lines.extend(std::iter::once(cpu).take(cpu_rows));
    lines.extend(cores.into_iter().take(core_rows));
    lines.extend(std::iter::once(memory).take(mem_rows));
    lines.extend(std::iter::once(swap).take(swap_rows));
    lines.extend(filesystems.into_iter().take(fs_rows));
    lines.extend(networks.into_iter().take(net_rows));
    lines.extend(std::iter::once(summary).take(summary_rows));
    lines
}

fn core_lines(
    sample: &ResourceSample,
    view: &ResourceView,
    columns: &Columns,
    width: usize,
    look: &Look,
) -> Vec<Line<'static>> {
    let per_row = (width.saturating_sub(columns.label + 1) / CORE_CELL).max(1);
    let status = view.status("cpu.used_pct");
    sample
        .cpu_per_core_pct
        .chunks(per_row)
        .enumerate()
        .map(|(row, chunk)| {
            let mut spans = vec![Span::styled(
                pad("", columns.label),
                look.palette.get(Slot::Muted),
            )];
            for (offset, pct) in chunk.iter().enumerate() {
                let index = row * per_row + offset;
                spans.push(Span::styled(
                    format!(" {index:>3} {pct:>3.0}% "),
                    look.palette.get(Slot::Muted),
                ));
                spans.extend(bar(
                    *pct,
                    CORE_CELL - 10,
                    look.glyphs,
                    look.palette.gauge(status),
                    look.palette.get(Slot::GaugeEmpty),
                ));
            }
            Line::from(spans)
        })
        .collect()
}

/// CPU, memory, the fullest filesystem and load, coloured by the rules.
fn summary_spans(pane: &ResourcesPane, view: &ResourceView, shown: &View) -> Vec<Span<'static>> {
    let look = shown.look;
    let sample = &view.sample;
    let palette = &look.palette;
    let mut spans = vec![
        Span::styled(
            format!("CPU {:.0}%", sample.cpu_total_pct.unwrap_or(0.0)),
            palette.status(view.status("cpu.used_pct")),
        ),
        Span::raw("  "),
        Span::styled(
            format!("MEM {:.0}%", sample.memory.used_pct()),
            palette.status(view.status("memory.used_pct")),
        ),
    ];
    let fullest = sample
        .filesystems
        .iter()
        .filter(|fs| fs.error.is_none())
        .max_by(|a, b| a.used_pct().total_cmp(&b.used_pct()));
    if let Some(fs) = fullest {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("{} {:.0}%", printable(&fs.path), fs.used_pct()),
            palette.status(view.status(&format!("disk.used_pct:{}", fs.path))),
        ));
    }
    spans.push(Span::styled(
        format!("  load {:.2}", sample.load.one),
        palette.get(Slot::Muted),
    ));
    if pane.stale_for(shown.now).is_some() {
        spans.push(Span::styled("  STALE", palette.status(Status::Warn)));
    }
    spans
}
