//! (being written)

use axum::Router;

use crate::State;

/// Adds an operator account (from `onshi admin operator add`): checks the login and password,
/// hashes it with argon2id, records it in the audit. Returns the operator's id.
pub fn add_operator(
    store: &dyn onshi_store::ServiceStore,
    login: &str,
    name: &str,
    password: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64, String> {
    let login = login.trim();
    if login.is_empty()
        || login.len() > 64
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err("ログイン名は英数字と . _ - @ で64文字以内にしてください / login: letters, digits, . _ - @".to_owned());
    }
    if name.trim().is_empty() {
        return Err("名前が空です / the name is empty".to_owned());
    }
    if let Some(problem) = crate::auth::password_problem(password, password) {
        return Err(problem);
    }
    let hash = crate::auth::hash_password(password).map_err(|e| e.message)?;
    crate::db::add_operator(store.portal(), login, name.trim(), &hash, now)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("ログイン名「{login}」はすでに使われています / login taken"))
}

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
}
