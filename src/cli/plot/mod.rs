//! The command line draws the library's figures (`crate::chart`) as PNGs (plotters, into
//! memory; the library publishes the bytes): training curves, FLOPs CDFs of candidate spaces,
//! accuracy against peak SRAM. Text uses the bundled DejaVu Sans Mono
//! (licence in `DejaVu-LICENSE` beside it), so no system font is needed.

use crate::chart::{Chart, Style};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("DejaVuSansMono.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the bundled font does not parse");
        }
    });
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("plot: {e}"))
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
    (lo - pad, hi + pad)
}

fn draw(chart: &Chart, area: &DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()> {
    let (x0, x1) = range(
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(chart.vlines.iter().map(|v| v.0)),
    );
    let (y0, y1) = range(
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1)),
    );
    let mut c = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style(("sans-serif", 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_err)?;
    for (i, s) in chart.series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let legend_colour = colour;
        match s.style {
            Style::Line => c
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(plot_err)?,
            Style::Points => c
                .draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, 3, colour.mix(0.6).filled())),
                )
                .map_err(plot_err)?,
        }
        .label(&s.name)
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], legend_colour.stroke_width(2))
        });
    }
    for (x, name) in &chart.vlines {
        c.draw_series(LineSeries::new(
            vec![(*x, y0), (*x, y1)],
            RED.stroke_width(2),
        ))
        .map_err(plot_err)?
        .label(name)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    if chart.series.len() + chart.vlines.len() > 1
        || chart.series.iter().any(|s| !s.name.is_empty())
    {
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

/// Draw `charts` side by side as the bytes of a PNG (for a set published whole).
pub fn png_bytes(charts: &[Chart]) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = (640 * charts.len().max(1) as u32, 480u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let panels = root.split_evenly((1, charts.len().max(1)));
        for (chart, area) in charts.iter().zip(panels.iter()) {
            draw(chart, area)?;
        }
        root.present().map_err(plot_err)?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| plot_err("buffer size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(plot_err)?;
    Ok(png)
}
