//! Entry points for the fuzz targets `portal_forms` and `portal_multipart`: every form and query
//! the portal reads, and the receipt upload's multipart body, fed arbitrary bytes, must not panic
//! and must not answer 500.
//!
//! `forms` sends each input through the real router (over an SQLite store in a temporary
//! directory made once per process) to one of the routes below: before login with the
//! double-submit CSRF cookie, or with an operator's session. The first byte picks the route and
//! whether the form carries the right CSRF token (so the fuzzer gets past it); the rest is the
//! body (POST) or the query (GET). `multipart` reads the input as the item form's multipart body
//! with the upload's own reader.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::{Duration, Utc};
use tower::ServiceExt;

use crate::db::Role;

/// The CSRF token of the fuzzer's forms (the pre-login cookie and the operator's session).
const CSRF: &str = "fuzzcsrf0123456789";
/// The operator's session id.
const OPERATOR_SESSION: &str = "fuzzsession0123456789";
/// The multipart boundary.
const BOUNDARY: &str = "fuzzboundary";

/// Who sends a request.
#[derive(Clone, Copy)]
enum Who {
    Anyone,
    Operator,
}

/// The routes that read a form (POST) or a query (GET). Logging out is left out: it would end
/// the operator's session for every input after.
const ROUTES: &[(&str, &str, Who)] = &[
    ("POST", "/portal/register", Who::Anyone),
    ("POST", "/portal/login", Who::Anyone),
    ("POST", "/portal/reset", Who::Anyone),
    ("POST", "/portal/reset/confirm", Who::Anyone),
    ("POST", "/portal/operator/login", Who::Anyone),
    ("POST", "/portal/apply", Who::Anyone),
    ("POST", "/portal/terminals", Who::Anyone),
    ("POST", "/portal/claims/equipment/items", Who::Anyone),
    ("GET", "/portal/confirm", Who::Anyone),
    ("GET", "/portal/reset/confirm", Who::Anyone),
    ("GET", "/portal/claims/equipment", Who::Anyone),
    ("POST", "/portal/operator/clinics/1/approve", Who::Operator),
    ("POST", "/portal/operator/clinics/1/reject", Who::Operator),
    ("POST", "/portal/operator/claims/1/approve", Who::Operator),
    ("POST", "/portal/operator/claims/1/return", Who::Operator),
    ("POST", "/portal/operator/claims/1/paid", Who::Operator),
    ("GET", "/portal/operator/clinics", Who::Operator),
    ("GET", "/portal/operator/clinics/1", Who::Operator),
    ("GET", "/portal/operator/terminals", Who::Operator),
    ("GET", "/portal/operator/audit", Who::Operator),
    ("GET", "/portal/operator/claims", Who::Operator),
    ("GET", "/portal/operator/claims.csv", Who::Operator),
    ("GET", "/portal/operator/claims/1", Who::Operator),
];

struct Fixture {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    app: Router,
}

/// What building the fixture can fail with: any of the crates' errors (the fuzzer stops).
type FixtureError = Box<dyn std::error::Error + Send + Sync>;

fn make_fixture() -> Result<Fixture, FixtureError> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn onshi_store::ServiceStore> = Arc::from(onshi_store::open_service_data_dir(
        &dir.path().join("data"),
    )?);
    let portal = crate::PortalConfig {
        enabled: true,
        outbox: Some(dir.path().join("outbox")),
        receipts: Some(dir.path().join("receipts")),
        ..Default::default()
    };
    let config = onshi_server::config::ServerConfig {
        portal: portal.to_table()?,
        ..Default::default()
    };
    let settings = crate::Settings::resolve(
        dir.path(),
        &config,
        std::net::SocketAddr::from(([127, 0, 0, 1], 8443)),
    )?;
    let now = Utc::now();
    let operator = crate::operator::add_operator(
        store.as_ref(),
        "fuzz",
        "試験 運用者",
        "fuzz-operator-password",
        now,
    )?;
    crate::db::create_session(
        store.portal(),
        &crate::auth::token_hash(OPERATOR_SESSION),
        Role::Operator,
        operator.id,
        CSRF,
        0,
        now,
        now + Duration::days(365),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(Fixture {
        app: crate::router(store, settings),
        _dir: dir,
        runtime,
    })
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| match make_fixture() {
        Ok(f) => f,
        // Without its fixture the fuzzer would test nothing: stop at once, loudly.
        Err(e) => panic!("fuzzing fixture: {e}"),
    })
}

/// `bytes` percent-encoded where a URI may not carry them as they are.
fn query_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~=&+%!$'()*,;:@/?".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One form or query through the router.
pub fn forms(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (method, path, who) = ROUTES[usize::from(pick & 0x7f) % ROUTES.len()];
    let with_token = pick & 0x80 != 0;
    let cookie = match who {
        Who::Anyone => format!("{}={CSRF}", crate::auth::CSRF_COOKIE),
        Who::Operator => format!(
            "{}={OPERATOR_SESSION}; {}={CSRF}",
            crate::auth::SESSION_COOKIE,
            crate::auth::CSRF_COOKIE
        ),
    };
    let mut body = Vec::new();
    if with_token {
        body.extend_from_slice(format!("csrf={CSRF}&").as_bytes());
    }
    body.extend_from_slice(rest);
    let request = if method == "GET" {
        Request::get(format!("{path}?{}", query_text(&body)))
            .header(header::COOKIE, cookie)
            .body(Body::empty())
    } else {
        Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
    };
    let Ok(mut request) = request else {
        return;
    };
    // The client's address, as the server's accept loop sets it.
    request
        .extensions_mut()
        .insert(onshi_server::serve::PeerAddr(std::net::SocketAddr::from((
            [192, 0, 2, 1],
            40000,
        ))));
    let f = fixture();
    let response = f.runtime.block_on(f.app.clone().oneshot(request));
    let status = match response {
        Ok(r) => r.status(),
        Err(e) => match e {},
    };
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{method} {path} answered 500"
    );
}

/// The item form's multipart body, read as the upload handler reads it.
pub fn multipart(data: &[u8]) {
    let request = Request::post("/portal/claims/equipment/items")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(data.to_vec()));
    let Ok(request) = request else {
        return;
    };
    let f = fixture();
    f.runtime.block_on(async {
        let Ok(multipart) = Multipart::from_request(request, &()).await else {
            return;
        };
        if let Ok(upload) = crate::claims::read_upload_for_fuzzing(multipart).await {
            // Text fields are bounded; the receipt, when any, is the bytes sent.
            assert!(upload.0.values().all(|v| v.len() <= data.len()));
            if let Some((_, bytes)) = &upload.1 {
                assert!(bytes.len() <= data.len());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_samples() {
        for pick in 0..=255u8 {
            let mut input = vec![pick];
            input.extend_from_slice(b"name=a&kinds=x&email=a%40b&page=-1&status=%FF&q=%25");
            forms(&input);
        }
        for s in [
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"vendor\"\r\n\r\nA\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"receipt\"; filename=\"r.pdf\"\r\n\r\n%PDF-1.4\r\n--{BOUNDARY}--\r\n"),
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"vendor\"\r\n\r\n\u{ff}"),
            String::new(),
        ] {
            multipart(s.as_bytes());
        }
    }
}
