//! [`DayMap`]: values per reporting day, ordered by day, with a fast path
//! for the latest day.

use std::collections::btree_map::{self, BTreeMap};
use std::iter::Peekable;
use std::ops::{Bound, RangeBounds};

use bincode::de::{BorrowDecoder, Decoder};
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{BorrowDecode, Decode, Encode};
use cardledger_domain::time::Date;

/// A map from reporting day to value, ordered by day, built for folds that
/// mostly add to the latest day. The latest day is kept aside, so adding
/// to it costs one comparison; when a later day arrives it is pushed onto
/// a vector of earlier days that stays sorted because days arrive in order.
/// A day before the latest that is not in that vector yet (a backdated
/// event) goes into a tree, so no insertion ever shifts the vector and a
/// log of arbitrary days costs what a `BTreeMap` would.
///
/// It reads and encodes like a `BTreeMap<Date, V>`: bincode writes the
/// length then the `(day, value)` pairs in day order, so its checkpoints are
/// byte-identical to the map's and either decodes as the other.
#[derive(Clone, Debug)]
pub struct DayMap<V> {
    /// Days that arrived in order, before the latest: sorted, unique.
    run: Vec<(Date, V)>,
    /// Backdated days: before the latest and not in `run`.
    backdated: BTreeMap<Date, V>,
    /// The latest day; `None` only when the map is empty.
    last: Option<(Date, V)>,
}

impl<V> Default for DayMap<V> {
    fn default() -> Self {
        DayMap { run: Vec::new(), backdated: BTreeMap::new(), last: None }
    }
}

impl<V: PartialEq> PartialEq for DayMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<V: Eq> Eq for DayMap<V> {}

impl<V> DayMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of days stored.
    pub fn len(&self) -> usize {
        self.run.len() + self.backdated.len() + usize::from(self.last.is_some())
    }

    /// True when no day is stored.
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The value of `day`.
    pub fn get(&self, day: &Date) -> Option<&V> {
        match &self.last {
            Some((d, v)) if d == day => Some(v),
            _ => match self.run.binary_search_by_key(day, |(d, _)| *d) {
                Ok(i) => self.run.get(i).map(|(_, v)| v),
                Err(_) => self.backdated.get(day),
            },
        }
    }

    /// The first (earliest) day.
    pub fn first_day(&self) -> Option<Date> {
        let run = self.run.first().map(|(d, _)| *d);
        let back = self.backdated.keys().next().copied();
        match (run, back) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b).or(self.last_day()),
        }
    }

    /// The last (latest) day.
    pub fn last_day(&self) -> Option<Date> {
        self.last.as_ref().map(|(d, _)| *d)
    }

    /// Days and values in day order.
    pub fn iter(&self) -> Iter<'_, V> {
        self.range(..)
    }

    /// Days in order.
    pub fn keys(&self) -> impl Iterator<Item = &Date> {
        self.iter().map(|(d, _)| d)
    }

    /// Values in day order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The days in `range`, in order; none when the range starts after it
    /// ends (where `BTreeMap::range` would panic).
    pub fn range<R: RangeBounds<Date>>(&self, range: R) -> Iter<'_, V> {
        let empty = match (range.start_bound(), range.end_bound()) {
            (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => s > e,
            _ => false,
        };
        if empty {
            return Iter { run: [].iter(), backdated: btree_map::Range::default().peekable(), last: None };
        }
        let from = match range.start_bound() {
            Bound::Included(s) => self.run.partition_point(|(d, _)| d < s),
            Bound::Excluded(s) => self.run.partition_point(|(d, _)| d <= s),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(e) => self.run.partition_point(|(d, _)| d <= e),
            Bound::Excluded(e) => self.run.partition_point(|(d, _)| d < e),
            Bound::Unbounded => self.run.len(),
        };
        let last = self.last.as_ref().filter(|(d, _)| range.contains(d));
        Iter {
            run: self.run.get(from..to.max(from)).unwrap_or_default().iter(),
            backdated: self.backdated.range(range).peekable(),
            last,
        }
    }
}

impl<V: Default> DayMap<V> {
    /// The value of `day`, inserted as the default first when absent.
    #[inline]
    pub fn entry(&mut self, day: Date) -> &mut V {
        match self.last.as_ref().map(|(d, _)| *d) {
            Some(latest) if latest == day => {}
            Some(latest) if latest > day => return self.earlier_entry(day),
            _ => {
                // a new latest day: the old one joins the run, which stays sorted
                if let Some(old) = self.last.take() {
                    self.run.push(old);
                }
            }
        }
        let (_, v) = self.last.get_or_insert_with(|| (day, V::default()));
        v
    }

    /// The value of a day before the latest.
    fn earlier_entry(&mut self, day: Date) -> &mut V {
        let DayMap { run, backdated, .. } = self;
        match run.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => match run.get_mut(i) {
                Some((_, v)) => v,
                None => backdated.entry(day).or_default(),
            },
            Err(_) => backdated.entry(day).or_default(),
        }
    }
}

impl<V> FromIterator<(Date, V)> for DayMap<V> {
    fn from_iter<I: IntoIterator<Item = (Date, V)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<BTreeMap<Date, V>>())
    }
}

impl<V> From<BTreeMap<Date, V>> for DayMap<V> {
    fn from(mut map: BTreeMap<Date, V>) -> Self {
        let last = map.pop_last();
        DayMap { run: map.into_iter().collect(), backdated: BTreeMap::new(), last }
    }
}

/// Days and values of a [`DayMap`] in day order.
#[derive(Debug)]
pub struct Iter<'a, V> {
    run: std::slice::Iter<'a, (Date, V)>,
    backdated: Peekable<btree_map::Range<'a, Date, V>>,
    last: Option<&'a (Date, V)>,
}

impl<V> Clone for Iter<'_, V> {
    fn clone(&self) -> Self {
        Iter { run: self.run.clone(), backdated: self.backdated.clone(), last: self.last }
    }
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Date, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let run_day = self.run.as_slice().first().map(|(d, _)| *d);
        match (run_day, self.backdated.peek()) {
            (Some(r), Some((&b, _))) if b < r => self.backdated.next(),
            (Some(_), _) => self.run.next().map(|(d, v)| (d, v)),
            (None, Some(_)) => self.backdated.next(),
            (None, None) => self.last.take().map(|(d, v)| (d, v)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.backdated.size_hint();
        let known = self.run.len() + usize::from(self.last.is_some());
        (lo.saturating_add(known), hi.and_then(|h| h.checked_add(known)))
    }
}

impl<V: Encode> Encode for DayMap<V> {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        // `BTreeMap`'s layout: the length as a u64, then the pairs in order
        (self.len() as u64).encode(e)?;
        for (day, v) in self.iter() {
            day.encode(e)?;
            v.encode(e)?;
        }
        Ok(())
    }
}

impl<C, V: Decode<C>> Decode<C> for DayMap<V> {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        Ok(DayMap::from(BTreeMap::<Date, V>::decode(d)?))
    }
}

impl<'de, C, V: BorrowDecode<'de, C>> BorrowDecode<'de, C> for DayMap<V> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        Ok(DayMap::from(BTreeMap::<Date, V>::borrow_decode(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same<V: Clone + PartialEq + std::fmt::Debug + Encode + Decode<()>>(m: &DayMap<V>, b: &BTreeMap<Date, V>) {
        assert_eq!(m.len(), b.len());
        assert_eq!(m.is_empty(), b.is_empty());
        assert!(m.iter().eq(b.iter()));
        assert_eq!(m.first_day(), b.keys().next().copied());
        assert_eq!(m.last_day(), b.keys().next_back().copied());
        for lo in -2..12 {
            assert_eq!(m.get(&Date(lo)), b.get(&Date(lo)));
            assert!(m.range(..Date(lo)).eq(b.range(..Date(lo))));
            assert!(m.range(Date(lo)..).eq(b.range(Date(lo)..)));
            for hi in lo..12 {
                assert!(m.range(Date(lo)..=Date(hi)).eq(b.range(Date(lo)..=Date(hi))));
                assert!(m.range(Date(lo)..Date(hi)).eq(b.range(Date(lo)..Date(hi))));
                assert!(m
                    .range((Bound::Excluded(Date(lo)), Bound::Included(Date(hi))))
                    .eq(b.range((Bound::Excluded(Date(lo)), Bound::Included(Date(hi))))));
                let (n, (at_least, at_most)) =
                    (b.range(Date(lo)..=Date(hi)).count(), m.range(Date(lo)..=Date(hi)).size_hint());
                assert!(at_least <= n && at_most.unwrap_or(usize::MAX) >= n);
            }
        }
        let cfg = bincode::config::standard();
        let (mine, theirs) = (bincode::encode_to_vec(m, cfg), bincode::encode_to_vec(b, cfg));
        assert_eq!(mine.as_ref().ok(), theirs.as_ref().ok());
        let back: Option<(DayMap<V>, usize)> = theirs.ok().and_then(|t| bincode::decode_from_slice(&t, cfg).ok());
        assert_eq!(back.map(|(d, _)| d).as_ref(), Some(m));
    }

    #[test]
    fn behaves_like_a_btreemap() {
        let mut m: DayMap<i64> = DayMap::new();
        let mut b: BTreeMap<Date, i64> = BTreeMap::new();
        same(&m, &b);
        // in order, repeated days, backdated days, a new first day, gaps
        for (i, day) in [3, 3, 4, 4, 4, 2, 7, 5, 7, 0, 9, 9, 1, 10].into_iter().enumerate() {
            let add = i64::try_from(i).unwrap_or(0) + 1;
            *m.entry(Date(day)) += add;
            *b.entry(Date(day)).or_default() += add;
            same(&m, &b);
        }
        let collected: DayMap<i64> = b.iter().map(|(&d, &v)| (d, v)).collect();
        assert_eq!(collected, m);
        // ranges that start after they end are empty, not a panic
        assert_eq!(m.range(Date(5)..=Date(4)).count(), 0);
        assert_eq!(m.range(Date(5)..Date(5)).count(), 0);
        assert_eq!(m.range((Bound::Excluded(Date(5)), Bound::Excluded(Date(5)))).count(), 0);
    }

    #[test]
    fn random_days_match_a_btreemap() {
        // a small deterministic generator: mostly in order, some backdated days
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut m: DayMap<i64> = DayMap::new();
        let mut b: BTreeMap<Date, i64> = BTreeMap::new();
        let mut today = 0i32;
        for i in 0..2_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let day = match x % 10 {
                0 => today - i32::try_from(x % 97).unwrap_or(0),
                1 | 2 => {
                    today += 1;
                    today
                }
                _ => today,
            };
            *m.entry(Date(day)) += i;
            *b.entry(Date(day)).or_default() += i;
        }
        assert!(m.iter().eq(b.iter()));
        for lo in (-100..today).step_by(7) {
            assert!(m.range(Date(lo)..=Date(lo + 30)).eq(b.range(Date(lo)..=Date(lo + 30))));
            assert_eq!(m.get(&Date(lo)), b.get(&Date(lo)));
        }
        let cfg = bincode::config::standard();
        assert_eq!(bincode::encode_to_vec(&m, cfg).ok(), bincode::encode_to_vec(&b, cfg).ok());
    }
}
