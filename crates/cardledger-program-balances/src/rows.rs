//! Deriving rows: chaining balances across days at query time.

use cardledger_calendar::month_start;
use cardledger_domain::time::{Date, Timestamp};

use crate::fold::{DayFlows, ProgramBalances, ProgramInfo};

pub use cardledger_domain::limits::QUERY_DAYS_MAX;

/// One row of the view: a day, or a month (flows summed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRow<'a> {
    /// Program token.
    pub program: &'a str,
    /// Bank name.
    pub bank: &'a str,
    /// The reporting day (for a month row, the month's first day).
    pub corrected_post_date: Date,
    /// Flows of the day (or the month), in cents.
    pub flows: DayFlows,
    /// Bank balance at the start, in cents.
    pub beginning_cents: i64,
    /// Bank balance at the end: beginning + amount_to_send + deposit.
    pub ending_cents: i64,
    /// Latest business time of any event this row's values depend on (this
    /// day's flows or any earlier day's, through the beginning balance).
    pub last_modified: Timestamp,
}

impl ProgramBalances {
    /// Daily rows of `program` from `start` to `end` (inclusive, oldest
    /// first). Every day from the program's first day (its creation day, or
    /// an earlier day a backdated event was reported on) has a row, quiet
    /// days included. Without `end` the rows run to the later of the last
    /// day with a flow and the reporting day of the last event in the log.
    pub fn day_rows<'a>(&'a self, program: &str, start: Option<Date>, end: Option<Date>) -> Vec<BalanceRow<'a>> {
        let Some((program, p)) = self.programs().get_key_value(program) else { return Vec::new() };
        let first = first_day(p);
        // rows stop at the last reporting day with data (the last event's
        // day, or a later corrected post date), whatever `end` says: a day
        // after it would only repeat the last balance (docs/views.md)
        let data_end = self.default_end(p);
        let last = end.map_or(data_end, |e| e.min(data_end));
        let last = Date(last.0.min(first.0.saturating_add(QUERY_DAYS_MAX)));
        let from = start.map_or(first, |s| s.max(first));
        if from > last {
            return Vec::new();
        }
        // balance and modification time carried into `from`
        let mut balance = p.opening_cents;
        let mut modified = p.created_time;
        for f in p.days.range(..from).map(|(_, f)| f) {
            balance = balance.saturating_add(f.net());
            modified = modified.max(f.last_modified);
        }
        let mut rows = Vec::with_capacity(usize::try_from(last.0 - from.0 + 1).unwrap_or(0));
        let mut stored = p.days.range(from..=last).peekable();
        for day in from.0..=last.0 {
            let day = Date(day);
            let flows = match stored.peek() {
                Some((&d, &f)) if d == day => {
                    stored.next();
                    f
                }
                _ => DayFlows::default(),
            };
            modified = modified.max(flows.last_modified);
            let ending = balance.saturating_add(flows.net());
            rows.push(BalanceRow {
                program,
                bank: &p.bank,
                corrected_post_date: day,
                flows: DayFlows { last_modified: modified, ..flows },
                beginning_cents: balance,
                ending_cents: ending,
                last_modified: modified,
            });
            balance = ending;
        }
        rows
    }

    /// Monthly rows: the days of the window grouped by calendar month; flows
    /// summed, beginning of the month's first day in the window, ending of its
    /// last. Keyed by the month's first day.
    pub fn month_rows<'a>(&'a self, program: &str, start: Option<Date>, end: Option<Date>) -> Vec<BalanceRow<'a>> {
        let mut months: Vec<BalanceRow<'a>> = Vec::new();
        for day in self.day_rows(program, start, end) {
            let key = month_start(day.corrected_post_date);
            match months.last_mut() {
                Some(m) if m.corrected_post_date == key => {
                    m.flows.add(&day.flows);
                    m.ending_cents = day.ending_cents;
                    m.last_modified = m.last_modified.max(day.last_modified);
                }
                _ => months.push(BalanceRow { corrected_post_date: key, ..day }),
            }
        }
        months
    }

    /// The reporting day of the last event in the log, or of the last flow.
    fn default_end(&self, p: &ProgramInfo) -> Date {
        let last_flow = p.days.last_day().unwrap_or(p.created_day);
        let now = self.last_time().map(|t| p.clock.clone().date(t)).unwrap_or(p.created_day);
        last_flow.max(now).max(p.created_day)
    }
}

/// The program's first day: its creation day or an earlier reported day.
fn first_day(p: &ProgramInfo) -> Date {
    p.days.first_day().map_or(p.created_day, |d| d.min(p.created_day))
}
