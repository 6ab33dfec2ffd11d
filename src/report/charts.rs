//! Line charts as inline SVG (plotters' SVG backend): no fonts, no files, no network.

use plotters::prelude::*;

/// Chart size in px.
const SIZE: (u32, u32) = (720, 280);

/// One line of a chart: its name, colour and values (gaps where `None`).
pub struct Line {
    pub name: String,
    pub colour: RGBColor,
    pub values: Vec<Option<f64>>,
}

/// The palette lines take in turn.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// A line chart of `lines` over the seconds `xs`, as an SVG element. Points are marked when
/// a line has few of them (so a short run still shows its data).
pub fn line_chart(y_desc: &str, xs: &[u64], lines: &[Line]) -> Result<String, String> {
    let mut svg = String::new();
    draw(&mut svg, y_desc, xs, lines).map_err(|e| format!("drawing a chart: {e}"))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    y_desc: &str,
    xs: &[u64],
    lines: &[Line],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = xs
        .last()
        .copied()
        .unwrap_or(0)
        .max(xs.first().copied().unwrap_or(0) + 1) as f64;
    let x_min = xs.first().copied().unwrap_or(0) as f64;
    let y_max = lines
        .iter()
        .flat_map(|l| l.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for line in lines {
        let colour = line.colour;
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .zip(&line.values)
            .filter_map(|(x, v)| v.map(|v| (*x as f64, v)))
            .collect();
        let style = ShapeStyle::from(&colour).stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), style))?
            .label(line.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
        if pts.len() <= 30 {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    root.present()?;
    Ok(())
}
