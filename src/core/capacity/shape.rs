//! Large drops in a series — a log rotation, a VACUUM FULL, a cleanup — found so that a
//! saw-tooth is reported as one and a single cleanup restarts the fit instead of bending it.

use super::fit::median;

/// A fall counts as large when it is at least this share of the series' whole range…
const SHARE_OF_RANGE: f64 = 0.2;
/// …and this many times the typical step between neighbours, so that noise does not count
/// (a fall from a local peak to a local trough of Gaussian noise reaches this about once in
/// twenty thousand falls) while a weekly VACUUM seen in daily points (a fall of six steps) does.
const TIMES_TYPICAL_STEP: f64 = 5.0;
/// A drop happens within this many steps; a longer fall is a decline, not a drop.
const MAX_FALL_STEPS: usize = 4;
/// A fall is a lone spike's return (or a dip's) when the jump into it (or out of it) is at
/// least this share of the fall.
const SPIKE_SHARE: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Drop {
    /// The index of the lowest point of the fall.
    pub index: usize,
    pub size: f64,
}

/// The large falls of `y`, in order.
pub(super) fn large_drops(y: &[f64]) -> Vec<Drop> {
    let n = y.len();
    if n < 3 {
        return Vec::new();
    }
    let (low, high) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = high - low;
    if range <= 0.0 {
        return Vec::new();
    }
    let mut steps: Vec<f64> = y.windows(2).map(|pair| (pair[1] - pair[0]).abs()).collect();
    let threshold = (SHARE_OF_RANGE * range).max(TIMES_TYPICAL_STEP * median(&mut steps));
    let mut drops = Vec::new();
    let mut i = 0;
    while i + 1 < n {
        if y[i + 1] >= y[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < n && y[i + 1] < y[i] {
            i += 1;
        }
        let size = y[start] - y[i];
        let jump_in = start
            .checked_sub(1)
            .map_or(0.0, |before| y[start] - y[before]);
        let jump_out = y.get(i + 1).map_or(0.0, |&after| after - y[i]);
        if size >= threshold
            && i - start <= MAX_FALL_STEPS
            && jump_in.max(jump_out) < SPIKE_SHARE * size
        {
            drops.push(Drop { index: i, size });
        }
    }
    drops
}

/// The sum of the rises of `y` (what regrew between the drops).
pub(super) fn total_rise(y: &[f64]) -> f64 {
    y.windows(2).map(|pair| (pair[1] - pair[0]).max(0.0)).sum()
}
