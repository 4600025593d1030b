//! Failed verifications counted per client address (K7): over the limit, an address gets
//! 429 for anything the cache cannot answer, so a flood of bad keys never reaches the
//! database. Counted in Redis when limits are shared, else in this instance's bounded
//! [`FixedWindows`](crate::windows::FixedWindows), the same counter the login throttle uses.

use std::net::IpAddr;
use std::time::Instant;

use super::digest::VerifyError;
use super::meter::STATS;
use super::{FAILURE_WINDOW, Rejection, Verifier};
use crate::ssr::address_bucket;

impl Verifier {
    /// Counts a leak report of `keys` well-formed keys from `ip` against the same
    /// per-address budget as failed verifications, one unit per key, as if each had been
    /// tried (a report must not be a cheaper way to test keys); `Err(retry_after)` when
    /// over it.
    pub async fn count_report(&self, ip: Option<IpAddr>, keys: u32) -> Result<(), u64> {
        STATS.malformed.add(1);
        match self
            .count_failures(ip, VerifyError::Malformed, keys.max(1))
            .await
        {
            Rejection::RateLimited(retry_after) => {
                STATS.address_limited.add(1);
                Err(retry_after)
            }
            Rejection::Invalid(_) => Ok(()),
        }
    }

    /// A credential that cannot be a key at all (too long, not ASCII) still counts.
    pub async fn refuse_malformed(&self, ip: Option<IpAddr>) -> Rejection {
        self.fail(ip, VerifyError::Malformed).await
    }

    /// Counts a failure; the one that goes over the limit is answered 429. In Redis when
    /// limits are shared, else (or while it is down) in this instance's map.
    pub(super) async fn fail(&self, ip: Option<IpAddr>, reason: VerifyError) -> Rejection {
        match reason {
            VerifyError::Unknown => STATS.unknown.add(1),
            VerifyError::Malformed => STATS.malformed.add(1),
            // Known keys are counted on their meter.
            _ => {}
        }
        let rejection = self.count_failures(ip, reason, 1).await;
        if matches!(rejection, Rejection::RateLimited(_)) {
            STATS.address_limited.add(1);
        }
        rejection
    }

    pub(super) async fn count_failures(
        &self,
        ip: Option<IpAddr>,
        reason: VerifyError,
        n: u32,
    ) -> Rejection {
        let Some(ip) = ip.map(address_bucket) else {
            return Rejection::Invalid(reason);
        };
        if self.shared.is_shared()
            && let Some((count, left)) = self
                .shared
                .hit(&format!("fail:{ip}"), FAILURE_WINDOW, n)
                .await
        {
            return if count > self.failure_limit {
                Rejection::RateLimited(left.as_secs().max(1))
            } else {
                Rejection::Invalid(reason)
            };
        }
        let limit = self.failure_limit;
        let (count, left) = self.failures.lock().unwrap_or_else(|p| p.into_inner()).add(
            ip,
            n,
            Instant::now(),
            |_, count| count > limit,
        );
        if count > limit {
            Rejection::RateLimited(left.as_secs().max(1))
        } else {
            Rejection::Invalid(reason)
        }
    }

    /// Seconds to wait when `ip` is over its failure limit.
    pub(super) async fn limited(&self, ip: Option<IpAddr>) -> Option<u64> {
        let ip = address_bucket(ip?);
        if self.shared.is_shared()
            && let Some((count, left)) = self.shared.peek(&format!("fail:{ip}")).await
        {
            return (count >= self.failure_limit && !left.is_zero()).then(|| left.as_secs().max(1));
        }
        let (count, left) = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip, Instant::now())?;
        (count >= self.failure_limit).then(|| left.as_secs().max(1))
    }
}
