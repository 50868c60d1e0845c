//! Kong's ring-balancer with its default algorithm, weighted round-robin:
//! a Service whose `host` names an Upstream (or a request whose function
//! called `kong.service.set_upstream`) connects to one of the upstream's
//! targets of weight > 0, each in proportion to its weight.
//!
//! Each upstream's wheel is built once per configuration change (the
//! snapshot's [`Balancers`], `snapshot.rs`): the weights reduced by their
//! greatest common divisor, scaled down to the upstream's `slots` when
//! they add up to more, each target's slots spread evenly over the wheel
//! (`a a b` becomes `a b a`; Kong shuffles its wheel at random). A
//! request takes the next slot with one atomic increment shared by the
//! workers. Health checks, the hashing,
//! least-connections and latency algorithms and DNS SRV are not
//! implemented: every upstream is balanced this way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The configured upstreams by name.
#[derive(Debug, Default)]
pub struct Balancers {
    by_name: HashMap<Box<str>, Arc<Ring>>,
}

impl Balancers {
    pub fn new(by_name: HashMap<Box<str>, Arc<Ring>>) -> Self {
        Balancers { by_name }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Ring>> {
        self.by_name.get(name)
    }
}

/// One upstream's targets and the order they are taken in.
#[derive(Debug)]
pub struct Ring {
    targets: Box<[(Box<str>, u16)]>,
    /// Indexes into `targets`, one per slot.
    wheel: Box<[u32]>,
    next: AtomicUsize,
}

impl Ring {
    /// The wheel of `targets` (`host`, `port`, `weight`); those of weight
    /// 0 get no slot. Each target gets its weight's share of the wheel
    /// (weights reduced by their greatest common divisor, scaled down to
    /// `slots` when they add up to more, at least one slot each), its
    /// slots spread evenly: target `i` with `c` slots sits at
    /// `(k + ½) / c` for `k` in `0..c`, and the wheel is every target's
    /// places in order (`a a b` becomes `a b a`). At most `slots` plus one
    /// per target entries, built in O(n log n) of them.
    pub fn build(slots: u32, targets: &[(&str, u16, u32)]) -> Ring {
        let active: Vec<&(&str, u16, u32)> = targets.iter().filter(|t| t.2 > 0).collect();
        let divisor = active.iter().fold(0, |g, t| gcd(g, t.2)).max(1);
        let mut counts: Vec<u64> = active.iter().map(|t| u64::from(t.2 / divisor)).collect();
        let total: u64 = counts.iter().sum();
        let slots = u64::from(slots.max(1));
        if total > slots {
            for c in &mut counts {
                *c = (*c * slots / total).max(1);
            }
        }
        // Each place is the fraction (2k + 1) / 2c, compared exactly
        // (cross-multiplied); a tie goes to the earlier target.
        let len: u64 = counts.iter().sum();
        let mut places: Vec<(u64, u64, u32)> = Vec::with_capacity(len as usize);
        for (i, &c) in counts.iter().enumerate() {
            for k in 0..c {
                places.push((2 * k + 1, 2 * c, i as u32));
            }
        }
        places.sort_unstable_by(|a, b| {
            (u128::from(a.0) * u128::from(b.1))
                .cmp(&(u128::from(b.0) * u128::from(a.1)))
                .then(a.2.cmp(&b.2))
        });
        Ring {
            targets: active
                .iter()
                .map(|(host, port, _)| (Box::from(*host), *port))
                .collect(),
            wheel: places.into_iter().map(|p| p.2).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next target, `None` when no target has a weight (Kong's 503
    /// "failure to get a peer from the ring-balancer").
    pub fn pick(&self) -> Option<(&str, u16)> {
        if self.wheel.is_empty() {
            return None;
        }
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.wheel.len();
        let (host, port) = &self.targets[self.wheel[slot] as usize];
        Some((host, *port))
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(ring: &Ring, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| ring.pick().map(|(h, _)| h.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn weights_are_served_in_proportion_and_spread() {
        let ring = Ring::build(10000, &[("a", 1, 200), ("b", 1, 100), ("z", 1, 0)]);
        assert_eq!(picks(&ring, 6), ["a", "b", "a", "a", "b", "a"]);
    }

    #[test]
    fn no_weight_no_peer() {
        assert_eq!(Ring::build(10, &[("a", 1, 0)]).pick(), None);
        assert_eq!(Ring::build(10, &[]).pick(), None);
    }

    #[test]
    fn the_wheel_has_at_most_slots_slots() {
        let ring = Ring::build(10, &[("a", 1, 65535), ("b", 1, 65534)]);
        assert!(ring.wheel.len() <= 10, "{}", ring.wheel.len());
        let got = picks(&ring, ring.wheel.len());
        assert!(got.contains(&"a".into()) && got.contains(&"b".into()));
    }

    #[test]
    fn many_targets_get_one_slot_each_at_most_past_slots() {
        let names: Vec<String> = (0..500).map(|i| format!("t{i}")).collect();
        let targets: Vec<(&str, u16, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), 1, 65535 - i as u32))
            .collect();
        let ring = Ring::build(10, &targets);
        assert_eq!(ring.wheel.len(), 500);
        let ring = Ring::build(65536, &targets);
        assert!(ring.wheel.len() <= 65536 + 500, "{}", ring.wheel.len());
    }

    #[test]
    fn three_weights_are_spread() {
        let ring = Ring::build(10000, &[("a", 1, 3), ("b", 1, 2), ("c", 1, 1)]);
        assert_eq!(picks(&ring, 6), ["a", "b", "a", "c", "b", "a"]);
    }
}
