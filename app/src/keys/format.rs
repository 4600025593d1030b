//! The API key format (K1, K3, I1): `kg_`, then 43 base62 characters carrying 32 random
//! bytes, then 6 base62 characters of a CRC32 over everything before them. The checksum lets a typo
//! or a foreign string be refused before any hashing or database work, and the fixed
//! prefix and shape let secret scanners find leaked keys.

pub const PREFIX: &str = "kg_";
pub const BODY_LEN: usize = 43;
pub const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN + CHECKSUM_LEN;
/// Longest credential header value looked at at all (I1).
pub const MAX_INPUT_LEN: usize = 256;
/// How much of the body the display hint keeps (`kg_AbCd`): 24 of 256 bits.
pub const HINT_BODY_LEN: usize = 4;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    TooLong,
    WrongLength,
    WrongPrefix,
    BadCharacter,
    BadChecksum,
}

/// Encodes 32 bytes (a big-endian number below 2^256 < 62^43) as exactly 43 base62 digits.
pub fn encode_body(bytes: &[u8; 32]) -> String {
    let mut number = *bytes;
    let mut digits = [b'0'; BODY_LEN];
    for digit in digits.iter_mut().rev() {
        // Long division of the 256-bit number by 62; the remainder is the next digit.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        *digit = ALPHABET[remainder as usize];
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

fn encode_checksum(crc: u32) -> String {
    let mut value = u64::from(crc);
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

fn digit_value(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'A'..=b'Z' => Some(u64::from(c - b'A') + 10),
        b'a'..=b'z' => Some(u64::from(c - b'a') + 36),
        _ => None,
    }
}

/// CRC-32 (IEEE 802.3, as in zlib), by the well-kept `crc32fast` (SIMD on the server,
/// a table in the browser).
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Builds a key from its 32 secret bytes.
pub fn key_from_bytes(bytes: &[u8; 32]) -> String {
    let mut key = String::with_capacity(KEY_LEN);
    key.push_str(PREFIX);
    key.push_str(&encode_body(bytes));
    let checksum = encode_checksum(crc32(key.as_bytes()));
    key.push_str(&checksum);
    key
}

/// Checks the shape of a presented key without touching any secret or database: length
/// first (bounded work for any input), then prefix, alphabet and checksum.
pub fn check(candidate: &str) -> Result<(), FormatError> {
    let bytes = candidate.as_bytes();
    if bytes.len() > MAX_INPUT_LEN {
        return Err(FormatError::TooLong);
    }
    if bytes.len() != KEY_LEN {
        return Err(FormatError::WrongLength);
    }
    if !candidate.starts_with(PREFIX) {
        return Err(FormatError::WrongPrefix);
    }
    let (head, checksum) = bytes.split_at(KEY_LEN - CHECKSUM_LEN);
    let mut declared: u64 = 0;
    for &c in &bytes[PREFIX.len()..] {
        digit_value(c).ok_or(FormatError::BadCharacter)?;
    }
    for &c in checksum {
        declared = declared * 62 + digit_value(c).ok_or(FormatError::BadCharacter)?;
    }
    if declared != u64::from(crc32(head)) {
        return Err(FormatError::BadChecksum);
    }
    Ok(())
}

/// The non-secret display hint stored with the key, e.g. `kg_AbCd`.
pub fn hint(key: &str) -> String {
    key.chars().take(PREFIX.len() + HINT_BODY_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn body_encoding_is_fixed_width_and_covers_the_extremes() {
        assert_eq!(encode_body(&[0; 32]), "0".repeat(43));
        let max = encode_body(&[0xFF; 32]);
        assert_eq!(max.len(), 43);
        // 2^256 / 62^42 is about 60.5, so the largest body starts with digit 60 ('y'):
        // 43 digits are just enough, and the first never reaches 'z'.
        assert!(max.starts_with('y'), "{max}");
        let mut one = [0u8; 32];
        one[31] = 61;
        assert_eq!(encode_body(&one), format!("{}z", "0".repeat(42)));
    }

    #[test]
    fn known_key_shape() {
        let key = key_from_bytes(&[7; 32]);
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with("kg_"));
        assert_eq!(check(&key), Ok(()));
        assert_eq!(hint(&key), key[..7]);
    }

    #[test]
    fn rejections_name_the_first_problem() {
        let key = key_from_bytes(&[1; 32]);
        assert_eq!(check(""), Err(FormatError::WrongLength));
        assert_eq!(check(&"k".repeat(257)), Err(FormatError::TooLong));
        assert_eq!(
            check(&format!("xx_{}", &key[3..])),
            Err(FormatError::WrongPrefix)
        );
        assert_eq!(
            check(&format!("{}-{}", &key[..10], &key[11..])),
            Err(FormatError::BadCharacter)
        );
        assert_eq!(
            check(&format!("{}é{}", &key[..10], &key[12..])),
            Err(FormatError::BadCharacter)
        );
    }

    fn any_key() -> impl Strategy<Value = String> {
        proptest::array::uniform32(any::<u8>()).prop_map(|bytes| key_from_bytes(&bytes))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn generated_keys_parse(key in any_key()) {
            prop_assert_eq!(key.len(), KEY_LEN);
            prop_assert_eq!(check(&key), Ok(()));
        }

        /// K1: any one-character change (to any other base62 character) fails the checksum.
        #[test]
        fn any_one_character_change_is_caught(key in any_key(), position in 3usize..KEY_LEN, replacement in 0usize..62) {
            let mut bytes = key.clone().into_bytes();
            let new = ALPHABET[replacement];
            prop_assume!(bytes[position] != new);
            bytes[position] = new;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(check(&changed), Err(FormatError::BadChecksum));
        }

        /// I1: arbitrary input never panics, and nothing over 256 bytes is looked at.
        #[test]
        fn the_guard_never_panics(input in ".{0,300}") {
            let result = check(&input);
            if input.len() > MAX_INPUT_LEN {
                prop_assert_eq!(result, Err(FormatError::TooLong));
            }
        }

        #[test]
        fn random_strings_of_key_shape_are_rejected(body in "[0-9A-Za-z]{49}") {
            let candidate = format!("kg_{body}");
            // A random 49-character tail passes only if its last 6 happen to be the CRC.
            let expected = check(&candidate).is_ok();
            prop_assert_eq!(expected, encode_checksum(crc32(&candidate.as_bytes()[..46])) == candidate[46..]);
        }
    }
}
