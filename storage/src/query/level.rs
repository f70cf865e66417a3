//! (0008,0052) Query/Retrieve Level, and the tables each level reads.

use crate::error::{Error, Result};

/// (0008,0052) Query/Retrieve Level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueryLevel {
    /// PATIENT.
    Patient,
    /// STUDY.
    Study,
    /// SERIES.
    Series,
    /// IMAGE (instances).
    Instance,
    /// Modality worklist items (PS3.4 K.6): a hierarchy of its own, not
    /// below the others.
    Worklist,
}

impl QueryLevel {
    /// Parse the Query/Retrieve Level value.
    pub fn parse(value: &str) -> Result<Self> {
        match value
            .trim_matches(['\0', ' '])
            .to_ascii_uppercase()
            .as_str()
        {
            "PATIENT" => Ok(QueryLevel::Patient),
            "STUDY" => Ok(QueryLevel::Study),
            "SERIES" => Ok(QueryLevel::Series),
            "IMAGE" | "INSTANCE" => Ok(QueryLevel::Instance),
            other => Err(Error::invalid(format!(
                "unknown Query/Retrieve Level {other:?}"
            ))),
        }
    }

    /// The value as sent in identifiers.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryLevel::Patient => "PATIENT",
            QueryLevel::Study => "STUDY",
            QueryLevel::Series => "SERIES",
            QueryLevel::Instance => "IMAGE",
            QueryLevel::Worklist => "WORKLIST",
        }
    }

    pub(super) fn tables(self) -> &'static str {
        match self {
            QueryLevel::Patient => "patient p",
            QueryLevel::Study => "study st JOIN patient p ON p.id = st.patient_ref",
            QueryLevel::Series => {
                "series se JOIN study st ON st.id = se.study_ref JOIN patient p ON p.id = st.patient_ref"
            }
            QueryLevel::Instance => {
                "instance i JOIN series se ON se.id = i.series_ref JOIN study st ON st.id = se.study_ref \
                 JOIN patient p ON p.id = st.patient_ref"
            }
            QueryLevel::Worklist => "worklist_item w",
        }
    }

    pub(super) fn id_column(self) -> &'static str {
        match self {
            QueryLevel::Patient => "p.id",
            QueryLevel::Study => "st.id",
            QueryLevel::Series => "se.id",
            QueryLevel::Instance => "i.id",
            QueryLevel::Worklist => "w.id",
        }
    }

    /// Whether a query at this level matches and returns attributes of
    /// `level`: its own and those of the levels above it; the worklist only
    /// its own.
    pub fn includes(self, level: QueryLevel) -> bool {
        match (self, level) {
            (QueryLevel::Worklist, l) | (l, QueryLevel::Worklist) => l == QueryLevel::Worklist,
            (this, l) => l <= this,
        }
    }

    /// The alias of the table whose tenant a result belongs to.
    pub(super) fn tenant_alias(self) -> &'static str {
        match self {
            QueryLevel::Patient => "p",
            QueryLevel::Worklist => "w",
            _ => "st",
        }
    }
}
