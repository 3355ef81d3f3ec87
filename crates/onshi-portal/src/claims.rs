//! (being written)

use axum::Router;

use crate::State;

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
}
