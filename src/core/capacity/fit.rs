//! The two straight-line fits a projection rests on: ordinary least squares (for R² and a
//! figure people can check by hand) and Theil–Sen (the median of pairwise slopes, which a few
//! wild points cannot drag), with Sen's distribution-free 95 % interval for the latter.

/// Above this many points Theil–Sen runs on the medians of contiguous groups: the pairs grow
/// with the square of the points, and two years of daily points (730) must still be exact.
pub(super) const THEIL_SEN_MAX_POINTS: usize = 1024;

/// The normal quantile for a two-sided 95 % interval.
const Z_95: f64 = 1.959_964;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ols {
    pub slope: f64,
    pub stderr: f64,
    pub r_squared: f64,
}

/// Least squares of `y` on `x`; `None` when `x` does not vary (no slope is defined).
pub(super) fn ols(x: &[f64], y: &[f64]) -> Option<Ols> {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (&xi, &yi) in x.iter().zip(y) {
        let (dx, dy) = (xi - mean_x, yi - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let residual = (syy - slope * sxy).max(0.0);
    // A series that does not vary at all is described exactly by its (flat) line.
    let r_squared = if syy > 0.0 { 1.0 - residual / syy } else { 1.0 };
    let stderr = if x.len() > 2 {
        (residual / (n - 2.0) / sxx).sqrt()
    } else {
        0.0
    };
    Some(Ols {
        slope,
        stderr,
        r_squared,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TheilSen {
    pub slope: f64,
    pub low: f64,
    pub high: f64,
    /// The points the pairs were formed from (fewer than given when grouped).
    pub points: usize,
}

/// The Theil–Sen slope of `y` on `x` (`x` ascending) with Sen's (1968) 95 % interval: the
/// pairwise slopes ranked `(N ∓ C)/2`, `C = z·√(n(n−1)(2n+5)/18)`. That interval assumes
/// independent residuals; a series with a daily rhythm has correlated ones, so read it as a
/// lower bound on the uncertainty.
pub(super) fn theil_sen(x: &[f64], y: &[f64]) -> Option<TheilSen> {
    let (gx, gy);
    let (x, y) = if x.len() > THEIL_SEN_MAX_POINTS {
        (gx, gy) = group_medians(x, y, THEIL_SEN_MAX_POINTS);
        (gx.as_slice(), gy.as_slice())
    } else {
        (x, y)
    };
    let n = x.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[j] - x[i];
            if dx > 0.0 {
                slopes.push((y[j] - y[i]) / dx);
            }
        }
    }
    let count = slopes.len();
    if count == 0 {
        return None;
    }
    let mid = count / 2;
    let (left, &mut median_high, right) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
    let slope = if count % 2 == 1 {
        median_high
    } else {
        let below = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + median_high) / 2.0
    };
    let nf = n as f64;
    let c = Z_95 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let lower_rank = ((count as f64 - c) / 2.0).floor().max(0.0) as usize;
    let upper_rank = (((count as f64 + c) / 2.0).ceil() as usize).min(count - 1);
    let low = if lower_rank < mid {
        *left.select_nth_unstable_by(lower_rank, f64::total_cmp).1
    } else {
        median_high
    };
    let high = if upper_rank > mid {
        *right
            .select_nth_unstable_by(upper_rank - mid - 1, f64::total_cmp)
            .1
    } else {
        median_high
    };
    Some(TheilSen {
        slope,
        low: low.min(slope),
        high: high.max(slope),
        points: n,
    })
}

/// The median of `y - slope·x`: where the Theil–Sen line crosses `x = 0`.
pub(super) fn intercept(x: &[f64], y: &[f64], slope: f64) -> f64 {
    let mut offsets: Vec<f64> = x.iter().zip(y).map(|(&xi, &yi)| yi - slope * xi).collect();
    median(&mut offsets)
}

/// The median of `values` (reordered); NaN when empty.
pub(super) fn median(values: &mut [f64]) -> f64 {
    let count = values.len();
    if count == 0 {
        return f64::NAN;
    }
    let mid = count / 2;
    let (left, &mut high, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    if count % 2 == 1 {
        high
    } else {
        (left.iter().copied().fold(f64::NEG_INFINITY, f64::max) + high) / 2.0
    }
}

/// `groups` contiguous groups of (nearly) equal size, each stood for by its median `x` and its
/// median `y`, so that a spike inside a group does not move it.
fn group_medians(x: &[f64], y: &[f64], groups: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let mut gx = Vec::with_capacity(groups);
    let mut gy = Vec::with_capacity(groups);
    let mut scratch = Vec::new();
    for group in 0..groups {
        let (start, end) = (group * n / groups, (group + 1) * n / groups);
        if start == end {
            continue;
        }
        let half = (end - start) / 2;
        gx.push(if (end - start) % 2 == 1 {
            x[start + half]
        } else {
            (x[start + half - 1] + x[start + half]) / 2.0
        });
        scratch.clear();
        scratch.extend_from_slice(&y[start..end]);
        gy.push(median(&mut scratch));
    }
    (gx, gy)
}
