//! The benchmark's plots: SVG files under `docs/bench/`, drawn from the
//! run's JSON (`target/folio-bench.json`) and embedded in BENCHMARKS.md.
//! Each plot skips what the JSON lacks, so a run without a section still
//! draws the others. `FOLIO_BENCH_REPORT_FROM=<json>` draws them again (and
//! the page) from a saved run without measuring anything.

use std::path::Path;

use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;
use serde_json::Value;

use crate::report::num;

type Drawn = Result<(), Box<dyn std::error::Error>>;

const WIDTH: u32 = 900;
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Draws every plot the report has data for into `dir`; the files
/// written, each with its caption, in order.
pub fn write_all(report: &Value, baseline: Option<&Value>, dir: &Path) -> Vec<(String, String)> {
    let _ = std::fs::create_dir_all(dir);
    let mut out = Vec::new();
    let mut plot = |file: &str, caption: &str, drawn: Drawn| match drawn {
        Ok(()) => out.push((file.to_owned(), caption.to_owned())),
        Err(e) => eprintln!("bench: plot {file} not drawn: {e}"),
    };
    if report["cold_start"].is_object() {
        let f = "cold-start.svg";
        plot(
            f,
            "Cold start: init and first response per function, median, log scale",
            cold_start(&report["cold_start"], &dir.join(f)),
        );
    }
    if report["list_scale"].is_object() {
        let f = "lists.svg";
        plot(
            f,
            "Lists: p50 and read units per page against collection size, per order and filter",
            lists(&report["list_scale"], &dir.join(f)),
        );
    }
    if report["latency_model"].is_object() {
        let f = "latency-model.svg";
        plot(
            f,
            "The latency model: p50 per endpoint against the added DynamoDB round trip",
            latency(&report["latency_model"], &dir.join(f)),
        );
    }
    if let (Some(before), true) = (baseline, report["endpoints"].is_object()) {
        let f = "writes-before-after.svg";
        plot(
            f,
            "Each endpoint's p50 before versions and drafts and now",
            before_after(before, report, &dir.join(f)),
        );
    }
    if report["schedules"]["lateness_cdf_ms"].is_array() {
        let f = "schedules.svg";
        let s = &report["schedules"];
        let title = format!("{} schedules due in the same second", s["schedules"]);
        let curves = [("from `at` to the item's new version", &s["lateness_cdf_ms"])];
        plot(
            f,
            "Schedules due in the same second: lateness, cumulative",
            cdfs(&title, &curves, &dir.join(f)),
        );
    }
    if report["pipeline"]["commit_to_job_done_cdf_ms"].is_array() {
        let f = "pipeline-webhooks.svg";
        let curves = [
            (
                "commit → cleanup job done",
                &report["pipeline"]["commit_to_job_done_cdf_ms"],
            ),
            (
                "commit → webhook delivered",
                &report["webhooks"]["commit_to_delivery_cdf_ms"],
            ),
        ];
        plot(
            f,
            "The event pipeline and webhooks: delays after the commit, cumulative",
            cdfs("Delays after the commit", &curves, &dir.join(f)),
        );
    }
    out
}

/// Horizontal dot plot: a row per function, init and first response in ms
/// on a log axis.
fn cold_start(c: &Value, path: &Path) -> Drawn {
    let rows: Vec<(String, f64, f64)> = c
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, v)| {
            Some((
                name.clone(),
                num(&v["init_ms"])?,
                num(&v["first_response_ms"])?,
            ))
        })
        .collect();
    let labels = [("init", color(0)), ("first response", color(1))];
    dots(
        path,
        "Cold start (median of starts)",
        "ms (log scale)",
        &rows,
        labels,
    )
}

/// A row per name, two values each (circle, triangle) on a log axis.
fn dots(
    path: &Path,
    caption: &str,
    x_desc: &str,
    rows: &[(String, f64, f64)],
    [(first, c1), (second, c2)]: [(&str, RGBColor); 2],
) -> Drawn {
    if rows.is_empty() {
        return Err("nothing to draw".into());
    }
    let n = rows.len();
    let high = rows.iter().map(|r| r.1.max(r.2)).fold(1.0, f64::max) * 2.0;
    let root = SVGBackend::new(path, (WIDTH, 120 + 24 * n as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d((0.3f64..high).log_scale(), (0..n).into_segmented())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => rows.get(*i).map(|r| r.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    chart
        .draw_series(
            rows.iter()
                .enumerate()
                .map(|(i, r)| Circle::new((r.1, SegmentValue::CenterOf(i)), 5, c1.filled())),
        )?
        .label(first)
        .legend(move |(x, y)| Circle::new((x, y), 5, c1.filled()));
    chart
        .draw_series(
            rows.iter().enumerate().map(|(i, r)| {
                TriangleMarker::new((r.2, SegmentValue::CenterOf(i)), 6, c2.filled())
            }),
        )?
        .label(second)
        .legend(move |(x, y)| TriangleMarker::new((x, y), 6, c2.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Named lines with their points marked, and their legend at `legend`.
fn draw_lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    lines: &[(&str, Vec<(f64, f64)>)],
    legend: SeriesLabelPosition,
) -> Drawn
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (name, points)) in lines.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(points.clone(), color(i).stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(i)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color(i).filled())))?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The sizes a list_scale section measured, ascending.
fn sizes(l: &Value) -> Vec<(f64, &Value)> {
    let mut out: Vec<(f64, &Value)> = l
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.parse::<f64>().ok()?, v)))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Two panels: p50 ms and read units per request against the number of
/// items (log axis), a line per case that every size measured.
fn lists(l: &Value, path: &Path) -> Drawn {
    let sizes = sizes(l);
    let (Some(first), Some(last)) = (sizes.first(), sizes.last()) else {
        return Err("no sizes".into());
    };
    let cases: Vec<&String> = first
        .1
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| {
            v["p50_ms"].is_number() && sizes.iter().all(|(_, s)| s[k.as_str()].is_object())
        })
        .map(|(k, _)| k)
        .collect();
    let root = SVGBackend::new(path, (WIDTH, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(380);
    for (area, field, title) in [
        (&top, "p50_ms", "p50 ms per page"),
        (&bottom, "capacity_units", "read units per page"),
    ] {
        let high = sizes
            .iter()
            .flat_map(|(_, s)| cases.iter().filter_map(|c| num(&s[c.as_str()][field])))
            .fold(1.0, f64::max)
            * 1.3;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d((first.0 / 2.0..last.0 * 2.0).log_scale(), 0f64..high)?;
        chart
            .configure_mesh()
            .x_desc("items in the collection (log scale)")
            .draw()?;
        let lines: Vec<(&str, Vec<(f64, f64)>)> = cases
            .iter()
            .map(|case| {
                let points = sizes
                    .iter()
                    .filter_map(|(n, s)| Some((*n, num(&s[case.as_str()][field])?)))
                    .collect();
                (case.as_str(), points)
            })
            .collect();
        draw_lines(&mut chart, &lines, SeriesLabelPosition::UpperRight)?;
    }
    root.present()?;
    Ok(())
}

/// p50 per endpoint against the added round trip, and the batch delete of
/// 100 against 100 sequential deletes.
fn latency(m: &Value, path: &Path) -> Drawn {
    let delays = sizes(m);
    if delays.is_empty() {
        return Err("no delays".into());
    }
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut add = |name: String, point: (f64, f64)| match lines.iter_mut().find(|l| l.0 == name) {
        Some(l) => l.1.push(point),
        None => lines.push((name, vec![point])),
    };
    for (d, eps) in &delays {
        for (name, e) in eps.as_object().into_iter().flatten() {
            if let Some(p) = num(&e["p50_ms"]) {
                add(name.clone(), (*d, p));
            }
            for (k, label) in [
                ("parallel_ms", "batch delete of 100"),
                ("sequential_ms", "100 sequential deletes"),
            ] {
                if let Some(p) = num(&e[k]) {
                    add(label.to_owned(), (*d, p));
                }
            }
        }
    }
    let high = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 2.0;
    let max_d = delays.last().map_or(10.0, |d| d.0).max(1.0);
    let root = SVGBackend::new(path, (WIDTH, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "p50 against the added DynamoDB round trip",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..max_d + 0.5, (0.5f64..high).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("added round trip, ms")
        .y_desc("p50 ms (log scale)")
        .draw()?;
    let lines: Vec<(&str, Vec<(f64, f64)>)> =
        lines.iter().map(|(n, p)| (n.as_str(), p.clone())).collect();
    draw_lines(&mut chart, &lines, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}

/// A row per endpoint both runs measured: p50 before (the baseline's
/// commit) and now.
fn before_after(before: &Value, now: &Value, path: &Path) -> Drawn {
    let then = &before["endpoints"];
    let rows: Vec<(String, f64, f64)> = now["endpoints"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, v)| {
            Some((
                name.clone(),
                num(&then[name]["p50_ms"])?,
                num(&v["p50_ms"])?,
            ))
        })
        .collect();
    let commit = before["run"]["commit"].as_str().unwrap_or("baseline");
    dots(
        path,
        &format!("p50 per endpoint: {commit} and this run"),
        "p50 ms (log scale)",
        &rows,
        [(commit, color(7)), ("this run", color(0))],
    )
}

/// Cumulative curves (each a list of every fifth percentile, in ms) on
/// one plot, in seconds.
fn cdfs(title: &str, curves: &[(&str, &Value)], path: &Path) -> Drawn {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|(name, v)| {
            let points = v
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, v)| Some((num(v)? / 1000.0, i as f64 * 5.0)))
                .collect();
            (*name, points)
        })
        .filter(|(_, p): &(&str, Vec<(f64, f64)>)| !p.is_empty())
        .collect();
    if curves.is_empty() {
        return Err("no delays".into());
    }
    let high = curves
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.0))
        .fold(0.1, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (WIDTH, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..high, 0f64..100f64)?;
    chart.configure_mesh().x_desc("s").y_desc("% done").draw()?;
    draw_lines(&mut chart, &curves, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}
