//! Filmless DICOM networking: the DIMSE layer over dicom-rs's upper layer.
//!
//! dicom-ul negotiates associations and moves PDUs; everything above is here:
//! - [`command`]: DIMSE-C command sets as typed messages (PS3.7 §9, Annex E);
//! - [`status`]: status codes and their classes (PS3.7 Annex C);
//! - [`message`]: commands and data sets as P-DATA fragments, both ways;
//! - [`service`]: one trait per DIMSE service (store, find, move, get…),
//!   implemented by the application, and their requests and responses;
//! - [`scp`]: the provider: accept loop, association limits and timeouts,
//!   C-ECHO, C-STORE (streamed), C-FIND (pending responses, C-CANCEL),
//!   C-MOVE and C-GET, over a [`service::Provider`];
//! - [`retrieve`]: C-MOVE/C-GET sub-operations;
//! - [`tls`]: DICOM TLS, with the client's certificate for the association
//!   check;
//! - [`scu`]: associations out (C-ECHO, C-STORE);
//! - [`dataset`]: identifiers and native transfer syntax conversion.
//!
//! No SQL, no HTTP, no object store: the root package implements the
//! services over the archive.

mod ae_title;
pub mod command;
pub mod dataset;
mod error;
pub mod message;
pub mod retrieve;
pub mod scp;
pub mod scu;
pub mod service;
pub mod status;
pub mod tls;

pub use ae_title::AeTitle;
pub use error::{Error, Result};
pub use status::{Status, StatusClass};
