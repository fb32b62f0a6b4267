//! The multi-program router: one host owning several programs of a
//! JetStream cluster (`--log nats://… --programs P1,P2`). Each owned program
//! is a shard — its own engine on its own stream `cardledger-<P>`, local
//! state in `DATA/programs/<P>`, its own projections (a whole single-program
//! [`Cardledger`]) — and the facade routes every call (`docs/scale-out.md`,
//! "One host, several programs").
//!
//! Routing a command (one home: [`Router::route_all`]):
//! 1. a command naming a program by token that the host does not own goes
//!    to the first shard, whose engine rejects it 1220, unwritten (every
//!    shard's engine serves the host's programs: `Engine::serve_only`, the
//!    one home of the check);
//! 2. `tick`, `fee`, `campaign`, `merchant`, `offer` (no program: shared
//!    set-up and time) go to every shard;
//! 3. a command whose own token a shard already recorded goes to that shard
//!    (so a repeat answers as a duplicate or a conflict, as one engine does:
//!    tokens stay unique across the host's programs);
//! 4. a command naming a program goes to that program's shard;
//! 5. any other goes to the shard that recorded the entity it names (a
//!    holder, a funding source, an order, a credit account, an MSA order),
//!    looked up in each shard's state (`Ledger::recorded_token`, cold
//!    entries included: nothing to rebuild on open) and among the commands
//!    routed before it in the same call; an entity no shard knows goes to the
//!    first shard, which rejects it as one engine does (1201 …).

use std::collections::HashMap;

use serde_json::Value;

use cardledger_core::engine::{EngineError, Outcome};
use cardledger_domain::command::{Command, CommandLine, Holder, JeTarget};
use cardledger_domain::state::Ledger;

use crate::{Cardledger, Error};

/// One owned program.
pub(crate) struct Shard {
    pub(crate) program: String,
    pub(crate) ledger: Cardledger,
}

/// The shards of a host, in program-token order.
pub(crate) struct Router {
    pub(crate) shards: Vec<Shard>,
}

/// Where one command goes.
#[derive(Clone, Debug, PartialEq)]
enum Route {
    /// The shard at this index.
    One(usize),
    /// Every shard; the answer is the first shard's.
    All,
}

/// The idempotency kind of a command's own token (`None`: the command
/// registers no token).
fn own_kind(c: &Command) -> Option<&'static str> {
    match c {
        Command::MsaOrderUpdate(_) | Command::Tick(_) => None,
        Command::Merchant(_) => Some("campaign"),
        other => Some(other.key()),
    }
}

fn holder_key(h: &Holder) -> (&'static str, &str) {
    match h {
        Holder::User(t) => ("user", t),
        Holder::Business(t) => ("business", t),
    }
}

/// The entity a command names when it names no program: (kind, token).
fn referenced(c: &Command) -> Option<(&'static str, &str)> {
    Some(match c {
        Command::FundingSource(f) => holder_key(f.holder.as_ref()?),
        Command::FundingSourceAddress(a) => ("funding_source", &a.funding_source_token),
        Command::GpaOrder(o) => holder_key(&o.holder),
        Command::MsaOrder(o) => holder_key(&o.holder),
        Command::OfferOrder(o) => holder_key(&o.holder),
        Command::FeeTransfer(f) => holder_key(&f.holder),
        Command::GpaUnload(u) => ("gpa_order", &u.original_order_token),
        Command::MsaUnload(u) => ("msa_order", &u.original_order_token),
        Command::MsaOrderUpdate(u) => ("msa_order", &u.token),
        Command::JournalEntry(j) => match &j.target {
            JeTarget::Gpa(h) => holder_key(h),
            JeTarget::Credit(account) => ("credit_account", account),
        },
        Command::Program(_)
        | Command::User(_)
        | Command::Business(_)
        | Command::CreditAccount(_)
        | Command::ProgramDeposit(_)
        | Command::Fee(_)
        | Command::Campaign(_)
        | Command::Merchant(_)
        | Command::Offer(_)
        | Command::Tick(_) => return None,
    })
}

/// Set-up and time shared by every program: recorded in every shard.
fn broadcast(c: &Command) -> bool {
    matches!(c, Command::Tick(_) | Command::Fee(_) | Command::Campaign(_) | Command::Merchant(_) | Command::Offer(_))
}

impl Router {
    /// The owned program tokens, in order.
    pub(crate) fn programs(&self) -> Vec<String> {
        self.shards.iter().map(|s| s.program.clone()).collect()
    }

    fn shard_of_program(&self, program: &str) -> Option<usize> {
        self.shards.iter().position(|s| s.program == program)
    }

    /// Routes the commands of one call, in order (see the module docs).
    fn route_all(&self, lines: &[CommandLine]) -> Vec<Route> {
        let states: Vec<_> = self.shards.iter().map(|s| s.ledger.engine().state()).collect();
        let mut seen: HashMap<(&'static str, String), usize> = HashMap::new();
        let find = |seen: &HashMap<(&'static str, String), usize>,
                    states: &[std::sync::RwLockReadGuard<'_, Ledger>],
                    kind: &'static str,
                    token: &str| {
            seen.get(&(kind, token.to_string()))
                .copied()
                .or_else(|| states.iter().position(|s| s.recorded_token(kind, token).is_some()))
        };
        let mut routes = Vec::with_capacity(lines.len());
        for line in lines {
            let c = &line.command;
            if c.program_token().is_some_and(|p| self.shard_of_program(p).is_none()) {
                // not owned: the first shard's engine answers 1220
                routes.push(Route::One(0));
                continue;
            }
            if broadcast(c) {
                routes.push(Route::All);
                continue;
            }
            let own = own_kind(c).and_then(|k| c.token().map(|t| (k, t)));
            let known = own.and_then(|(k, t)| find(&seen, &states, k, t));
            let shard = known
                .or_else(|| c.program_token().and_then(|p| self.shard_of_program(p)))
                .or_else(|| referenced(c).and_then(|(k, t)| find(&seen, &states, k, t)))
                .unwrap_or(0);
            if let Some((k, t)) = own {
                seen.entry((k, t.to_string())).or_insert(shard);
            }
            routes.push(Route::One(shard));
        }
        routes
    }

    /// Submits one call's commands: each shard's part as one group (in
    /// batches of `BATCH_RECORDS_MAX`), the shards in parallel; one outcome
    /// per command, in input order, once every shard's part is durable.
    pub(crate) fn submit_batch(&self, lines: Vec<CommandLine>) -> Result<Vec<Outcome>, EngineError> {
        let routes = self.route_all(&lines);
        let mut parts: Vec<Vec<CommandLine>> = vec![Vec::new(); self.shards.len()];
        for (line, route) in lines.into_iter().zip(&routes) {
            match route {
                Route::One(i) => {
                    if let Some(p) = parts.get_mut(*i) {
                        p.push(line);
                    }
                }
                Route::All => {
                    for p in parts.iter_mut() {
                        p.push(line.clone());
                    }
                }
            }
        }
        let submit = |shard: &Shard, part: Vec<CommandLine>| shard.ledger.engine().submit_in_batches(part);
        let busy = parts.iter().filter(|p| !p.is_empty()).count();
        let answered: Vec<Result<Vec<Outcome>, EngineError>> = if busy <= 1 {
            // one shard to write (a single command): no thread
            self.shards.iter().zip(parts).map(|(shard, part)| submit(shard, part)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    self.shards.iter().zip(parts).map(|(shard, part)| s.spawn(move || submit(shard, part))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| unreachable!("a shard's submit thread panicked")))
                    .collect()
            })
        };
        let mut per_shard = Vec::with_capacity(answered.len());
        for a in answered {
            per_shard.push(a?.into_iter());
        }
        let mut outcomes = Vec::with_capacity(routes.len());
        for route in routes {
            let outcome = match route {
                Route::One(i) => next_outcome(&mut per_shard, i),
                Route::All => {
                    let first = next_outcome(&mut per_shard, 0);
                    for i in 1..per_shard.len() {
                        next_outcome(&mut per_shard, i);
                    }
                    first
                }
            };
            outcomes.push(outcome);
        }
        for (i, rest) in per_shard.iter_mut().enumerate() {
            assert!(rest.next().is_none(), "shard {i} answered more commands than it was given");
        }
        Ok(outcomes)
    }

    /// The first shard answering `Some`.
    pub(crate) fn first<T>(&self, mut f: impl FnMut(&Cardledger) -> Option<T>) -> Option<T> {
        self.shards.iter().find_map(|s| f(&s.ledger))
    }

    /// The shard whose state holds the credit account (the first when none).
    pub(crate) fn shard_of_account(&self, account: &str) -> &Cardledger {
        let i = self
            .shards
            .iter()
            .position(|s| s.ledger.engine().state().credit_accounts.contains_key(account))
            .unwrap_or(0);
        self.shard(i)
    }

    /// The shard of an owned program (the first when not owned).
    pub(crate) fn shard_of(&self, program: &str) -> &Cardledger {
        self.shard(self.shard_of_program(program).unwrap_or(0))
    }

    fn shard(&self, i: usize) -> &Cardledger {
        match self.shards.get(i).or_else(|| self.shards.first()) {
            Some(s) => &s.ledger,
            None => unreachable!("a router has at least one shard"),
        }
    }

    /// `list` over every shard (see `docs/scale-out.md`): each shard's list
    /// in the asked order (its log order, or the reverse), merged by the
    /// items' creation (or last change) time — each shard's order kept, an
    /// instant shared by two programs taking the first program's items first
    /// (ascending; the reverse descending) — then paged. Only the first
    /// `start_index + count` items of each shard are read. The set-up kinds
    /// every shard records (fees, campaigns, merchants, offers) come from
    /// the first shard.
    pub(crate) fn list(&self, kind: &str, params: &[(String, String)]) -> Result<Value, Error> {
        const SHARED: [&str; 4] = ["fees", "campaigns", "merchants", "offers"];
        if SHARED.contains(&kind) {
            return self.shard(0).list(kind, params);
        }
        // the first shard checks every parameter as one engine does
        self.shard(0).list(kind, params)?;
        let mut count = cardledger_core::reads::LIST_COUNT_DEFAULT;
        let mut start = 0usize;
        let mut fields: Option<Vec<String>> = None;
        let mut by_modified = true;
        let mut descending = true;
        let mut rest: Vec<(String, String)> = Vec::new();
        for (k, v) in params {
            match k.as_str() {
                "count" => count = v.parse().unwrap_or(count),
                "start_index" => start = v.parse().unwrap_or(start),
                "fields" => {
                    fields = Some(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                }
                "sort_by" => (by_modified, descending) = (v.contains("lastModified"), v.starts_with('-')),
                _ => rest.push((k.clone(), v.clone())),
            }
        }
        let want = start.saturating_add(count);
        let page = cardledger_core::reads::LIST_COUNT_MAX;
        let sort = match (by_modified, descending) {
            (true, true) => "-lastModifiedTime",
            (true, false) => "lastModifiedTime",
            (false, true) => "-createdTime",
            (false, false) => "createdTime",
        };
        let time_of = |item: &Value| -> String {
            let keys: &[&str] = if by_modified { &["last_modified_time", "created_time"] } else { &["created_time"] };
            keys.iter().find_map(|k| item.get(*k).and_then(Value::as_str)).unwrap_or_default().to_string()
        };
        // per shard: its first `want` items (time, item) and whether it has more
        let mut heads: Vec<(std::collections::VecDeque<(String, Value)>, bool)> = Vec::new();
        for shard in &self.shards {
            let mut items = std::collections::VecDeque::new();
            let mut more = true;
            while more && items.len() < want {
                let mut q = rest.clone();
                q.push(("sort_by".into(), sort.into()));
                q.push(("count".into(), page.min(want - items.len()).max(1).to_string()));
                q.push(("start_index".into(), items.len().to_string()));
                let answer = shard.ledger.list(kind, &q)?;
                let data = answer.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
                more = answer.get("is_more") == Some(&Value::Bool(true)) && !data.is_empty();
                items.extend(data.into_iter().map(|item| (time_of(&item), item)));
            }
            heads.push((items, more));
        }
        let mut merged = Vec::with_capacity(want);
        while merged.len() < want {
            let mut pick: Option<(usize, &str)> = None;
            for (i, (items, _)) in heads.iter().enumerate() {
                let Some((t, _)) = items.front() else { continue };
                let better = match pick {
                    None => true,
                    Some((_, best)) if descending => t.as_str() >= best,
                    Some((_, best)) => t.as_str() < best,
                };
                if better {
                    pick = Some((i, t.as_str()));
                }
            }
            let Some((i, _)) = pick else { break };
            if let Some((_, item)) = heads.get_mut(i).and_then(|(items, _)| items.pop_front()) {
                merged.push(item);
            }
        }
        let is_more = heads.iter().any(|(items, more)| *more || !items.is_empty());
        let mut data = Vec::new();
        for mut item in merged.into_iter().skip(start) {
            if let (Some(f), Value::Object(obj)) = (&fields, &mut item) {
                obj.retain(|k, _| f.contains(k));
            }
            data.push(item);
        }
        let n = data.len();
        Ok(serde_json::json!({
            "count": n,
            "start_index": start,
            "end_index": if n == 0 { start } else { start + n - 1 },
            "is_more": is_more,
            "data": data,
        }))
    }
}

/// The next outcome of shard `i`'s answers.
fn next_outcome(per_shard: &mut [std::vec::IntoIter<Outcome>], i: usize) -> Outcome {
    match per_shard.get_mut(i).and_then(Iterator::next) {
        Some(o) => o,
        None => unreachable!("shard {i} answered fewer commands than it was given"),
    }
}

/// Adds up two JSON trees of counts (objects by key, numbers summed).
pub(crate) fn sum_counts(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                match x.get_mut(k) {
                    Some(slot) => sum_counts(slot, v),
                    None => {
                        x.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (a @ Value::Number(_), Value::Number(y)) => {
            let sum = a.as_u64().unwrap_or(0).saturating_add(y.as_u64().unwrap_or(0));
            *a = Value::from(sum);
        }
        _ => {}
    }
}

impl Router {
    /// A view's table over every shard: each shard's table (its program's
    /// stream folded), rows concatenated in program order, the known
    /// programs united, the last event time the latest; with the position
    /// the answer reflects: the sum of the shards' seqs and a digest of each
    /// stream's head (`blake3` over `program:seq:hash;…`).
    pub(crate) fn table(
        &self,
        kind: crate::ViewKind,
        params: &cardledger_query::Params,
    ) -> Result<(cardledger_query::Table, Option<cardledger_domain::time::Timestamp>, crate::At), Error> {
        let mut merged: Option<cardledger_query::Table> = None;
        let mut last = None;
        let mut seq = 0u64;
        let mut digest = blake3::Hasher::new();
        for s in &self.shards {
            let (table, shard_last, shard_seq) = s.ledger.projections().table(s.ledger.engine(), kind, params, None)?;
            let at = s.ledger.at(shard_seq)?;
            digest.update(format!("{}:{}:{};", s.program, at.seq, at.hash).as_bytes());
            seq = seq.saturating_add(at.seq);
            last = last.max(shard_last);
            match &mut merged {
                None => merged = Some(table),
                Some(m) => merge_table(m, table),
            }
        }
        let Some(table) = merged else { unreachable!("a router has at least one shard") };
        Ok((table, last, crate::At { seq, hash: digest.finalize().to_hex().to_string() }))
    }
}

impl Router {
    /// `verify` on every shard (see [`crate::Cardledger::verify`]).
    pub(crate) fn verify(&self) -> Result<crate::Verification, Error> {
        let mut report = crate::VerifyReport {
            records: 0,
            head_hash: String::new(),
            payload_bytes: 0,
            state_digest: String::new(),
            snapshots: 0,
        };
        let mut heads = blake3::Hasher::new();
        let mut states = blake3::Hasher::new();
        let mut statements = true;
        let mut projections: Vec<(&'static str, bool)> = Vec::new();
        for s in &self.shards {
            let v = s.ledger.verify()?;
            report.records = report.records.saturating_add(v.report.records);
            report.payload_bytes = report.payload_bytes.saturating_add(v.report.payload_bytes);
            report.snapshots = report.snapshots.saturating_add(v.report.snapshots);
            heads.update(format!("{}:{};", s.program, v.report.head_hash).as_bytes());
            states.update(format!("{}:{};", s.program, v.report.state_digest).as_bytes());
            statements &= v.statements;
            for (name, ok) in v.projections {
                match projections.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 &= ok,
                    None => projections.push((name, ok)),
                }
            }
        }
        report.head_hash = heads.finalize().to_hex().to_string();
        report.state_digest = states.finalize().to_hex().to_string();
        Ok(crate::Verification { report, statements, projections })
    }
}

/// Appends `other`'s rows (and known programs) to `merged`. The tables of
/// one view have the same columns, except the activity view's `expand`
/// columns (one per network the requested programs used, in `NETWORKS`
/// order before `last_modified_time`): then the columns become the union in
/// that order, and a program's row reads 0 in a network's column it never
/// used — what one engine's table holds for it.
fn merge_table(merged: &mut cardledger_query::Table, other: cardledger_query::Table) {
    use cardledger_query::Value as Cell;
    merged.programs.extend(other.programs);
    let same = merged.columns.len() == other.columns.len()
        && merged.columns.iter().zip(&other.columns).all(|(a, b)| a.field == b.field);
    if same {
        merged.rows.extend(other.rows);
        return;
    }
    // the rank of an expanded column: its network's place, PIN before signature
    let expanded = |field: &str| {
        cardledger_activity_balances::NETWORKS
            .iter()
            .enumerate()
            .find_map(|(i, n)| (field == n.pin).then_some(2 * i).or((field == n.sig).then_some(2 * i + 1)))
    };
    let mut columns = merged.columns.clone();
    for c in &other.columns {
        if !columns.iter().any(|m| m.field == c.field) {
            assert!(expanded(c.field).is_some(), "tables of one view differ in column {:?}", c.field);
            columns.push(*c);
        }
    }
    // base columns keep their place; the expanded ones go, in network
    // order, where the first table's were (before the last column)
    let (mut base, mut extra): (Vec<_>, Vec<_>) = columns.into_iter().partition(|c| expanded(c.field).is_none());
    extra.sort_by_key(|c| expanded(c.field));
    let at = base.len().saturating_sub(1);
    base.splice(at..at, extra);
    let remap = |from: &[cardledger_query::Column], rows: Vec<Vec<Cell>>, to: &[cardledger_query::Column]| {
        let index: Vec<Option<usize>> = to.iter().map(|c| from.iter().position(|f| f.field == c.field)).collect();
        rows.into_iter()
            .map(|row| {
                index
                    .iter()
                    .map(|i| match i {
                        Some(i) => row.get(*i).cloned().unwrap_or(Cell::Null),
                        None => Cell::Amount(rust_decimal::Decimal::new(0, 2)),
                    })
                    .collect()
            })
            .collect::<Vec<_>>()
    };
    let rows = std::mem::take(&mut merged.rows);
    let mut rows = remap(&merged.columns, rows, &base);
    rows.extend(remap(&other.columns, other.rows, &base));
    merged.rows = rows;
    merged.columns = base;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use cardledger_query::{Column, ColumnType, Table, Value as Cell};
    use rust_decimal::Decimal;

    fn table(program: &str, nets: &[&'static str]) -> Table {
        let mut columns = vec![Column::new("program", ColumnType::Varchar(200), "Program")];
        columns.extend(nets.iter().map(|n| Column::amount(n, "net")));
        columns.push(Column::new("last_modified_time", ColumnType::Timestamp, "Last Modified"));
        let mut t = Table::new(columns, "last_modified_time");
        let mut row = vec![Cell::Text(program.into())];
        row.extend(nets.iter().map(|_| Cell::Amount(Decimal::new(100, 2))));
        row.push(Cell::Null);
        t.rows.push(row);
        t.programs.insert(program.into());
        t
    }

    #[test]
    fn expanded_columns_are_united_in_network_order() {
        // shard a used Mastercard, shard b Visa and Pulse; Visa comes first
        let mut merged = table("a", &["mastercard_pin_net"]);
        super::merge_table(&mut merged, table("b", &["visa_pin_net", "pulse_pin_net"]));
        let fields: Vec<&str> = merged.columns.iter().map(|c| c.field).collect();
        let order: Vec<&str> = cardledger_activity_balances::NETWORKS
            .iter()
            .map(|n| n.pin)
            .filter(|f| ["mastercard_pin_net", "visa_pin_net", "pulse_pin_net"].contains(f))
            .collect();
        let mut want = vec!["program"];
        want.extend(order);
        want.push("last_modified_time");
        assert_eq!(fields, want);
        assert_eq!(merged.rows.len(), 2);
        let at = |field: &str| fields.iter().position(|f| *f == field).unwrap();
        let zero = Cell::Amount(Decimal::new(0, 2));
        let hundred = Cell::Amount(Decimal::new(100, 2));
        assert_eq!(merged.rows[0][at("mastercard_pin_net")], hundred);
        assert_eq!(merged.rows[0][at("visa_pin_net")], zero);
        assert_eq!(merged.rows[1][at("visa_pin_net")], hundred);
        assert_eq!(merged.rows[1][at("mastercard_pin_net")], zero);
        assert_eq!(merged.rows[1][0], Cell::Text("b".into()));
        assert_eq!(merged.programs.len(), 2);
    }

    #[test]
    fn same_columns_append_rows() {
        let mut merged = table("a", &["visa_pin_net"]);
        super::merge_table(&mut merged, table("b", &["visa_pin_net"]));
        assert_eq!(merged.columns.len(), 3);
        assert_eq!(merged.rows[1][0], Cell::Text("b".into()));
    }
}
