//! The metadata index: patient / study / series / instance rows in SQL,
//! local users and the audit trail.
//!
//! One code path serves SQLite (the single-box default) and PostgreSQL (many
//! nodes) through sqlx's `Any` driver; both dialects share the schema in
//! `migrations/` with the same version numbers. SQL here uses only what both
//! understand: `$n` parameters, `ON CONFLICT … DO NOTHING`, `RETURNING`.
//! Every archive row belongs to a tenant, and UIDs are unique within one.
//!
//! By table family:
//! - `connection`: the pool, migrations, write transactions;
//! - `rows`: what the index hands out and takes in;
//! - `read`: instances, studies, metadata, aggregates, query results;
//! - `write`: new instances and their parents and counters;
//! - `group`: many new instances in one transaction (group commit);
//! - `delete`: instances, series and studies;
//! - `users`: local users;
//! - `audit`: the append-only audit trail;
//! - `workflow`: worklist items, performed procedure steps, patient
//!   corrections and merges;
//! - `jobs`: durable background work.
//!
//! The SQL of searches is generated in one place, [`crate::query`].

mod audit;
mod connection;
mod delete;
mod group;
pub mod jobs;
mod modify;
mod print;
mod read;
mod rejection;
mod rows;
mod shares;
mod users;
mod workflow;
mod write;

pub use audit::{AuditEvent, AuditFilter};
pub use connection::{Index, IndexOptions};
pub use jobs::{Job, NewJob, RoutingArrival};
pub use modify::{apply_to_record, StudyModification, StudyModified};
pub use print::PrintSheet;
pub use rejection::Rejected;
pub use rows::{
    now_millis, Counts, Insert, InstanceJson, NewInstance, StoredInstance, StudySummary,
};
pub use shares::Share;
pub use users::UserRow;
pub use workflow::{PatientChange, StoredWorklistItem, WorklistHit};

pub(crate) use group::ParentCache;
