//! The route declaration every HTTP module uses.

/// Declares a module's routes once: its axum router and its route table
/// (each path and its methods), which the access-matrix test holds against
/// its expectations, so no route is added without deciding who may use it.
macro_rules! routes {
    ($( $path:literal => { $($method:ident: $handler:path),+ $(,)? } )*) => {
        /// Every route here: path and methods.
        pub const ROUTES: &[(&str, &[&str])] = &[ $( ($path, &[$(stringify!($method)),+]) ),* ];

        /// The routes.
        pub fn router() -> axum::Router<$crate::http::state::AppState> {
            axum::Router::new()
                $( .route($path, axum::routing::MethodRouter::new() $( .$method($handler) )+ ) )*
        }
    };
}
pub(crate) use routes;
