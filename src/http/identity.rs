//! Who a request comes from, once authenticated: a local user, an OIDC
//! token's subject, or anonymous access from this machine.

use storage::TenantId;

use crate::service::{ActorKind, Role};

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name, OIDC subject, or `anonymous`.
    pub name: String,
    /// What kind.
    pub kind: ActorKind,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The hospital it works for.
    pub tenant: TenantId,
}

impl Identity {
    /// Anyone on this machine while authentication is off: the platform.
    pub fn anonymous() -> Self {
        Identity {
            name: "anonymous".into(),
            kind: ActorKind::Anonymous,
            roles: vec![Role::PlatformAdmin],
            tenant: TenantId::implicit(),
        }
    }
}
