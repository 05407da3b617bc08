//! The resources section from the metric history: each series' mean and peak, per day and over
//! the period, and the time its rules' thresholds were passed. A period longer than the
//! 1-minute tier keeps is read from the 15-minute (or daily) tier, whose points' means judge
//! the thresholds: a spike shorter than a point shows in the peak, not in the time beyond.

use chrono::{DateTime, Utc};

use super::period::Period;
use super::{DayFigure, MetricSummary, ReportError, ResourcesSection, TimeAbove};
use crate::core::checks::Rule;
use crate::core::history::{self, Point, Resolution};
use crate::core::model::{Status, Unit};
use crate::core::store::Store;

/// Series that have sections of their own (availability) are left out here.
const ELSEWHERE: &[&str] = &["service.up"];

/// The unit a series is shown in, from its metric's name (the history keeps values only).
fn unit_of(metric: &str) -> Unit {
    if metric.ends_with("_pct") {
        Unit::Percent
    } else if metric.ends_with("bytes_per_second")
        || metric.ends_with("bytes_per_s")
        || metric.ends_with("_bps")
    {
        Unit::BytesPerSecond
    } else if metric.ends_with("_days") || metric.contains(".days_to_") {
        Unit::Days
    } else if metric.ends_with("bytes") {
        Unit::Bytes
    } else if metric.ends_with("_ms") {
        Unit::Milliseconds
    } else if metric.starts_with("load.") {
        Unit::Load
    } else if metric.ends_with("_s") || metric.ends_with("seconds") || metric.ends_with("_age") {
        Unit::Seconds
    } else {
        Unit::Count
    }
}

pub async fn resources(
    store: &Store,
    period: &Period,
    rules: &[Rule],
    now: DateTime<Utc>,
) -> Result<ResourcesSection, ReportError> {
    let keys: Vec<String> = history::series_keys(store, "")
        .await?
        .into_iter()
        .filter(|key| !ELSEWHERE.contains(&metric_of(key)))
        .collect();
    let resolution = Resolution::finest_keeping(now - period.start);
    let last = period.end - chrono::TimeDelta::milliseconds(1);
    let mut series = history::read_many(store, &keys, resolution, period.start, last).await?;
    let span = resolution.span().num_milliseconds() as f64 / 60_000.0;
    let metrics: Vec<MetricSummary> = keys
        .iter()
        .filter_map(|key| {
            let points = series.remove(key)?;
            Some(summary(key, &points, period, rules, span))
        })
        .collect();
    let note = metrics.is_empty().then(|| {
        format!(
            "no metric history for {} (it is kept while the console runs)",
            period.label
        )
    });
    Ok(ResourcesSection { note, metrics })
}

fn metric_of(key: &str) -> &str {
    key.split_once(':').map_or(key, |(metric, _)| metric)
}

fn summary(
    key: &str,
    points: &[Point],
    period: &Period,
    rules: &[Rule],
    span: f64,
) -> MetricSummary {
    let (metric, instance) = match key.split_once(':') {
        Some((metric, instance)) => (metric, Some(instance)),
        None => (key, None),
    };
    let mean = |points: &[Point]| {
        points.iter().map(|point| point.mean).sum::<f64>() / points.len().max(1) as f64
    };
    let peak = |points: &[Point]| {
        points
            .iter()
            .map(|point| point.max)
            .fold(f64::MIN, f64::max)
    };
    let days = period
        .days
        .iter()
        .filter_map(|day| {
            let start = points.partition_point(|point| point.at < day.start);
            let end = points.partition_point(|point| point.at < day.end);
            let of_day = &points[start..end];
            (!of_day.is_empty()).then(|| DayFigure {
                date: day.date,
                mean: mean(of_day),
                peak: peak(of_day),
            })
        })
        .collect();
    let mut above = Vec::new();
    for rule in rules.iter().filter(|rule| {
        rule.metric == metric
            && rule
                .instance
                .as_deref()
                .is_none_or(|wanted| Some(wanted) == instance)
    }) {
        for (level, limit) in [(Status::Warn, rule.warn), (Status::Crit, rule.crit)] {
            let Some(limit) = limit else { continue };
            let beyond = points
                .iter()
                .filter(|point| rule.operator.breaches(point.mean, limit))
                .count();
            above.push(TimeAbove {
                level,
                operator: rule.operator.symbol(),
                threshold: limit,
                minutes: beyond as f64 * span,
            });
        }
    }
    MetricSummary {
        key: key.to_owned(),
        unit: unit_of(metric),
        mean: mean(points),
        peak: peak(points),
        days,
        above,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_metric_names_opsdeck_uses() {
        assert_eq!(unit_of("net.rx_bytes_per_s"), Unit::BytesPerSecond);
        assert_eq!(unit_of("disk.free_bytes"), Unit::Bytes);
        assert_eq!(unit_of("cpu.used_pct"), Unit::Percent);
        assert_eq!(unit_of("secret.age_days"), Unit::Days);
        assert_eq!(unit_of("updates.security_oldest_days"), Unit::Days);
        assert_eq!(unit_of("task.last_success_age"), Unit::Seconds);
        assert_eq!(unit_of("container.unhealthy_s"), Unit::Seconds);
        assert_eq!(unit_of("disk.days_to_full"), Unit::Days);
        assert_eq!(unit_of("load.1m"), Unit::Load);
        assert_eq!(unit_of("processes.count"), Unit::Count);
    }
}
