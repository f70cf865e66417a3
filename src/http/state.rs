//! What every HTTP handler shares.

use std::sync::Arc;

use crate::config::Config;
use crate::service::Service;

/// State shared by the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The archive's operations.
    pub service: Service,
    /// The configuration the server runs with.
    pub config: Arc<Config>,
    /// The port HTTP listens on.
    pub http_port: u16,
    /// Credentials and roles.
    pub auth: Arc<super::authenticator::Authenticator>,
    /// Which peers may say who the client is.
    pub proxies: Arc<super::proxy::TrustedProxies>,
    /// The viewer's files, found at start-up (none: not installed).
    pub viewer: Option<Arc<std::path::PathBuf>>,
}
