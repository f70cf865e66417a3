//! Shares: the patient's e-film. A person with the right `Share` makes a
//! link to one study, for a limited time, optionally behind a 6-digit PIN;
//! whoever holds the link opens that study, and nothing else, until it
//! expires or is revoked.
//!
//! The link's token is 256 random bits, kept only as its SHA-256, so the
//! index cannot give a link away. The PIN is kept as a password hash; five
//! wrong PINs lock the share for 15 minutes. Every opening, image,
//! download and wrong PIN is an audit event of the share's actor
//! (`share:ID`).

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use storage::index::{now_millis, Share};
use storage::TenantId;

use super::{Actor, ActorKind, Context, Error, Protocol, Result, Right, Role, Service};
use crate::audit::Action;

/// Wrong PINs before a share locks.
pub const MAX_PIN_FAILURES: i64 = 5;
/// How long a share stays locked after too many wrong PINs.
pub const PIN_LOCK_MS: i64 = 15 * 60 * 1000;
/// Wrong PINs in a share's life after which it stays locked (staff make a
/// new one).
pub const MAX_PIN_FAILURES_EVER: i64 = 20;
/// How long a browser's proof of the PIN lasts.
pub const PIN_PROOF_MS: i64 = 24 * 3600 * 1000;
/// The longest a share may last.
pub const MAX_LIFETIME_MS: i64 = 366 * 24 * 3600 * 1000;

/// A share as its managers see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShareView {
    /// Its id.
    pub id: i64,
    /// The study.
    pub study: String,
    /// Its tenant.
    pub tenant: String,
    /// Whether it needs a PIN.
    pub pin_required: bool,
    /// Who made it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `active`, `expired`, `revoked`, `locked`.
    pub state: String,
    /// Times opened.
    pub access_count: i64,
    /// RFC 3339; empty: never.
    pub last_access_at: String,
}

/// A share just made: the only time its link and PIN exist in clear.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewShare {
    /// Its id.
    pub id: i64,
    /// The token of the link `/s/{token}`.
    pub token: String,
    /// The PIN, when one was asked for.
    pub pin: Option<String>,
    /// RFC 3339.
    pub expires_at: String,
}

/// Why a share does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// No such share, or revoked.
    NotFound,
    /// Past its expiry.
    Expired,
    /// Too many wrong PINs; until this time (Unix ms).
    Locked(i64),
    /// It needs its PIN.
    PinRequired,
}

/// An open share: the study, and the context its requests run in.
#[derive(Debug, Clone)]
pub struct OpenShare {
    /// The share.
    pub share: Share,
    /// A viewer of the share's tenant, acting as `share:ID`.
    pub ctx: Context,
}

fn rfc3339(ms: i64) -> String {
    if ms == 0 {
        return String::new();
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The proof a browser keeps (a cookie) once it gave the right PIN at
/// `issued` (Unix ms): `issued.mac`, where the MAC cannot be made without
/// the PIN's stored (salted) hash, which never leaves the server. Good
/// for [`PIN_PROOF_MS`].
pub fn pin_proof(share: &Share, issued: i64) -> String {
    format!("{issued}.{}", proof_mac(share, issued))
}

fn proof_mac(share: &Share, issued: i64) -> String {
    hex::encode(Sha256::digest(
        format!("{}\n{}\n{issued}", share.token_hash, share.pin_hash).as_bytes(),
    ))
}

/// Whether `given` is a valid, unexpired proof of the PIN of `share`
/// (compared in constant time).
pub fn pin_proof_holds(share: &Share, given: &str, now: i64) -> bool {
    let Some((issued, mac)) = given.split_once('.') else {
        return false;
    };
    let Ok(issued) = issued.parse::<i64>() else {
        return false;
    };
    if issued > now || now - issued > PIN_PROOF_MS {
        return false;
    }
    let want = proof_mac(share, issued);
    want.len() == mac.len()
        && want
            .bytes()
            .zip(mac.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn view(s: Share) -> ShareView {
    let now = now_millis();
    let state = if s.revoked_at != 0 {
        "revoked"
    } else if s.expires_at <= now {
        "expired"
    } else if s.locked_until > now {
        "locked"
    } else {
        "active"
    };
    ShareView {
        id: s.id,
        study: s.study_instance_uid,
        tenant: s.tenant.to_string(),
        pin_required: !s.pin_hash.is_empty(),
        created_by: s.created_by,
        created_at: rfc3339(s.created_at),
        expires_at: rfc3339(s.expires_at),
        state: state.to_owned(),
        access_count: s.access_count,
        last_access_at: rfc3339(s.last_access_at),
    }
}

impl Service {
    /// Make a share of `study` for `lifetime_ms` (at most a year), with a
    /// PIN when asked. The link's token and the PIN are returned once.
    pub async fn create_share(
        &self,
        ctx: &Context,
        study: &str,
        lifetime_ms: i64,
        with_pin: bool,
    ) -> Result<NewShare> {
        self.require(ctx, Right::Share, Action::Share, "create share")
            .await?;
        if !(1..=MAX_LIFETIME_MS).contains(&lifetime_ms) {
            return Err(Error::Invalid(
                "a share lasts from a second to a year (expires_in_days 1 to 366)".into(),
            ));
        }
        let (uid, tenant) = self.stored_study(ctx, study).await?;
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let pin = with_pin.then(|| format!("{:06}", rand::random_range(0..1_000_000u32)));
        // Argon2 is costly: off the async runtime.
        let pin_hash = match pin.clone() {
            Some(p) => tokio::task::spawn_blocking(move || super::hash_password(&p))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|e| Error::Internal(e.to_string()))?,
            None => String::new(),
        };
        let expires_at = now_millis() + lifetime_ms;
        let id = self
            .archive()
            .index()
            .insert_share(
                &tenant,
                uid.as_str(),
                &token_hash(&token),
                &pin_hash,
                &ctx.actor.name,
                expires_at,
            )
            .await?;
        self.record(
            ctx,
            Action::Share,
            None,
            Some(&tenant),
            (String::new(), uid.as_str().to_owned()),
            &format!(
                "share {id} created, expires {}{}",
                rfc3339(expires_at),
                if pin.is_some() { ", with PIN" } else { "" }
            ),
        )
        .await;
        Ok(NewShare {
            id,
            token,
            pin,
            expires_at: rfc3339(expires_at),
        })
    }

    /// The shares `ctx` manages (its tenant's), of one study or all.
    pub async fn list_shares(&self, ctx: &Context, study: Option<&str>) -> Result<Vec<ShareView>> {
        self.require(ctx, Right::Share, Action::Share, "list shares")
            .await?;
        Ok(self
            .archive()
            .index()
            .shares(ctx.tenant(), study, 1000)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// One share `ctx` manages.
    pub async fn share(&self, ctx: &Context, id: i64) -> Result<ShareView> {
        self.require(ctx, Right::Share, Action::Share, "show share")
            .await?;
        self.managed_share(ctx, id).await.map(view)
    }

    async fn managed_share(&self, ctx: &Context, id: i64) -> Result<Share> {
        self.archive()
            .index()
            .share(ctx.tenant(), id)
            .await?
            .ok_or_else(|| Error::not_found(format!("no share {id}")))
    }

    /// The link's token is never stored: a share's QR code and slip are
    /// made from the link the caller holds. This checks that `token` is
    /// the link of share `id`, managed by `ctx`.
    pub async fn share_with_token(&self, ctx: &Context, id: i64, token: &str) -> Result<ShareView> {
        self.require(ctx, Right::Share, Action::Share, "share slip")
            .await?;
        let share = self.managed_share(ctx, id).await?;
        if share.token_hash != token_hash(token) {
            return Err(Error::not_found(format!("no share {id} with that link")));
        }
        Ok(view(share))
    }

    /// The film sheets modalities printed into a share's study (its slip
    /// says so: they are in the link, in place of the film).
    pub async fn share_films(&self, share: &ShareView) -> Result<Vec<storage::PrintSheet>> {
        // A view names the implicit tenant "(default)".
        let tenant = TenantId::parse(&share.tenant).unwrap_or_else(|_| TenantId::implicit());
        self.films_of(&tenant, &share.study).await
    }

    /// The film sheets of an opened share's study (its page offers their
    /// PDFs to print on paper).
    pub async fn open_share_films(&self, open: &OpenShare) -> Result<Vec<storage::PrintSheet>> {
        self.films_of(&open.share.tenant, &open.share.study_instance_uid)
            .await
    }

    async fn films_of(&self, tenant: &TenantId, study: &str) -> Result<Vec<storage::PrintSheet>> {
        Ok(self
            .archive()
            .index()
            .print_sheets(Some(tenant), Some(study), false, 1000)
            .await?)
    }

    /// Revoke a share, at once.
    pub async fn revoke_share(&self, ctx: &Context, id: i64) -> Result<()> {
        self.require(ctx, Right::Share, Action::Share, "revoke share")
            .await?;
        let share = self.managed_share(ctx, id).await?;
        self.archive().index().revoke_share(id).await?;
        self.record(
            ctx,
            Action::Share,
            None,
            Some(&share.tenant),
            (String::new(), share.study_instance_uid.clone()),
            &format!("share {id} revoked"),
        )
        .await;
        Ok(())
    }

    /// Open the share of `token` for a request from `source`: the share and
    /// the context its requests run in; or why not. `pin_proof` is the
    /// browser's proof of the PIN ([`pin_proof`]), when it has one.
    /// `what` (the request) goes to the audit trail; empty: the caller
    /// audits what it does (DICOMweb requests are audited as such).
    pub async fn open_share(
        &self,
        token: &str,
        pin_proof_given: Option<&str>,
        source: &str,
        what: &str,
    ) -> std::result::Result<OpenShare, Closed> {
        let share = match self
            .archive()
            .index()
            .share_by_token_hash(&token_hash(token))
            .await
        {
            Ok(Some(s)) if s.revoked_at == 0 => s,
            _ => return Err(Closed::NotFound),
        };
        let now = now_millis();
        if share.expires_at <= now {
            return Err(Closed::Expired);
        }
        if !share.pin_hash.is_empty()
            && !pin_proof_given.is_some_and(|p| pin_proof_holds(&share, p, now))
        {
            if share.locked_until > now {
                return Err(Closed::Locked(share.locked_until));
            }
            return Err(Closed::PinRequired);
        }
        let ctx = share_context(&share, source);
        if !what.is_empty() {
            self.record(
                &ctx,
                Action::Share,
                None,
                Some(&share.tenant),
                (String::new(), share.study_instance_uid.clone()),
                &format!("share {} opened: {what}", share.id),
            )
            .await;
        }
        Ok(OpenShare { share, ctx })
    }

    /// Count an opening of the share's page or a download.
    pub async fn count_share_access(&self, share: &Share) {
        if let Err(e) = self.archive().index().share_opened(share.id).await {
            tracing::warn!(error = %e, share = share.id, "cannot count the share's access");
        }
    }

    /// Check a PIN typed for the share of `token`: the proof to keep, or
    /// why not. The attempt is counted before the PIN is checked, so
    /// attempts sent at once cannot get past the lock; a wrong PIN is
    /// audited. At most a few checks run at once (Argon2 is costly).
    pub async fn check_share_pin(
        &self,
        token: &str,
        pin: &str,
        source: &str,
    ) -> std::result::Result<String, (Closed, i64)> {
        static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
        let index = self.archive().index();
        let share = match index.share_by_token_hash(&token_hash(token)).await {
            Ok(Some(s)) if s.revoked_at == 0 => s,
            _ => return Err((Closed::NotFound, 0)),
        };
        let now = now_millis();
        if share.expires_at <= now {
            return Err((Closed::Expired, 0));
        }
        if share.pin_hash.is_empty() {
            return Ok(String::new());
        }
        let reserved = match index
            .reserve_pin_attempt(
                share.id,
                MAX_PIN_FAILURES,
                PIN_LOCK_MS,
                MAX_PIN_FAILURES_EVER,
            )
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => return Err((Closed::Locked(share.locked_until), 0)),
            Err(_) => return Err((Closed::NotFound, 0)),
        };
        let hash = share.pin_hash.clone();
        let pin = pin.trim().to_owned();
        let right = match CHECKS.acquire().await {
            Ok(_permit) => tokio::task::spawn_blocking(move || super::verify_password(&hash, &pin))
                .await
                .unwrap_or(false),
            Err(_) => false,
        };
        let ctx = share_context(&share, source);
        if right {
            let _ = index.share_pin_passed(share.id).await;
            return Ok(pin_proof(&share, now));
        }
        let locked = reserved.locked_until > now;
        self.record(
            &ctx,
            Action::Share,
            Some(if locked {
                "wrong PIN: locked".to_owned()
            } else {
                "wrong PIN".to_owned()
            }),
            Some(&share.tenant),
            (String::new(), share.study_instance_uid.clone()),
            &format!("share {}: wrong PIN", share.id),
        )
        .await;
        if locked {
            Err((Closed::Locked(reserved.locked_until), 0))
        } else {
            Err((Closed::PinRequired, MAX_PIN_FAILURES - reserved.failed_pins))
        }
    }

    /// The facility's name for a share's slip: the tenant's name where
    /// tenants are configured, else `[site] name`.
    pub fn facility_name(&self, tenant: &TenantId) -> String {
        self.peers()
            .tenant(tenant)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| self.inner.site_name.clone())
    }
}

/// The context of a share's requests: a viewer of its tenant, named
/// `share:ID`.
fn share_context(share: &Share, source: &str) -> Context {
    Context::person(
        Actor {
            name: format!("share:{}", share.id),
            kind: ActorKind::Share,
        },
        vec![Role::Viewer],
        share.tenant.clone(),
        source.to_owned(),
        Protocol::Http,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_depend_on_the_stored_pin() {
        let mut s = Share {
            id: 1,
            tenant: TenantId::implicit(),
            study_instance_uid: "1.2".into(),
            token_hash: token_hash("abc"),
            pin_hash: "h1".into(),
            created_by: String::new(),
            created_at: 0,
            expires_at: 0,
            revoked_at: 0,
            failed_pins: 0,
            failed_pins_total: 0,
            locked_until: 0,
            access_count: 0,
            last_access_at: 0,
        };
        let now = 1_000_000_000;
        let a = pin_proof(&s, now);
        assert!(pin_proof_holds(&s, &a, now + 1000));
        assert!(!pin_proof_holds(&s, &a, now + PIN_PROOF_MS + 1), "expired");
        assert!(
            !pin_proof_holds(&s, &format!("{}.{}", now + 5, &a[11..]), now + 10),
            "issued time is signed"
        );
        s.pin_hash = "h2".into();
        assert!(
            !pin_proof_holds(&s, &a, now + 1000),
            "a new PIN, a new proof"
        );
        assert!(!pin_proof_holds(&s, "garbage", now));
        assert_eq!(token_hash("abc").len(), 64);
    }
}
