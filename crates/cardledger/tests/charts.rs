//! The chart renderer: self-contained SVG with a title, date ticks on the
//! x axis, value ticks on the y axis, a grid and a legend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, missing_docs)]

use cardledger::charts::{render_svg, Chart, Series, BLUE, RED};
use cardledger::layers::domain::time::Date;

fn day(text: &str) -> Date {
    Date::parse(text).unwrap()
}

fn chart() -> Chart {
    let dates = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"];
    Chart {
        title: "prog_alpha — daily from 2024-01-01 (5 days)".into(),
        y_label: "USD".into(),
        series: vec![
            Series {
                name: "ending_bank_balance".into(),
                color: BLUE.into(),
                points: dates
                    .iter()
                    .zip([5_000_000.0, 4_990_000.5, 4_980_000.0, 5_010_000.0, 5_020_000.25])
                    .map(|(d, v)| (day(d), v))
                    .collect(),
            },
            Series {
                name: "reserve_requirement_amount".into(),
                color: RED.into(),
                points: dates
                    .iter()
                    .zip([50_000.0, 52_000.0, 51_000.0, 50_500.0, 53_000.0])
                    .map(|(d, v)| (day(d), v))
                    .collect(),
            },
        ],
    }
}

/// The text contents of elements with `class="…"`.
fn texts<'a>(svg: &'a str, class: &str) -> Vec<&'a str> {
    let marker = format!("class=\"{class}\"");
    svg.lines()
        .filter(|l| l.contains(&marker))
        .filter_map(|l| l.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")).map(|(t, _)| t))
        .collect()
}

#[test]
fn the_svg_has_a_title_axes_dates_ticks_grid_and_legend() {
    let svg = render_svg(&chart());
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches('<').count(), svg.matches('>').count(), "balanced tags");
    assert_eq!(texts(&svg, "title"), ["prog_alpha — daily from 2024-01-01 (5 days)"]);
    // one date label per day over five days
    assert_eq!(texts(&svg, "x-tick"), ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]);
    assert_eq!(texts(&svg, "x-label"), ["date"]);
    assert_eq!(texts(&svg, "y-label"), ["USD"]);
    // round value ticks spanning both series, grouped thousands, two decimals
    let y: Vec<&str> = texts(&svg, "y-tick");
    assert!(y.len() >= 4 && y.len() <= 12, "{y:?}");
    assert_eq!(y.first(), Some(&"0.00"), "{y:?}");
    assert!(y.iter().any(|t| t.starts_with("5,") && t.ends_with(",000.00")), "{y:?}");
    assert!(y.iter().all(|t| t.ends_with(".00")), "{y:?}");
    // grid lines: one per y tick and per x tick
    assert_eq!(svg.matches("stroke=\"#E0E0E0\"").count(), y.len());
    assert_eq!(svg.matches("stroke=\"#F0F0F0\"").count(), 5);
    // legend: each series with its first and last value, in its colour
    assert_eq!(
        texts(&svg, "legend-entry"),
        ["ending_bank_balance 5,000,000.00 … 5,020,000.25", "reserve_requirement_amount 50,000.00 … 53,000.00"]
    );
    // one polyline per series, one point per day
    assert_eq!(svg.matches("<polyline").count(), 2);
    for line in svg.lines().filter(|l| l.contains("<polyline")) {
        let points = line.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(points.split_whitespace().count(), 5, "{line}");
    }
    // self-contained: nothing fetched from elsewhere
    assert!(!svg.contains("href") && !svg.contains("<script") && !svg.contains("<image"));
    assert_eq!(svg.matches("http").count(), 1, "only the xmlns");
}

#[test]
fn long_spans_get_fewer_date_ticks_and_points_keep_their_order() {
    let points: Vec<(Date, f64)> = (0..90).map(|i| (Date(day("2024-01-01").0 + i), f64::from(i) * 10.0)).collect();
    let svg = render_svg(&Chart {
        title: "ninety days".into(),
        y_label: "USD".into(),
        series: vec![Series { name: "s".into(), color: BLUE.into(), points }],
    });
    let x = texts(&svg, "x-tick");
    assert!(x.len() >= 4 && x.len() <= 8, "{x:?}");
    assert_eq!(x.first(), Some(&"2024-01-01"));
    let line = svg.lines().find(|l| l.contains("<polyline")).unwrap();
    let xs: Vec<f64> = line
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|p| p.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(xs.len(), 90);
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "x grows with the date");
}

#[test]
fn an_empty_or_flat_chart_still_renders_and_text_is_escaped() {
    let svg = render_svg(&Chart { title: "a <b> & \"c\"".into(), y_label: "USD".into(), series: vec![] });
    assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    let flat = Series { name: "flat".into(), color: BLUE.into(), points: vec![(day("2024-02-01"), 7.0)] };
    let svg = render_svg(&Chart { title: "one point".into(), y_label: "USD".into(), series: vec![flat] });
    assert_eq!(texts(&svg, "x-tick").first(), Some(&"2024-02-01"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
}
