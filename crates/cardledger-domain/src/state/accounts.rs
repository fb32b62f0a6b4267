//! The account records: one hash table keyed by `Account`, searched with a
//! borrowed `AccountRef` (nothing allocated), hashed once per lookup with
//! the table's random key and compared inline (no `dyn` key, no
//! `Borrow` indirection): a posting line costs one probe.

use std::fmt;

use hashbrown::hash_table::Entry;

use crate::event::{Account, AccountRef};

use super::AccountRecord;

/// Every account's record (`Ledger::accounts`). An `Account` and its
/// `AccountRef` hash the same (`Account`'s `Hash` is its `AccountRef`'s), so
/// the table hashes only `AccountRef`s. Equality is as maps: the same
/// accounts with the same records, in any order.
#[derive(Clone, Default)]
pub struct AccountMap {
    table: hashbrown::HashTable<(Account, AccountRecord)>,
    hasher: ahash::RandomState,
}

impl AccountMap {
    /// An empty map with room for `n` accounts.
    pub fn with_capacity(n: usize) -> AccountMap {
        AccountMap { table: hashbrown::HashTable::with_capacity(n), hasher: ahash::RandomState::new() }
    }

    /// How many accounts have a record.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No account has a record.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    #[inline]
    fn hash(&self, a: AccountRef<'_>) -> u64 {
        self.hasher.hash_one(a)
    }

    /// A borrowed account's record, if it has one.
    #[inline]
    pub fn get(&self, a: AccountRef<'_>) -> Option<&AccountRecord> {
        self.table.find(self.hash(a), |(k, _)| k.as_ref() == a).map(|(_, r)| r)
    }

    /// Updates `a`'s record with `f`, inserting an empty one first when the
    /// map has none: an account seen before is updated in place (one probe),
    /// only a new one is built (allocated) as a key.
    #[inline]
    pub fn update(&mut self, a: AccountRef<'_>, f: impl FnOnce(&mut AccountRecord)) {
        let hash = self.hash(a);
        if let Some((_, r)) = self.table.find_mut(hash, |(k, _)| k.as_ref() == a) {
            return f(r);
        }
        self.insert_new(hash, a.to_account(), f);
    }

    /// Adds `account` (known absent, hashing to `hash`) with an empty record
    /// updated by `f`: out of line, once per account.
    #[cold]
    fn insert_new(&mut self, hash: u64, account: Account, f: impl FnOnce(&mut AccountRecord)) {
        let hasher = &self.hasher;
        let mut record = AccountRecord::default();
        f(&mut record);
        self.table.insert_unique(hash, (account, record), |(k, _)| hasher.hash_one(k.as_ref()));
    }

    /// `account`'s record, an empty one inserted first if it has none.
    pub fn record_mut(&mut self, account: Account) -> &mut AccountRecord {
        let hash = self.hash(account.as_ref());
        let hasher = &self.hasher;
        let entry = self.table.entry(hash, |(k, _)| *k == account, |(k, _)| hasher.hash_one(k.as_ref()));
        &mut entry.or_insert_with(|| (account, AccountRecord::default())).into_mut().1
    }

    /// Sets `account`'s record, returning the one it replaces.
    pub fn insert(&mut self, account: Account, record: AccountRecord) -> Option<AccountRecord> {
        let hash = self.hash(account.as_ref());
        let hasher = &self.hasher;
        match self.table.entry(hash, |(k, _)| *k == account, |(k, _)| hasher.hash_one(k.as_ref())) {
            Entry::Occupied(mut e) => Some(std::mem::replace(&mut e.get_mut().1, record)),
            Entry::Vacant(e) => {
                e.insert((account, record));
                None
            }
        }
    }

    /// Every account with its record (in no order).
    pub fn iter(&self) -> impl Iterator<Item = (&Account, &AccountRecord)> + '_ {
        self.table.iter().map(|(a, r)| (a, r))
    }

    /// Every record (in no order).
    pub fn values(&self) -> impl Iterator<Item = &AccountRecord> + '_ {
        self.table.iter().map(|(_, r)| r)
    }
}

impl PartialEq for AccountMap {
    fn eq(&self, other: &AccountMap) -> bool {
        self.len() == other.len() && self.iter().all(|(a, r)| other.get(a.as_ref()) == Some(r))
    }
}

impl Eq for AccountMap {}

impl fmt::Debug for AccountMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(Account, AccountRecord)> for AccountMap {
    fn from_iter<I: IntoIterator<Item = (Account, AccountRecord)>>(iter: I) -> AccountMap {
        let mut map = AccountMap::default();
        for (a, r) in iter {
            map.insert(a, r);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Holder;
    use crate::money::Money;

    fn accounts(holders: &[Holder]) -> Vec<Account> {
        let mut all = vec![
            Account::ProgramBank("p".into()),
            Account::ProgramEquity("p".into()),
            Account::ProgramFees("p".into()),
            Account::ProgramRewards("p".into()),
            Account::ProgramIncome("p".into()),
            Account::CreditPayments("p".into()),
            Account::FundingSource("p".into()),
            Account::Credit("p".into()),
            Account::Network("p".into()),
        ];
        for h in holders {
            all.push(Account::Gpa(h.clone()));
            all.push(Account::Msa(h.clone(), "c".into()));
            all.push(Account::MsaCredit(h.clone(), "c".into()));
            all.push(Account::Msa(h.clone(), "d".into()));
        }
        all
    }

    #[test]
    fn each_account_has_its_own_record_found_by_its_borrowed_form() {
        // the same token under every variant, users and businesses of the
        // same token, enough accounts for the table to grow several times
        let mut holders = vec![Holder::User("p".into()), Holder::Business("p".into())];
        holders.extend((0..200).map(|i| Holder::User(format!("u{i}").into())));
        let all = accounts(&holders);
        let mut map = AccountMap::default();
        for (i, a) in all.iter().enumerate() {
            assert!(map.get(a.as_ref()).is_none(), "{a:?} found before it was added");
            map.update(a.as_ref(), |r| r.balance = Money::from_cents(i as i64 + 1));
        }
        assert_eq!(map.len(), all.len());
        for (i, a) in all.iter().enumerate() {
            // a second update changes the record in place
            map.update(a.as_ref(), |r| r.balance = r.balance.plus(Money::from_cents(1)));
            assert_eq!(map.get(a.as_ref()).map(|r| r.balance), Some(Money::from_cents(i as i64 + 2)), "{a:?}");
        }
        assert_eq!(map.len(), all.len());
        assert_eq!(map.iter().count(), all.len());
        assert_eq!(
            map.values().map(|r| r.balance).sum::<Money>(),
            (0..all.len() as i64).map(|i| Money::from_cents(i + 2)).sum()
        );
    }

    #[test]
    fn an_account_hashes_as_its_borrowed_form_and_variants_hash_apart() {
        use std::hash::BuildHasher;
        let fixed = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let all = accounts(&[Holder::User("p".into()), Holder::Business("p".into())]);
        let mut hashes: Vec<u64> = all.iter().map(|a| fixed.hash_one(a)).collect();
        for (a, h) in all.iter().zip(&hashes) {
            assert_eq!(fixed.hash_one(a.as_ref()), *h, "{a:?}");
        }
        // the same token under every variant and holder kind: all apart
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), all.len());
        // an MSA's two strings split differently hash apart
        let split = |h: &str, c: &str| fixed.hash_one(AccountRef::Msa(&Holder::User(h.into()), c));
        assert_ne!(split("ab", "c"), split("a", "bc"));
    }

    #[test]
    fn insert_and_record_mut_replace_or_add_and_maps_compare_as_sets() {
        let all = accounts(&[Holder::User("u".into())]);
        let rec = |c: i64| AccountRecord { balance: Money::from_cents(c), posted: true, ..AccountRecord::default() };
        let forward: AccountMap = all.iter().cloned().enumerate().map(|(i, a)| (a, rec(i as i64))).collect();
        let backward: AccountMap = all.iter().cloned().enumerate().rev().map(|(i, a)| (a, rec(i as i64))).collect();
        assert_eq!(forward, backward);
        let mut changed = forward.clone();
        let first = all.first().cloned().unwrap_or(Account::Network("x".into()));
        assert_eq!(changed.insert(first.clone(), rec(-1)), Some(rec(0)));
        assert_ne!(changed, forward);
        assert_eq!(changed.len(), forward.len());
        changed.record_mut(first.clone()).balance = Money::from_cents(0);
        assert_eq!(changed, forward);
        let new = Account::Network("new".into());
        assert_eq!(changed.record_mut(new.clone()), &mut AccountRecord::default());
        assert_eq!(changed.len(), forward.len() + 1);
        assert_ne!(changed, forward);
        assert_eq!(changed.insert(new, rec(5)), Some(AccountRecord::default()));
    }
}
