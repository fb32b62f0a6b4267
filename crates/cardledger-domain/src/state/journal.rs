//! Journal entries: how an entry moves money (classification), the checks
//! against holds and pending credits, and folding it into the state.

use super::*;

/// What deciding a journal entry adds to its command: the other fields of
/// its [`JournalEntryRecorded`]. Decided from the command where it is (each
/// move of an entry's command, ≈ 330 bytes, is a `memcpy`); the command
/// joins it once, in [`JeDecided::recorded`].
pub(crate) struct JeDecided {
    pub(crate) program_token: Token,
    pub(crate) effect: JeEffect,
    pub(crate) hold_amount: Money,
    pub(crate) jit_load: Money,
    pub(crate) jit_unload: Money,
    pub(crate) pending_credit: Money,
}

impl JeDecided {
    /// The event's body, with its command.
    #[inline]
    pub(crate) fn recorded(self, cmd: JournalEntryCmd) -> JournalEntryRecorded {
        let JeDecided { program_token, effect, hold_amount, jit_load, jit_unload, pending_credit } = self;
        JournalEntryRecorded { cmd, program_token, effect, hold_amount, jit_load, jit_unload, pending_credit }
    }
}

impl Ledger {
    /// The event a journal entry records ([`Ledger::journal_entry_decided`]).
    pub(super) fn decide_journal_entry(&self, cmd: JournalEntryCmd) -> Result<Event, Rejection> {
        let decided = self.journal_entry_decided(&cmd)?;
        Ok(Event::JournalEntryRecorded(decided.recorded(cmd)))
    }

    /// A journal entry's checks against holds, pending credits and
    /// balances, and what its event records besides the command.
    pub(super) fn journal_entry_decided(&self, c: &JournalEntryCmd) -> Result<JeDecided, Rejection> {
        // field names are rendered only if the entry is rejected
        let f = |field: &'static str| Field::Of("journal_entry", field);
        let program = match &c.target {
            JeTarget::Gpa(h) => self.holder_program(h, f(h.field()))?.clone(),
            JeTarget::Credit(a) => {
                let (acct, _) = self.credit_accounts.get(a).ok_or_else(|| {
                    Rejection::new(Code::UnknownReference, f("account_token"), format!("no credit account {a:?}"))
                })?;
                acct.program_token.clone()
            }
        };
        // whether a GPA's program funds it just in time: read only when an
        // amount exceeds what is available (otherwise nothing is funded)
        let jit_program = |target: &JeTarget, program: &str| {
            matches!(target, JeTarget::Gpa(_)) && self.programs.get(program).is_some_and(|s| s.jit)
        };
        let effect = classify(c);
        let (mut hold_amount, mut jit_load, mut jit_unload, mut pending_credit) =
            (Money::ZERO, Money::ZERO, Money::ZERO, Money::ZERO);
        let amount = c.amount;
        // the target's spendable balance (an account lookup, ≈ 270
        // instructions): read once, and only by the effects that check it
        let spendable_now = std::cell::OnceCell::new();
        let available = || *spendable_now.get_or_init(|| self.available(&c.target));
        // the related authorization, for clearings and reversals
        let related = |want_open: bool| -> Result<Option<std::borrow::Cow<'_, JeState>>, Rejection> {
            let Some(rt) = &c.related_token else { return Ok(None) };
            let je = self.journal_entry(rt).filter(|j| j.target == c.target).ok_or_else(|| {
                Rejection::new(
                    Code::NoOpenHold,
                    f("related_token"),
                    format!("no open authorization {rt:?} on this account"),
                )
            })?;
            if want_open && je.open.is_zero() {
                return reject(Code::NoOpenHold, f("related_token"), format!("authorization {rt:?} has no open hold"));
            }
            Ok(Some(je))
        };
        match effect {
            JeEffect::NoBalance | JeEffect::Payment | JeEffect::Reward | JeEffect::AdjustmentCredit => {}
            JeEffect::Hold => {
                // within the available balance a JIT program funds nothing (a
                // zero `jit_load`), so it is asked only above it
                let available = available();
                if amount > available {
                    if jit_program(&c.target, &program) {
                        jit_load = amount.minus(available.max(Money::ZERO)).max(Money::ZERO);
                    } else {
                        return reject(
                            Code::InsufficientFunds,
                            f("amount"),
                            format!("{amount} exceeds the available balance {available}"),
                        );
                    }
                }
                hold_amount = amount;
            }
            JeEffect::Clearing => {
                // one lookup of the related authorization serves both uses below
                let rel = related(false)?;
                let released = match &rel {
                    Some(je) if je.effect == JeEffect::Hold => je.open,
                    Some(_) => {
                        return reject(
                            Code::NoOpenHold,
                            f("related_token"),
                            "the related entry is not an authorization",
                        )
                    }
                    None => Money::ZERO,
                };
                hold_amount = released;
                let spendable = available().plus(released);
                if amount > spendable {
                    if jit_program(&c.target, &program) {
                        jit_load = amount.minus(spendable.max(Money::ZERO)).max(Money::ZERO);
                    } else if matches!(c.target, JeTarget::Gpa(_)) {
                        return reject(
                            Code::InsufficientFunds,
                            f("amount"),
                            format!("{amount} exceeds the available balance {spendable}"),
                        );
                    }
                } else if let Some(je) = rel {
                    // a clearing below its hold returns the unspent JIT-funded part to the program bank
                    jit_unload = je.jit_open.min(released.minus(amount).max(Money::ZERO));
                }
            }
            JeEffect::Reversal => {
                let Some(je) = related(true)? else {
                    return reject(
                        Code::MissingField,
                        f("related_token"),
                        "a reversal needs the authorization it reverses",
                    );
                };
                if je.effect != JeEffect::Hold {
                    return reject(Code::NoOpenHold, f("related_token"), "the related entry is not an authorization");
                }
                if amount > je.open {
                    return reject(
                        Code::ExceedsHold,
                        f("amount"),
                        format!("{amount} exceeds the open hold {}", je.open),
                    );
                }
                hold_amount = amount;
                // the JIT-funded part of the hold goes back first; the holder's own money stays
                jit_unload = je.jit_open.min(amount);
            }
            JeEffect::PinPurchase
            | JeEffect::AtmWithdrawal
            | JeEffect::Fee
            | JeEffect::Interest
            | JeEffect::AdjustmentDebit => {
                if let JeTarget::Gpa(_) = c.target {
                    let available = available();
                    if amount > available {
                        if matches!(effect, JeEffect::PinPurchase | JeEffect::AtmWithdrawal)
                            && jit_program(&c.target, &program)
                        {
                            jit_load = amount.minus(available.max(Money::ZERO));
                        } else {
                            return reject(
                                Code::InsufficientFunds,
                                f("amount"),
                                format!("{amount} exceeds the available balance {available}"),
                            );
                        }
                    }
                }
            }
            JeEffect::Refund => {
                if let Some(je) = related(false)? {
                    if je.effect == JeEffect::PendingRefund {
                        pending_credit = je.open.min(amount);
                    }
                }
            }
            JeEffect::PendingRefund => pending_credit = amount,
        }
        if let JeTarget::Credit(_) = c.target {
            if effect == JeEffect::Hold && amount > available() {
                return reject(
                    Code::InsufficientFunds,
                    f("amount"),
                    format!("{amount} exceeds the available credit {}", available()),
                );
            }
        }
        Ok(JeDecided { program_token: program, effect, hold_amount, jit_load, jit_unload, pending_credit })
    }

    /// Updates a remembered journal entry with `f`: one probe when it is in
    /// memory (an open authorization, the usual related entry), else
    /// brought back from the cold store first ([`Ledger::journal_entry_mut`]).
    #[inline]
    fn update_journal_entry(&mut self, token: &str, f: impl FnOnce(&mut JeState)) {
        if let Some(je) = self.journal_entries.get_mut(token) {
            return f(je);
        }
        if let Some(je) = self.journal_entry_mut(token) {
            f(je);
        }
    }

    /// Folds a journal entry into holds, pending credits and the open
    /// entries; stamps the target's last update at `time` when its hold or
    /// pending-credit entry changed (a new entry, even of zero, is a change).
    pub(super) fn apply_journal_entry(&mut self, seq: u64, time: Timestamp, e: &JournalEntryRecorded) {
        let target = &e.cmd.target;
        // the target's holds (`pending` false) or pending credits change by
        // `delta` in its account record, in place (the key is built only for
        // a new account); a change (a new entry, even of zero, counts as one)
        // stamps the account's last update in the same lookup
        let adjust = |accounts: &mut AccountMap, pending: bool, delta: Money| {
            accounts.update(target_account(target), |r| {
                let (seen, v) =
                    if pending { (&mut r.has_pending, &mut r.pending) } else { (&mut r.held, &mut r.holds) };
                let changed = !*seen || !delta.is_zero();
                *seen = true;
                *v = v.plus(delta);
                if changed {
                    r.last_updated = Some(time);
                }
            })
        };
        match e.effect {
            JeEffect::Hold => {
                adjust(&mut self.accounts, false, e.hold_amount);
                self.journal_entries.insert(
                    e.cmd.token.clone(),
                    JeState {
                        seq,
                        target: target.clone(),
                        open: e.hold_amount,
                        jit_open: e.jit_load,
                        effect: e.effect,
                    },
                );
            }
            JeEffect::Clearing | JeEffect::Reversal => {
                if let Some(rt) = &e.cmd.related_token {
                    self.update_journal_entry(rt, |je| {
                        je.open = je.open.minus(e.hold_amount);
                        je.jit_open =
                            if e.effect == JeEffect::Clearing { Money::ZERO } else { je.jit_open.minus(e.jit_unload) };
                    });
                }
                adjust(&mut self.accounts, false, -e.hold_amount);
            }
            JeEffect::PendingRefund => {
                adjust(&mut self.accounts, true, e.pending_credit);
                self.journal_entries.insert(
                    e.cmd.token.clone(),
                    JeState {
                        seq,
                        target: target.clone(),
                        open: e.pending_credit,
                        jit_open: Money::ZERO,
                        effect: e.effect,
                    },
                );
            }
            JeEffect::Refund => {
                if !e.pending_credit.is_zero() {
                    if let Some(rt) = &e.cmd.related_token {
                        self.update_journal_entry(rt, |je| je.open = je.open.minus(e.pending_credit));
                    }
                    adjust(&mut self.accounts, true, -e.pending_credit);
                }
            }
            JeEffect::NoBalance
            | JeEffect::PinPurchase
            | JeEffect::AtmWithdrawal
            | JeEffect::Payment
            | JeEffect::Interest
            | JeEffect::Fee
            | JeEffect::AdjustmentCredit
            | JeEffect::AdjustmentDebit
            | JeEffect::Reward => {}
        }
    }
}

/// Resolves how a journal entry moves money from its type, group and status
/// (product.md §3). CLEARED, DECLINED and ERROR never move a balance.
pub fn classify(c: &JournalEntryCmd) -> JeEffect {
    use JeStatus::*;
    if matches!(c.status, Cleared | Declined | Error) {
        return JeEffect::NoBalance;
    }
    let posted = c.status == Posted;
    let group = c.group.as_deref().unwrap_or("");
    let t = c.kind.as_str();
    match t {
        "authorization" if !posted => JeEffect::Hold,
        "authorization.clearing" if posted => JeEffect::Clearing,
        "authorization.reversal" => JeEffect::Reversal,
        "pindebit" if posted => JeEffect::PinPurchase,
        "pindebit.atm.withdrawal" if posted => JeEffect::AtmWithdrawal,
        "refund" if posted => JeEffect::Refund,
        "refund" => JeEffect::PendingRefund,
        "payment" if posted && matches!(c.target, JeTarget::Credit(_)) => JeEffect::Payment,
        "account.interest" if posted => JeEffect::Interest,
        _ if posted && t.starts_with("account.fee.") => JeEffect::Fee,
        _ if posted && group == "ADJUSTMENT" && (t.ends_with(".credit") || t == "adjustment.credit") => {
            JeEffect::AdjustmentCredit
        }
        _ if posted && group == "ADJUSTMENT" && (t.ends_with(".debit") || t == "adjustment.debit") => {
            JeEffect::AdjustmentDebit
        }
        _ if posted && group == "REWARD" => JeEffect::Reward,
        _ => JeEffect::NoBalance,
    }
}
