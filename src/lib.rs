//! Filmless: a medical imaging archive (PACS) and DICOM gateway.
//!
//! The root package wires the archive (`storage`) to the protocols through
//! one service layer:
//! - [`service`]: every operation once (store, search, retrieve, render,
//!   delete, status, the audit trail, users), each deciding access from a
//!   request context, confined to the caller's tenant, and audited;
//! - [`dimse`], [`dicomweb`], [`hl7`], [`cli`]: thin adapters from DIMSE,
//!   DICOMweb, HL7 v2 and the command line to the service;
//! - [`http`]: the router, authentication into a context, the server's
//!   pages, the viewer's files, HTTPS;
//! - [`audit`]: the audit trail's writer (database and syslog);
//! - [`config`]: one configuration from file, environment and flags;
//! - [`errors`]: service errors to DIMSE and HTTP statuses, in one place;
//! - [`server`]: opening the archive, `filmless serve`, graceful shutdown;
//! - [`logging`]: structured logs.
//!
//! `main.rs` only parses the command line and calls [`cli::run`], so tests
//! and benches start the real server in-process.

pub mod audit;
pub mod cli;
pub mod config;
pub mod dicomweb;
pub mod dimse;
pub mod errors;
pub mod hl7;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod service;
