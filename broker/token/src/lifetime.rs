//! How long a token lives: the system default and maximum TTLs and Vault's TTL arithmetic
//! (explicit max TTL and the system max counted from creation, periodic tokens renewing to
//! their period, and a child never outliving its parent).

use std::time::Duration;

use time::OffsetDateTime;

use crate::TokenError;

/// Vault's defaults: 768h (32 days) for both.
const DEFAULT_TTL: Duration = Duration::from_secs(32 * 24 * 3600);

/// System-wide token TTL limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// The TTL of a token that asks for none.
    pub default_ttl: Duration,
    /// No token lives longer than this, counted from its creation (periodic tokens excepted).
    pub max_ttl: Duration,
}

impl Default for TokenLimits {
    fn default() -> Self {
        Self {
            default_ttl: DEFAULT_TTL,
            max_ttl: DEFAULT_TTL,
        }
    }
}

/// The inputs of one TTL calculation; zero means "not set" throughout, as in Vault.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TtlRequest {
    /// The increment a renewal asks for.
    pub increment: Duration,
    /// The TTL the token was created with (or that its auth method grants).
    pub base_ttl: Duration,
    pub period: Duration,
    /// A limit from the auth method's role.
    pub backend_max_ttl: Duration,
    pub explicit_max_ttl: Duration,
    /// When the token was created: maximum TTLs count from here.
    pub start: OffsetDateTime,
}

/// Vault's `CalculateTTL`: the TTL to grant now, and a warning for each cap applied.
pub(crate) fn calculate_ttl(
    limits: &TokenLimits,
    request: &TtlRequest,
    now: OffsetDateTime,
) -> Result<(Duration, Vec<String>), TokenError> {
    let mut max_ttl = limits.max_ttl;
    for limit in [request.backend_max_ttl, request.explicit_max_ttl] {
        if !limit.is_zero() && limit < max_ttl {
            max_ttl = limit;
        }
    }
    if max_ttl.is_zero() {
        return Err(TokenError::invalid(
            "the maximum TTL must be greater than zero",
        ));
    }

    let mut warnings = Vec::new();
    let (mut ttl, latest_expiry) = if !request.period.is_zero() {
        let mut period = request.period;
        if period > max_ttl {
            warnings.push(format!(
                "period of {} exceeded the effective max_ttl of {}; period value is capped accordingly",
                seconds(period),
                seconds(max_ttl)
            ));
            period = max_ttl;
        }
        // A periodic token renews forever unless it has an explicit max TTL.
        let latest = if request.explicit_max_ttl.is_zero() {
            None
        } else {
            add(request.start, request.explicit_max_ttl)
        };
        (period, latest)
    } else {
        let ttl = [request.increment, request.base_ttl]
            .into_iter()
            .find(|ttl| !ttl.is_zero())
            .unwrap_or(limits.default_ttl);
        (ttl, add(request.start, max_ttl))
    };

    if let Some(latest) = latest_expiry {
        let left = remaining(latest, now).ok_or(TokenError::PastMaxTtl)?;
        if ttl > left {
            warnings.push(format!(
                "TTL of {} exceeded the effective max_ttl of {}; TTL value is capped accordingly",
                seconds(ttl),
                seconds(left)
            ));
            ttl = left;
        }
    }
    Ok((ttl, warnings))
}

/// A child token must not outlive its parent: parent revocation would otherwise be the
/// only thing ending it, and an expired parent is only revoked lazily.
pub(crate) fn cap_to_parent(
    ttl: Duration,
    parent_expiry: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(Duration, Option<String>), TokenError> {
    let Some(expiry) = parent_expiry else {
        return Ok((ttl, None));
    };
    let left = remaining(expiry, now).ok_or(TokenError::InvalidToken)?;
    if ttl > left {
        let warning = format!(
            "TTL of {} exceeded the parent token's remaining lifetime of {}; TTL value is capped accordingly",
            seconds(ttl),
            seconds(left)
        );
        return Ok((left, Some(warning)));
    }
    Ok((ttl, None))
}

/// `at + duration`, or `None` when it falls off the calendar (treated as "no limit").
pub(crate) fn add(at: OffsetDateTime, duration: Duration) -> Option<OffsetDateTime> {
    time::Duration::try_from(duration)
        .ok()
        .and_then(|duration| at.checked_add(duration))
}

/// Whole seconds from `now` until `until`, or `None` when `until` is not in the future.
pub(crate) fn remaining(until: OffsetDateTime, now: OffsetDateTime) -> Option<Duration> {
    let left = until - now;
    if left <= time::Duration::ZERO {
        return None;
    }
    u64::try_from(left.whole_seconds())
        .ok()
        .filter(|secs| *secs > 0)
        .map(Duration::from_secs)
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const HOUR: Duration = Duration::from_secs(3600);
    const START: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

    fn request() -> TtlRequest {
        TtlRequest {
            increment: Duration::ZERO,
            base_ttl: Duration::ZERO,
            period: Duration::ZERO,
            backend_max_ttl: Duration::ZERO,
            explicit_max_ttl: Duration::ZERO,
            start: START,
        }
    }

    #[test]
    fn defaults_to_the_system_default() {
        let (ttl, warnings) = calculate_ttl(&TokenLimits::default(), &request(), START).unwrap();
        assert_eq!(ttl, DEFAULT_TTL);
        assert!(warnings.is_empty());
    }

    #[test]
    fn increment_beats_base_and_is_capped_by_explicit_max_from_start() {
        let req = TtlRequest {
            increment: 5 * HOUR,
            base_ttl: HOUR,
            explicit_max_ttl: 3 * HOUR,
            ..request()
        };
        let now = START + time::Duration::hours(1);
        let (ttl, warnings) = calculate_ttl(&TokenLimits::default(), &req, now).unwrap();
        assert_eq!(ttl, 2 * HOUR);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("capped"));
    }

    #[test]
    fn past_the_max_cannot_renew() {
        let req = TtlRequest {
            explicit_max_ttl: HOUR,
            ..request()
        };
        let now = START + time::Duration::hours(1);
        assert!(matches!(
            calculate_ttl(&TokenLimits::default(), &req, now),
            Err(TokenError::PastMaxTtl)
        ));
    }

    #[test]
    fn periodic_ignores_the_system_max_from_start() {
        let req = TtlRequest {
            period: HOUR,
            ..request()
        };
        // Far beyond the 32-day system max, a periodic token still renews to its period.
        let now = START + time::Duration::days(100);
        let (ttl, warnings) = calculate_ttl(&TokenLimits::default(), &req, now).unwrap();
        assert_eq!(ttl, HOUR);
        assert!(warnings.is_empty());
    }

    #[test]
    fn parent_cap() {
        let expiry = START + time::Duration::minutes(10);
        let (ttl, warning) = cap_to_parent(HOUR, Some(expiry), START).unwrap();
        assert_eq!(ttl, Duration::from_secs(600));
        assert!(warning.is_some());
        let (ttl, warning) = cap_to_parent(HOUR, None, START).unwrap();
        assert_eq!(ttl, HOUR);
        assert!(warning.is_none());
        assert!(cap_to_parent(HOUR, Some(START), START).is_err());
    }
}
