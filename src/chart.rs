//! A figure as data: panels of series and labelled vertical lines. The library says what a
//! figure shows (training curves, FLOPs CDFs, accuracy against memory); its caller draws it
//! (`Observer::draw`; the command line rasterizes it as a PNG).

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Line,
    Points,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            style: Style::Line,
        }
    }
    pub fn points(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            style: Style::Points,
        }
    }
}

/// One panel: axes, series, and labelled vertical lines (a device limit, say).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub vlines: Vec<(f64, String)>,
}

/// The empirical CDF of `values` as plot points (sorted value, fraction ≤ it).
pub fn cdf_points(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len().max(1) as f64;
    v.iter()
        .enumerate()
        .map(|(i, &x)| (x, (i + 1) as f64 / n))
        .collect()
}
