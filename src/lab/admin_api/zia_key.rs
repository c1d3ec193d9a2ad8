//! The fake ZIA's own check of a legacy `authenticatedSession` API key, written from Zscaler's
//! documented obfuscation (vendor-apis.md §2.1), never with the product's code: a bug in the
//! audit's obfuscation must make the lab refuse the sign-in, not agree with it.

/// Whether `presented` is `api_key` obfuscated for `timestamp` (epoch milliseconds, as the
/// request's `timestamp` string carries it). The last six digits of the timestamp pick
/// characters of the key by position; those six digits read as a number and halved, written
/// back as six digits, pick characters two positions further on.
pub fn accepts(api_key: &str, timestamp: &str, presented: &str) -> bool {
    if timestamp.len() < 6 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let key = api_key.as_bytes();
    if key.len() < 12 || !api_key.is_ascii() {
        return false;
    }
    let last_six = &timestamp.as_bytes()[timestamp.len() - 6..];
    let mut halved_value = 0u32;
    for digit in last_six {
        halved_value = halved_value * 10 + u32::from(digit - b'0');
    }
    halved_value /= 2;
    let halved = format!("{halved_value:06}");
    let mut expected = Vec::with_capacity(12);
    for digit in last_six {
        expected.push(key[usize::from(digit - b'0')]);
    }
    for digit in halved.bytes() {
        expected.push(key[usize::from(digit - b'0') + 2]);
    }
    presented.as_bytes() == expected.as_slice()
}

#[cfg(test)]
mod tests {
    use super::accepts;

    /// Worked by hand from the documented rule: timestamp …123456 picks positions 1-6
    /// (`bcdefg`); 123456 / 2 = 061728 picks positions 2, 8, 3, 9, 4, 10 (`cidjek`).
    #[test]
    fn a_key_obfuscated_as_documented_is_accepted() {
        assert!(accepts("abcdefghijklmnop", "1700000123456", "bcdefgcidjek"));
    }

    #[test]
    fn anything_else_is_refused() {
        // The right characters for another timestamp.
        assert!(!accepts(
            "abcdefghijklmnop",
            "1700000123457",
            "bcdefgcidjek"
        ));
        // The low half picked without the +2 shift.
        assert!(!accepts(
            "abcdefghijklmnop",
            "1700000123456",
            "bcdefgagbhci"
        ));
        // The key itself, a short key, a timestamp that is no number.
        assert!(!accepts(
            "abcdefghijklmnop",
            "1700000123456",
            "abcdefghijklmnop"
        ));
        assert!(!accepts("abcdefghij", "1700000123456", "bcdefgcidjek"));
        assert!(!accepts(
            "abcdefghijklmnop",
            "17000001234x6",
            "bcdefgcidjek"
        ));
    }
}
