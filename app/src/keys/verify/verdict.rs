//! The verdict on a presented key, decided in one place for every caller: the REST API's
//! extractor (and so whoami and every key route), the gateway, and `/verify`.
//!
//! `presented -> verify (format, digest, cache or lookup, status) -> allowlist -> rate
//! limit -> Verdict`. Every refusal is counted here, once: a failed guess against the
//! client address, a genuine key's refusal on its meter. An allowed key's outcome depends
//! on how its request ends (a route may still want a scope the key lacks), so whoever
//! answers the request counts it, once, with [`Verified::count`].

use std::net::IpAddr;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbErr};

use super::digest::VerifyError;
use super::meter::Decision;
use super::{Rejection, Verified, Verifier};
use crate::keys::usage::Outcome;
use crate::ssr::Secret;

/// Longest credential looked at (I1): anything longer is refused unread, as malformed.
pub const MAX_PRESENTED_LEN: usize = 256;

/// What a key is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A request made with the key: its allowlist must hold the caller's address, and
    /// the request spends one from its rate limit.
    Request,
    /// A check of the key by a service it was given to (`/verify`): that service may be
    /// anywhere, so the allowlist does not apply, and the rate limit is looked at but
    /// not spent, so a copy of a key cannot lock its holder out (issue 27 §9).
    Check,
}

/// The answer to one presentation of a key.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The key may make this request. `limit` is its rate limit's answer (`None`: the
    /// key has no limit). Not counted yet: count how the request ends.
    Allowed {
        key: Arc<Verified>,
        limit: Option<Decision>,
    },
    /// A genuine, usable key presented from an address its allowlist does not hold.
    IpNotAllowed(Arc<Verified>),
    /// A genuine, usable key over its rate limit (counted).
    RateLimited {
        key: Arc<Verified>,
        decision: Decision,
    },
    /// Not a usable key: malformed, unknown, revoked, expired or paused (counted).
    Refused(VerifyError),
    /// Too many failed verifications from this address: retry after this many seconds.
    Throttled(u64),
}

impl Verifier {
    /// Decides what `presented`, from a caller at `ip`, may do. `Err` only for a
    /// database failure.
    pub async fn authorize(
        &self,
        db: &impl ConnectionTrait,
        secret: &Secret,
        presented: &str,
        ip: Option<IpAddr>,
        purpose: Use,
    ) -> Result<Verdict, DbErr> {
        let verified = if presented.len() > MAX_PRESENTED_LEN {
            // Boxed, as every refusal is (see `Verifier::verify`): counting a failure may
            // wait on the shared store, and its future must not make every request's
            // future larger.
            Err(Box::pin(self.refuse_malformed(ip)).await)
        } else {
            self.verify(db, secret, presented, ip).await?
        };
        let key = match verified {
            Ok(key) => key,
            Err(Rejection::Invalid(reason)) => return Ok(Verdict::Refused(reason)),
            Err(Rejection::RateLimited(wait)) => return Ok(Verdict::Throttled(wait)),
        };
        let limit = match purpose {
            Use::Request => {
                // Before the limit counts the request: a key from elsewhere is refused
                // outright and spends nothing.
                if !key.allows(ip) {
                    return Ok(Verdict::IpNotAllowed(key));
                }
                self.admit(&key).await
            }
            Use::Check => self.rate_limit_state(&key).await,
        };
        Ok(match limit {
            Some(decision) if !decision.allowed => {
                key.count(Outcome::RateLimited);
                Verdict::RateLimited { key, decision }
            }
            limit => Verdict::Allowed { key, limit },
        })
    }
}
