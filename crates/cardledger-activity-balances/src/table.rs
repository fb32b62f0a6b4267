//! Rows and schemas of the three aggregations as query-layer tables.

use std::collections::BTreeMap;

use cardledger_calendar::DayMap;
use cardledger_domain::time::{Date, Timestamp};
use cardledger_query::{Column, ColumnType, Table, Value};
use rust_decimal::Decimal;

use crate::fold::{ActivityBalances, ActorDay, DayActivity, NetworkDay, ProgramActivity};

pub use cardledger_domain::limits::QUERY_DAYS_MAX;

/// The `expand` values the `day` aggregation understands.
pub const EXPANDABLE: [&str; 2] = ["pin_purchases_net", "sig_purchases_net"];

/// The networks with their own expanded columns, in column order.
/// Any other network (or none) is summed under `other`. Column names are
/// fixed so that schemas are static and a stream of new network names
/// cannot grow them.
pub const NETWORKS: [Network; 12] = [
    Network {
        name: "VISA",
        pin: "visa_pin_net",
        sig: "visa_sig_net",
        pin_display: "Visa PIN Net",
        sig_display: "Visa Signature Net",
    },
    Network {
        name: "MASTERCARD",
        pin: "mastercard_pin_net",
        sig: "mastercard_sig_net",
        pin_display: "Mastercard PIN Net",
        sig_display: "Mastercard Signature Net",
    },
    Network {
        name: "MAESTRO",
        pin: "maestro_pin_net",
        sig: "maestro_sig_net",
        pin_display: "Maestro PIN Net",
        sig_display: "Maestro Signature Net",
    },
    Network {
        name: "DISCOVER",
        pin: "discover_pin_net",
        sig: "discover_sig_net",
        pin_display: "Discover PIN Net",
        sig_display: "Discover Signature Net",
    },
    Network {
        name: "AMEX",
        pin: "amex_pin_net",
        sig: "amex_sig_net",
        pin_display: "Amex PIN Net",
        sig_display: "Amex Signature Net",
    },
    Network {
        name: "PULSE",
        pin: "pulse_pin_net",
        sig: "pulse_sig_net",
        pin_display: "Pulse PIN Net",
        sig_display: "Pulse Signature Net",
    },
    Network {
        name: "STAR",
        pin: "star_pin_net",
        sig: "star_sig_net",
        pin_display: "Star PIN Net",
        sig_display: "Star Signature Net",
    },
    Network {
        name: "NYCE",
        pin: "nyce_pin_net",
        sig: "nyce_sig_net",
        pin_display: "NYCE PIN Net",
        sig_display: "NYCE Signature Net",
    },
    Network {
        name: "ACCEL",
        pin: "accel_pin_net",
        sig: "accel_sig_net",
        pin_display: "Accel PIN Net",
        sig_display: "Accel Signature Net",
    },
    Network {
        name: "INTERLINK",
        pin: "interlink_pin_net",
        sig: "interlink_sig_net",
        pin_display: "Interlink PIN Net",
        sig_display: "Interlink Signature Net",
    },
    Network {
        name: "CIRRUS",
        pin: "cirrus_pin_net",
        sig: "cirrus_sig_net",
        pin_display: "Cirrus PIN Net",
        sig_display: "Cirrus Signature Net",
    },
    Network {
        name: "OTHER",
        pin: "other_pin_net",
        sig: "other_sig_net",
        pin_display: "Other PIN Net",
        sig_display: "Other Signature Net",
    },
];

/// A card network with its own expanded columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// The network as recorded (upper case).
    pub name: &'static str,
    /// `<network>_pin_net`.
    pub pin: &'static str,
    /// `<network>_sig_net`.
    pub sig: &'static str,
    /// Display of the PIN column.
    pub pin_display: &'static str,
    /// Display of the signature column.
    pub sig_display: &'static str,
}

/// The view's aggregations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityAggregation {
    /// Per program and reporting day: balances, credit and debit columns.
    Day,
    /// Network detail level: per program, day and card network.
    Network,
    /// Per program and acting user over the query window.
    Actor,
}

impl ActivityAggregation {
    /// Parses the path segment (`day`, `network`, `actor`).
    pub fn parse(text: &str) -> Option<ActivityAggregation> {
        match text {
            "day" => Some(ActivityAggregation::Day),
            "network" => Some(ActivityAggregation::Network),
            "actor" => Some(ActivityAggregation::Actor),
            _ => None,
        }
    }

    /// Every allowed value, for error messages.
    pub const ALLOWED: &'static str = "day, network, actor";
}

const CORRECTED_POST_DATE: &str = "A transaction date that accounts for potential adjustments, allowing balances to be calculated across a single date range. For most cases, Corrected Post Date and Post Date are identical. When different, Corrected Post Date represents the correct reporting date, and Post Date represents when the transaction was posted to the Marqeta ledger.";
const PROGRAM: Column =
    Column::new("program", ColumnType::Varchar(128), "Program").description("The name of the card program.");
const DATE: Column =
    Column::new("corrected_post_date", ColumnType::Date, "Corrected Post Date").description(CORRECTED_POST_DATE);
const LAST_MODIFIED: Column = Column::new("last_modified_time", ColumnType::Timestamp, "Last Modified Time")
    .description("The date when the record was most recently updated.");

const DAY_COLUMNS: [Column; 19] = [
    PROGRAM,
    DATE,
    Column::amount("starting_balance", "Starting Balance")
        .description("Sum of the holders' GPA and MSA ledger balances at the start of the day."),
    Column::amount("gpa_loads", "GPA Loads")
        .description("Credit: GPA orders (amount plus fees credited) and just-in-time funding."),
    Column::amount("msa_loads", "MSA Loads").description("Credit: MSA orders."),
    Column::amount("offer_loads", "Offer Loads").description("Credit: offer orders' purchase amounts."),
    Column::amount("refunds", "Refunds").description("Credit: posted refunds."),
    Column::amount("credit_adjustments", "Credit Adjustments").description("Credit: adjustment credits."),
    Column::amount("rewards", "Rewards").description("Credit: reward entries."),
    Column::amount("unloads", "Unloads").description("Debit: GPA and MSA unloads and JIT funds returned."),
    Column::amount("pin_purchases", "PIN Purchases").description("Debit: PIN purchases."),
    Column::amount("signature_purchases", "Signature Purchases").description("Debit: signature purchases."),
    Column::amount("atm_withdrawals", "ATM Withdrawals").description("Debit: ATM withdrawals."),
    Column::amount("fees", "Fees").description("Debit: fees and interest charged to holders."),
    Column::amount("debit_adjustments", "Debit Adjustments").description("Debit: adjustment debits."),
    Column::amount("pin_purchases_net", "PIN Purchases Net").description("PIN purchases minus PIN refunds."),
    Column::amount("sig_purchases_net", "Signature Purchases Net")
        .description("Signature purchases minus the other refunds."),
    Column::amount("ending_balance", "Ending Balance").description("starting_balance + credits - debits."),
    LAST_MODIFIED,
];

const NETWORK_COLUMNS: [Column; 10] = [
    PROGRAM,
    DATE,
    Column::new("network", ColumnType::Varchar(64), "Network").description("The card network (upper case)."),
    Column::amount("pin_purchases", "PIN Purchases"),
    Column::amount("signature_purchases", "Signature Purchases"),
    Column::amount("atm_withdrawals", "ATM Withdrawals"),
    Column::amount("refunds", "Refunds"),
    Column::amount("pin_purchases_net", "PIN Purchases Net"),
    Column::amount("sig_purchases_net", "Signature Purchases Net"),
    Column::new("transaction_count", ColumnType::Integer, "Transaction Count").total(true),
];

const ACTOR_COLUMNS: [Column; 10] = [
    PROGRAM,
    Column::new("acting_user_token", ColumnType::Varchar(36), "Acting User Token")
        .description("The user who acted: the journal entry's acting user, else the account holder."),
    Column::new("last_activity_date", ColumnType::Date, "Last Activity Date")
        .description("The user's last reporting day with activity in the window."),
    Column::new("load_count", ColumnType::Integer, "Load Count").total(true),
    Column::amount("load_amount", "Load Amount"),
    Column::new("pin_count", ColumnType::Integer, "PIN Count").total(true),
    Column::amount("pin_amount", "PIN Amount"),
    Column::new("signature_count", ColumnType::Integer, "Signature Count").total(true),
    Column::amount("signature_amount", "Signature Amount"),
    LAST_MODIFIED,
];

/// The base schema of an aggregation (before `expand`).
pub fn schema(aggregation: ActivityAggregation) -> Vec<Column> {
    match aggregation {
        ActivityAggregation::Day => DAY_COLUMNS.to_vec(),
        ActivityAggregation::Network => NETWORK_COLUMNS.to_vec(),
        ActivityAggregation::Actor => ACTOR_COLUMNS.to_vec(),
    }
}

impl ActivityBalances {
    /// The rows of `programs` at `aggregation` from `start` to `end` as a
    /// query-layer table. `day` rows are continuous from the program's first
    /// day (quiet days included); `expand` values from [`EXPANDABLE`] add a
    /// `<network>_pin_net` / `<network>_sig_net` column per network the
    /// requested programs have used (others are ignored; the host rejects
    /// them). `network` rows exist for days with card activity; `actor` rows
    /// sum each acting user's activity over the window.
    pub fn table(
        &self,
        programs: &[String],
        aggregation: ActivityAggregation,
        start: Option<Date>,
        end: Option<Date>,
        expand: &[String],
    ) -> Table {
        let (columns, date_field) = match aggregation {
            ActivityAggregation::Day => (self.day_columns(programs, expand), "corrected_post_date"),
            ActivityAggregation::Network => (schema(aggregation), "corrected_post_date"),
            ActivityAggregation::Actor => (schema(aggregation), "last_activity_date"),
        };
        let mut table = Table::new(columns, date_field);
        table.program_field = Some("program");
        table.programs = self.programs.keys().cloned().collect();
        let expanded = expanded_networks(&table.columns);
        for token in programs {
            let Some(p) = self.programs.get(token) else { continue };
            match aggregation {
                ActivityAggregation::Day => self.day_cells(token, p, start, end, &expanded, &mut table.rows),
                ActivityAggregation::Network => network_cells(token, p, start, end, &mut table.rows),
                ActivityAggregation::Actor => actor_cells(token, p, start, end, &mut table.rows),
            }
        }
        table
    }

    /// Day columns plus the expanded network columns.
    fn day_columns(&self, programs: &[String], expand: &[String]) -> Vec<Column> {
        let mut columns = schema(ActivityAggregation::Day);
        let (pin, sig) =
            (expand.iter().any(|e| e == "pin_purchases_net"), expand.iter().any(|e| e == "sig_purchases_net"));
        if !pin && !sig {
            return columns;
        }
        let mut used = [false; NETWORKS.len()];
        for p in programs.iter().filter_map(|t| self.programs.get(t)) {
            for (name, _) in &p.networks.items {
                if let Some(u) = used.get_mut(network_index(name)) {
                    *u = true;
                }
            }
        }
        let at = columns.len() - 1; // before last_modified_time
        let mut extra = Vec::new();
        for (i, n) in NETWORKS.iter().enumerate() {
            if !used.get(i).copied().unwrap_or(false) {
                continue;
            }
            if pin {
                extra.push(Column::amount(n.pin, n.pin_display).description("PIN purchases net on this network."));
            }
            if sig {
                extra
                    .push(Column::amount(n.sig, n.sig_display).description("Signature purchases net on this network."));
            }
        }
        columns.splice(at..at, extra);
        columns
    }

    fn day_cells(
        &self,
        token: &str,
        p: &ProgramActivity,
        start: Option<Date>,
        end: Option<Date>,
        expanded: &[(usize, bool)],
        out: &mut Vec<Vec<Value>>,
    ) {
        let first = p.days.first_day().map_or(p.created_day, |d| d.min(p.created_day));
        let last_event = self.last_time.map(|t| p.clock.clone().date(t)).unwrap_or(p.created_day);
        // rows stop at the last reporting day with data, whatever `end`
        // says (docs/views.md), as the program balances view's do
        let data_end = p.days.last_day().unwrap_or(first).max(last_event);
        let last = end.map_or(data_end, |e| e.min(data_end));
        let last = Date(last.0.min(first.0.saturating_add(QUERY_DAYS_MAX)));
        let from = start.map_or(first, |s| s.max(first));
        if from > last {
            return;
        }
        let mut balance: i64 = 0;
        let mut modified = p.created_time;
        for d in p.days.range(..from).map(|(_, d)| d) {
            balance = balance.saturating_add(d.net());
            modified = modified.max(d.last_modified);
        }
        // per-network nets of the window, for the expanded columns
        let mut nets: BTreeMap<(Date, usize), (i64, i64)> = BTreeMap::new();
        if !expanded.is_empty() {
            for (name, days) in &p.networks.items {
                let i = network_index(name);
                for (&d, n) in days.range(from..=last) {
                    let e = nets.entry((d, i)).or_default();
                    e.0 = e.0.saturating_add(n.pin_purchases_net);
                    e.1 = e.1.saturating_add(n.sig_purchases_net);
                }
            }
        }
        let mut stored = p.days.range(from..=last).peekable();
        for day in from.0..=last.0 {
            let day = Date(day);
            let a = match stored.peek() {
                Some((&d, &a)) if d == day => {
                    stored.next();
                    a
                }
                _ => DayActivity::default(),
            };
            modified = modified.max(a.last_modified);
            let ending = balance.saturating_add(a.net());
            let mut row = vec![
                Value::Text(token.to_string()),
                Value::Date(day),
                amount(balance),
                amount(a.gpa_loads),
                amount(a.msa_loads),
                amount(a.offer_loads),
                amount(a.refunds),
                amount(a.credit_adjustments),
                amount(a.rewards),
                amount(a.unloads),
                amount(a.pin_purchases),
                amount(a.signature_purchases),
                amount(a.atm_withdrawals),
                amount(a.fees),
                amount(a.debit_adjustments),
                amount(a.pin_purchases_net),
                amount(a.sig_purchases_net),
                amount(ending),
            ];
            for &(i, is_pin) in expanded {
                let (pin, sig) = nets.get(&(day, i)).copied().unwrap_or_default();
                row.push(amount(if is_pin { pin } else { sig }));
            }
            row.push(Value::Timestamp(modified));
            out.push(row);
            balance = ending;
        }
    }
}

/// (network index, is the PIN column) of each expanded column, in column order.
fn expanded_networks(columns: &[Column]) -> Vec<(usize, bool)> {
    columns
        .iter()
        .filter_map(|c| {
            NETWORKS.iter().enumerate().find_map(|(i, n)| {
                if c.field == n.pin {
                    Some((i, true))
                } else if c.field == n.sig {
                    Some((i, false))
                } else {
                    None
                }
            })
        })
        .collect()
}

/// Index into [`NETWORKS`]; unlisted names are `OTHER` (the last).
fn network_index(name: &str) -> usize {
    NETWORKS.iter().position(|n| n.name == name).unwrap_or(NETWORKS.len() - 1)
}

fn network_cells(token: &str, p: &ProgramActivity, start: Option<Date>, end: Option<Date>, out: &mut Vec<Vec<Value>>) {
    let (from, to) = (start.unwrap_or(Date(i32::MIN)), end.unwrap_or(Date(i32::MAX)));
    let mut rows: Vec<(Date, &str, &NetworkDay)> = Vec::new();
    for (name, days) in &p.networks.items {
        rows.extend(days.range(from..=to).map(|(&d, n)| (d, name.as_str(), n)));
    }
    rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out.extend(rows.into_iter().map(|(d, name, n)| {
        vec![
            Value::Text(token.to_string()),
            Value::Date(d),
            Value::Text(name.to_string()),
            amount(n.pin_purchases),
            amount(n.signature_purchases),
            amount(n.atm_withdrawals),
            amount(n.refunds),
            amount(n.pin_purchases_net),
            amount(n.sig_purchases_net),
            Value::Integer(n.transaction_count),
        ]
    }));
}

fn actor_cells(token: &str, p: &ProgramActivity, start: Option<Date>, end: Option<Date>, out: &mut Vec<Vec<Value>>) {
    let (from, to) = (start.unwrap_or(Date(i32::MIN)), end.unwrap_or(Date(i32::MAX)));
    let mut actors: Vec<&(String, DayMap<ActorDay>)> = p.actors.items.iter().collect();
    actors.sort_by(|a, b| a.0.cmp(&b.0));
    for (who, days) in actors {
        let mut sum = ActorDay::default();
        let mut last: Option<Date> = None;
        for (&d, a) in days.range(from..=to) {
            sum.add(a);
            last = Some(d);
        }
        let Some(last) = last else { continue };
        let modified = p.days.get(&last).map_or(Timestamp::default(), |d| d.last_modified);
        out.push(vec![
            Value::Text(token.to_string()),
            Value::Text(who.clone()),
            Value::Date(last),
            Value::Integer(sum.load_count),
            amount(sum.load_amount),
            Value::Integer(sum.pin_count),
            amount(sum.pin_amount),
            Value::Integer(sum.signature_count),
            amount(sum.signature_amount),
            Value::Timestamp(modified),
        ]);
    }
}

fn amount(cents: i64) -> Value {
    Value::Amount(Decimal::new(cents, 2))
}
