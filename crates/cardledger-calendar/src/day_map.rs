//! [`DayMap`]: values per reporting day, ordered by day, with a fast path
//! for the latest day.

use std::collections::btree_map::{self, BTreeMap};
use std::ops::RangeBounds;

use bincode::de::{BorrowDecoder, Decoder};
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{BorrowDecode, Decode, Encode};
use cardledger_domain::time::Date;

/// A map from reporting day to value, ordered by day, built for folds that
/// mostly add to the latest day: that day lives outside the tree, so a
/// stream of events in time order touches it with one comparison instead
/// of a tree search, and the tree is written once per day change. An
/// earlier day (a backdated event) costs one tree lookup, as a `BTreeMap`
/// would.
///
/// It behaves, reads and encodes exactly like a `BTreeMap<Date, V>`: bincode
/// writes the length then the `(day, value)` pairs in day order, so its
/// checkpoints are byte-identical to the map's and either decodes the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayMap<V> {
    /// Every day but the latest.
    earlier: BTreeMap<Date, V>,
    /// The latest day; `None` only when the map is empty.
    last: Option<(Date, V)>,
}

impl<V> Default for DayMap<V> {
    fn default() -> Self {
        DayMap { earlier: BTreeMap::new(), last: None }
    }
}

impl<V> DayMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of days stored.
    pub fn len(&self) -> usize {
        self.earlier.len() + usize::from(self.last.is_some())
    }

    /// True when no day is stored.
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The value of `day`.
    pub fn get(&self, day: &Date) -> Option<&V> {
        match &self.last {
            Some((d, v)) if d == day => Some(v),
            _ => self.earlier.get(day),
        }
    }

    /// The first (earliest) day.
    pub fn first_day(&self) -> Option<Date> {
        self.earlier.keys().next().copied().or(self.last.as_ref().map(|(d, _)| *d))
    }

    /// The last (latest) day.
    pub fn last_day(&self) -> Option<Date> {
        self.last.as_ref().map(|(d, _)| *d)
    }

    /// Days and values in day order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter { earlier: self.earlier.range(..), last: self.last.as_ref() }
    }

    /// Days in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Date> {
        self.iter().map(|(d, _)| d)
    }

    /// Values in day order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The days in `range`, in order. Panics like `BTreeMap::range` when the
    /// range starts after it ends.
    pub fn range<R: RangeBounds<Date>>(&self, range: R) -> Iter<'_, V> {
        let last = self.last.as_ref().filter(|(d, _)| range.contains(d));
        Iter { earlier: self.earlier.range(range), last }
    }
}

impl<V: Default> DayMap<V> {
    /// The value of `day`, inserted as the default first when absent.
    #[inline]
    pub fn entry(&mut self, day: Date) -> &mut V {
        match self.last {
            Some((d, _)) if d == day => {}
            Some((d, _)) if d > day => return self.earlier.entry(day).or_default(),
            _ => {
                // a new latest day: the old one joins the tree
                if let Some((d, v)) = self.last.take() {
                    self.earlier.insert(d, v);
                }
                self.last = Some((day, V::default()));
            }
        }
        match &mut self.last {
            Some((_, v)) => v,
            // unreachable: `last` was just checked or set
            None => self.earlier.entry(day).or_default(),
        }
    }
}

impl<V> FromIterator<(Date, V)> for DayMap<V> {
    fn from_iter<I: IntoIterator<Item = (Date, V)>>(iter: I) -> Self {
        let mut earlier: BTreeMap<Date, V> = iter.into_iter().collect();
        let last = earlier.pop_last();
        DayMap { earlier, last }
    }
}

/// Days and values of a [`DayMap`] in day order.
#[derive(Clone, Debug)]
pub struct Iter<'a, V> {
    earlier: btree_map::Range<'a, Date, V>,
    last: Option<&'a (Date, V)>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Date, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.earlier.next().or_else(|| self.last.take().map(|(d, v)| (d, v)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.earlier.size_hint();
        let extra = usize::from(self.last.is_some());
        (lo.saturating_add(extra), hi.and_then(|h| h.checked_add(extra)))
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self.last.take() {
            Some((d, v)) => Some((d, v)),
            None => self.earlier.next_back(),
        }
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
        let mut earlier: BTreeMap<Date, V> = BTreeMap::decode(d)?;
        let last = earlier.pop_last();
        Ok(DayMap { earlier, last })
    }
}

impl<'de, C, V: BorrowDecode<'de, C>> BorrowDecode<'de, C> for DayMap<V> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let mut earlier: BTreeMap<Date, V> = BTreeMap::borrow_decode(d)?;
        let last = earlier.pop_last();
        Ok(DayMap { earlier, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same<V: Clone + PartialEq + std::fmt::Debug + Encode + Decode<()>>(m: &DayMap<V>, b: &BTreeMap<Date, V>) {
        assert_eq!(m.len(), b.len());
        assert_eq!(m.is_empty(), b.is_empty());
        assert!(m.iter().eq(b.iter()));
        assert!(m.iter().rev().eq(b.iter().rev()));
        assert_eq!(m.first_day(), b.keys().next().copied());
        assert_eq!(m.last_day(), b.keys().next_back().copied());
        for lo in -2..12 {
            assert_eq!(m.get(&Date(lo)), b.get(&Date(lo)));
            assert!(m.range(..Date(lo)).eq(b.range(..Date(lo))));
            assert!(m.range(Date(lo)..).eq(b.range(Date(lo)..)));
            for hi in lo..12 {
                assert!(m.range(Date(lo)..=Date(hi)).eq(b.range(Date(lo)..=Date(hi))));
                assert!(m.range(Date(lo)..=Date(hi)).rev().eq(b.range(Date(lo)..=Date(hi)).rev()));
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
    }
}
