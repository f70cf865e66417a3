//! Local users (HTTP Basic): add, change, remove, list. Each belongs to one
//! tenant; only the platform gives the platform-admin role or reaches
//! another tenant's users.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use storage::{TenantId, UserRow};

use super::{Context, Error, Result, Right, Role, Service};
use crate::audit::Action;

/// A user to add or change.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// The tenant (hospital) the user works for.
    pub tenant: TenantId,
    /// The password, in clear; hashed here.
    pub password: String,
}

impl Service {
    /// Add a user, or change an existing one's password, roles and tenant.
    pub async fn put_user(&self, ctx: &Context, user: NewUser) -> Result<()> {
        self.require(ctx, Right::Users, Action::Users, "users")
            .await?;
        if user.name.is_empty() || user.name.contains(':') || user.name.chars().count() > 128 {
            return Err(Error::invalid(
                "a user name is 1 to 128 characters without ':'",
            ));
        }
        // An existing user's roles change without a new password.
        let keep_password = user.password.is_empty();
        if !keep_password && user.password.chars().count() < 8 {
            return Err(Error::invalid(
                "the password must have at least 8 characters",
            ));
        }
        if user.roles.is_empty() {
            return Err(Error::invalid("a user has at least one role"));
        }
        if !self.peers().is_tenant(&user.tenant) {
            return Err(Error::invalid(format!(
                "tenant {} is not in [[tenants]]",
                user.tenant
            )));
        }
        self.confine_users(ctx, &user.tenant, &user.roles)?;
        let index = self.archive().index();
        let existing = index.user(&user.name).await?;
        if let Some(e) = &existing {
            self.confine_existing(ctx, e)?;
        }
        let hash = match (&existing, keep_password) {
            (Some(e), true) => e.password_hash.clone(),
            (None, true) => {
                return Err(Error::invalid(
                    "a new user needs a password (8 or more characters)",
                ))
            }
            (_, false) => {
                let password = user.password;
                tokio::task::spawn_blocking(move || hash_password(&password))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .map_err(|e| Error::Internal(e.to_string()))?
            }
        };
        let detail = format!(
            "user {}: {} in tenant {}",
            user.name,
            Role::join(&user.roles),
            user.tenant
        );
        let row = UserRow {
            name: user.name.clone(),
            password_hash: hash,
            roles: Role::join(&user.roles),
            tenant: user.tenant.as_str().to_owned(),
            created_at: existing
                .as_ref()
                .map_or_else(storage::now_millis, |u| u.created_at),
            disabled: existing.is_some_and(|u| u.disabled),
        };
        if !index.put_user(&row, ctx.tenant()).await? {
            // Another tenant's user of that name appeared meanwhile.
            return Err(Error::not_found("no such user in this tenant"));
        }
        self.users_changed();
        self.record(
            ctx,
            Action::Users,
            None,
            Some(&user.tenant),
            Default::default(),
            &detail,
        )
        .await;
        Ok(())
    }

    /// How many times users changed in this process: credentials checked
    /// under an older count are checked again.
    pub fn users_generation(&self) -> u64 {
        self.inner
            .users_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn users_changed(&self) {
        self.inner
            .users_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Disable a user (refused at login, kept with its roles) or enable it
    /// again; false when there is none.
    pub async fn set_user_disabled(
        &self,
        ctx: &Context,
        name: &str,
        disabled: bool,
    ) -> Result<bool> {
        self.require(ctx, Right::Users, Action::Users, "users")
            .await?;
        let index = self.archive().index();
        let Some(u) = index.user(name).await? else {
            return Ok(false);
        };
        let tenant = self.confine_existing(ctx, &u)?;
        let done = index
            .set_user_disabled(name, disabled, ctx.tenant())
            .await?;
        self.users_changed();
        self.record(
            ctx,
            Action::Users,
            None,
            Some(&tenant),
            Default::default(),
            &format!(
                "user {name} {}",
                if disabled { "disabled" } else { "enabled" }
            ),
        )
        .await;
        Ok(done)
    }

    /// Remove a user; false when there was none.
    pub async fn remove_user(&self, ctx: &Context, name: &str) -> Result<bool> {
        self.require(ctx, Right::Users, Action::Users, "users")
            .await?;
        let index = self.archive().index();
        match index.user(name).await? {
            None => Ok(false),
            Some(u) => {
                let tenant = self.confine_existing(ctx, &u)?;
                let removed = index.remove_user(name, ctx.tenant()).await?;
                self.users_changed();
                let detail = format!("user {name} removed");
                self.record(
                    ctx,
                    Action::Users,
                    None,
                    Some(&tenant),
                    Default::default(),
                    &detail,
                )
                .await;
                Ok(removed)
            }
        }
    }

    /// The user logging in with this name, to check the password against:
    /// authentication comes before any context, so this is the one read
    /// that takes none (it discloses nothing to the client).
    pub async fn login_user(&self, name: &str) -> Result<Option<UserRow>> {
        Ok(self.archive().index().user(name).await?)
    }

    /// The users the caller may see, by name (password hashes included:
    /// callers never show them).
    pub async fn users(&self, ctx: &Context) -> Result<Vec<UserRow>> {
        self.require(ctx, Right::Users, Action::Users, "users")
            .await?;
        Ok(self.archive().index().users(ctx.tenant()).await?)
    }

    /// A tenant administrator manages its own tenant's users and cannot
    /// make platform administrators.
    /// May `ctx` change the existing user `u` (its tenant's, and no
    /// platform administrator for a tenant's administrator)? Its tenant.
    fn confine_existing(&self, ctx: &Context, u: &UserRow) -> Result<TenantId> {
        let tenant = TenantId::parse(&u.tenant)?;
        let held = Role::parse_list(&u.roles).unwrap_or_default();
        self.confine_users(ctx, &tenant, &held)?;
        Ok(tenant)
    }

    fn confine_users(&self, ctx: &Context, tenant: &TenantId, roles: &[Role]) -> Result<()> {
        match ctx.tenant() {
            None => Ok(()),
            Some(own) if own != tenant => Err(Error::not_found("no such user in this tenant")),
            Some(_) if roles.contains(&Role::PlatformAdmin) => Err(Error::Forbidden(
                "only the platform gives, changes or removes the platform-admin role".into(),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Hash a password for storage (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` is the one `hash` was made from.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "Correct horse"));
        assert!(!verify_password("not a hash", "x"));
    }
}
