//! The per-program map every view fold keeps, looked up once per event.

use std::collections::BTreeMap;

/// Most entries [`program_mut`] scans rather than searches (a fold's small
/// keyed maps use the same bound); `limits::PROGRAM_SCAN_MAX`.
pub use cardledger_domain::limits::PROGRAM_SCAN_MAX as SCAN_MAX;

/// `map.get_mut(token)`. A handful of programs are scanned rather than
/// searched: their lengths tell most tokens apart without comparing bytes.
#[inline]
pub fn program_mut<'a, V>(map: &'a mut BTreeMap<String, V>, token: &str) -> Option<&'a mut V> {
    if map.len() <= SCAN_MAX {
        map.iter_mut().find_map(|(k, v)| (k == token).then_some(v))
    } else {
        map.get_mut(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_and_searching_find_the_same_entry() {
        for n in [1, SCAN_MAX, SCAN_MAX + 1, 40] {
            let mut map: BTreeMap<String, usize> = (0..n).map(|i| (format!("program_{i}"), i)).collect();
            for i in 0..n {
                assert_eq!(program_mut(&mut map, &format!("program_{i}")).copied(), Some(i));
            }
            assert_eq!(program_mut(&mut map, "program_x"), None);
            assert_eq!(program_mut(&mut map, ""), None);
        }
    }
}
