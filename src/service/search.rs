//! Search: the one query model behind C-FIND and QIDO-RS, confined to the
//! caller's tenant.

use std::collections::HashSet;

use dicom_dictionary_std::tags;
use storage::query::{Match, Query};
use storage::TenantId;

use super::{action, Context, Result, Right, Service};
use crate::audit::Action;

impl Service {
    /// Run a query for `ctx`. `detail` says what was asked (a QIDO-RS path
    /// and query string, a C-FIND level) for the audit trail, which gets one
    /// row per study disclosed (per patient at PATIENT level).
    pub async fn search(
        &self,
        ctx: &Context,
        mut query: Query,
        detail: &str,
    ) -> Result<Vec<Match>> {
        let act = action(ctx, Action::CFind, Action::QidoRs, Action::QidoRs);
        self.require(ctx, Right::Search, act, detail).await?;
        query.tenant = ctx.tenant().cloned();
        query.case_insensitive_names = self.inner.case_insensitive_names;
        let matches = self.archive().index().query(&query).await?;
        // One audit row per study disclosed, per patient where a match
        // names no study (PATIENT level).
        let mut seen: HashSet<(&TenantId, &str, &str)> = HashSet::new();
        let mut disclosed: Vec<(&TenantId, &str, &str)> = Vec::new();
        for m in &matches {
            let study = m.get(tags::STUDY_INSTANCE_UID).unwrap_or("");
            let patient = m.get(tags::PATIENT_ID).unwrap_or("");
            let who = if study.is_empty() { patient } else { "" };
            if seen.insert((&m.tenant, study, who)) {
                disclosed.push((&m.tenant, patient, study));
            }
        }
        let detail = format!("{detail}; {} matches", matches.len());
        if disclosed.is_empty() {
            self.record(ctx, act, None, None, Default::default(), &detail)
                .await;
        }
        for (tenant, patient, study) in disclosed {
            self.record(
                ctx,
                act,
                None,
                Some(tenant),
                (patient.to_owned(), study.to_owned()),
                &detail,
            )
            .await;
        }
        Ok(matches)
    }
}
