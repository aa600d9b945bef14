//! The draw: the order of an event's pre-queue, reproducible by anyone from
//! the published seed and the list of pre-queued booking ids.
//!
//! The algorithm (also in the README):
//! 1. sort the booking ids ascending (as 16-byte values, which is the order
//!    of their canonical lower-case text);
//! 2. seed ChaCha20 (the 20-round ChaCha stream cipher as a generator, as in
//!    Rust's `rand_chacha::ChaCha20Rng::from_seed`) with the 32-byte seed;
//! 3. Fisher–Yates: for i from n − 1 down to 1, take 64-bit words
//!    (little-endian, in stream order) until one, x, is below
//!    (i + 1) · ⌊2⁶⁴ / (i + 1)⌋, let j = x mod (i + 1), and swap items i and j.
//!
//! The result, first to last, is the order of the line.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use uuid::Uuid;

pub type Seed = [u8; 32];

/// Which of an event's draws: its own, at `sales_start`, or a presale's, at
/// the presale's opening (codes with `presale_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Round {
    Main,
    Presale(chrono::DateTime<chrono::Utc>),
}

impl Round {
    /// The presale's opening; `None` for the event's own draw.
    pub fn presale_at(self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Self::Main => None,
            Self::Presale(at) => Some(at),
        }
    }
}

/// A seed from the operating system's CSPRNG.
pub fn new_seed() -> Seed {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}

/// The pre-queue `ids` in the order the draw with `seed` gives them.
pub fn order(seed: Seed, mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    let mut rng = ChaCha20Rng::from_seed(seed);
    for i in (1..ids.len()).rev() {
        let j = below(&mut rng, i as u64 + 1);
        ids.swap(i, j as usize);
    }
    ids
}

/// A uniform value in `0..n`, by rejection (no modulo bias).
fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    let zone = (1u128 << 64) / u128::from(n) * u128::from(n);
    loop {
        let x = rng.next_u64();
        if u128::from(x) < zone {
            return x % n;
        }
    }
}

/// What is published before anyone enters: `sha256(seed)`, hex. Once the
/// seed is published, anyone checks that it hashes to this, so it cannot
/// have been chosen after the entries were known.
pub fn commitment(seed: &Seed) -> String {
    use sha2::Digest;
    to_hex(&sha2::Sha256::digest(seed))
}

pub fn to_hex(seed: &[u8]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<Uuid> {
        (1..=n).map(Uuid::from_u128).collect()
    }

    #[test]
    fn the_same_seed_and_ids_give_the_same_order_whatever_order_they_come_in() {
        let seed = [7u8; 32];
        let mut shuffled = ids(50);
        shuffled.reverse();
        assert_eq!(order(seed, ids(50)), order(seed, shuffled));
        assert_ne!(order(seed, ids(50)), order([8u8; 32], ids(50)), "another seed, another order");
        let mut sorted = order(seed, ids(50));
        sorted.sort();
        assert_eq!(sorted, ids(50), "a permutation: nobody lost, nobody twice");
    }

    /// Pinned: the README's algorithm on a known input, as the independent
    /// `scripts/draw.py` (Python's ChaCha20 from `cryptography`) computes it.
    /// Changing any step (sorting, the generator, the sampling, the loop)
    /// changes this.
    #[test]
    fn a_known_seed_gives_a_known_order() {
        let seed: Seed = core::array::from_fn(|i| i as u8);
        let got: Vec<u128> = order(seed, ids(8)).iter().map(|id| id.as_u128()).collect();
        assert_eq!(got, PINNED);
    }
    const PINNED: [u128; 8] = [6, 8, 5, 4, 1, 7, 3, 2];

    #[test]
    fn the_commitment_is_the_seeds_sha256() {
        // sha256 of 32 zero bytes, as any implementation gives it.
        assert_eq!(commitment(&[0u8; 32]), "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
    }

    #[test]
    fn every_position_is_equally_likely() {
        // 6 items, 60,000 draws: each item lands first about 10,000 times.
        let mut first = [0u32; 6];
        for s in 0..60_000u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&s.to_le_bytes());
            let head = order(seed, ids(6))[0].as_u128() as usize - 1;
            first[head] += 1;
        }
        assert!(first.iter().all(|&n| (9_400..=10_600).contains(&n)), "{first:?}");
    }
}
