//! The base62 alphabet every part of a key is written in: random strings for key ids and
//! secrets, and fixed-width numbers for the checksum. Base62 keeps keys free of characters
//! that need quoting in URLs, shells, headers or double-click selection.

use rand::Rng;

pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `log2(62)`: the entropy of one uniformly random base62 character, in bits.
const BITS_PER_CHAR: f64 = 5.954_196_310_386_876;

/// How many random characters carry at least `bytes` bytes of entropy (43 for 32 bytes).
pub(crate) fn chars_for_bytes(bytes: usize) -> usize {
    let bits = (bytes * 8) as f64;
    // Ceil of a small positive quotient; the cast cannot truncate for bytes <= 64.
    (bits / BITS_PER_CHAR).ceil() as usize
}

/// `len` characters, each drawn uniformly from the alphabet (rejection sampling inside
/// `random_range`, so no modulo bias) from the thread's CSPRNG.
pub(crate) fn random(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

pub(crate) fn is_base62(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

/// `value` as exactly six base62 digits, most significant first (62^6 > 2^32).
pub(crate) fn encode_u32(mut value: u32) -> String {
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&byte| char::from(byte)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_rounds_up_to_whole_characters() {
        assert_eq!(chars_for_bytes(32), 43);
        assert_eq!(chars_for_bytes(64), 86);
        for bytes in 32..=64 {
            let chars = chars_for_bytes(bytes);
            assert!(chars as f64 * BITS_PER_CHAR >= (bytes * 8) as f64);
            assert!(((chars - 1) as f64) * BITS_PER_CHAR < (bytes * 8) as f64);
        }
    }

    #[test]
    fn random_strings_are_base62_and_differ() {
        let a = random(43);
        let b = random(43);
        assert_eq!(a.len(), 43);
        assert!(is_base62(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn fixed_width_numbers() {
        assert_eq!(encode_u32(0), "000000");
        assert_eq!(encode_u32(61), "00000z");
        assert_eq!(encode_u32(62), "000010");
        assert_eq!(encode_u32(u32::MAX), "4gfFC3");
    }

    #[test]
    fn rejects_non_alphabet_characters() {
        assert!(is_base62("abcXYZ019"));
        assert!(!is_base62("abc_"));
        assert!(!is_base62("é"));
    }
}
