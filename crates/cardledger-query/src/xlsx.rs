//! XLSX rendering. A workbook cell holds an IEEE double, so amounts become
//! `f64` here and only here, at the very edge, shown with the `0.00` number
//! format; the exact values stay in JSON and CSV.

use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

use crate::answer::{Answer, Cell};
use crate::error::QueryError;
use crate::render::scale_of;
use crate::text;

impl Answer<'_> {
    /// An XLSX workbook with one sheet: a header row of field names, then
    /// the page's records. Amounts are numbers formatted `0.00`, dates real
    /// dates formatted `yyyy-mm-dd`, timestamps text like the JSON records.
    pub fn write_xlsx(&self) -> Result<Vec<u8>, QueryError> {
        self.build_xlsx().map_err(|e| QueryError::Render { format: "xlsx", message: e.to_string() })
    }

    fn build_xlsx(&self) -> Result<Vec<u8>, XlsxError> {
        let (table, cols, page) = self.layout();
        let mut book = Workbook::new();
        if let Some(src) = &self.source {
            let props = rust_xlsxwriter::DocProperties::new()
                .set_custom_property(crate::report::PROP_SEQ, src.seq.to_string().as_str())
                .set_custom_property(crate::report::PROP_HASH, src.hash.as_str())
                .set_custom_property(crate::report::PROP_QUERY, src.query.as_str());
            book.set_properties(&props);
        }
        let sheet = book.add_worksheet();
        let money = Format::new().set_num_format("0.00");
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let mut buf = String::new();
        for (x, field) in self.fields().enumerate() {
            sheet.write_string(0, col_index(x), field)?;
        }
        for (y, &r) in page.iter().enumerate() {
            let row = u32::try_from(y + 1).unwrap_or(u32::MAX);
            for (x, &c) in cols.iter().enumerate() {
                let x = col_index(x);
                let Some(col) = table.columns.get(c) else { continue };
                match self.cell(r, c) {
                    Cell::Null => {}
                    Cell::Text(t) => {
                        sheet.write_string(row, x, t)?;
                    }
                    Cell::Integer(i) => {
                        // i64 beyond 2^53 loses precision in a double; such
                        // integers do not occur in the views (counts, codes).
                        sheet.write_number(row, x, i as f64)?;
                    }
                    Cell::Amount(a) => {
                        buf.clear();
                        text::amount(a, scale_of(col), &mut buf);
                        let v = buf.parse::<rust_decimal::Decimal>().ok().and_then(|d| d.to_f64()).unwrap_or(0.0);
                        sheet.write_number_with_format(row, x, v, &money)?;
                    }
                    Cell::Date(d) => {
                        let n = d.to_naive();
                        use chrono::Datelike;
                        let (y, m, dd) = (n.year(), n.month(), n.day());
                        match ExcelDateTime::from_ymd(
                            u16::try_from(y).unwrap_or(0),
                            u8::try_from(m).unwrap_or(0),
                            u8::try_from(dd).unwrap_or(0),
                        ) {
                            Ok(dt) => {
                                sheet.write_datetime_with_format(row, x, &dt, &date)?;
                            }
                            // Outside Excel's range (before 1900): keep the text.
                            Err(_) => {
                                sheet.write_string(row, x, d.to_string())?;
                            }
                        }
                    }
                    Cell::Timestamp(t) => {
                        buf.clear();
                        text::record_timestamp(t, &mut buf);
                        sheet.write_string(row, x, &buf)?;
                    }
                }
            }
        }
        book.save_to_buffer()
    }
}

fn col_index(x: usize) -> u16 {
    u16::try_from(x).unwrap_or(u16::MAX)
}
