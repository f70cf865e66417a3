//! HTTP plumbing: the router, who is asking (authentication into a service
//! context), the server's own pages, the viewer's files, HTTPS.
//!
//! Access is denied by default. The public routes are listed here, in
//! [`PUBLIC_ROUTES`], and nowhere else: the viewer's static files and its
//! client-side routes, and `/healthz`. Every other route sits behind the
//! authentication middleware, whose [`auth::Caller`] its handler needs, and
//! the service decides what that caller may do. Paths that match no route
//! answer 404.
//!
//! - [`state`]: what handlers share; [`error`]: JSON errors;
//! - [`authenticator`]: credentials → [`identity`]; [`oidc`]: bearer
//!   tokens; [`auth`]: identity → context for every protected route;
//!   [`proxy`]: clients behind trusted reverse proxies;
//! - `app`: the router; [`routes`]: how modules declare their routes;
//! - [`pages`]: `/status`, `/healthz`; [`viewer`]: the OHIF viewer;
//! - [`tls`]: HTTPS and the DICOM TLS settings;
//! - [`worklist`]: `/api/worklist`, the worklist for a RIS without HL7;
//! - [`jobs`]: `/api/jobs` and `/api/studies/{uid}/send`, routing jobs;
//! - [`shares`]: `/api/shares` (staff) and `/s/{token}` (the patient's
//!   e-film, public with its link);
//! - [`print`](mod@print): `/api/print/sheets`, the film sheets modalities printed;
//! - [`stats`]: `/api/stats`, the storage plan's numbers;
//! - [`export`]: `/api/studies/{uid}/export`, a study as a ZIP,
//!   de-identified if asked;
//! - [`admin`]: `/admin`, the administration console, and `/api/audit`;
//! - [`manage`]: `/api/users`, `/api/peers` (and C-ECHO), for the console.

pub mod admin;
mod app;
pub mod auth;
pub mod authenticator;
pub mod error;
pub mod export;
pub mod identity;
pub mod jobs;
pub mod manage;
pub mod oidc;
pub mod pages;
pub mod print;
pub mod proxy;
pub mod routes;
pub mod shares;
pub mod state;
pub mod stats;
pub mod tls;
pub mod viewer;
pub mod worklist;

pub use app::{protected_routes, router};

/// The routes anyone may use, with what they are. Nothing else is public.
pub const PUBLIC_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "liveness and readiness, no data"),
    ("GET", "/health", "liveness, no data"),
    (
        "GET",
        "/ready",
        "readiness (index and object store answer), no data",
    ),
    (
        "GET",
        "/ (fallback)",
        "the viewer's static files and client-side routes, no data",
    ),
    (
        "GET",
        "/s/{token}",
        "a share's page: one study, with the share's link (and PIN) as proof",
    ),
    (
        "POST",
        "/s/{token}/pin",
        "a share's PIN, counted and locked",
    ),
    (
        "GET",
        "/s/{token}/images.zip",
        "a share's images as JPEGs, that study only",
    ),
    (
        "GET",
        "/s/{token}/dicom-web/{*rest}",
        "a share's study over QIDO-RS and WADO-RS, that study only",
    ),
];
