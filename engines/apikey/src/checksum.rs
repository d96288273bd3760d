//! The checksum at the end of every key: CRC-32 (IEEE, as in zlib and GitHub's token format)
//! over everything before it, written as six base62 digits. It is not a security control —
//! anyone can compute it — but it lets `verify` reject typos and truncated keys without a
//! storage read, and lets secret scanners tell real keys from look-alikes.

use crate::base62;

/// Length of the checksum suffix in characters.
pub(crate) const LEN: usize = 6;

const TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = index as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

fn crc32(data: &[u8]) -> u32 {
    let crc = data.iter().fold(u32::MAX, |crc, &byte| {
        TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8)
    });
    !crc
}

/// The checksum suffix for `body`.
pub(crate) fn of(body: &str) -> String {
    base62::encode_u32(crc32(body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_crc32() {
        // The CRC-32/ISO-HDLC check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn every_single_character_change_changes_the_checksum() {
        let body = "lsk_live_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq";
        let original = of(body);
        assert_eq!(original.len(), LEN);
        for position in 0..body.len() {
            for replacement in base62::ALPHABET.iter().chain(b"_") {
                let mut changed = body.as_bytes().to_vec();
                if changed[position] == *replacement {
                    continue;
                }
                changed[position] = *replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert_ne!(of(&changed), original, "change at {position} undetected");
            }
        }
    }
}
