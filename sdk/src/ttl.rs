//! Durations as the Vault dialect writes them: integer seconds (`3600`, `"3600"`) or Go-style
//! duration strings (`"1h"`, `"90m"`, `"1h30m15s"`, `"0"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time-to-live. Serializes as whole seconds, the way Vault returns TTLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(pub Duration);

impl Ttl {
    pub const ZERO: Ttl = Ttl(Duration::ZERO);

    pub fn from_secs(seconds: u64) -> Self {
        Ttl(Duration::from_secs(seconds))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses `"90"`, `"90s"`, `"1h30m"`, `"1.5h"`, `"250ms"`, `"2d"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(Ttl::from_secs(seconds));
        }
        let mut total = 0f64;
        let mut rest = text;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("duration {text:?} is missing a unit"))?;
            if number_len == 0 {
                return Err(format!("invalid duration {text:?}"));
            }
            let number: f64 = rest[..number_len]
                .parse()
                .map_err(|_| format!("invalid duration {text:?}"))?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86400.0,
                unit => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
            };
            total += number * scale;
            rest = &rest[unit_len..];
        }
        if !total.is_finite() || total > 100.0 * 365.0 * 86400.0 {
            return Err(format!("duration {text:?} is out of range"));
        }
        Ok(Ttl(Duration::from_secs_f64(total)))
    }
}

impl From<Duration> for Ttl {
    fn from(duration: Duration) -> Self {
        Ttl(duration)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0.as_secs())
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TtlVisitor;
        impl Visitor<'_> for TtlVisitor {
            type Value = Ttl;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: integer seconds or a string such as \"1h30m\"")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Ttl, E> {
                Ok(Ttl::from_secs(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Ttl, E> {
                u64::try_from(value)
                    .map(Ttl::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Ttl, E> {
                if value.is_finite() && (0.0..=3.2e9).contains(&value) {
                    Ok(Ttl(Duration::from_secs_f64(value)))
                } else {
                    Err(E::custom("duration out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Ttl, E> {
                Ttl::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(TtlVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_vault_forms() {
        assert_eq!(Ttl::parse("3600").unwrap(), Ttl::from_secs(3600));
        assert_eq!(Ttl::parse("1h").unwrap(), Ttl::from_secs(3600));
        assert_eq!(Ttl::parse("1h30m15s").unwrap(), Ttl::from_secs(5415));
        assert_eq!(Ttl::parse("2d").unwrap(), Ttl::from_secs(172_800));
        assert_eq!(Ttl::parse("0").unwrap(), Ttl::ZERO);
        assert_eq!(
            Ttl::parse("1.5s").unwrap(),
            Ttl(Duration::from_millis(1500))
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "h", "1x", "-5s", "1h-", "9999999999999999d", "s1"] {
            assert!(Ttl::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn deserializes_numbers_and_strings() {
        let ttl: Ttl = serde_json::from_str("90").unwrap();
        assert_eq!(ttl, Ttl::from_secs(90));
        let ttl: Ttl = serde_json::from_str("\"2m\"").unwrap();
        assert_eq!(ttl, Ttl::from_secs(120));
        assert!(serde_json::from_str::<Ttl>("-1").is_err());
        assert!(serde_json::from_str::<Ttl>("true").is_err());
    }
}
