//! `GET /`: the dashboard. Per program the principal may see: the bank
//! balance and what was sent to the bank, the reserve requirement against
//! the balance, daily activity (loads, PIN and signature purchases) and fee income
//! (the activity view's `fees`), over
//! the last `DASHBOARD_DAYS` days of each view; the latest statement
//! closes of its credit accounts (account, statement, cycle type, closing
//! date, new balance, minimum payment due, payment due date, past due);
//! then statement closes by cycle type. Charts are the facade's SVG (axes, dates,
//! ticks, title, legend), inlined: the page loads no external asset.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::Value;

use cardledger::charts::{render_svg, xml_escape, Chart, Series};
use cardledger::layers::domain::time::Date;
use cardledger::pairs_from_query;
use cardledger::{Cardledger, ViewRequest};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::{blocking, Shared};

/// Days of history each chart shows.
pub const DASHBOARD_DAYS: u32 = 90;

/// Latest statement closes listed per program (one per credit account,
/// newest closing first).
pub const DASHBOARD_CLOSES: usize = 10;

const COLORS: [&str; 4] = ["#1F77B4", "#D62728", "#2CA02C", "#9467BD"];

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/", get(page))
}

async fn page(State(state): State<Shared>, Extension(principal): Extension<Principal>) -> Response {
    blocking(&state, move |ledger| {
        let html = render(ledger, &principal)?;
        Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The rows of one view for one program, oldest first (the view answers
/// newest first; `count` keeps the last `DASHBOARD_DAYS`).
fn rows(ledger: &Cardledger, view: &str, agg: &str, program: &str, fields: &str) -> Result<Vec<Value>, ApiError> {
    let query = format!("program={program}&count={DASHBOARD_DAYS}&fields={fields}");
    let request = ViewRequest::parse(view, agg, &pairs_from_query(&query))?;
    let mut v = ledger.view_json(&request)?;
    let mut records = match v.get_mut("records").map(Value::take) {
        Some(Value::Array(r)) => r,
        _ => Vec::new(),
    };
    records.reverse();
    Ok(records)
}

fn series(rows: &[Value], date_field: &str, field: &str, color: &str) -> Series {
    let points = rows
        .iter()
        .filter_map(|r| {
            // dates print as `2024-01-05T00:00:00.000Z`: the day is the first ten
            let d = Date::parse(r.get(date_field)?.as_str()?.get(..10)?)?;
            let v = match r.get(field)? {
                Value::Number(n) => n.as_f64()?,
                Value::String(s) => s.parse::<f64>().ok()?,
                _ => return None,
            };
            Some((d, v))
        })
        .collect();
    Series { name: field.to_string(), color: color.to_string(), points }
}

fn chart(title: String, y_label: &str, rows: &[Value], date_field: &str, fields: &[&str]) -> Chart {
    let series =
        fields.iter().zip(COLORS.iter().cycle()).map(|(f, c)| series(rows, date_field, f, c)).collect::<Vec<_>>();
    Chart { title, y_label: y_label.to_string(), series }
}

fn render(ledger: &Cardledger, principal: &Principal) -> Result<String, ApiError> {
    let programs: Vec<String> = ledger.programs()?.into_iter().filter(|p| principal.may(p)).collect();
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cardledger dashboard</title>\
         <style>body{font-family:sans-serif;margin:16px;color:#222}section{margin-bottom:32px}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\
         svg{display:block;margin:8px 0;max-width:100%;height:auto}</style></head><body>\n<h1>cardledger</h1>\n",
    );
    let _ = writeln!(html, "<p>{} program(s); last {DASHBOARD_DAYS} days of each view.</p>", programs.len());
    for program in &programs {
        let p = xml_escape(program);
        let _ = writeln!(html, "<section class=\"program\" data-program=\"{p}\"><h2>Program {p}</h2>");
        let bank = rows(
            ledger,
            "programbalances",
            "day",
            program,
            "corrected_post_date,ending_bank_balance,amount_to_send,deposit",
        )?;
        let c = chart(
            format!("{program} — bank balance by day"),
            "USD",
            &bank,
            "corrected_post_date",
            &["ending_bank_balance"],
        );
        let _ = writeln!(html, "<div class=\"chart\" data-chart=\"bank\">{}</div>", render_svg(&c));
        let reserve = rows(
            ledger,
            "programreservebalances",
            "day",
            program,
            "post_date,ending_bank_balance,reserve_requirement_amount,reserve_owed_amount",
        );
        match reserve {
            Ok(r) if !r.is_empty() => {
                let c = chart(
                    format!("{program} — reserve requirement against the bank balance"),
                    "USD",
                    &r,
                    "post_date",
                    &["ending_bank_balance", "reserve_requirement_amount"],
                );
                let _ = writeln!(html, "<div class=\"chart\" data-chart=\"reserve\">{}</div>", render_svg(&c));
            }
            _ => {
                let _ = writeln!(html, "<p class=\"no-reserve\">No reserve is configured for {p}.</p>");
            }
        }
        let activity = rows(
            ledger,
            "activitybalances",
            "day",
            program,
            "corrected_post_date,gpa_loads,pin_purchases_net,sig_purchases_net,fees",
        )?;
        let c = chart(
            format!("{program} — daily activity"),
            "USD",
            &activity,
            "corrected_post_date",
            &["gpa_loads", "pin_purchases_net", "sig_purchases_net"],
        );
        let _ = writeln!(html, "<div class=\"chart\" data-chart=\"activity\">{}</div>", render_svg(&c));
        let c = chart(format!("{program} — fee income by day"), "USD", &activity, "corrected_post_date", &["fees"]);
        let _ = writeln!(html, "<div class=\"chart\" data-chart=\"fees\">{}</div>", render_svg(&c));
        closes_table(&mut html, ledger, program)?;
        html.push_str("</section>\n");
    }
    let counts = ledger.statement_counts()?;
    let _ = writeln!(
        html,
        "<section class=\"statements\"><h2>Statement closes by cycle type (all programs)</h2><pre>{}</pre></section>",
        xml_escape(&serde_json::to_string_pretty(&counts).unwrap_or_default())
    );
    html.push_str("</body></html>\n");
    Ok(html)
}

/// The program's latest statement closes as a table (`data-table="closes"`,
/// one `tr.close` per account), or a line saying it has none.
fn closes_table(html: &mut String, ledger: &Cardledger, program: &str) -> Result<(), ApiError> {
    let closes = ledger.latest_statement_closes(program, DASHBOARD_CLOSES)?;
    if closes.is_empty() {
        let _ = writeln!(html, "<p class=\"no-closes\">No statement has closed for {}.</p>", xml_escape(program));
        return Ok(());
    }
    html.push_str(
        "<h3>Latest statement closes</h3>\n<table data-table=\"closes\"><thead><tr><th>account</th><th>statement</th>\
         <th>cycle type</th><th>closing date</th><th>new balance</th><th>minimum payment due</th>\
         <th>payment due</th><th>past due</th></tr></thead><tbody>\n",
    );
    for l in &closes {
        let c = &l.close;
        let due = c.payment_due_date.to_string();
        let _ = writeln!(
            html,
            "<tr class=\"close\"><td>{}</td><td>{}</td><td>{}</td><td class=\"closing-date\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            xml_escape(&c.account_token),
            xml_escape(&c.statement_token),
            c.cycle_type.name(),
            l.closing_day,
            c.closing_balance.to_string_2dp(),
            c.minimum_payment.to_string_2dp(),
            xml_escape(due.get(..10).unwrap_or(&due)),
            c.past_due_amount.to_string_2dp(),
        );
    }
    html.push_str("</tbody></table>\n");
    Ok(())
}
