//! GRUB's reading of numbers (`kern/misc.c` `grub_strtoull`), which the
//! GRUB 2 evaluator (`default`, `timeout`, `test`) and BLS's
//! `is_default_entry` both use: one copy below both.

use nom::Parser;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::combinator::opt;

/// `grub_strtoul (s, &end, 0)` (`kern/misc.c` `grub_strtoull`): blanks
/// skipped, `0x` hex, a leading `0` before an octal digit octal, decimal
/// otherwise; reading stops at the first non-digit. `None` when no digit
/// is found (`GRUB_ERR_BAD_NUMBER`) or the value overflows 64 bits
/// (`GRUB_ERR_OUT_OF_RANGE`).
pub fn strtoul(s: &str) -> Option<(u64, &str)> {
    let (rest, (radix, d)) = number_prefix(s).ok()?;
    let v = u64::from_str_radix(d, radix).ok()?;
    Some((v, rest))
}

/// `grub_strtoull`'s digit run: radix and digits.
fn number_prefix(i: &str) -> nom::IResult<&str, (u32, &str)> {
    let (i, _) = take_while(|c: char| c.is_ascii_whitespace()).parse(i)?;
    let (i, hex) = opt(tag("0x")).parse(i)?;
    if hex.is_some() {
        let (i, d) = take_while1(|c: char| c.is_ascii_hexdigit()).parse(i)?;
        return Ok((i, (16, d)));
    }
    if i.starts_with('0') && i[1..].starts_with(|c: char| ('0'..='7').contains(&c)) {
        let (i, d) = take_while1(|c: char| ('0'..='7').contains(&c)).parse(i)?;
        return Ok((i, (8, d)));
    }
    let (i, d) = take_while1(|c: char| c.is_ascii_digit()).parse(i)?;
    Ok((i, (10, d)))
}

/// A number too large for 64 bits (`GRUB_ERR_OUT_OF_RANGE`, which skips
/// the title search in `get_entry_number`).
pub(crate) fn strtoul_overflows(s: &str) -> bool {
    number_prefix(s).is_ok_and(|(_, (radix, d))| u64::from_str_radix(d, radix).is_err())
}
