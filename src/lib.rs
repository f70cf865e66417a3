//! Filmless: a medical imaging archive (PACS) and DICOM gateway.
//!
//! The root package wires the archive (`storage`) to the protocols and is
//! the only place that knows both:
//! - [`config`]: one configuration from file, environment and flags;
//! - [`cli`]: the `filmless` commands;
//! - [`server`]: `filmless serve`, listeners and graceful shutdown;
//! - [`dicomweb`]: QIDO-RS, WADO-RS, STOW-RS under `/dicom-web`;
//! - [`dimse`]: the DIMSE services (store, find, move, get) over the archive;
//! - [`errors`]: archive errors to protocol statuses, in one place;
//! - [`import`]: `filmless import`, bulk import through the archive's ingest;
//! - [`scu`]: `filmless echo` and `filmless send`;
//! - [`logging`]: structured logs.
//!
//! `main.rs` only parses the command line and calls [`cli::run`], so tests
//! and benches start the real server in-process.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dicomweb;
pub mod dimse;
pub mod errors;
pub mod import;
pub mod logging;
pub mod oidc;
pub mod scu;
pub mod server;
pub mod tls;
