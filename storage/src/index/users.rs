//! Local users (HTTP Basic), each bound to one tenant.

use serde::Serialize;
use sqlx::Row;

use super::connection::Index;
use crate::error::Result;

/// A local user (HTTP Basic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Login name (unique over every tenant).
    pub name: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Role names, comma-separated.
    pub roles: String,
    /// The tenant the user belongs to ('' for the implicit one).
    pub tenant: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Index {
    /// The user with this name.
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT name, password_hash, roles, created_at, tenant_id FROM app_user WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| user_row(&r)).transpose()?)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(
            "SELECT name, password_hash, roles, created_at, tenant_id FROM app_user ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(user_row).collect::<sqlx::Result<_>>()?)
    }

    /// Add a user or replace its password, roles and tenant.
    pub async fn put_user(&self, user: &UserRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_user (name, password_hash, roles, created_at, tenant_id) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, \
             roles = excluded.roles, tenant_id = excluded.tenant_id",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(&user.roles)
        .bind(user.created_at)
        .bind(&user.tenant)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Remove a user; false when there was none.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM app_user WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
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
    })
}
