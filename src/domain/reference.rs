//! A booking's reference: what a person reads out on the phone and types at
//! a desk ("K7M2-9QXD"), beside the 36-character id the API keeps.
//!
//! Each booking row takes the next number of a PostgreSQL sequence (a column
//! default, so the worker's batch insert pays nothing for it), and the
//! reference is that number through a fixed permutation of 40 bits, written
//! as 8 characters of Crockford base32 in two groups. A permutation keeps
//! references unique by construction (no collision to retry in the worker's
//! transaction) while consecutive bookings get unrelated-looking references;
//! reading one back is the inverse permutation and an index look-up. It is a
//! name, not a secret: every route that finds a booking by reference also
//! checks who may see it.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BITS: u32 = 40;
const HALF: u32 = BITS / 2;
const HALF_MASK: u64 = (1 << HALF) - 1;
/// Round keys of the Feistel network (arbitrary odd constants; changing them
/// would rename every booking).
const KEYS: [u64; 4] = [0x9E37_79B9, 0x85EB_CA6B, 0xC2B2_AE35, 0x27D4_EB2F];

/// The largest number a reference can carry (2^40 − 1: a trillion bookings).
pub const MAX: i64 = (1 << BITS) - 1;

fn round(half: u64, key: u64) -> u64 {
    let mut x = half.wrapping_mul(key) ^ (half >> 7) ^ key;
    x = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (x >> 23) & HALF_MASK
}

fn permute(n: u64) -> u64 {
    let (mut left, mut right) = (n >> HALF, n & HALF_MASK);
    for key in KEYS {
        (left, right) = (right, left ^ round(right, key));
    }
    (left << HALF) | right
}

fn unpermute(n: u64) -> u64 {
    let (mut left, mut right) = (n >> HALF, n & HALF_MASK);
    for key in KEYS.iter().rev() {
        (left, right) = (right ^ round(left, *key), left);
    }
    (left << HALF) | right
}

/// The reference of booking number `number` (from the sequence): "K7M2-9QXD".
pub fn encode(number: i64) -> String {
    let mut value = permute((number as u64) & MAX as u64);
    let mut chars = [0u8; 8];
    for slot in chars.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    let text = std::str::from_utf8(&chars).expect("ASCII alphabet");
    format!("{}-{}", &text[..4], &text[4..])
}

/// The booking number a typed reference names, ignoring case, dashes and
/// spaces, and reading I and L as 1 and O as 0 (Crockford's rules); `None`
/// when it cannot be a reference.
pub fn decode(typed: &str) -> Option<i64> {
    let mut value: u64 = 0;
    let mut count = 0;
    for byte in typed.bytes() {
        let digit = match byte.to_ascii_uppercase() {
            b'-' | b' ' => continue,
            b'I' | b'L' => 1,
            b'O' => 0,
            c => ALPHABET.iter().position(|a| *a == c)? as u64,
        };
        value = (value << 5) | digit;
        count += 1;
        if count > 8 {
            return None;
        }
    }
    (count == 8).then(|| unpermute(value) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_two_groups_of_four_and_reads_back_to_its_number() {
        for number in [1, 2, 3, 41, 1_000_000, MAX] {
            let reference = encode(number);
            assert_eq!(reference.len(), 9, "{reference}");
            assert_eq!(&reference[4..5], "-");
            assert!(reference.bytes().filter(|b| *b != b'-').all(|b| ALPHABET.contains(&b)), "{reference}");
            assert_eq!(decode(&reference), Some(number), "{reference}");
        }
    }

    #[test]
    fn consecutive_numbers_get_unrelated_references_and_never_the_same() {
        let references: Vec<String> = (1..=20_000).map(encode).collect();
        let unique: std::collections::HashSet<&String> = references.iter().collect();
        assert_eq!(unique.len(), references.len());
        // Neighbours share no prefix worth guessing from.
        let alike = references.windows(2).filter(|w| w[0][..4] == w[1][..4]).count();
        assert!(alike < 10, "{alike} neighbours share their first group");
    }

    #[test]
    fn typing_is_forgiving_about_case_dashes_and_look_alike_letters() {
        let reference = encode(12_345);
        let number = Some(12_345);
        assert_eq!(decode(&reference.to_lowercase()), number);
        assert_eq!(decode(&reference.replace('-', "")), number);
        assert_eq!(decode(&format!(" {} ", reference.replace('-', " "))), number);
        let with_look_alikes = reference.replace('1', "l").replace('0', "O");
        assert_eq!(decode(&with_look_alikes), number);
    }

    #[test]
    fn what_cannot_be_a_reference_is_none() {
        for typed in ["", "K7M2-9QX", "K7M2-9QXDD", "K7M2-9QXU", "K7M2!9QXD", "ÄÖÜ"] {
            assert_eq!(decode(typed), None, "{typed}");
        }
    }
}
