//! Shares: a study opened by a link (see the service's `shares`). The
//! index keeps the token's SHA-256, the PIN's hash, the expiry, the
//! revocation, the PIN failures and lock, and how often it was opened.

use sqlx::Row;

use super::rows::now_millis;
use super::Index;
use crate::error::Result;
use crate::tenant::TenantId;

/// A share as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Its id (for management; not a secret).
    pub id: i64,
    /// Whose study.
    pub tenant: TenantId,
    /// The study it opens.
    pub study_instance_uid: String,
    /// SHA-256 of the link's token, hex.
    pub token_hash: String,
    /// The PIN's hash; empty: no PIN.
    pub pin_hash: String,
    /// Who made it.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms; 0: not revoked.
    pub revoked_at: i64,
    /// Wrong PINs in a row (since the last right one).
    pub failed_pins: i64,
    /// Wrong PINs in its life.
    pub failed_pins_total: i64,
    /// Unix ms until which PINs are not checked; 0: not locked.
    pub locked_until: i64,
    /// Times opened.
    pub access_count: i64,
    /// Unix ms; 0: never.
    pub last_access_at: i64,
}

const COLUMNS: &str = "id, tenant_id, study_instance_uid, token_hash, pin_hash, created_by, \
                       created_at, expires_at, revoked_at, failed_pins, locked_until, \
                       access_count, last_access_at, failed_pins_total";

fn share_of(r: &sqlx::any::AnyRow) -> Result<Share> {
    Ok(Share {
        id: r.try_get(0)?,
        tenant: TenantId::parse(&r.try_get::<String, _>(1)?)?,
        study_instance_uid: r.try_get(2)?,
        token_hash: r.try_get(3)?,
        pin_hash: r.try_get(4)?,
        created_by: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
        failed_pins: r.try_get(9)?,
        locked_until: r.try_get(10)?,
        access_count: r.try_get(11)?,
        last_access_at: r.try_get(12)?,
        failed_pins_total: r.try_get(13)?,
    })
}

impl Index {
    /// Record a new share; its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_share(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
        token_hash: &str,
        pin_hash: &str,
        created_by: &str,
        expires_at: i64,
    ) -> Result<i64> {
        let (_guard, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO share (tenant_id, study_instance_uid, token_hash, pin_hash, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(study_instance_uid)
        .bind(token_hash)
        .bind(pin_hash)
        .bind(created_by)
        .bind(now_millis())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The share whose token hashes to `token_hash`.
    pub async fn share_by_token_hash(&self, token_hash: &str) -> Result<Option<Share>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM share WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(share_of).transpose()
    }

    /// A share by id, within `tenant` (`None`: any tenant).
    pub async fn share(&self, tenant: Option<&TenantId>, id: i64) -> Result<Option<Share>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM share WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row
            .as_ref()
            .map(share_of)
            .transpose()?
            .filter(|s| tenant.is_none_or(|t| t == &s.tenant)))
    }

    /// The shares of `tenant` (`None`: every tenant), of one study or all,
    /// newest first.
    pub async fn shares(
        &self,
        tenant: Option<&TenantId>,
        study_instance_uid: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Share>> {
        let sql = format!("SELECT {COLUMNS} FROM share WHERE 1 = 1");
        let rows = self
            .newest_of(sql, tenant, study_instance_uid, limit)
            .await?;
        rows.iter().map(share_of).collect()
    }

    /// Revoke a share now; `false` when it was revoked already.
    pub async fn revoke_share(&self, id: i64) -> Result<bool> {
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query("UPDATE share SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0")
            .bind(now_millis())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Count an opening of the share.
    pub async fn share_opened(&self, id: i64) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE share SET access_count = access_count + 1, last_access_at = $1 WHERE id = $2",
        )
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reserve a PIN attempt, before the PIN is checked: counted at once
    /// (so attempts sent together cannot pass a lock they would reach);
    /// the `max_failures`-th in a row locks the share for `lock_ms`, and
    /// after `max_total` failures in its life it stays locked. `None` when
    /// it is locked now (no attempt allowed).
    pub async fn reserve_pin_attempt(
        &self,
        id: i64,
        max_failures: i64,
        lock_ms: i64,
        max_total: i64,
    ) -> Result<Option<Share>> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE share SET failed_pins = failed_pins + 1, \
             failed_pins_total = failed_pins_total + 1, \
             locked_until = CASE WHEN failed_pins_total + 1 >= $1 THEN $2 \
             WHEN failed_pins + 1 >= $3 THEN $4 ELSE locked_until END \
             WHERE id = $5 AND locked_until <= $6",
        )
        .bind(max_total)
        .bind(i64::MAX)
        .bind(max_failures)
        .bind(now + lock_ms)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM share WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        if n == 0 {
            return Ok(None);
        }
        row.as_ref().map(share_of).transpose()
    }

    /// The right PIN: the reserved attempt did not fail; the count of
    /// failures in a row starts again (the lifetime count stays).
    pub async fn share_pin_passed(&self, id: i64) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE share SET failed_pins = 0, failed_pins_total = failed_pins_total - 1, \
             locked_until = CASE WHEN locked_until = $1 THEN locked_until ELSE 0 END \
             WHERE id = $2",
        )
        .bind(i64::MAX)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
