//! The report's charts, drawn by plotters into SVG text (its SVG backend
//! escapes every label it writes; labels from certificates are also made
//! visible with [`crate::text::escape`] before they get here).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// Bars and cells: one hue, stronger for more.
const INK: RGBColor = RGBColor(0x1f, 0x5f, 0x8b);
/// Dates rules took effect.
const MARKER: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const FONT: &str = "sans-serif";

fn failed(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("drawing a chart: {e}"))
}

/// Draws on a `width` x `height` SVG and returns its text.
fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        draw(&root)?;
        root.present().map_err(failed)?;
    }
    Ok(out)
}

/// `t` (ms since the epoch) as a month number: year * 12 + month - 1.
pub fn month_number(ms: i64) -> i64 {
    use chrono::Datelike;
    let d = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// Findings per month as small multiples, one panel per series, all on the
/// months `from..=to` (month numbers), with `markers` (month number,
/// label) drawn across every panel and named on the first.
pub fn small_multiples(
    series: &[(String, Vec<(i64, i64)>)],
    (from, to): (i64, i64),
    markers: &[(i64, &str)],
) -> Result<String> {
    let panel = 64u32;
    let height = panel * series.len().max(1) as u32 + 52;
    svg(780, height, |root| {
        let (body, axis) = root.split_vertically(height - 24);
        let panels = body.split_evenly((series.len().max(1), 1));
        let span = (from - 1)..(to + 2);
        for (i, ((name, points), area)) in series.iter().zip(panels.iter()).enumerate() {
            let top = points.iter().map(|p| p.1).max().unwrap_or(1).max(1);
            let mut chart = ChartBuilder::on(area)
                .margin_left(6)
                .margin_right(12)
                .margin_top(if i == 0 { 28 } else { 4 })
                .y_label_area_size(44)
                .build_cartesian_2d(span.clone(), 0i64..top)
                .map_err(failed)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .disable_x_axis()
                .y_labels(2)
                .y_label_style((FONT, 10))
                .light_line_style(GRID)
                .draw()
                .map_err(failed)?;
            let shown = markers.iter().filter(|(m, _)| *m >= from && *m <= to);
            for (k, (m, label)) in shown.enumerate() {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(*m, 0), (*m, top)],
                        MARKER.stroke_width(1),
                    )))
                    .map_err(failed)?;
                if i == 0 {
                    // Names on two staggered rows, so that dates close
                    // together stay readable.
                    let (x, _) = chart.backend_coord(&(*m, top));
                    root.draw(&Text::new(
                        label.to_string(),
                        (x + 2, 2 + 11 * (k as i32 % 2)),
                        (FONT, 10).into_font().color(&MARKER),
                    ))
                    .map_err(failed)?;
                }
            }
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|(m, n)| Rectangle::new([(*m, 0), (*m + 1, *n)], INK.filled())),
                )
                .map_err(failed)?;
            // backend_coord is in the whole SVG's pixels: drawn on root.
            let (x0, y0) = chart.backend_coord(&(from - 1, top));
            root.draw(&Text::new(
                name.clone(),
                (x0 + 6, y0 + if i == 0 { 2 } else { 0 }),
                (FONT, 12).into_font().color(&BLACK),
            ))
            .map_err(failed)?;
        }
        // The shared axis: one label per year.
        let mut chart = ChartBuilder::on(&axis)
            .margin_left(6)
            .margin_right(12)
            .y_label_area_size(44)
            .x_label_area_size(20)
            .build_cartesian_2d(span.clone(), 0i64..1)
            .map_err(failed)?;
        let years = ((to - from) / 12 + 1).max(1) as usize;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_y_axis()
            .x_labels(years.min(16) + 1)
            .x_label_formatter(&|m| {
                if m.rem_euclid(12) == 0 {
                    format!("{}", m / 12)
                } else {
                    String::new()
                }
            })
            .x_label_style((FONT, 10))
            .draw()
            .map_err(failed)?;
        Ok(())
    })
}

/// Cell colour for `v` of `max` (log scale; white for 0).
fn shade(v: i64, max: i64) -> RGBColor {
    if v <= 0 {
        return WHITE;
    }
    let t = ((v as f64).ln_1p() / (max.max(1) as f64).ln_1p()).clamp(0.0, 1.0);
    let mix =
        |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * (0.15 + 0.85 * t)) as u8;
    RGBColor(mix(0xff, INK.0), mix(0xff, INK.1), mix(0xff, INK.2))
}

/// A grid of counts: `rows` down, `cols` across, a number in each cell.
pub fn heat_map(rows: &[String], cols: &[String], values: &[Vec<i64>]) -> Result<String> {
    let (left, top, cell_w, cell_h) = (260i32, 150i32, 44i32, 22i32);
    let width = (left + cell_w * cols.len() as i32 + 10).max(300) as u32;
    let height = (top + cell_h * rows.len() as i32 + 10) as u32;
    let max = values.iter().flatten().copied().max().unwrap_or(0);
    svg(width, height, |root| {
        for (j, col) in cols.iter().enumerate() {
            let x = left + cell_w * j as i32 + cell_w / 2;
            root.draw(&Text::new(
                col.clone(),
                (x, top - 6),
                (FONT, 11)
                    .into_font()
                    .transform(FontTransform::Rotate270)
                    .color(&BLACK),
            ))
            .map_err(failed)?;
        }
        for (i, row) in rows.iter().enumerate() {
            let y = top + cell_h * i as i32;
            let label: String = row.chars().take(40).collect();
            root.draw(&Text::new(
                label,
                (4, y + 5),
                (FONT, 11).into_font().color(&BLACK),
            ))
            .map_err(failed)?;
            for (j, v) in values[i].iter().enumerate() {
                let x = left + cell_w * j as i32;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell_w - 1, y + cell_h - 1)],
                    shade(*v, max).filled(),
                ))
                .map_err(failed)?;
                if *v > 0 {
                    let ink = if shade(*v, max).0 < 0x90 {
                        WHITE
                    } else {
                        BLACK
                    };
                    root.draw(&Text::new(
                        compact(*v),
                        (x + 4, y + 5),
                        (FONT, 10).into_font().color(&ink),
                    ))
                    .map_err(failed)?;
                }
            }
        }
        Ok(())
    })
}

/// A count in at most 5 characters: 999, 12.3k, 4.5M.
pub fn compact(v: i64) -> String {
    if v < 1_000 {
        v.to_string()
    } else if v < 100_000 {
        format!("{:.1}k", v as f64 / 1e3)
    } else if v < 1_000_000 {
        format!("{}k", v / 1000)
    } else {
        format!("{:.1}M", v as f64 / 1e6)
    }
}

/// notBefore by weekday (rows, Sunday first) and hour of day (columns, UTC).
pub fn weekday_hour(counts: &[[i64; 24]; 7]) -> Result<String> {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let (left, top, cw, ch) = (36i32, 18i32, 15i32, 15i32);
    let max = counts.iter().flatten().copied().max().unwrap_or(0);
    svg(
        (left + cw * 24 + 8) as u32,
        (top + ch * 7 + 6) as u32,
        |root| {
            for h in (0..24).step_by(3) {
                root.draw(&Text::new(
                    format!("{h:02}"),
                    (left + cw * h, 3),
                    (FONT, 10).into_font().color(&BLACK),
                ))
                .map_err(failed)?;
            }
            for (d, row) in counts.iter().enumerate() {
                let y = top + ch * d as i32;
                root.draw(&Text::new(
                    DAYS[d],
                    (2, y + 2),
                    (FONT, 10).into_font().color(&BLACK),
                ))
                .map_err(failed)?;
                for (h, v) in row.iter().enumerate() {
                    let x = left + cw * h as i32;
                    root.draw(&Rectangle::new(
                        [(x, y), (x + cw - 1, y + ch - 1)],
                        shade(*v, max).filled(),
                    ))
                    .map_err(failed)?;
                }
            }
            Ok(())
        },
    )
}

/// A bar per labelled bucket; buckets from `alert` on are drawn in the
/// marker colour (past a rule's line).
pub fn bars(labels: &[&str], values: &[i64], alert: Option<usize>) -> Result<String> {
    let n = labels.len().max(1);
    let top = values.iter().copied().max().unwrap_or(1).max(1);
    svg(44 + 46 * n as u32, 150, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(6)
            .y_label_area_size(40)
            .x_label_area_size(22)
            .build_cartesian_2d(0..n as i32, 0i64..top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|_| String::new())
            .y_labels(3)
            .y_label_formatter(&|v| compact(*v))
            .y_label_style((FONT, 10))
            .light_line_style(GRID)
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let colour = if alert.is_some_and(|a| i >= a) {
                    MARKER
                } else {
                    INK
                };
                Rectangle::new([(i as i32, 0), (i as i32 + 1, *v)], colour.filled())
            }))
            .map_err(failed)?;
        for (i, label) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as i32, 0));
            root.draw(&Text::new(
                label.to_string(),
                (x + 2, y + 6),
                (FONT, 9).into_font().color(&BLACK),
            ))
            .map_err(failed)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_in_the_svg() {
        let svg = heat_map(
            &["<script>alert(1)</script>".to_owned()],
            &["rule&co".to_owned()],
            &[vec![3]],
        )
        .unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("rule&amp;co"), "{svg}");
    }

    #[test]
    fn months_and_counts() {
        assert_eq!(month_number(0), 1970 * 12);
        assert_eq!(month_number(1_451_606_400_000), 2016 * 12); // 2016-01-01
        assert_eq!(compact(999), "999");
        assert_eq!(compact(12_345), "12.3k");
        assert_eq!(compact(4_500_000), "4.5M");
    }

    #[test]
    fn every_chart_draws() {
        let s = small_multiples(
            &[(
                "backdated".to_owned(),
                vec![(2016 * 12, 4), (2016 * 12 + 3, 9)],
            )],
            (2015 * 12, 2017 * 12),
            &[(2016 * 12, "SHA-1 ban")],
        )
        .unwrap();
        assert!(s.starts_with("<svg") && s.contains("<rect"), "{s}");
        let mut grid = [[0i64; 24]; 7];
        grid[1][9] = 5;
        assert!(weekday_hour(&grid).unwrap().contains("<rect"));
        assert!(bars(&["a", "b"], &[1, 2], Some(1))
            .unwrap()
            .contains("<rect"));
    }
}
