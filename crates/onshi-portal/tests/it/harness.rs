//! The test world: the portal's router in process over a fresh store (SQLite in a temporary
//! directory; PostgreSQL in a fresh database when `ONSHI_TEST_POSTGRES` names a server),
//! simulated browsers with cookie jars, and the outbox's mails.
//!
//! The store's PostgreSQL client is synchronous: stores are opened and dropped outside the
//! runtime, and test code reaches the store through [`sync`].
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use chrono::{Duration, TimeZone, Utc};
use http_body_util::BodyExt;
use onshi_portal::Settings;
use onshi_store::ServiceStore;
use tower::ServiceExt;

/// Runs blocking store work from async test code (the store's clients block).
pub fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The portal's address in mails.
pub const PUBLIC_URL: &str = "https://portal.onshi.test";
/// The service's address for terminals.
pub const SERVICE_URL: &str = "https://onshi.test:8443";
/// The server CA put into terminals' settings files.
pub const SERVER_CA: &str =
    "-----BEGIN CERTIFICATE-----\nTUlJQnRlc3RDQQ==\n-----END CERTIFICATE-----\n";
/// Throttling of the test worlds.
pub const FAILURES_PER_ACCOUNT: i64 = 3;
/// Throttling of the test worlds.
pub const FAILURES_PER_ADDRESS: i64 = 6;
/// Registrations per address of the test worlds.
pub const REGISTRATIONS_PER_ADDRESS: i64 = 20;

/// What kind of world a test wants.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Whether the claim period is still open (else the deadline was yesterday).
    pub claims_open: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { claims_open: true }
    }
}

/// A PostgreSQL database to drop at the end.
struct Database {
    admin: String,
    name: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// One engine's portal. Fields drop in order: the router and the store before the database.
pub struct World {
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// The portal.
    pub app: Router,
    /// The store under the portal.
    pub store: Arc<dyn ServiceStore>,
    /// The settings the portal got.
    pub settings: Settings,
    /// The portal's state (its hashing pool, its mail transport).
    pub portal: onshi_portal::State,
    /// Outbox, receipts (and the SQLite file).
    pub dir: tempfile::TempDir,
    _database: Option<Database>,
}

/// The settings of a test world in `dir`.
pub fn settings(dir: &Path, options: Options) -> Settings {
    let today = Utc::now().with_timezone(&onshi_portal::jst()).date_naive();
    let deadline = if options.claims_open {
        today + Duration::days(30)
    } else {
        today - Duration::days(1)
    };
    let end = deadline.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
    let deadline_end = onshi_portal::jst()
        .from_local_datetime(&end)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    Settings {
        public_url: PUBLIC_URL.to_owned(),
        outbox: dir.join("outbox"),
        receipts: dir.join("receipts"),
        mail_from: "portal@onshi.test".to_owned(),
        deadline_end,
        deadline,
        equipment_cap_yen: 41_000,
        rececon_rate_percent: 50,
        rececon_cap_yen: 100_000,
        session_hours: 8,
        failures_per_account: FAILURES_PER_ACCOUNT,
        failures_per_address: FAILURES_PER_ADDRESS,
        throttle_minutes: 15,
        server_ca_pem: SERVER_CA.to_owned(),
        service_url: SERVICE_URL.to_owned(),
        smtp: None,
        max_terminals_per_clinic: onshi_server::config::DEFAULT_MAX_TERMINALS_PER_CLINIC,
        hash_slots: 2,
        // Tests send bursts of concurrent logins; the pool's refusal has a test of its own.
        hash_queue: 64,
        registrations_per_address: REGISTRATIONS_PER_ADDRESS,
        worker_seconds: 5,
        late_correction_days: onshi_portal::DEFAULT_LATE_CORRECTION_DAYS,
    }
}

/// The engines: SQLite always; PostgreSQL when `ONSHI_TEST_POSTGRES` is set (required when
/// `ONSHI_REQUIRE_POSTGRES` is).
fn engines() -> Vec<&'static str> {
    let mut out = vec!["sqlite"];
    match std::env::var("ONSHI_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => out.push("postgres"),
        _ => assert!(
            std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
            "ONSHI_TEST_POSTGRES is not set but ONSHI_REQUIRE_POSTGRES is"
        ),
    }
    out
}

/// A fresh database on the test server: its URL and what drops it.
fn fresh_postgres() -> (String, Database) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("ONSHI_TEST_POSTGRES").unwrap();
    let name = format!(
        "onshi_portal_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("admin URL without a database: {admin}"),
    };
    (url, Database { admin, name })
}

impl World {
    /// Opens a world on `engine` (outside any runtime).
    fn open(engine: &'static str, options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, database) = match engine {
            "sqlite" => (
                format!("sqlite://{}", dir.path().join("portal.sqlite3").display()),
                None,
            ),
            _ => {
                let (url, db) = fresh_postgres();
                (url, Some(db))
            }
        };
        let store: Arc<dyn ServiceStore> = Arc::from(
            onshi_store::open_service(&url).unwrap_or_else(|e| panic!("{engine} {url}: {e}")),
        );
        let settings = settings(dir.path(), options);
        let portal = onshi_portal::state(store.clone(), settings.clone());
        let app = onshi_portal::app(portal.clone());
        Self {
            engine,
            app,
            store,
            settings,
            portal,
            dir,
            _database: database,
        }
    }

    /// A new browser at the default address.
    pub fn browser(&self) -> Browser {
        Browser::new(self, "192.0.2.10:40000")
    }

    /// Runs the background worker's round now (as its timer would): queued mail is sent.
    pub fn deliver(&self) -> onshi_portal::mail::Delivery {
        sync(|| self.portal.background_round(Utc::now()).unwrap())
    }

    /// Every mail in the outbox, oldest first (after the worker's round).
    pub fn mails(&self) -> Vec<Mail> {
        self.deliver();
        let Ok(entries) = std::fs::read_dir(&self.settings.outbox) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Mail::parse(p)).collect()
    }

    /// The path (with query) of the last link to `path` mailed to `to`.
    pub fn link(&self, to: &str, path: &str) -> String {
        let prefix = format!("{PUBLIC_URL}{path}?");
        let mail = self
            .mails()
            .into_iter()
            .rev()
            .find(|m| m.to == to && m.body.contains(&prefix))
            .unwrap_or_else(|| panic!("no mail to {to} with a link to {path}"));
        let start = mail.body.find(&prefix).unwrap() + PUBLIC_URL.len();
        let rest = &mail.body[start..];
        rest[..rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len())].to_owned()
    }

    /// Every file under `dir` (recursively), relative.
    pub fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    out.push(p.strip_prefix(dir).unwrap().to_path_buf());
                }
            }
        }
        out.sort();
        out
    }
}

/// Runs `test` on every engine, each in a fresh world with its own runtime; stores open and
/// close outside the runtime.
pub fn each_engine<F, Fut>(options: Options, test: F)
where
    F: Fn(Arc<World>) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in engines() {
        let world = Arc::new(World::open(engine, options));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        eprintln!("--- engine: {engine}");
        rt.block_on(test(world.clone()));
        drop(rt);
        drop(world);
    }
}

/// A mail from the outbox.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The recipient.
    pub to: String,
    /// The decoded subject.
    pub subject: String,
    /// The body (CRLF turned into LF).
    pub body: String,
}

impl Mail {
    fn parse(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let value = |name: &str| {
            head.split("\r\n")
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_default()
                .to_owned()
        };
        let subject = value("Subject: ");
        let subject = subject
            .strip_prefix("=?UTF-8?B?")
            .and_then(|s| s.strip_suffix("?="))
            .map(|b| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                    .unwrap()
            })
            .unwrap_or(subject);
        Self {
            to: value("To: "),
            subject,
            body: body.replace("\r\n", "\n"),
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub bytes: Vec<u8>,
}

impl Page {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The CSRF token of the page's (first) form.
    pub fn csrf(&self) -> String {
        let text = self.text();
        let marker = "name=\"csrf\" value=\"";
        let start = text
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field in the page:\n{text}"))
            + marker.len();
        let end = text[start..].find('"').unwrap();
        text[start..start + end].to_owned()
    }

    /// Where a redirect goes.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// The text inside the element with `id` (tags removed, up to its first closing tag).
    pub fn by_id(&self, id: &str) -> Option<String> {
        let text = self.text();
        let at = text.find(&format!("id=\"{id}\""))?;
        let start = at + text[at..].find('>')? + 1;
        let end = start + text[start..].find("</")?;
        Some(strip_tags(&text[start..end]))
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts the status, showing the page when it differs.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; the page:\n{}",
            self.text()
        );
        self
    }

    /// Asserts a redirect to `to`.
    #[track_caller]
    pub fn expect_redirect(&self, to: &str) -> &Self {
        assert!(
            self.status.is_redirection(),
            "expected a redirect to {to}, got {}:\n{}",
            self.status,
            self.text()
        );
        assert_eq!(self.location().as_deref(), Some(to));
        self
    }

    /// Asserts the page contains `s`.
    #[track_caller]
    pub fn expect_text(&self, s: &str) -> &Self {
        assert!(
            self.text().contains(s),
            "the page lacks {s:?}:\n{}",
            self.text()
        );
        self
    }
}

/// Text without tags.
pub fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in s.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// A file to upload.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The form field.
    pub field: String,
    /// The file name the browser sends.
    pub file_name: String,
    /// The content type the browser sends.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A simulated browser: a cookie jar and a peer address.
#[derive(Clone)]
pub struct Browser {
    app: Router,
    /// The TCP peer the portal sees.
    pub addr: SocketAddr,
    /// Cookies by name.
    pub jar: BTreeMap<String, String>,
}

impl Browser {
    /// A browser at `addr`.
    pub fn new(world: &World, addr: &str) -> Self {
        Self {
            app: world.app.clone(),
            addr: addr.parse().unwrap(),
            jar: BTreeMap::new(),
        }
    }

    /// The same browser (cookies, address) in front of another router.
    pub fn with_app(&self, app: Router) -> Self {
        Self {
            app,
            addr: self.addr,
            jar: self.jar.clone(),
        }
    }

    /// Sends `request` with the jar's cookies and the peer address; keeps the cookies set.
    pub async fn send(&mut self, mut request: Request<Body>) -> Page {
        if !self.jar.is_empty() {
            let cookies = self
                .jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request
                .headers_mut()
                .insert(header::COOKIE, cookies.parse().unwrap());
        }
        request
            .extensions_mut()
            .insert(onshi_server::serve::PeerAddr(self.addr));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        let page = Page {
            status: parts.status,
            headers: parts.headers,
            bytes,
        };
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let removed = value.is_empty()
                || c.split(';')
                    .any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        page
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Page {
        self.send(
            Request::builder()
                .method(Method::GET)
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// POST a form (urlencoded).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// POST a multipart form with files.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[Upload],
    ) -> Page {
        let boundary = "----onshi-test-boundary-7d1f0c9a";
        let mut body: Vec<u8> = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for f in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                    f.field, f.file_name, f.content_type
                )
                .as_bytes(),
            );
            body.extend_from_slice(&f.bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// GET `form_path`, then POST `form` to `action` with the page's CSRF token.
    pub async fn submit(&mut self, form_path: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let page = self.get(form_path).await;
        page.expect(StatusCode::OK);
        let csrf = page.csrf();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }
}

/// A clinic's registration form, valid unless changed.
#[derive(Clone, Debug)]
pub struct ClinicForm {
    /// 施術所名.
    pub name: String,
    /// `judo`, `anma`, `hari`.
    pub kinds: Vec<String>,
    /// 院長.
    pub director: String,
    /// 登録記号番号 (柔道整復).
    pub registration: String,
    /// 登録記号番号 (あはき), empty when none.
    pub registration_ahaki: String,
    /// 所在地.
    pub address: String,
    /// 電話番号.
    pub phone: String,
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Password again.
    pub password_confirm: String,
}

impl ClinicForm {
    /// A valid form for clinic number `n`.
    pub fn valid(n: u32) -> Self {
        Self {
            name: format!("テスト接骨院{n}"),
            kinds: vec!["judo".to_owned()],
            director: "山田　太郎".to_owned(),
            registration: format!("契{:07}-1-23", 123_450 + n),
            registration_ahaki: String::new(),
            address: "東京都千代田区霞が関１－２－２".to_owned(),
            phone: "03-1234-5678".to_owned(),
            email: format!("clinic{n}@example.jp"),
            password: format!("correct horse {n}"),
            password_confirm: format!("correct horse {n}"),
        }
    }

    /// The form's fields (without the CSRF token).
    pub fn fields(&self) -> Vec<(&str, &str)> {
        let mut out = vec![
            ("name", self.name.as_str()),
            ("director", self.director.as_str()),
            ("registration", self.registration.as_str()),
            ("registration_ahaki", self.registration_ahaki.as_str()),
            ("address", self.address.as_str()),
            ("phone", self.phone.as_str()),
            ("email", self.email.as_str()),
            ("password", self.password.as_str()),
            ("password_confirm", self.password_confirm.as_str()),
        ];
        for k in &self.kinds {
            out.push(("kinds", k.as_str()));
        }
        out
    }
}

/// A registered, confirmed and logged-in clinic.
pub struct Clinic {
    /// The clinic's id.
    pub id: i64,
    /// Its login.
    pub email: String,
    /// Its password.
    pub password: String,
    /// Its browser, logged in.
    pub browser: Browser,
}

impl Clinic {
    /// The session's CSRF token (from the home page).
    pub async fn csrf(&mut self) -> String {
        let page = self.browser.get("/portal/home").await;
        page.expect(StatusCode::OK);
        page.csrf()
    }
}

/// Registers with `form` in `browser`; the response.
pub async fn register(browser: &mut Browser, form: &ClinicForm) -> Page {
    browser
        .submit("/portal/register", "/portal/register", &form.fields())
        .await
}

/// Logs in with `email` and `password`; the response.
pub async fn login(browser: &mut Browser, email: &str, password: &str) -> Page {
    browser
        .submit(
            "/portal/login",
            "/portal/login",
            &[("email", email), ("password", password)],
        )
        .await
}

/// The clinic id of the account `email`.
pub fn clinic_id(world: &World, email: &str) -> i64 {
    sync(|| {
        onshi_portal::db::account_by_email(world.store.portal(), email)
            .unwrap()
            .unwrap_or_else(|| panic!("no account {email}"))
            .clinic_id
    })
}

/// Registers clinic number `n`, confirms its e-mail and logs it in.
pub async fn signup(world: &World, n: u32) -> Clinic {
    let form = ClinicForm::valid(n);
    let mut browser = world.browser();
    register(&mut browser, &form).await.expect(StatusCode::OK);
    let link = world.link(&form.email, "/portal/confirm");
    browser.get(&link).await.expect(StatusCode::OK);
    login(&mut browser, &form.email, &form.password)
        .await
        .expect_redirect("/portal/home");
    Clinic {
        id: clinic_id(world, &form.email),
        email: form.email,
        password: form.password,
        browser,
    }
}

/// The test operator's login and password.
pub const OPERATOR_LOGIN: &str = "operator1";
/// The test operator's password.
pub const OPERATOR_PASSWORD: &str = "operator password 1";

/// Adds the test operator (once per world); its id.
pub fn operator(world: &World) -> i64 {
    sync(|| {
        if let Some(op) =
            onshi_portal::db::operator_by_login(world.store.portal(), OPERATOR_LOGIN).unwrap()
        {
            return op.id;
        }
        onshi_portal::operator::add_operator(
            &*world.store,
            OPERATOR_LOGIN,
            "運用　花子",
            OPERATOR_PASSWORD,
            Utc::now(),
        )
        .unwrap()
        .id
    })
}

/// The test operator's TOTP code now; the step last used is forgotten first, so that a test
/// may log in more than once within 30 seconds (replay has its own test).
pub fn operator_code(world: &World) -> String {
    sync(|| {
        onshi_store::portal::transaction(world.store.portal(), |tx| {
            tx.execute("UPDATE portal_operators SET totp_last_step = NULL", &[])
        })
        .unwrap();
        let secret = onshi_portal::db::operator_by_login(world.store.portal(), OPERATOR_LOGIN)
            .unwrap()
            .unwrap()
            .totp_secret
            .unwrap();
        onshi_portal::totp::code(&secret, onshi_portal::totp::step(Utc::now()))
    })
}

/// Signs up clinic `n`, applies and has the operator approve it (directly in the store).
pub async fn approved_clinic(world: &World, n: u32) -> Clinic {
    let mut clinic = signup(world, n).await;
    let csrf = clinic.csrf().await;
    clinic
        .browser
        .post("/portal/apply", &[("csrf", &csrf)])
        .await
        .expect_redirect("/portal/home");
    let op = operator(world);
    let id = clinic.id;
    assert!(sync(|| onshi_portal::db::decide_application(
        world.store.portal(),
        op,
        id,
        true,
        "",
        Utc::now()
    )
    .unwrap()));
    clinic
}

/// The message of a CSRF refusal.
pub const CSRF_REFUSED: &str = "フォームの有効期限が切れたか、正しくない送信です。";
/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-onshi-portal";

/// Whether the portal has a route `path` (in its source).
pub fn has_route(method: &str, path: &str) -> bool {
    super::routes::routes_in_source().contains(&(method.to_owned(), path.to_owned()))
}

/// A browser logged in as the test operator: through `/portal/operator/login` when it exists,
/// else with a session made in the store.
pub async fn operator_browser(world: &World) -> Browser {
    let id = operator(world);
    let mut browser = Browser::new(world, "198.51.100.7:50000");
    if has_route("POST", "/portal/operator/login") {
        let code = operator_code(world);
        let page = browser
            .submit(
                "/portal/operator/login",
                "/portal/operator/login",
                &[
                    ("login", OPERATOR_LOGIN),
                    ("password", OPERATOR_PASSWORD),
                    ("code", &code),
                ],
            )
            .await;
        assert!(
            page.status.is_redirection(),
            "operator login: {} {}",
            page.status,
            page.text()
        );
        assert!(browser.jar.contains_key(SESSION_COOKIE));
    } else {
        let portal = world.portal.clone();
        let session = sync(|| {
            let epoch = onshi_portal::db::operator(world.store.portal(), id)
                .unwrap()
                .unwrap()
                .session_epoch;
            onshi_portal::auth::start_session(
                &portal,
                onshi_portal::db::Role::Operator,
                id,
                epoch,
                Utc::now(),
            )
            .unwrap()
        });
        browser.jar.insert(SESSION_COOKIE.to_owned(), session);
    }
    browser
}

/// The operator's CSRF token (from an operator page).
pub async fn operator_csrf(browser: &mut Browser) -> String {
    let home = if has_route("GET", "/portal/operator/") {
        "/portal/operator/"
    } else {
        "/portal/operator/claims"
    };
    let page = browser.get(home).await;
    page.expect(StatusCode::OK);
    page.csrf()
}

/// Creates a terminal on the clinic's terminals page: (id, enrollment code, the page).
pub async fn new_terminal(clinic: &mut Clinic) -> (String, String, Page) {
    let page = clinic
        .browser
        .submit("/portal/terminals", "/portal/terminals", &[])
        .await;
    page.expect(StatusCode::OK);
    let id = page.by_id("terminal-account").unwrap();
    let code = page.by_id("enrollment-code").unwrap();
    (id, code, page)
}
