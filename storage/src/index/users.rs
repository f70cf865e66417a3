//! Local users (HTTP Basic), each bound to one tenant.

use serde::Serialize;
use sqlx::Row;

use super::connection::Index;
use crate::error::Result;
use crate::tenant::TenantId;

/// A local user (HTTP Basic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Login name (unique over every tenant).
    pub name: String,
    /// PHC string (argon2id); never serialized.
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// Role names, comma-separated.
    pub roles: String,
    /// The tenant the user belongs to ('' for the implicit one).
    pub tenant: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Refused at login until enabled again.
    pub disabled: bool,
}

impl Index {
    /// The user with this name.
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT name, password_hash, roles, created_at, tenant_id, disabled FROM app_user WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| user_row(&r)).transpose()?)
    }

    /// Every user of `tenant` (every tenant's: `None`), by name.
    pub async fn users(&self, tenant: Option<&TenantId>) -> Result<Vec<UserRow>> {
        const SELECT: &str =
            "SELECT name, password_hash, roles, created_at, tenant_id, disabled FROM app_user";
        let rows = match tenant {
            None => {
                sqlx::query(&format!("{SELECT} ORDER BY name"))
                    .fetch_all(self.pool())
                    .await?
            }
            Some(t) => {
                sqlx::query(&format!("{SELECT} WHERE tenant_id = $1 ORDER BY name"))
                    .bind(t.as_str())
                    .fetch_all(self.pool())
                    .await?
            }
        };
        Ok(rows.iter().map(user_row).collect::<sqlx::Result<_>>()?)
    }

    /// Add a user or replace its password, roles and tenant. With `within`,
    /// an existing user is changed only if it is of that tenant (decided in
    /// the one statement, so two tenants adding one name at once cannot
    /// take over each other's user); false when it is another tenant's.
    pub async fn put_user(&self, user: &UserRow, within: Option<&TenantId>) -> Result<bool> {
        let mut sql = "INSERT INTO app_user (name, password_hash, roles, created_at, tenant_id) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, \
             roles = excluded.roles, tenant_id = excluded.tenant_id"
            .to_owned();
        if within.is_some() {
            sql.push_str(" WHERE app_user.tenant_id = $6");
        }
        let mut q = sqlx::query(&sql)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(&user.roles)
            .bind(user.created_at)
            .bind(&user.tenant);
        if let Some(t) = within {
            q = q.bind(t.as_str());
        }
        let (_guard, mut tx) = self.begin_write().await?;
        let changed = q.execute(&mut *tx).await?.rows_affected() > 0;
        tx.commit().await?;
        Ok(changed)
    }

    /// Disable or enable a user (of `within` only, when given); false when
    /// there is none.
    pub async fn set_user_disabled(
        &self,
        name: &str,
        disabled: bool,
        within: Option<&TenantId>,
    ) -> Result<bool> {
        let mut sql = "UPDATE app_user SET disabled = $1 WHERE name = $2".to_owned();
        if within.is_some() {
            sql.push_str(" AND tenant_id = $3");
        }
        let mut q = sqlx::query(&sql).bind(i64::from(disabled)).bind(name);
        if let Some(t) = within {
            q = q.bind(t.as_str());
        }
        let (_guard, mut tx) = self.begin_write().await?;
        let changed = q.execute(&mut *tx).await?.rows_affected() > 0;
        tx.commit().await?;
        Ok(changed)
    }

    /// Remove a user (of `within` only, when given); false when there was
    /// none.
    pub async fn remove_user(&self, name: &str, within: Option<&TenantId>) -> Result<bool> {
        let (_guard, mut tx) = self.begin_write().await?;
        let r = match within {
            None => {
                sqlx::query("DELETE FROM app_user WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
            }
            Some(t) => {
                sqlx::query("DELETE FROM app_user WHERE name = $1 AND tenant_id = $2")
                    .bind(name)
                    .bind(t.as_str())
                    .execute(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }
}

fn user_row(r: &sqlx::any::AnyRow) -> sqlx::Result<UserRow> {
    Ok(UserRow {
        name: r.try_get(0)?,
        password_hash: r.try_get(1)?,
        roles: r.try_get(2)?,
        created_at: r.try_get(3)?,
        tenant: r.try_get(4)?,
        disabled: r.try_get::<i64, _>(5)? != 0,
    })
}
