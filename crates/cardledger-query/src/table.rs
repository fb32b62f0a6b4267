//! What a view hands to the query layer: ordered columns and rows of typed
//! values. A projection builds a `Table`; everything after that (fields,
//! filters, sorting, paging, totals, conversion, output) happens here.

use std::collections::BTreeSet;
use std::fmt;

use cardledger_domain::time::{Date, Timestamp};
use rust_decimal::Decimal;

/// The Postgres-style type of a column, as the source pages print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `numeric(p,s)`: amounts (`numeric(14,2)`).
    Numeric {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// `date`.
    Date,
    /// `character varying(n)`.
    Varchar(u32),
    /// `integer`.
    Integer,
    /// `timestamp without time zone`.
    Timestamp,
}

impl ColumnType {
    /// `numeric(14,2)`, the type of every amount on the source pages.
    pub const AMOUNT: ColumnType = ColumnType::Numeric { precision: 14, scale: 2 };
}

impl fmt::Display for ColumnType {
    /// Prints like the pages: `numeric(14,2)`, `date`, `character varying(128)`,
    /// `integer`, `timestamp without time zone`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Numeric { precision, scale } => write!(f, "numeric({precision},{scale})"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Varchar(n) => write!(f, "character varying({n})"),
            ColumnType::Integer => f.write_str("integer"),
            ColumnType::Timestamp => f.write_str("timestamp without time zone"),
        }
    }
}

/// What the schema's `units` says about a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Units {
    /// `null`: not a quantity with units (names, dates, codes, counts).
    None,
    /// An amount of money: `units` is the currency the records are shown in
    /// (the requested `currency`, else the rows' own), and currency
    /// conversion applies to the column.
    Currency,
}

/// One column of a view: its schema object and how the query layer treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Column {
    /// The field name used in records, `fields=`, filters and `sort_by`.
    pub field: &'static str,
    /// The Postgres-style type; filter values are parsed by it.
    pub ty: ColumnType,
    /// The schema's `description`.
    pub description: &'static str,
    /// The schema's `display` (a human title).
    pub display: &'static str,
    /// The schema's `units`; `Currency` columns follow conversion.
    pub units: Units,
    /// Whether `totals=true` sums the column.
    pub has_total: bool,
    /// A column that can be filtered on but is never returned in records.
    pub is_filter_only: bool,
    /// The schema's `date_format`; printed only when present (the pages show
    /// it on date and timestamp columns only).
    pub date_format: Option<&'static str>,
}

impl Column {
    /// A column with no description, no units, no total; date and timestamp
    /// columns get `date_format` `YYYY-MM-DD` as on the pages. Chain the
    /// builder methods below for the rest, so views can declare columns as
    /// `const`s.
    pub const fn new(field: &'static str, ty: ColumnType, display: &'static str) -> Column {
        let date_format = match ty {
            ColumnType::Date | ColumnType::Timestamp => Some("YYYY-MM-DD"),
            ColumnType::Numeric { .. } | ColumnType::Varchar(_) | ColumnType::Integer => None,
        };
        Column {
            field,
            ty,
            description: "",
            display,
            units: Units::None,
            has_total: false,
            is_filter_only: false,
            date_format,
        }
    }

    /// A `numeric(14,2)` money column (units follow the currency) with a total.
    pub const fn amount(field: &'static str, display: &'static str) -> Column {
        Column::new(field, ColumnType::AMOUNT, display).units(Units::Currency).total(true)
    }

    /// Sets the description.
    pub const fn description(mut self, description: &'static str) -> Column {
        self.description = description;
        self
    }

    /// Sets the units.
    pub const fn units(mut self, units: Units) -> Column {
        self.units = units;
        self
    }

    /// Sets `has_total`.
    pub const fn total(mut self, has_total: bool) -> Column {
        self.has_total = has_total;
        self
    }

    /// Marks the column filter-only.
    pub const fn filter_only(mut self) -> Column {
        self.is_filter_only = true;
        self
    }

    /// Sets (or clears) the date format.
    pub const fn date_format(mut self, format: Option<&'static str>) -> Column {
        self.date_format = format;
        self
    }
}

/// One cell. Amounts are exact decimals; the query layer rounds them to the
/// column's scale only when printing (half away from zero).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// No value (`null` in JSON, empty in CSV).
    Null,
    /// Text (`character varying`).
    Text(String),
    /// Money or any other `numeric` value.
    Amount(Decimal),
    /// An `integer`.
    Integer(i64),
    /// A `date`.
    Date(Date),
    /// A `timestamp without time zone` (UTC).
    Timestamp(Timestamp),
}

/// A view's rows, ready for querying. Rows are in the view's natural order;
/// the query layer sorts (default: newest `date_field` first, ties keeping
/// this order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The columns in schema order.
    pub columns: Vec<Column>,
    /// The rows; cell `i` belongs to column `i` (a short row reads as nulls).
    pub rows: Vec<Vec<Value>>,
    /// The column `start_date` / `end_date` bound and the default sort uses
    /// (a `date` or `timestamp` column).
    pub date_field: &'static str,
    /// The column holding each row's program; `program=` keeps the rows whose
    /// value is one of the requested programs. `None`: the table already
    /// holds only the requested programs' rows.
    pub program_field: Option<&'static str>,
    /// Every program the view knows, with rows or not. A requested program
    /// outside this set is `UnknownProgram` (400010).
    pub programs: BTreeSet<String>,
    /// The column holding each row's ISO currency (`USD`); `None`: every row
    /// is in `currency`. Conversion rewrites this column to the target.
    pub currency_field: Option<&'static str>,
    /// The column holding the ISO 4217 numeric code (`840`); conversion
    /// rewrites it too (null when the target's numeric code is unknown).
    pub currency_code_field: Option<&'static str>,
    /// The currency of rows without a `currency_field` (or with a null one).
    pub currency: &'static str,
}

impl Table {
    /// An empty table over `columns`, bounded and sorted by `date_field`, in
    /// USD, with no program or currency column and no known programs.
    pub fn new(columns: Vec<Column>, date_field: &'static str) -> Table {
        Table {
            columns,
            rows: Vec::new(),
            date_field,
            program_field: None,
            programs: BTreeSet::new(),
            currency_field: None,
            currency_code_field: None,
            currency: "USD",
        }
    }

    /// The index of a column by field name.
    pub fn column_index(&self, field: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.field == field)
    }
}
