//! Money and quantities as integer millionths. AWS's unit prices have up to four or five
//! decimal places ($0.0416 an hour), and a share of a host is a fraction: in millionths
//! both are exact enough, and sums of integers add up exactly, where floating point would
//! drift with every line added.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Neg, Sub};

const MILLION: i64 = 1_000_000;

/// An amount in US dollars, held as millionths of a dollar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Money {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Rounded to the nearest cent.
    pub fn cents(self) -> i64 {
        saturate(div_round(i128::from(self.0), 10_000))
    }

    pub fn abs(self) -> Money {
        Money(self.0.saturating_abs())
    }

    /// This price for `quantity` units, to the nearest millionth of a dollar.
    pub fn times(self, quantity: Quantity) -> Money {
        Money(saturate(div_round(i128::from(self.0) * i128::from(quantity.0), i128::from(MILLION))))
    }

    /// As an estimate is shown: whole dollars from $10 on (the figures behind it are not
    /// more precise than that), cents below, and "under $0.01" rather than a "$0.00" that
    /// would read as free.
    pub fn rounded(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let cents = self.cents().unsigned_abs();
        if self.0 == 0 {
            "$0".into()
        } else if cents == 0 {
            "under $0.01".into()
        } else if cents >= 1_000 {
            let dollars = div_round(i128::from(self.0), i128::from(MILLION)).unsigned_abs() as u64;
            format!("{sign}${}", grouped(dollars))
        } else {
            format!("{sign}${}.{:02}", cents / 100, cents % 100)
        }
    }

    /// Every decimal the amount has, and at least two: how a unit price is shown
    /// ($0.0416, $30.368, $0.50).
    pub fn precise(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let micros = self.0.unsigned_abs();
        let fraction = format!("{:06}", micros % MILLION as u64);
        let fraction = fraction.trim_end_matches('0');
        format!("{sign}${}.{fraction:0<2}", grouped(micros / MILLION as u64))
    }
}

/// To the cent, as a bill shows it: `$1,234.57`, `-$1.50`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let cents = self.cents().unsigned_abs();
        write!(f, "{sign}${}.{:02}", grouped(cents / 100), cents % 100)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(self.0.saturating_neg())
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// How many units of something are charged, in millionths of a unit: 0.266667 of a host,
/// 1.972603 GB-months.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i64);

impl Quantity {
    pub fn whole(units: u32) -> Quantity {
        Quantity(i64::from(units) * MILLION)
    }

    /// `numerator / denominator` units, to the nearest millionth; none for a zero
    /// denominator.
    pub fn ratio(numerator: u128, denominator: u128) -> Quantity {
        let [numerator, denominator] = [numerator, denominator].map(|n| i128::try_from(n).unwrap_or(i128::MAX));
        if denominator == 0 {
            return Quantity(0);
        }
        Quantity(saturate(div_round(numerator.saturating_mul(i128::from(MILLION)), denominator)))
    }

    pub fn millionths(self) -> i64 {
        self.0
    }
}

/// At most three decimals, without trailing zeros: `2`, `0.1`, `1.973`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thousandths = div_round(i128::from(self.0), 1_000).unsigned_abs() as u64;
        let sign = if self.0 < 0 && thousandths > 0 { "-" } else { "" };
        let fraction = format!("{:03}", thousandths % 1_000);
        let fraction = fraction.trim_end_matches('0');
        let point = if fraction.is_empty() { "" } else { "." };
        write!(f, "{sign}{}{point}{fraction}", grouped(thousandths / 1_000))
    }
}

/// The live preview estimates whatever is typed, so absurd figures saturate instead of
/// overflowing (which would panic in a debug build and wrap in a release one).
fn saturate(n: i128) -> i64 {
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// `n / d` rounded to the nearest integer, halves away from zero (as a bill rounds).
fn div_round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}

/// Thousands separated by commas: `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dollars(micros: i64) -> Money {
        Money::from_micros(micros)
    }

    #[test]
    fn estimates_round_to_whole_dollars_from_ten_dollars_and_to_cents_below() {
        assert_eq!(dollars(73_456_000).rounded(), "$73");
        assert_eq!(dollars(73_500_000).rounded(), "$74", "halves round up");
        assert_eq!(dollars(1_234_567_890).rounded(), "$1,235");
        assert_eq!(dollars(9_994_000).rounded(), "$9.99");
        assert_eq!(dollars(9_995_000).rounded(), "$10", "what rounds to $10.00 is shown as dollars");
        assert_eq!(dollars(4_604_000).rounded(), "$4.60");
        assert_eq!(dollars(584_000).rounded(), "$0.58");
        assert_eq!(dollars(-12_400_000).rounded(), "-$12");
    }

    #[test]
    fn a_tiny_amount_is_not_shown_as_free() {
        assert_eq!(dollars(4_999).rounded(), "under $0.01");
        assert_eq!(dollars(5_000).rounded(), "$0.01");
        assert_eq!(Money::ZERO.rounded(), "$0");
    }

    #[test]
    fn unit_prices_keep_every_decimal_and_bills_show_cents() {
        assert_eq!(dollars(41_600).precise(), "$0.0416");
        assert_eq!(dollars(30_368_000).precise(), "$30.368");
        assert_eq!(dollars(500_000).precise(), "$0.50");
        assert_eq!(dollars(1_000_000).precise(), "$1.00");
        assert_eq!(dollars(30_368_000).to_string(), "$30.37");
        assert_eq!(dollars(1_234_567_890).to_string(), "$1,234.57");
        assert_eq!(dollars(-1_495_000).to_string(), "-$1.50");
    }

    #[test]
    fn a_price_times_a_quantity_rounds_once_to_the_millionth() {
        // 0.266667 of a $30.368 host: 8.0981434... dollars.
        assert_eq!(dollars(30_368_000).times(Quantity::ratio(4, 15)), dollars(8_098_143));
        assert_eq!(dollars(41_600).times(Quantity::whole(730)), dollars(30_368_000));
        assert_eq!(Quantity::ratio(1, 3).millionths(), 333_333);
        assert_eq!(Quantity::ratio(2, 3).millionths(), 666_667);
        assert_eq!(Quantity::ratio(5, 0), Quantity::default());
    }

    #[test]
    fn sums_are_exact() {
        let total: Money = std::iter::repeat_n(dollars(100_000), 10).sum();
        assert_eq!(total, dollars(1_000_000), "ten times $0.10 is exactly $1");
        assert_eq!(dollars(5) - dollars(7), -dollars(2));
    }

    #[test]
    fn quantities_show_at_most_three_decimals() {
        assert_eq!(Quantity::whole(2).to_string(), "2");
        assert_eq!(Quantity::ratio(1, 10).to_string(), "0.1");
        assert_eq!(Quantity::ratio(4, 15).to_string(), "0.267");
        assert_eq!(Quantity::whole(1460).to_string(), "1,460");
    }
}
