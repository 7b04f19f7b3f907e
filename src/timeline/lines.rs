//! Step lines through samples, thinned to what a screen can show.

/// Keeps a polyline small: within each pixel column it keeps the first, lowest, highest and last
/// point in their original order, which draws the same picture as all of them.
pub fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for group in points.chunk_by(|a, b| a.0.floor() == b.0.floor()) {
        let (mut lo, mut hi) = (0, 0);
        for (k, p) in group.iter().enumerate() {
            if p.1 < group[lo].1 {
                lo = k;
            }
            if p.1 > group[hi].1 {
                hi = k;
            }
        }
        let mut keep = [0, lo, hi, group.len() - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(group[k]);
                last = k;
            }
        }
    }
    out
}

/// Vertices of a step line through `(t, value)` samples, ending at `t_end`.
pub fn step_points(
    samples: &[(u64, f64)],
    start: f64,
    t_end: Option<u64>,
    x: impl Fn(u64) -> f64,
    y: impl Fn(f64) -> f64,
) -> Vec<(f64, f64)> {
    let mut pts = Vec::with_capacity(samples.len() * 2 + 2);
    let mut prev = start;
    for (i, &(t, v)) in samples.iter().enumerate() {
        if i == 0 || v != prev {
            pts.push((x(t), y(prev)));
        }
        pts.push((x(t), y(v)));
        prev = v;
    }
    if let (Some(end), Some(&(last_t, _))) = (t_end, samples.last()) {
        if end > last_t {
            pts.push((x(end), y(prev)));
        }
    }
    thin(&pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_keeps_extremes_per_column() {
        let pts = [
            (1.1, 5.0),
            (1.2, 1.0),
            (1.3, 9.0),
            (1.4, 4.0),
            (1.5, 3.0),
            (2.0, 0.0),
        ];
        assert_eq!(
            thin(&pts),
            vec![(1.1, 5.0), (1.2, 1.0), (1.3, 9.0), (1.5, 3.0), (2.0, 0.0)]
        );
    }
}
