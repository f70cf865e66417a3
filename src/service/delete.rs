//! Delete a study, a series or an instance (DICOMweb DELETE, later the
//! admin console and retention), in the caller's tenant.

use super::retrieve::Target;
use super::{Context, Result, Right, Service};
use crate::audit::Action;

impl Service {
    /// Delete what `target` names; returns how many instances went. The
    /// audit row names the patient, looked up before the rows go.
    pub async fn delete(&self, ctx: &Context, target: &Target, detail: &str) -> Result<usize> {
        self.require(ctx, Right::Delete, Action::Delete, detail)
            .await?;
        let study = target.study().as_str();
        let Some(tenant) = self.tenant_of_study(ctx, study).await? else {
            return Err(target.not_found());
        };
        let patient = self.inner.audit.patient_of(&tenant, study).await;
        // The series and instance must be in the study the path names.
        let result = match target {
            Target::Study(st) => self.archive().delete_study(&tenant, st.as_str()).await,
            Target::Series(..) | Target::Instance(..) => {
                let found = self.archive_instances(&tenant, target).await?;
                match target {
                    Target::Series(_, se) if !found.is_empty() => {
                        self.archive().delete_series(&tenant, se.as_str()).await
                    }
                    Target::Instance(_, _, sop) if !found.is_empty() => self
                        .archive()
                        .delete_instance(&tenant, sop.as_str())
                        .await
                        .map(|()| 1),
                    _ => Err(storage::Error::NotFound {
                        level: "series or instance",
                        uid: String::new(),
                    }),
                }
            }
        };
        let n = match result {
            Ok(n) => n,
            Err(e) if e.kind() == storage::ErrorKind::NotFound => return Err(target.not_found()),
            Err(e) => return Err(e.into()),
        };
        self.inner.thumbnails.clear();
        // A deleted study's rejected instances go with it: restoring one
        // would bring a deleted study back.
        if let Target::Study(_) = target {
            let index = self.archive().index();
            for r in index.rejected(Some(&tenant), Some(study)).await? {
                self.archive().blobs().delete(&r.blob_key).await?;
                index.remove_rejection(&tenant, &r.sop_instance_uid).await?;
            }
        }
        tracing::info!(target = ?target, instances = n, tenant = %tenant, "deleted");
        self.record(
            ctx,
            Action::Delete,
            None,
            Some(&tenant),
            (patient, study.to_owned()),
            detail,
        )
        .await;
        Ok(n)
    }
}
