//! Every route of the portal, read from the source, with who may use it: the security and
//! isolation tests go through this table, and a route added to `src/` without being listed
//! here fails `every_route_in_the_source_is_listed` (so no new route escapes the CSRF, role and
//! isolation tests).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (pre-login forms carry the double-submit CSRF token).
    Public,
    /// A logged-in clinic.
    Clinic,
    /// A logged-in operator.
    Operator,
}

/// How a POST sends its form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body (GET).
    None,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` (uploads).
    Multipart,
}

/// One route.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path as the router has it (`{id}` for parameters).
    pub path: &'static str,
    /// Who may use it.
    pub access: Access,
    /// Its body.
    pub body: Body,
}

const fn r(method: &'static str, path: &'static str, access: Access, body: Body) -> Route {
    Route {
        method,
        path,
        access,
        body,
    }
}

use Access::{Clinic, Operator, Public};
use Body::{Form, Multipart, None as NoBody};

/// Every route. When you add a route to `src/`, add it here, and, when it takes a parameter,
/// teach `fill` (below) where its value comes from.
pub const ROUTES: &[Route] = &[
    // lib.rs
    r("GET", "/portal", Public, NoBody),
    r("GET", "/portal/", Public, NoBody),
    r("GET", "/portal/style.css", Public, NoBody),
    // clinic.rs
    r("GET", "/portal/register", Public, NoBody),
    r("POST", "/portal/register", Public, Form),
    r("GET", "/portal/confirm", Public, NoBody),
    r("GET", "/portal/login", Public, NoBody),
    r("POST", "/portal/login", Public, Form),
    r("POST", "/portal/logout", Clinic, Form),
    r("POST", "/portal/logout-all", Clinic, Form),
    r("GET", "/portal/reset", Public, NoBody),
    r("POST", "/portal/reset", Public, Form),
    r("GET", "/portal/reset/confirm", Public, NoBody),
    r("POST", "/portal/reset/confirm", Public, Form),
    r("GET", "/portal/home", Clinic, NoBody),
    r("POST", "/portal/apply", Clinic, Form),
    // info/
    r("GET", "/portal/notices", Public, NoBody),
    r("GET", "/portal/faq", Public, NoBody),
    r("GET", "/portal/contact", Public, NoBody),
    r("POST", "/portal/contact", Public, Form),
    r("GET", "/portal/operator/notices", Operator, NoBody),
    r("POST", "/portal/operator/notices", Operator, Form),
    r("GET", "/portal/operator/faq", Operator, NoBody),
    r("POST", "/portal/operator/faq", Operator, Form),
    r("GET", "/portal/operator/inquiries", Operator, NoBody),
    r(
        "POST",
        "/portal/operator/inquiries/{id}/reply",
        Operator,
        Form,
    ),
    // details.rs
    r("GET", "/portal/details", Clinic, NoBody),
    r("POST", "/portal/details", Clinic, Form),
    r(
        "POST",
        "/portal/operator/clinics/{id}/numbers",
        Operator,
        Form,
    ),
    // terminals.rs
    r("GET", "/portal/terminals", Clinic, NoBody),
    r("POST", "/portal/terminals", Clinic, Form),
    r("GET", "/portal/terminals/{id}/settings", Clinic, NoBody),
    r("POST", "/portal/terminals/{id}/revoke", Clinic, Form),
    r("POST", "/portal/terminals/{id}/name", Clinic, Form),
    // operator.rs
    r("GET", "/portal/operator", Public, NoBody),
    r("GET", "/portal/operator/", Operator, NoBody),
    r("GET", "/portal/operator/login", Public, NoBody),
    r("POST", "/portal/operator/login", Public, Form),
    r("POST", "/portal/operator/logout", Operator, Form),
    r("GET", "/portal/operator/clinics", Operator, NoBody),
    r("GET", "/portal/operator/clinics/{id}", Operator, NoBody),
    r(
        "POST",
        "/portal/operator/clinics/{id}/approve",
        Operator,
        Form,
    ),
    r(
        "POST",
        "/portal/operator/clinics/{id}/reject",
        Operator,
        Form,
    ),
    r("GET", "/portal/operator/terminals", Operator, NoBody),
    r(
        "POST",
        "/portal/operator/terminals/{id}/revoke",
        Operator,
        Form,
    ),
    r("GET", "/portal/operator/audit", Operator, NoBody),
    r("GET", "/portal/operator/links", Operator, NoBody),
    r("POST", "/portal/operator/links/decide", Operator, Form),
    // claims/
    r("GET", "/portal/claims/{kind}", Clinic, NoBody),
    r("POST", "/portal/claims/{kind}/items", Clinic, Multipart),
    r(
        "POST",
        "/portal/claims/{kind}/items/{item}/delete",
        Clinic,
        Form,
    ),
    r(
        "GET",
        "/portal/claims/{kind}/items/{item}/receipt",
        Clinic,
        NoBody,
    ),
    r("POST", "/portal/claims/{kind}/submit", Clinic, Form),
    r("POST", "/portal/claims/{kind}/account", Clinic, Form),
    r(
        "GET",
        "/portal/claims/{kind}/documents/{role}",
        Clinic,
        NoBody,
    ),
    r(
        "POST",
        "/portal/claims/{kind}/documents/{role}",
        Clinic,
        Multipart,
    ),
    r(
        "GET",
        "/portal/operator/claims/{id}/documents/{role}",
        Operator,
        NoBody,
    ),
    r("GET", "/portal/operator/claims", Operator, NoBody),
    r("GET", "/portal/operator/claims.csv", Operator, NoBody),
    r("GET", "/portal/operator/claims.zengin", Operator, NoBody),
    r("GET", "/portal/operator/payment", Operator, NoBody),
    r("POST", "/portal/operator/payment", Operator, Form),
    r("GET", "/portal/operator/claims/{id}", Operator, NoBody),
    r(
        "POST",
        "/portal/operator/claims/{id}/approve",
        Operator,
        Form,
    ),
    r(
        "POST",
        "/portal/operator/claims/{id}/return",
        Operator,
        Form,
    ),
    r("POST", "/portal/operator/claims/{id}/paid", Operator, Form),
    r(
        "GET",
        "/portal/operator/claims/{id}/items/{item}/receipt",
        Operator,
        NoBody,
    ),
];

/// The ids the parameters of routes are filled with.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    /// A clinic id (operator pages on clinics).
    pub clinic: i64,
    /// A terminal (`W0000001`).
    pub terminal: String,
    /// A claim's kind (`equipment`).
    pub kind: String,
    /// A claim id.
    pub claim: i64,
    /// A claim item id.
    pub item: i64,
}

/// `route`'s path with its parameters filled from `ids`; panics on a parameter it does not know
/// (teach it).
pub fn fill(path: &str, ids: &Ids) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let name = &rest[start + 1..end];
        let value = match (name, path) {
            ("id", p) if p.starts_with("/portal/terminals/") => ids.terminal.clone(),
            ("id", p) if p.starts_with("/portal/operator/terminals/") => ids.terminal.clone(),
            ("id", p) if p.starts_with("/portal/operator/inquiries/") => "1".to_owned(),
            ("id", p) if p.starts_with("/portal/operator/claims/") => ids.claim.to_string(),
            ("id", p) if p.starts_with("/portal/operator/clinics/") => ids.clinic.to_string(),
            ("kind", p) if p.starts_with("/portal/claims/") => ids.kind.clone(),
            ("item", _) => ids.item.to_string(),
            ("role", _) => "bank".to_owned(),
            _ => panic!("fill: the parameter {{{name}}} of {path} is unknown: teach routes::fill where its value comes from"),
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every `.route(PATH, METHODS)` in `src/`: (method, path).
pub fn routes_in_source() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    let mut todo = vec![src];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Only the code before the unit tests.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut rest = text;
        while let Some(at) = rest.find(".route(") {
            let call = &rest[at + ".route(".len()..];
            // The call's text up to its closing parenthesis.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in call.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &call[..end];
            let (first, methods) = call.split_once(',').unwrap();
            let first = first.trim();
            let path = if let Some(lit) = first.strip_prefix('"') {
                lit.trim_end_matches('"').to_owned()
            } else {
                // A constant of the same file.
                let decl = format!("const {first}: &str = \"");
                let at = text
                    .find(&decl)
                    .unwrap_or_else(|| panic!("{}: route path {first} not found", f.display()))
                    + decl.len();
                text[at..at + text[at..].find('"').unwrap()].to_owned()
            };
            for (word, method) in [
                ("get(", "GET"),
                ("post(", "POST"),
                ("put(", "PUT"),
                ("delete(", "DELETE"),
                ("patch(", "PATCH"),
            ] {
                let found = methods.match_indices(word).any(|(i, _)| {
                    i == 0
                        || !methods[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if found {
                    out.insert((method.to_owned(), path.clone()));
                }
            }
            rest = &rest[at + 1..];
        }
    }
    out
}

#[test]
fn every_route_in_the_source_is_listed() {
    let source = routes_in_source();
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = source.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes in src/ missing from tests/it/routes.rs ROUTES (add them, with their access): {missing:?}"
    );
    let gone: Vec<_> = listed.difference(&source).collect();
    assert!(
        gone.is_empty(),
        "routes in tests/it/routes.rs ROUTES no longer in src/: {gone:?}"
    );
}
