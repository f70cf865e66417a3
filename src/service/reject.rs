//! Rejection (IHE IOCM, PS3.4 Annex KK): a Key Object Selection document
//! titled with a rejection reason (CID 7011) that arrives by C-STORE,
//! STOW-RS or import hides the instances it references — in the sender's
//! tenant — from every query and retrieval. Their index rows go; their
//! objects stay, listed as rejected, until an administrator restores them
//! (re-indexed from the object) or purges them (the object deleted). An
//! administrator may also reject a study by hand. Each step is audited.

use dicom_dictionary_std::{tags, uids};
use storage::index::Rejected;
use storage::{Stored, TenantId};

use super::{Context, Error, Result, Right, Service};
use crate::audit::Action;

/// The rejection titles of CID 7011 (Scheme DCM).
pub const REJECTION_TITLES: [(&str, &str); 4] = [
    ("113001", "Rejected for Quality Reasons"),
    ("113037", "Rejected for Patient Safety Reasons"),
    ("113038", "Incorrect Modality Worklist Entry"),
    ("113039", "Data Retention Policy Expired"),
];

fn title(code: &str) -> Option<&'static str> {
    REJECTION_TITLES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, m)| *m)
}

fn text(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

impl Service {
    /// After a store: a Key Object Selection with a rejection title rejects
    /// the instances it references.
    pub(super) async fn rejection_note(&self, ctx: &Context, tenant: &TenantId, stored: &Stored) {
        if stored.sop_class_uid != uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE {
            return;
        }
        // Hiding instances is deleting them from view: a sender that may
        // only store keeps its note as an ordinary object.
        if !ctx.may(Right::Delete) {
            tracing::debug!(
                sender = %ctx.actor.name,
                "a key object from a sender without the delete right: not applied as a rejection"
            );
            return;
        }
        let outcome = async {
            let Some(instance) = self
                .archive()
                .index()
                .instance(tenant, &stored.sop_instance_uid)
                .await?
            else {
                return Ok(0);
            };
            let bytes = self.read(&instance).await?;
            let start = if bytes.get(128..132) == Some(b"DICM") {
                128
            } else {
                0
            };
            let kos = dicom_object::OpenFileOptions::new()
                .read_until(tags::PIXEL_DATA)
                .from_reader(&bytes[start..])
                .map_err(|e| Error::invalid(format!("the key object does not parse: {e}")))?;
            let code = kos
                .get(tags::CONCEPT_NAME_CODE_SEQUENCE)
                .and_then(|e| e.items())
                .and_then(|i| i.first())
                .filter(|i| text(i, tags::CODING_SCHEME_DESIGNATOR) == "DCM")
                .map(|i| text(i, tags::CODE_VALUE))
                .unwrap_or_default();
            if title(&code).is_none() {
                return Ok(0);
            }
            let mut sops: Vec<(String, String)> = Vec::new();
            for study in kos
                .get(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE)
                .and_then(|e| e.items())
                .unwrap_or_default()
            {
                for series in study
                    .get(tags::REFERENCED_SERIES_SEQUENCE)
                    .and_then(|e| e.items())
                    .unwrap_or_default()
                {
                    for sop in series
                        .get(tags::REFERENCED_SOP_SEQUENCE)
                        .and_then(|e| e.items())
                        .unwrap_or_default()
                    {
                        let uid = text(sop, tags::REFERENCED_SOP_INSTANCE_UID);
                        if !uid.is_empty() && uid != stored.sop_instance_uid {
                            sops.push((text(study, tags::STUDY_INSTANCE_UID), uid));
                        }
                    }
                }
            }
            self.reject_instances(ctx, tenant, &sops, &code, &stored.sop_instance_uid)
                .await
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, kos = %stored.sop_instance_uid, "a rejection note was not applied");
        }
    }

    /// After a store: an instance that is rejected (a note named it before
    /// it came, or it was rejected and is sent again) is hidden at once,
    /// for the same reason (IHE IOCM: a rejected instance does not come
    /// back by being sent again). Whether it was.
    pub(super) async fn still_rejected(
        &self,
        ctx: &Context,
        tenant: &TenantId,
        stored: &Stored,
    ) -> bool {
        let index = self.archive().index();
        let outcome = async {
            let Some(r) = index
                .rejection_of(Some(tenant), &stored.sop_instance_uid)
                .await?
                .into_iter()
                .next()
            else {
                return Ok(false);
            };
            if r.study_instance_uid != stored.study_instance_uid {
                tracing::warn!(sop = %stored.sop_instance_uid, "an instance rejected under another study arrived: left alone");
                return Ok(false);
            }
            let patient = self
                .inner
                .audit
                .patient_of(tenant, &stored.study_instance_uid)
                .await;
            let Some(older) = index
                .reject_instance(&Rejected {
                    patient_id: patient.clone(),
                    ..r.clone()
                })
                .await?
            else {
                return Ok(false);
            };
            for old in older {
                self.archive().blobs().delete(&old).await?;
            }
            self.record(
                ctx,
                Action::Delete,
                None,
                Some(tenant),
                (patient, stored.study_instance_uid.clone()),
                &format!(
                    "instance {} arrived rejected ({}, by {}): hidden",
                    stored.sop_instance_uid, r.reason, r.rejected_by
                ),
            )
            .await;
            Ok::<_, Error>(true)
        }
        .await;
        outcome.unwrap_or_else(|e| {
            tracing::warn!(error = %e, sop = %stored.sop_instance_uid, "cannot check whether an arriving instance is rejected");
            false
        })
    }

    /// Reject a whole study by hand, for `reason_code` (CID 7011).
    pub async fn reject_study(
        &self,
        ctx: &Context,
        study: &str,
        reason_code: &str,
    ) -> Result<usize> {
        self.reject_by_hand(ctx, study, None, None, reason_code)
            .await
    }

    /// Reject by hand, for `reason_code` (CID 7011): a study, one series
    /// of it, or one instance of it. How many instances were rejected.
    pub async fn reject_by_hand(
        &self,
        ctx: &Context,
        study: &str,
        series: Option<&str>,
        sop: Option<&str>,
        reason_code: &str,
    ) -> Result<usize> {
        self.require(ctx, Right::Delete, Action::Delete, "reject")
            .await?;
        if title(reason_code).is_none() {
            return Err(Error::invalid(format!(
                "{reason_code:?} is not a rejection title: 113001 (quality), 113037 (patient \
                 safety), 113038 (wrong worklist entry), 113039 (retention expired)"
            )));
        }
        let (uid, tenant) = self.stored_study(ctx, study).await?;
        let sops: Vec<(String, String)> = self
            .archive()
            .index()
            .study_instances(&tenant, uid.as_str())
            .await?
            .into_iter()
            .filter(|i| series.is_none_or(|s| i.series_instance_uid == s))
            .filter(|i| sop.is_none_or(|s| i.sop_instance_uid == s))
            .map(|i| (i.study_instance_uid, i.sop_instance_uid))
            .collect();
        if sops.is_empty() {
            return Err(Error::not_found(match (series, sop) {
                (_, Some(s)) => format!("no instance {s} in study {uid}"),
                (Some(s), None) => format!("no series {s} in study {uid}"),
                _ => format!("study {uid} not found"),
            }));
        }
        self.reject_instances(ctx, &tenant, &sops, reason_code, "")
            .await
    }

    /// Hide `sops` (study, instance) of `tenant`: their rows go, their
    /// objects are kept and listed. How many were rejected. An instance of
    /// another study than named is left alone.
    async fn reject_instances(
        &self,
        ctx: &Context,
        tenant: &TenantId,
        sops: &[(String, String)],
        code: &str,
        by: &str,
    ) -> Result<usize> {
        let reason = title(code).unwrap_or("rejected");
        let index = self.archive().index();
        let mut n = 0;
        for (study, sop) in sops {
            let mut found = index.instance(tenant, sop).await?;
            if found.is_none() {
                // Named by a note before it arrived (a note may come first):
                // hidden when it comes.
                if !by.is_empty() && !study.is_empty() {
                    index
                        .reject_in_advance(&Rejected {
                            tenant: tenant.as_str().to_owned(),
                            sop_instance_uid: sop.clone(),
                            study_instance_uid: study.clone(),
                            patient_id: String::new(),
                            blob_key: String::new(),
                            reason_code: code.to_owned(),
                            reason: reason.to_owned(),
                            by_sop_instance_uid: by.to_owned(),
                            rejected_by: ctx.actor.name.clone(),
                            rejected_at: 0,
                        })
                        .await?;
                    self.record(
                        ctx,
                        Action::Delete,
                        None,
                        Some(tenant),
                        (String::new(), study.clone()),
                        &format!("instance {sop} rejected before it arrived: {reason}"),
                    )
                    .await;
                    // It may have been stored meanwhile, checked for a
                    // rejection before this one was written: hidden now.
                    found = index.instance(tenant, sop).await?;
                }
            }
            let Some(i) = found else {
                continue;
            };
            if !study.is_empty() && &i.study_instance_uid != study {
                tracing::warn!(sop = %sop, "a rejection names this instance under another study: left alone");
                continue;
            }
            let patient = self
                .inner
                .audit
                .patient_of(tenant, &i.study_instance_uid)
                .await;
            // Rows out and rejection in, in one transaction; rejected
            // before and sent again since: the older object goes.
            let Some(older) = index
                .reject_instance(&Rejected {
                    tenant: tenant.as_str().to_owned(),
                    sop_instance_uid: sop.clone(),
                    study_instance_uid: i.study_instance_uid.clone(),
                    patient_id: patient.clone(),
                    blob_key: String::new(),
                    reason_code: code.to_owned(),
                    reason: reason.to_owned(),
                    by_sop_instance_uid: by.to_owned(),
                    rejected_by: ctx.actor.name.clone(),
                    rejected_at: 0,
                })
                .await?
            else {
                continue;
            };
            for old in older {
                self.archive().blobs().delete(&old).await?;
            }
            self.record(
                ctx,
                Action::Delete,
                None,
                Some(tenant),
                (patient, i.study_instance_uid.clone()),
                &format!("instance {sop} rejected: {reason}"),
            )
            .await;
            n += 1;
        }
        if n > 0 {
            tracing::info!(instances = n, reason, "instances rejected");
        }
        Ok(n)
    }

    /// The rejected instances of the caller's tenant, of one study or all.
    pub async fn rejected(&self, ctx: &Context, study: Option<&str>) -> Result<Vec<Rejected>> {
        self.require(ctx, Right::Delete, Action::Delete, "rejected instances")
            .await?;
        Ok(self.archive().index().rejected(ctx.tenant(), study).await?)
    }

    async fn rejection(&self, ctx: &Context, sop: &str) -> Result<Rejected> {
        self.require(ctx, Right::Delete, Action::Delete, "rejected instance")
            .await?;
        let mut found = self
            .archive()
            .index()
            .rejection_of(ctx.tenant(), sop)
            .await?;
        match found.len() {
            0 => Err(Error::not_found(format!("no rejected instance {sop}"))),
            1 => Ok(found.remove(0)),
            n => Err(Error::Ambiguous(format!(
                "{n} tenants rejected an instance {sop}: name one (X-Filmless-Tenant, or --tenant)"
            ))),
        }
    }

    /// Bring a rejected instance back: indexed again from its object.
    pub async fn restore_rejected(&self, ctx: &Context, sop: &str) -> Result<()> {
        let r = self.rejection(ctx, sop).await?;
        let tenant = TenantId::parse(&r.tenant)?;
        if r.blob_key.is_empty() {
            // Rejected before it arrived: it will not be hidden now.
            self.archive()
                .index()
                .remove_rejection(&tenant, sop)
                .await?;
            self.record(
                ctx,
                Action::Delete,
                None,
                Some(&tenant),
                (r.patient_id, r.study_instance_uid),
                &format!("instance {sop} no longer rejected (it had not arrived)"),
            )
            .await;
            return Ok(());
        }
        let bytes = self.archive().blobs().read_unindexed(&r.blob_key).await?;
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        self.archive().store_stream(&tenant, stream, None).await?;
        self.archive()
            .index()
            .remove_rejection(&tenant, sop)
            .await?;
        // Indexed as received: the study's corrections made since apply
        // to it again (its patient, accession number, description).
        let index = self.archive().index();
        if let Some(p) = index.object_patch(&tenant, &r.study_instance_uid).await? {
            index
                .modify_study(
                    &tenant,
                    &r.study_instance_uid,
                    &storage::index::StudyModification {
                        accession_number: p.accession_number,
                        study_description: p.study_description,
                        patient: p.patient,
                    },
                )
                .await?;
            self.patches_changed();
        }
        // The object was written again; the old copy goes if it is another.
        if let Some(now) = self.archive().index().instance(&tenant, sop).await? {
            if now.blob.key != r.blob_key {
                self.archive().blobs().delete(&r.blob_key).await?;
            }
        }
        self.record(
            ctx,
            Action::Delete,
            None,
            Some(&tenant),
            (r.patient_id, r.study_instance_uid),
            &format!("instance {sop} restored (was rejected: {})", r.reason),
        )
        .await;
        Ok(())
    }

    /// Delete a rejected instance's object for good.
    pub async fn purge_rejected(&self, ctx: &Context, sop: &str) -> Result<()> {
        let r = self.rejection(ctx, sop).await?;
        let tenant = TenantId::parse(&r.tenant)?;
        if !r.blob_key.is_empty() {
            self.archive().blobs().delete(&r.blob_key).await?;
        }
        let index = self.archive().index();
        index.remove_rejection(&tenant, sop).await?;
        index
            .drop_unused_patch(&tenant, &r.study_instance_uid)
            .await?;
        self.record(
            ctx,
            Action::Delete,
            None,
            Some(&tenant),
            (r.patient_id, r.study_instance_uid),
            &format!("rejected instance {sop} purged ({})", r.reason),
        )
        .await;
        Ok(())
    }
}
