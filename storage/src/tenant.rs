//! Tenants: one deployment, many hospitals.
//!
//! Every patient, study, series and instance row belongs to one tenant, and
//! UIDs are unique within a tenant only: the same Study Instance UID may be
//! stored by two hospitals without mixing. The storage crate partitions by
//! tenant and filters by it; who may see which tenant is the server's
//! business.
//!
//! A tenant ID is short, lower-case ASCII (`[a-z0-9][a-z0-9-]{0,31}`), so it
//! can name an object-key prefix and a config entry safely. The empty ID is
//! the implicit tenant of a deployment without tenants (and of every row
//! stored before tenants existed).

use std::fmt;

use crate::error::{Error, Result};

/// A tenant's ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// The implicit tenant (no `[[tenants]]` configured).
    pub const IMPLICIT: TenantId = TenantId(String::new());

    /// The implicit tenant, as a value.
    pub fn implicit() -> Self {
        Self::IMPLICIT
    }

    /// Validate a tenant ID; the empty string is the implicit tenant.
    pub fn parse(value: &str) -> Result<Self> {
        let ok = value.is_empty()
            || (value.len() <= 32
                && value
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        if !ok {
            return Err(Error::InvalidTenant {
                value: value.to_owned(),
            });
        }
        Ok(TenantId(value.to_owned()))
    }

    /// The ID as stored (empty for the implicit tenant).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the implicit tenant.
    pub fn is_implicit(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for TenantId {
    /// The ID, or `(default)` for the implicit tenant.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(default)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Which tenants a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantScope<'a> {
    /// One tenant.
    One(&'a TenantId),
    /// Every tenant (the platform).
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_checked() {
        assert!(TenantId::parse("").unwrap().is_implicit());
        assert_eq!(TenantId::parse("bv-hd1").unwrap().as_str(), "bv-hd1");
        assert_eq!(TenantId::parse("").unwrap().to_string(), "(default)");
        for bad in ["-a", "A", "a/b", "a b", "../x", &"a".repeat(33), "é"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
