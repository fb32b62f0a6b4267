//! Line charts as self-contained SVG (no script, font file or other
//! external asset, so a page showing one works offline): a title, an x
//! axis of dates with ticks and labels, a y axis of values with ticks and
//! labels, a grid, one polyline per series and a legend naming each series
//! with its first and last value. The demo's `charts/` files and the
//! server's dashboard both draw with [`render_svg`].
//!
//! Charts are pictures: amounts become `f64` only here, as pixel
//! coordinates and labels, never in a figure anyone reads back.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cardledger_domain::time::Date;

use crate::{Cardledger, Error};

/// Blue, the first series.
pub const BLUE: &str = "#0000FF";
/// Red, the second series.
pub const RED: &str = "#FF0000";

/// One line: a name, a colour and its points (by day).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend's name for it (e.g. a column name).
    pub name: String,
    /// Stroke colour, `#RRGGBB`.
    pub color: String,
    /// Points in date order.
    pub points: Vec<(Date, f64)>,
}

/// A chart: a title, the y axis' unit, and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// The title above the plot.
    pub title: String,
    /// The y axis' title (e.g. the currency).
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

/// The picture's size and the plot area's margins, in pixels.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 60.0;

/// Renders `chart` as one SVG document (one element per line).
pub fn render_svg(chart: &Chart) -> String {
    let points = || chart.series.iter().flat_map(|s| s.points.iter());
    let first_day = points().map(|(d, _)| d.0).min();
    let last_day = points().map(|(d, _)| d.0).max();
    let (d0, d1) = match (first_day, last_day) {
        (Some(a), Some(b)) if a < b => (a, b),
        (Some(a), _) => (a, a + 1),
        _ => (0, 1),
    };
    let (lo, hi) = points()
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let y_ticks = nice_ticks(lo, hi, 6);
    let (y0, y1) = (y_ticks.first().copied().unwrap_or(lo).min(lo), y_ticks.last().copied().unwrap_or(hi).max(hi));
    let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x_of = |day: i32| LEFT + f64::from(day - d0) / f64::from(d1 - d0) * pw;
    let y_of = |v: f64| TOP + ph - (v - y0) / (y1 - y0) * ph;

    let mut svg = String::new();
    let mut line = |text: String| {
        svg.push_str(&text);
        svg.push('\n');
    };
    line(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" role=\"img\" aria-label=\"{}\">",
        xml_escape(&chart.title)
    ));
    line(format!("<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#FFFFFF\"/>"));
    line(format!(
        "<text class=\"title\" x=\"{LEFT}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>",
        xml_escape(&chart.title)
    ));
    // grid and y axis ticks
    line("<g class=\"y-axis\" font-size=\"11\" text-anchor=\"end\">".into());
    for t in &y_ticks {
        let y = y_of(*t);
        line(format!(
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#E0E0E0\" stroke-width=\"1\"/>",
            LEFT + pw
        ));
        line(format!("<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{LEFT}\" y2=\"{y:.1}\" stroke=\"#000000\"/>", LEFT - 5.0));
        line(format!(
            "<text class=\"y-tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT - 8.0,
            y + 4.0,
            amount_label(*t)
        ));
    }
    line(format!(
        "<text class=\"y-label\" x=\"16\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">{}</text>",
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        xml_escape(&chart.y_label)
    ));
    line("</g>".into());
    // x axis: date ticks
    line("<g class=\"x-axis\" font-size=\"11\" text-anchor=\"middle\">".into());
    for day in date_ticks(d0, d1, 8) {
        let x = x_of(day);
        line(format!(
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#F0F0F0\" stroke-width=\"1\"/>",
            TOP + ph
        ));
        line(format!(
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#000000\"/>",
            TOP + ph,
            TOP + ph + 5.0
        ));
        line(format!("<text class=\"x-tick\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>", TOP + ph + 18.0, Date(day)));
    }
    line(format!("<text class=\"x-label\" x=\"{:.1}\" y=\"{:.1}\">date</text>", LEFT + pw / 2.0, HEIGHT - 12.0));
    line("</g>".into());
    // the axes themselves
    line(format!("<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#000000\"/>", TOP + ph));
    line(format!(
        "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000000\"/>",
        TOP + ph,
        LEFT + pw,
        TOP + ph
    ));
    // the series
    for s in &chart.series {
        let mut pts = String::new();
        for (d, v) in s.points.iter().filter(|(_, v)| v.is_finite()) {
            if !pts.is_empty() {
                pts.push(' ');
            }
            let _ = write!(pts, "{:.1},{:.1}", x_of(d.0), y_of(*v));
        }
        line(format!(
            "<polyline class=\"series\" data-name=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{pts}\"/>",
            xml_escape(&s.name),
            xml_escape(&s.color)
        ));
    }
    // the legend
    line("<g class=\"legend\" font-size=\"13\">".into());
    let mut x = LEFT;
    for s in &chart.series {
        let first = s.points.first().map(|(_, v)| amount_label(*v)).unwrap_or_default();
        let last = s.points.last().map(|(_, v)| amount_label(*v)).unwrap_or_default();
        let text = format!("{} {first} … {last}", s.name);
        line(format!("<rect x=\"{x:.1}\" y=\"38\" width=\"14\" height=\"4\" fill=\"{}\"/>", xml_escape(&s.color)));
        line(format!(
            "<text class=\"legend-entry\" x=\"{:.1}\" y=\"45\" fill=\"{}\">{}</text>",
            x + 20.0,
            xml_escape(&s.color),
            xml_escape(&text)
        ));
        x += 20.0 + 7.5 * text.chars().count() as f64 + 30.0;
    }
    line("</g>".into());
    line("</svg>".into());
    svg
}

/// About `target` round tick values (1, 2 or 5 × 10^k apart) covering
/// `lo..=hi`.
fn nice_ticks(lo: f64, hi: f64, target: u32) -> Vec<f64> {
    let raw = (hi - lo) / f64::from(target.max(1));
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    if !step.is_finite() || step <= 0.0 {
        return vec![lo, hi];
    }
    let start = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut t = start;
    while t <= hi + step * 0.5 && ticks.len() < 50 {
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        if t >= hi {
            break;
        }
        t += step;
    }
    ticks
}

/// Day numbers of about `target` date ticks from `d0` to `d1`, at a round
/// step (1, 2, 7, 14 days, then months).
fn date_ticks(d0: i32, d1: i32, target: i32) -> Vec<i32> {
    let span = (d1 - d0).max(1);
    let step = [1, 2, 7, 14, 30, 61, 91, 182, 365, 730].into_iter().find(|s| span / s < target).unwrap_or(span);
    (0..).map(|i| d0 + i * step).take_while(|d| *d <= d1).collect()
}

/// A value as a tick or legend label: thousands grouped, two decimals.
pub fn amount_label(v: f64) -> String {
    let text = format!("{:.2}", v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    format!("{sign}{grouped}.{frac}")
}

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn cents_f64(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// The chart of one program: blue, its ending bank balance by day; red,
/// for a reserve program, its reserve requirement.
pub(crate) fn program_chart(ledger: &Cardledger, program: &str) -> Result<Chart, Error> {
    let p = ledger.projections();
    let (info, balances) = crate::views::with_state(&p.program, ledger.engine(), |v| {
        let info = v.programs().get(program).map(|i| (i.reserve.is_some(), i.currency.alpha().to_string()));
        let rows = v.day_rows(program, None, None);
        (info, rows.iter().map(|r| (r.corrected_post_date, cents_f64(r.ending_cents))).collect::<Vec<_>>())
    })?;
    let Some((reserve, currency)) = info else {
        return Err(Error::NotFound { what: format!("program {program:?}") });
    };
    let mut series = vec![Series { name: "ending_bank_balance".into(), color: BLUE.into(), points: balances }];
    if reserve {
        let points = crate::views::with_state(&p.reserve, ledger.engine(), |v| {
            v.day_rows(program, None, None)
                .iter()
                .map(|r| (r.post_date, cents_f64(r.requirement_cents)))
                .collect::<Vec<_>>()
        })?;
        series.push(Series { name: "reserve_requirement_amount".into(), color: RED.into(), points });
    }
    let days = series.first().map_or(0, |s| s.points.len());
    let first = series.first().and_then(|s| s.points.first()).map(|(d, _)| d.to_string()).unwrap_or_default();
    Ok(Chart { title: format!("{program} — daily from {first} ({days} days)"), y_label: currency, series })
}

/// Writes `<program>.svg` for every program into `dir`.
pub(crate) fn write_program_charts(ledger: &Cardledger, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Output { what: dir.display().to_string(), source })?;
    let mut files = Vec::new();
    for program in ledger.programs()? {
        let svg = render_svg(&ledger.program_chart(&program)?);
        let path = dir.join(format!("{}.svg", file_stem(&program)));
        std::fs::write(&path, svg).map_err(|source| Error::Output { what: path.display().to_string(), source })?;
        files.push(path);
    }
    Ok(files)
}

/// A program token as a file name: ASCII letters, digits, `-` and `_` kept.
fn file_stem(token: &str) -> String {
    token.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
