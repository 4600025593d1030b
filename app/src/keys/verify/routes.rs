//! The gateway's route rules and upstreams, per organization: compiled once
//! ([`RuleSet`], [`Prefixes`]) and cached like keys (dropped by [`Invalidation::Permissions`](super::Invalidation), re-read
//! after [`CACHE_TTL`](super::CACHE_TTL) at most), so a gateway request matches its
//! route with no database work. Report-only rules count their would-be denials on
//! atomics, written to the database by the usage flush.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::Verifier;
use super::meter::{KeyMeter, RouteOutcome};
use crate::entities::{organization, route_rule, upstream};
use crate::permissions::Grants;
use crate::permissions::routes::{Methods, Pattern, RuleSet, Unmatched};
use crate::permissions::upstreams::Prefixes;

/// One compiled rule: what it requires, and where a report-only denial is counted.
#[derive(Debug)]
pub struct Required {
    /// What the key's meter counts the rule's requests under.
    pub id: Arc<str>,
    /// `GET /invoices/{id}`: for logs and answers.
    pub route: String,
    pub permissions: Vec<String>,
    pub report_only: bool,
    would_deny: Arc<AtomicU64>,
}

pub type Routes = RuleSet<Required>;

/// What the gateway knows of one organization: its route rules, and its upstreams by
/// path prefix (each URL as the server parsed it when saved).
#[derive(Debug, Default)]
pub struct OrgGateway {
    pub rules: Routes,
    pub upstreams: Prefixes<http::Uri>,
}

/// What the route rules say about one request.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteVerdict<'a> {
    /// Let through (the matching rule, if one matched).
    Allowed(Option<&'a str>),
    /// A report-only rule would have refused: let through, counted and logged.
    WouldDeny {
        rule: &'a str,
        missing: Vec<&'a str>,
    },
    /// Refused: the rule's permissions the key lacks (`rule` `None`: no rule matched and
    /// the organization refuses unmatched routes).
    Denied {
        rule: Option<&'a str>,
        missing: Vec<&'a str>,
    },
}

impl Routes {
    /// Decides a request by `grants` (`None`: a key with no permissions), and counts it
    /// on the key's `meter` under the rule that decided it.
    pub fn decide<'a>(
        &'a self,
        grants: Option<&Grants>,
        meter: &KeyMeter,
        method: &str,
        path: &str,
    ) -> RouteVerdict<'a> {
        let Some(rule) = self.matching(method, path) else {
            return match self.unmatched {
                Unmatched::Allow => RouteVerdict::Allowed(None),
                Unmatched::Deny => RouteVerdict::Denied {
                    rule: None,
                    missing: Vec::new(),
                },
            };
        };
        let empty = Grants::default();
        let missing = grants.unwrap_or(&empty).missing(&rule.permissions);
        if missing.is_empty() {
            meter.count_rule(&rule.id, RouteOutcome::Allowed);
            RouteVerdict::Allowed(Some(&rule.route))
        } else if rule.report_only {
            rule.would_deny.fetch_add(1, Ordering::Relaxed);
            meter.count_rule(&rule.id, RouteOutcome::WouldDeny);
            RouteVerdict::WouldDeny {
                rule: &rule.route,
                missing,
            }
        } else {
            meter.count_rule(&rule.id, RouteOutcome::Denied);
            RouteVerdict::Denied {
                rule: Some(&rule.route),
                missing,
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    routes: Arc<OrgGateway>,
    cached_at: Instant,
}

#[derive(Debug, Default)]
pub(super) struct RouteCache {
    by_org: papaya::HashMap<String, Entry>,
    /// Report-only denials not yet written, by rule id: kept apart from the compiled sets,
    /// which are replaced whenever the rules change.
    counts: papaya::HashMap<String, Arc<AtomicU64>>,
    /// Each rule's method, path and permissions as last compiled, by id: what the usage
    /// flush writes beside the requests a key made under it.
    labels: papaya::HashMap<Arc<str>, Arc<RuleLabel>>,
}

/// A rule as the per-key usage records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLabel {
    pub route: String,
    /// Space-separated.
    pub permissions: String,
}

/// The prefix of what a key's meter counts a `/verify` question's permissions under.
pub const VERIFY_RULE: &str = "verify ";

impl Verifier {
    /// The organization's route rules, compiled, and its upstreams: from the cache, or
    /// read once.
    pub async fn routes(
        &self,
        db: &impl ConnectionTrait,
        org_id: &str,
    ) -> Result<Arc<OrgGateway>, DbErr> {
        if let Some(entry) = self.routes.by_org.pin().get(org_id)
            && entry.cached_at.elapsed() < self.ttl
        {
            return Ok(entry.routes.clone());
        }
        Box::pin(self.load_routes(db, org_id)).await
    }

    async fn load_routes(
        &self,
        db: &impl ConnectionTrait,
        org_id: &str,
    ) -> Result<Arc<OrgGateway>, DbErr> {
        let generation = self.generation.load(Ordering::SeqCst);
        let unmatched = match organization::Entity::find_by_id(org_id.to_owned())
            .one(db)
            .await?
        {
            Some(org) if org.deny_unmatched_routes => Unmatched::Deny,
            _ => Unmatched::Allow,
        };
        let rows = route_rule::Entity::find()
            .filter(route_rule::Column::OrgId.eq(org_id))
            .order_by_asc(route_rule::Column::Position)
            .all(db)
            .await?;
        let upstreams = upstream::Entity::find()
            .filter(upstream::Column::OrgId.eq(org_id))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|row| match row.url.parse::<http::Uri>() {
                Ok(uri) => Some((row.prefix, uri)),
                Err(_) => {
                    tracing::warn!(prefix = %row.prefix, "an upstream URL that cannot be read is ignored");
                    None
                }
            });
        // Not held across an await: a pinned guard is not `Send`.
        let counts = self.routes.counts.pin();
        let labels = self.routes.labels.pin();
        let compiled = rows.into_iter().filter_map(|row| {
            // Rules were checked when saved; one a newer version wrote and this one cannot
            // read is left out, and said so.
            let (Ok(methods), Ok(pattern)) =
                (Methods::parse(&row.methods), Pattern::parse(&row.path))
            else {
                tracing::warn!(rule = %row.id, "a route rule this version cannot read is ignored");
                return None;
            };
            let would_deny = counts
                .get_or_insert_with(row.id.clone(), Arc::default)
                .clone();
            let id: Arc<str> = Arc::from(row.id);
            let route = format!("{} {}", methods.text(), row.path);
            labels.insert(
                id.clone(),
                Arc::new(RuleLabel {
                    route: route.clone(),
                    permissions: row.permissions.clone(),
                }),
            );
            Some((
                methods,
                pattern,
                Required {
                    route,
                    permissions: row
                        .permissions
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    report_only: row.report_only,
                    id,
                    would_deny,
                },
            ))
        });
        let rules = RuleSet::new(compiled, unmatched);
        let routes = Arc::new(OrgGateway {
            rules,
            upstreams: Prefixes::new(upstreams),
        });
        if self.generation.load(Ordering::SeqCst) == generation {
            self.routes.by_org.pin().insert(
                org_id.to_owned(),
                Entry {
                    routes: routes.clone(),
                    cached_at: Instant::now(),
                },
            );
        }
        Ok(routes)
    }

    /// After the organization's catalog or route rules changed (here or on another
    /// instance): its keys' grants and its rules are read again.
    pub fn forget_org_permissions(&self, org_id: &str) {
        self.invalidate(|p| p.org_id == org_id);
        self.routes.by_org.pin().remove(org_id);
    }

    /// Takes the report-only denials counted since the last call, by rule id.
    pub(super) fn take_route_counts(&self) -> HashMap<String, u64> {
        let counts = self.routes.counts.pin();
        let mut taken = HashMap::new();
        for (id, count) in counts.iter() {
            let n = count.swap(0, Ordering::Relaxed);
            if n > 0 {
                taken.insert(id.clone(), n);
            }
        }
        taken
    }

    /// What the usage flush writes beside a key's requests under `rule` (a rule's id, or
    /// [`VERIFY_RULE`] and a permission); `None` for a rule this instance never compiled.
    pub(super) fn rule_label(&self, rule: &str) -> Option<Arc<RuleLabel>> {
        if let Some(permission) = rule.strip_prefix(VERIFY_RULE) {
            return Some(Arc::new(RuleLabel {
                route: "POST /api/v1/verify".to_owned(),
                permissions: permission.to_owned(),
            }));
        }
        self.routes.labels.pin().get(rule).cloned()
    }

    /// Puts back counts whose write failed.
    pub(super) fn return_route_counts(&self, counts: HashMap<String, u64>) {
        let pinned = self.routes.counts.pin();
        for (id, n) in counts {
            pinned
                .get_or_insert_with(id, Arc::default)
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::parse_grants;

    fn rule(
        methods: &str,
        path: &str,
        permissions: &str,
        report_only: bool,
    ) -> (Methods, Pattern, Required) {
        (
            Methods::parse(methods).unwrap(),
            Pattern::parse(path).unwrap(),
            Required {
                id: Arc::from(format!("rul_{path}")),
                route: format!("{methods} {path}"),
                permissions: permissions.split_whitespace().map(str::to_owned).collect(),
                report_only,
                would_deny: Arc::default(),
            },
        )
    }

    #[test]
    fn rules_decide_report_only_counts_and_the_default_applies() {
        let routes = RuleSet::new(
            [
                rule("GET", "/invoices/*", "invoices:read", false),
                rule("POST", "/invoices/*", "invoices:write", false),
                rule("*", "/refunds/*", "refunds:write", true),
            ],
            Unmatched::Deny,
        );
        let reader = Grants::new(parse_grants(["invoices:read"]).unwrap());
        let meters = crate::keys::verify::meter::Meters::default();
        let meter = meters.meter("org_1", "key_1");
        let meter = &*meter;
        assert_eq!(
            routes.decide(Some(&reader), meter, "GET", "/invoices/1"),
            RouteVerdict::Allowed(Some("GET /invoices/*"))
        );
        assert_eq!(
            routes.decide(Some(&reader), meter, "POST", "/invoices/1"),
            RouteVerdict::Denied {
                rule: Some("POST /invoices/*"),
                missing: vec!["invoices:write"]
            }
        );
        assert_eq!(
            routes.decide(None, meter, "DELETE", "/refunds/1"),
            RouteVerdict::WouldDeny {
                rule: "* /refunds/*",
                missing: vec!["refunds:write"]
            }
        );
        assert_eq!(
            routes.decide(Some(&reader), meter, "GET", "/other"),
            RouteVerdict::Denied {
                rule: None,
                missing: vec![]
            }
        );
        let counted = routes.matching("DELETE", "/refunds/1").unwrap();
        assert_eq!(counted.would_deny.load(Ordering::Relaxed), 1);
        // Each decided request is counted on the key under its rule and outcome; the
        // unmatched one under none.
        let mut taken = meters.drain(0).rules;
        taken.sort_by(|a, b| a.1.cmp(&b.1));
        let taken: Vec<(&str, [u32; 3])> = taken.iter().map(|(_, rule, n)| (&**rule, *n)).collect();
        assert_eq!(
            taken,
            vec![
                ("rul_/invoices/*", [1, 0, 1]),
                ("rul_/refunds/*", [0, 1, 0]),
            ]
        );
    }
}
