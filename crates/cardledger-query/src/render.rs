//! Rendering an `Answer`: the JSON envelope (as a `serde_json::Value`, or
//! streamed as text without building one) and CSV. XLSX is in `xlsx.rs`.

use std::io::Write;
use std::str::FromStr;

use serde_json::{Map, Number, Value as Json};

use crate::answer::{Answer, Cell};
use crate::error::QueryError;
use crate::table::{Column, ColumnType, Units};
use crate::text;

impl Answer<'_> {
    /// The schema: one object per visible column, keys in the pages' order
    /// (`field, type, description, display, units, has_total, date_format`
    /// when the column has one, `is_filter_only`).
    pub fn schema_json(&self) -> Json {
        let units = self.currency();
        Json::Array(
            self.schema_columns()
                .map(|col| {
                    let mut m = Map::new();
                    m.insert("field".into(), Json::from(col.field));
                    m.insert("type".into(), Json::from(col.ty.to_string()));
                    m.insert("description".into(), Json::from(col.description));
                    m.insert("display".into(), Json::from(col.display));
                    let u = match col.units {
                        Units::Currency => Json::from(units),
                        Units::None => Json::Null,
                    };
                    m.insert("units".into(), u);
                    m.insert("has_total".into(), Json::Bool(col.has_total));
                    if let Some(f) = col.date_format {
                        m.insert("date_format".into(), Json::from(f));
                    }
                    m.insert("is_filter_only".into(), Json::Bool(col.is_filter_only));
                    Json::Object(m)
                })
                .collect(),
        )
    }

    /// The JSON envelope: `total, is_more, count, info, start_date,
    /// end_date, last_run_time, schema, records`. Totals, when asked, are
    /// `info.totals` (`{field: sum}`), so the envelope keeps the pages' keys.
    /// Amounts are JSON numbers with exactly the column's scale
    /// (`13386182.90`); record dates read `2019-11-20T00:00:00.000Z`.
    pub fn to_json(&self) -> Json {
        let mut env = Map::new();
        let mut buf = String::new();
        env.insert("total".into(), Json::from(self.total()));
        env.insert("is_more".into(), Json::Bool(self.is_more()));
        env.insert("count".into(), Json::from(self.count()));
        let mut info = Map::new();
        if let Some(totals) = &self.totals {
            let mut t = Map::new();
            for (c, v) in totals {
                if let Some(col) = self.table.columns.get(*c) {
                    t.insert(col.field.into(), json_value(&Cell::from_value(v), col, &mut buf));
                }
            }
            info.insert("totals".into(), Json::Object(t));
        }
        env.insert("info".into(), Json::Object(info));
        env.insert("start_date".into(), self.start_date.map_or(Json::Null, |d| Json::from(text::envelope_date(d))));
        env.insert("end_date".into(), self.end_date.map_or(Json::Null, |d| Json::from(text::envelope_date(d))));
        env.insert("last_run_time".into(), self.last_run_time.map_or(Json::Null, |t| Json::from(text::run_time(t))));
        if let Some(src) = &self.source {
            env.insert("as_of_seq".into(), Json::from(src.seq));
            env.insert("as_of_hash".into(), Json::from(src.hash.as_str()));
            env.insert("query".into(), Json::from(src.query.as_str()));
        }
        env.insert("schema".into(), self.schema_json());
        let records = self
            .page
            .iter()
            .map(|&r| {
                let mut m = Map::with_capacity(self.record_cols.len());
                for &c in &self.record_cols {
                    if let Some(col) = self.table.columns.get(c) {
                        m.insert(col.field.into(), json_value(&self.cell(r, c), col, &mut buf));
                    }
                }
                Json::Object(m)
            })
            .collect();
        env.insert("records".into(), Json::Array(records));
        Json::Object(env)
    }

    /// The same envelope as [`Answer::to_json`], as compact JSON text written
    /// straight from the table (no `serde_json::Value` is built): the fast
    /// path for hosts that send the answer on.
    pub fn write_json<W: Write>(&self, mut out: W) -> Result<(), QueryError> {
        let mut s = String::with_capacity(256 + self.page.len() * self.record_cols.len() * 32);
        self.json_text(&mut s);
        out.write_all(s.as_bytes()).map_err(|e| QueryError::Render { format: "json", message: e.to_string() })
    }

    /// [`Answer::write_json`] into a `String`.
    pub fn to_json_string(&self) -> String {
        let mut s = String::with_capacity(256 + self.page.len() * self.record_cols.len() * 32);
        self.json_text(&mut s);
        s
    }

    /// CSV: a header row of field names, then one line per record. Amounts
    /// print with exactly the column's scale (2 for `numeric(14,2)`, half away
    /// from zero), dates as `YYYY-MM-DD`, timestamps as
    /// `2018-08-06T16:22:10.000Z`, nulls empty.
    pub fn write_csv<W: Write>(&self, out: W) -> Result<(), QueryError> {
        let err = |e: csv::Error| QueryError::Render { format: "csv", message: e.to_string() };
        let mut w = csv::Writer::from_writer(out);
        w.write_record(self.fields()).map_err(err)?;
        let mut buf = String::new();
        let mut record = csv::ByteRecord::new();
        for &r in &self.page {
            record.clear();
            for &c in &self.record_cols {
                buf.clear();
                if let Some(col) = self.table.columns.get(c) {
                    text_value(&self.cell(r, c), col, &mut buf);
                }
                record.push_field(buf.as_bytes());
            }
            w.write_byte_record(&record).map_err(err)?;
        }
        w.flush().map_err(|e| QueryError::Render { format: "csv", message: e.to_string() })?;
        if let Some(src) = &self.source {
            let mut out = w.into_inner().map_err(|e| QueryError::Render { format: "csv", message: e.to_string() })?;
            writeln!(out, "{}", crate::report::csv_trailer(src))
                .map_err(|e| QueryError::Render { format: "csv", message: e.to_string() })?;
        }
        Ok(())
    }

    fn schema_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.schema_cols.iter().filter_map(|&c| self.table.columns.get(c))
    }

    fn json_text(&self, s: &mut String) {
        s.push_str("{\"total\":");
        text::push_u64(s, self.total());
        s.push_str(",\"is_more\":");
        s.push_str(if self.is_more() { "true" } else { "false" });
        s.push_str(",\"count\":");
        text::push_u64(s, self.count() as u64);
        s.push_str(",\"info\":{");
        if let Some(totals) = &self.totals {
            s.push_str("\"totals\":{");
            let mut first = true;
            for (c, v) in totals {
                if let Some(col) = self.table.columns.get(*c) {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    text::json_string(col.field, s);
                    s.push(':');
                    json_text_value(&Cell::from_value(v), col, s);
                }
            }
            s.push('}');
        }
        s.push_str("},\"start_date\":");
        optional_string(self.start_date.map(text::envelope_date), s);
        s.push_str(",\"end_date\":");
        optional_string(self.end_date.map(text::envelope_date), s);
        s.push_str(",\"last_run_time\":");
        optional_string(self.last_run_time.map(text::run_time), s);
        if let Some(src) = &self.source {
            s.push_str(",\"as_of_seq\":");
            text::push_u64(s, src.seq);
            s.push_str(",\"as_of_hash\":");
            text::json_string(&src.hash, s);
            s.push_str(",\"query\":");
            text::json_string(&src.query, s);
        }
        s.push_str(",\"schema\":[");
        let units = self.currency();
        for (i, col) in self.schema_columns().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"field\":");
            text::json_string(col.field, s);
            s.push_str(",\"type\":");
            text::json_string(&col.ty.to_string(), s);
            s.push_str(",\"description\":");
            text::json_string(col.description, s);
            s.push_str(",\"display\":");
            text::json_string(col.display, s);
            s.push_str(",\"units\":");
            match col.units {
                Units::Currency => text::json_string(units, s),
                Units::None => s.push_str("null"),
            }
            s.push_str(",\"has_total\":");
            s.push_str(if col.has_total { "true" } else { "false" });
            if let Some(f) = col.date_format {
                s.push_str(",\"date_format\":");
                text::json_string(f, s);
            }
            s.push_str(",\"is_filter_only\":");
            s.push_str(if col.is_filter_only { "true" } else { "false" });
            s.push('}');
        }
        s.push_str("],\"records\":[");
        // Keys are the same for every record: escape them once.
        let keys: Vec<String> = self
            .record_cols
            .iter()
            .map(|&c| {
                let mut k = String::new();
                text::json_string(self.table.columns.get(c).map_or("", |col| col.field), &mut k);
                k.push(':');
                k
            })
            .collect();
        // The columns once, not per cell.
        let cols: Vec<(usize, &str, Option<&Column>)> =
            self.record_cols.iter().zip(&keys).map(|(&c, key)| (c, key.as_str(), self.table.columns.get(c))).collect();
        let plain = !self.converts();
        for (i, &r) in self.page.iter().enumerate() {
            s.push_str(if i > 0 { ",{" } else { "{" });
            // without conversion a cell is the table's value: read the row once
            let row = if plain { self.table.rows.get(r).map(Vec::as_slice) } else { None };
            for (j, &(c, key, col)) in cols.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(key);
                match (col, row) {
                    (Some(col), Some(row)) => json_text_value(&Cell::from_option(row.get(c)), col, s),
                    (Some(col), None) => json_text_value(&self.cell(r, c), col, s),
                    (None, _) => s.push_str("null"),
                }
            }
            s.push('}');
        }
        s.push_str("]}");
    }
}

/// Decimals printed for an amount: the column's scale, 2 for non-numeric
/// columns holding amounts.
pub(crate) fn scale_of(col: &Column) -> u32 {
    match col.ty {
        ColumnType::Numeric { scale, .. } => u32::from(scale.min(28)),
        ColumnType::Date | ColumnType::Varchar(_) | ColumnType::Integer | ColumnType::Timestamp => 2,
    }
}

// ---------------------------------------------------------------------------

/// A cell as a JSON value (see `to_json`).
fn json_value(cell: &Cell<'_>, col: &Column, buf: &mut String) -> Json {
    buf.clear();
    match cell {
        Cell::Null => Json::Null,
        Cell::Text(t) => Json::String((*t).to_string()),
        Cell::Integer(i) => Json::from(*i),
        Cell::Amount(a) => {
            text::amount(*a, scale_of(col), buf);
            Number::from_str(buf).map_or(Json::Null, Json::Number)
        }
        Cell::Date(d) => {
            text::record_date(*d, buf);
            Json::String(buf.clone())
        }
        Cell::Timestamp(t) => {
            text::record_timestamp(*t, buf);
            Json::String(buf.clone())
        }
    }
}

/// A cell as JSON text, identical to `json_value` once parsed.
fn json_text_value(cell: &Cell<'_>, col: &Column, s: &mut String) {
    match cell {
        Cell::Null => s.push_str("null"),
        Cell::Text(t) => text::json_string(t, s),
        Cell::Integer(i) => text::push_i64(s, *i),
        Cell::Amount(a) => text::amount(*a, scale_of(col), s),
        Cell::Date(d) => {
            s.push('"');
            text::record_date(*d, s);
            s.push('"');
        }
        Cell::Timestamp(t) => {
            s.push('"');
            text::record_timestamp(*t, s);
            s.push('"');
        }
    }
}

/// A cell as CSV text (see `write_csv`).
fn text_value(cell: &Cell<'_>, col: &Column, buf: &mut String) {
    match cell {
        Cell::Null => {}
        Cell::Text(t) => buf.push_str(t),
        Cell::Integer(i) => text::push_i64(buf, *i),
        Cell::Amount(a) => text::amount(*a, scale_of(col), buf),
        Cell::Date(d) => text::plain_date(*d, buf),
        Cell::Timestamp(t) => text::record_timestamp(*t, buf),
    }
}

fn optional_string(v: Option<String>, s: &mut String) {
    match v {
        Some(v) => text::json_string(&v, s),
        None => s.push_str("null"),
    }
}
