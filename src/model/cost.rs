//! A cost as a CSP writes it: an amount with at most two decimals and an ISO 4217 currency
//! code (`120.50 EUR`, `EUR 120.50`, `99 GBP`), kept in minor units so that nothing is
//! lost to floating point.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Hundredths of the currency (cents, pence).
    pub minor: i64,
    /// Three upper-case letters.
    pub currency: String,
}

impl Cost {
    /// Parses `120.50 EUR` (or `EUR 120.50`); the error says what is expected.
    pub fn parse(text: &str) -> Result<Cost, String> {
        let bad = || {
            format!(
                "`{text}` is not a cost; expected an amount with at most two decimals and a currency code, such as `120.50 EUR`"
            )
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (amount, currency) = match parts.as_slice() {
            [a, c] if c.chars().all(|ch| ch.is_ascii_alphabetic()) => (*a, *c),
            [c, a] if c.chars().all(|ch| ch.is_ascii_alphabetic()) => (*a, *c),
            _ => return Err(bad()),
        };
        if currency.len() != 3 {
            return Err(bad());
        }
        let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || (amount.contains('.') && !digits(frac)) || frac.len() > 2 {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let cents: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        let minor = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .ok_or_else(bad)?;
        Ok(Cost {
            minor,
            currency: currency.to_ascii_uppercase(),
        })
    }
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{:02} {}",
            self.minor / 100,
            self.minor % 100,
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_parsed_exactly_and_bad_ones_refused() {
        let c = Cost::parse("120.50 EUR").unwrap();
        assert_eq!((c.minor, c.currency.as_str()), (12050, "EUR"));
        assert_eq!(c.to_string(), "120.50 EUR");
        assert_eq!(Cost::parse("gbp 99").unwrap().to_string(), "99.00 GBP");
        assert_eq!(Cost::parse("0.5 USD").unwrap().minor, 50);
        for bad in [
            "120,50 EUR",
            "12.345 EUR",
            "EUR",
            "120.50",
            "-3 EUR",
            "1.5 EURO",
            "abc EUR",
        ] {
            assert!(Cost::parse(bad).is_err(), "{bad}");
        }
    }
}
