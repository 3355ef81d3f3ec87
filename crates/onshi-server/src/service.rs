//! The logic of the service, apart from HTTP: who is calling, challenges, checks, enrollment.
//! Every method takes `now`; the HTTP layer passes the clock.

use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine;
use chrono::{DateTime, Utc};
use onshi_model::codes::ProcessingResultStatus;
use onshi_model::{
    Eligibility, InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber,
    InsurerNumber, KeyQuery, QualificationValidity,
};
use onshi_pki::card_check::{CardCheckError, CardWarning, CheckedCard, GracePolicy, TrustedJpki};
use onshi_pki::terminal_ca::{CheckedCsr, PlannedSerial, ServerPki};
use onshi_proto::{
    codes, CheckResponse, EnrollRequest, EnrollResponse, ErrorCode, Mode, Purpose, QueryRequest,
    RenewRequest, ResultCode, VerifyRequest,
};
use onshi_store::{
    AuditEntry, AuditKey, AuditMode, Blocking, CardLink, CardLookup, CheckStore, ServiceStore,
    Terminal,
};

use crate::challenge::{Challenges, TokenError};
use crate::config::{CrlMissing, ServerConfig};
use crate::logging::untrusted;

/// The name of the challenge MAC key in the store (shared by every instance).
const CHALLENGE_KEY: &str = "challenge-mac-key";

/// The service: the store, the PKI material and the trusted JPKI CAs with their CRLs.
pub struct Service {
    store: Arc<dyn ServiceStore>,
    /// The store's part of a check: async on PostgreSQL, the store itself otherwise.
    check: Arc<dyn CheckStore>,
    pki: ServerPki,
    jpki_cas: Vec<Vec<u8>>,
    /// The CRL generation loaded, and the trusted CAs with those CRLs (none when no JPKI CA is
    /// configured: every card is then refused as untrusted).
    jpki: RwLock<(i64, Option<Arc<TrustedJpki>>)>,
    challenges: Challenges,
    grace: GracePolicy,
    /// The audit chain's MAC key (`audit.key`, outside the store).
    audit_key: AuditKey,
    /// What a trusted CA without a current CRL does: refuse its cards, or fail `/readyz`.
    crl_missing: CrlMissing,
    /// How long a changed card link is answered with W004.
    link_change_warning: chrono::Duration,
}

/// What `/readyz` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The store answers and revocation can be checked.
    Ready,
    /// The store does not answer.
    StoreUnreachable,
    /// With `crl_missing = "unready"`: a trusted CA has no CRL, or one past its nextUpdate.
    CrlNotCurrent,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Why the service did not answer a request: the service's own reasons, free of HTTP (the API's
/// edge turns each into a status and a `{code, message}` body, `crate::ApiError`). Messages are
/// in Japanese, for the staff; internal causes are logged there, never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The caller presented no terminal certificate.
    #[error("{code}: {message}")]
    Unauthenticated {
        /// The error body's code.
        code: ErrorCode,
        /// For the staff.
        message: String,
    },
    /// The caller is known but may not do this (a terminal not active, a refused enrollment).
    #[error("{code}: {message}")]
    Refused {
        /// The error body's code.
        code: ErrorCode,
        /// For the staff.
        message: String,
    },
    /// The request is malformed; the message names the field.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The store cannot be reached; the terminal may try again shortly.
    #[error("the store is unavailable")]
    Unavailable,
    /// Something that should not happen; the cause is logged, the caller gets a generic answer.
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl From<onshi_store::StoreError> for ServiceError {
    fn from(e: onshi_store::StoreError) -> Self {
        if e.is_unavailable() {
            // Logged once per request at warn: an outage shows in the logs without a stack of
            // "internal error" lines, and the app records the visit as 未確認.
            tracing::warn!(cause = %crate::loggable(&e), "database unavailable");
            return Self::Unavailable;
        }
        // Without the values a database error can quote (a patient's name or number).
        Self::Internal(crate::loggable(&e))
    }
}

fn forbidden(code: ErrorCode, message: &str) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.to_owned(),
    }
}

/// The one answer to every refused enrollment (403, `E009`).
pub fn enroll_refused() -> ServiceError {
    ServiceError::Refused {
        code: ErrorCode::BadEnrollment,
        message: format!(
            "端末を登録できませんでした。端末のアカウント名と登録コードを確かめてください。登録コードは一度しか使えず、有効期限は発行から{}時間です。解決しないときは、施術所の管理画面で新しい端末のアカウントを作成してください。",
            crate::admin::ENROLLMENT_CODE_HOURS
        ),
    }
}

impl Service {
    /// Opens the service's data directory with its store.
    pub fn open(
        dir: &Path,
        config: &ServerConfig,
        store: Arc<dyn ServiceStore>,
    ) -> Result<Self, crate::ServerError> {
        let pki = ServerPki::open(dir)?;
        let jpki_cas = crate::admin::read_jpki_cas(dir, config)?;
        let audit_key = crate::audit_key::open_or_create(dir, store.as_ref())?;
        let key = store.secret(CHALLENGE_KEY, &|| {
            let mut k = vec![0u8; 32];
            // A failed RNG leaves zeros; refuse that below rather than run with a weak key.
            let _ = aws_lc_rs::rand::fill(&mut k);
            k
        })?;
        if key.iter().all(|&b| b == 0) {
            return Err(crate::ServerError::ChallengeKey);
        }
        let check = store
            .check_path()
            .unwrap_or_else(|| Arc::new(Blocking(store.clone())));
        let service = Self {
            store,
            check,
            pki,
            jpki_cas,
            jpki: RwLock::new((-1, None)),
            challenges: Challenges::new(&key, config.challenge_ttl_seconds),
            grace: GracePolicy {
                months_after_expiry: config.grace_months,
            },
            audit_key,
            crl_missing: config.crl_missing,
            link_change_warning: chrono::Duration::days(i64::from(config.link_change_warning_days)),
        };
        service.reload_crls()?;
        service.adopt_legacy_card_links()?;
        Ok(service)
    }

    /// Card links stored before they named their issuer belong to the one trusted CA, when there
    /// is exactly one; with several, they answer no card until `issued.csv` is imported again
    /// (with its `Issuer` column).
    fn adopt_legacy_card_links(&self) -> Result<(), onshi_store::StoreError> {
        let Some(trusted) = self.trusted() else {
            return Ok(());
        };
        // With several CAs, which one issued a legacy link is not known: such links answer no
        // card until issued.csv is imported again with its Issuer column.
        if let [only] = trusted.issuers().as_slice() {
            let n = self.store.adopt_legacy_card_links(only)?;
            if n > 0 {
                tracing::info!(
                    n,
                    issuer = %only,
                    "card links of before migration 7 given the one trusted CA as issuer"
                );
            }
        }
        Ok(())
    }

    /// Whether a check's store calls are async (then run on the async workers).
    pub fn check_is_async(&self) -> bool {
        self.check.is_async()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ServiceStore> {
        &self.store
    }

    /// Reloads the trusted CAs with the store's CRLs when they changed; returns whether it did.
    ///
    /// A stored CRL that does not verify (loaded before loads were verified, or a CA
    /// certificate replaced since) is logged and skipped: its CA counts as having no CRL, and
    /// the service still starts. The serials every CRL ever listed stay revoked.
    pub fn reload_crls(&self) -> Result<bool, ServiceError> {
        let generation = self.store.crl_generation()?;
        if self.jpki.read().map(|g| g.0 == generation).unwrap_or(false) {
            return Ok(false);
        }
        if self.jpki_cas.is_empty() {
            tracing::warn!("no JPKI CA configured: every card will be refused");
            if let Ok(mut guard) = self.jpki.write() {
                *guard = (generation, None);
            }
            return Ok(true);
        }
        let mut trusted = TrustedJpki::new(&self.jpki_cas).map_err(ServiceError::internal)?;
        trusted.require_current_crls(self.crl_missing == CrlMissing::Refuse);
        let mut loaded = 0usize;
        for crl in self.store.crls()? {
            match trusted.with_crls(std::slice::from_ref(&crl.der)) {
                Ok(()) => loaded += 1,
                Err(e) => tracing::error!(
                    issuer = %crl.issuer,
                    error = %e,
                    "a stored CRL does not verify: its CA counts as having no CRL; remove it with \
                     `onshi admin crl remove` and load a good one"
                ),
            }
        }
        let mut kept: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (issuer, serial) in self.store.crl_revoked()? {
            kept.entry(issuer).or_default().push(serial);
        }
        let kept_serials: usize = kept.values().map(Vec::len).sum();
        for (issuer, serials) in &kept {
            trusted.keep_revoked(issuer, serials);
        }
        if let Ok(mut guard) = self.jpki.write() {
            *guard = (generation, Some(Arc::new(trusted)));
        }
        tracing::info!(
            generation,
            crls = loaded,
            kept_serials,
            "trusted JPKI CAs and CRLs loaded"
        );
        Ok(true)
    }

    /// Reloads the trusted CAs and CRLs even when the store's generation is unchanged (SIGHUP).
    pub fn force_reload_crls(&self) -> Result<bool, ServiceError> {
        if let Ok(mut guard) = self.jpki.write() {
            guard.0 = -1;
        }
        self.reload_crls()
    }

    /// The CRL generation loaded (-1 before the first load), for the metrics.
    pub fn crl_generation(&self) -> i64 {
        match self.jpki.read() {
            Ok(g) => g.0,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// The trusted CAs whose revocation cannot be checked at `now` (no CRL, a CRL that does not
    /// verify, or one past its nextUpdate), logged as errors: the CRL watcher calls this at
    /// every poll, so an operator sees it until a current CRL is loaded. Empty when all is well.
    pub fn log_crl_problems(&self, now: DateTime<Utc>) -> Vec<onshi_pki::CrlProblem> {
        let problems = self
            .trusted()
            .map(|t| t.crl_problems(now))
            .unwrap_or_default();
        let effect = match self.crl_missing {
            CrlMissing::Refuse => "its cards are refused (E011)",
            CrlMissing::Unready => "/readyz answers 503",
        };
        for problem in &problems {
            match problem {
                onshi_pki::CrlProblem::Missing { issuer } => tracing::error!(
                    %issuer,
                    effect,
                    "no CRL for a trusted JPKI CA: revocation cannot be checked; load one with \
                     `onshi admin crl load`"
                ),
                onshi_pki::CrlProblem::Stale { crl } => tracing::error!(
                    issuer = %crl.issuer,
                    number = crl.number.as_deref().unwrap_or("-"),
                    next_update = ?crl.next_update,
                    effect,
                    "the CRL of a trusted JPKI CA is past its nextUpdate; load a newer one with \
                     `onshi admin crl load`"
                ),
            }
        }
        problems
    }

    fn trusted(&self) -> Option<Arc<TrustedJpki>> {
        match self.jpki.read() {
            Ok(g) => g.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// The active terminal behind a client certificate; 401 without one, 403 for an unknown or
    /// revoked terminal.
    pub async fn terminal(&self, peer: Option<&[u8]>) -> Result<Terminal, ServiceError> {
        let Some(der) = peer else {
            return Err(ServiceError::Unauthenticated {
                code: ErrorCode::NoClientCertificate,
                message: "端末の証明書がありません。この端末はまだ登録（利用開始）されていません。"
                    .to_owned(),
            });
        };
        let serial = onshi_pki::terminal_ca::serial_of(der).ok_or_else(|| {
            forbidden(
                ErrorCode::TerminalNotActive,
                "端末の証明書を読み取れません。",
            )
        })?;
        match self.check.active_terminal_by_serial(&serial).await? {
            Some(t) => Ok(t),
            None => {
                tracing::warn!(%serial, "refused: terminal certificate not active");
                Err(forbidden(
                    ErrorCode::TerminalNotActive,
                    "この端末は利用できません（登録が取り消されたか、証明書が更新されています）。施術所の管理者に連絡してください。",
                ))
            }
        }
    }

    /// `enroll`: a one-time code and a CSR in, the terminal's certificate out.
    ///
    /// In this order: the CSR is checked (no signing), the code is checked and spent in the
    /// store, which records the serial chosen beforehand and activates the terminal; only then
    /// does the terminal CA sign. Every refusal — unknown account, a terminal not pending, a
    /// wrong, spent or expired code, a bad CSR — is the same answer ([`enroll_refused`]), so that
    /// nobody learns which terminals are pending; the reason is logged, with the client's text
    /// escaped and truncated ([`untrusted`]).
    pub fn enroll(
        &self,
        req: &EnrollRequest,
        now: DateTime<Utc>,
    ) -> Result<EnrollResponse, ServiceError> {
        let refused = |why: &dyn std::fmt::Display| {
            let why = why.to_string();
            tracing::warn!(
                account = %untrusted(&req.account),
                why = %untrusted(&why),
                "enrollment refused"
            );
            enroll_refused()
        };
        if !onshi_pki::terminal_ca::is_valid_terminal_id(&req.account) {
            return Err(refused(&"not a terminal id"));
        }
        let csr = CheckedCsr::from_pem(&req.csr_pem).map_err(|e| refused(&e))?;
        let serial = PlannedSerial::random().map_err(ServiceError::internal)?;
        let code_hash = crate::admin::code_hash(req.code.trim());
        if let Err(refusal) =
            self.store
                .enroll_terminal(&req.account, code_hash, &serial.text(), now)?
        {
            return Err(refused(&refusal));
        }
        match self
            .pki
            .sign_terminal_certificate(&csr, &req.account, &serial, now)
        {
            Ok(issued) => {
                tracing::info!(account = %req.account, serial = %issued.serial, "terminal enrolled");
                Ok(EnrollResponse {
                    certificate_pem: issued.certificate_pem,
                    terminal_ca_pem: self.pki.terminal_ca_pem().to_owned(),
                })
            }
            Err(e) => {
                // The code is spent and the terminal active with a serial nobody holds: revoke
                // it, so that the clinic sees it stopped and adds a new one.
                tracing::error!(account = %req.account, error = %e, "signing failed after the enrollment code was spent; revoking the terminal");
                self.store.revoke_terminal(&req.account, now)?;
                Err(ServiceError::internal(e))
            }
        }
    }

    /// Terminal certificates this instance's terminal CA has signed (for the metrics).
    pub fn certificates_signed(&self) -> u64 {
        self.pki.terminal_certificates_signed()
    }

    /// `renew`: a new certificate for an enrolled terminal; the old one is refused from now on.
    pub fn renew(
        &self,
        terminal: &Terminal,
        req: &RenewRequest,
        now: DateTime<Utc>,
    ) -> Result<EnrollResponse, ServiceError> {
        let issued = self
            .pki
            .issue_terminal_certificate(&req.csr_pem, &terminal.id, now)
            .map_err(|e| {
                ServiceError::bad_request(format!("証明書署名要求（CSR）が正しくありません: {e}"))
            })?;
        if !self
            .store
            .renew_terminal_certificate(&terminal.id, &issued.serial, now)?
        {
            return Err(forbidden(
                ErrorCode::TerminalNotActive,
                "この端末は利用できません。施術所の管理者に連絡してください。",
            ));
        }
        tracing::info!(terminal = %terminal.id, "terminal certificate renewed");
        Ok(EnrollResponse {
            certificate_pem: issued.certificate_pem,
            terminal_ca_pem: self.pki.terminal_ca_pem().to_owned(),
        })
    }

    /// `challenge`: a fresh single-use token for the terminal.
    pub fn challenge(
        &self,
        terminal: &Terminal,
        now: DateTime<Utc>,
    ) -> Result<(String, u64), ServiceError> {
        self.challenges
            .mint(&terminal.id, now)
            .map_err(ServiceError::internal)
    }

    /// Writes the audit record of one request (spending its nonce, and with `what.register`
    /// registering the card in the same transaction) and returns the 照会番号.
    async fn audit(
        &self,
        terminal: &Terminal,
        what: Audited<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        let reference_number = reference_number(now);
        let entry = AuditEntry {
            at: now,
            terminal_id: terminal.id.clone(),
            clinic_id: terminal.clinic_id,
            mode: what.mode,
            certificate_serial: what.serial.map(str::to_owned),
            person_id: what.person.cloned(),
            answer: what.answer.to_owned(),
            reference_number: reference_number.clone(),
            nonce_id: what.nonce_id,
            recheck_of: what.recheck_of.map(str::to_owned),
        };
        match self
            .check
            .record_check(&self.audit_key, &entry, what.register)
            .await?
        {
            Ok(_) => Ok(reference_number),
            Err(_spent) => Err(forbidden(
                ErrorCode::BadNonce,
                "この確認要求は既に使われています。もう一度最初から確認してください。",
            )),
        }
    }

    /// `verify` (and, with `register`, 利用登録 on the spot): the card check.
    pub async fn verify(
        &self,
        terminal: &Terminal,
        req: &VerifyRequest,
        register: bool,
        now: DateTime<Utc>,
    ) -> Result<CheckResponse, ServiceError> {
        let mode = match (register, req.mode) {
            (true, _) => AuditMode::Register,
            (false, Mode::Pin) => AuditMode::Pin,
            (false, Mode::Visual) => AuditMode::Visual,
        };
        let recheck = recheck_reference(req.recheck_of.as_deref())?;
        let redeemed = match self.challenges.redeem(&req.nonce, &terminal.id, now) {
            Ok(r) => r,
            Err(e) => {
                self.audit(
                    terminal,
                    Audited {
                        mode,
                        serial: None,
                        person: None,
                        answer: codes::BAD_NONCE,
                        nonce_id: None,
                        recheck_of: recheck,
                        register: None,
                    },
                    now,
                )
                .await?;
                return Err(forbidden(
                    ErrorCode::BadNonce,
                    match e {
                        TokenError::Expired => {
                            "確認の有効時間（2分）が過ぎました。もう一度最初から確認してください。"
                        }
                        TokenError::WrongTerminal | TokenError::Malformed => {
                            "確認要求が正しくありません。もう一度最初から確認してください。"
                        }
                    },
                ));
            }
        };
        let visit = req.visit_date;
        let certificate = b64()
            .decode(&req.certificate)
            .map_err(|_| ServiceError::bad_request("certificate は base64 の DER 証明書です"))?;
        let card = match self.check_card(
            &certificate,
            req,
            &redeemed.bytes,
            &terminal.id,
            register,
            now,
        ) {
            Ok(card) => card,
            Err(e) => {
                let what = Audited {
                    mode,
                    serial: None,
                    person: None,
                    answer: e.code().as_str(),
                    nonce_id: Some(redeemed.id),
                    recheck_of: recheck,
                    register: None,
                };
                let reference = self.audit(terminal, what, now).await?;
                return Ok(failure(reference, e.code(), &e.message_ja()));
            }
        };
        let CardLookup {
            link,
            check: guard,
            eligibility,
        } = self
            .check
            .card_lookup(&card.issuer, &card.serial, visit)
            .await?;
        let link = link.filter(|link| link_fits(link, &card));
        let Some(link) = link else {
            let what = Audited {
                mode,
                serial: Some(&card.serial),
                person: None,
                answer: "4",
                nonce_id: Some(redeemed.id),
                recheck_of: recheck,
                register: None,
            };
            let reference = self.audit(terminal, what, now).await?;
            return Ok(answer(reference, Eligibility::not_found(), None));
        };
        // The wrong-link guard: a link whose holder is not the person answers nothing.
        let guard = guard.filter(|c| c.describes(link.person_id.as_str()));
        if let Some(held) = guard.as_ref().filter(|c| !c.status.usable()) {
            tracing::warn!(
                terminal = %terminal.id,
                status = held.status.as_str(),
                "a card whose link is held was presented; answered with no records"
            );
            let what = Audited {
                mode,
                serial: Some(&card.serial),
                person: Some(&link.person_id),
                answer: codes::LINK_HELD,
                nonce_id: Some(redeemed.id),
                recheck_of: recheck,
                register: None,
            };
            let reference = self.audit(terminal, what, now).await?;
            return Ok(failure(reference, ResultCode::LinkHeld, LINK_HELD_MESSAGE));
        }
        let changed = guard
            .as_ref()
            .and_then(|c| c.changed_at)
            .is_some_and(|at| now - at < self.link_change_warning);
        let registered = link.registered || register;
        let (shown, note) = if registered {
            let card_note = warning_note(card.warning.as_ref());
            let note = if changed {
                // The more urgent warning leads; the certificate's follows in the same message.
                let mut message = LINK_CHANGED_MESSAGE.to_owned();
                if let Some((_, m)) = card_note {
                    message.push_str(&m);
                }
                Some((ResultCode::LinkChanged, message))
            } else {
                card_note
            };
            (eligibility, note)
        } else {
            // Not registered for health-insurance use: say so, show no records until the patient
            // registers (PIN mode, with consent).
            let validity = if eligibility.validity == QualificationValidity::VALID {
                QualificationValidity::VALID_UNREGISTERED
            } else {
                eligibility.validity
            };
            (
                Eligibility { validity, records: Vec::new() },
                Some((ResultCode::CardNotRegistered, "このマイナンバーカードは健康保険証としての利用登録がされていません。患者さんの同意があれば、暗証番号による確認でこの場で登録できます。".to_owned())),
            )
        };
        let reference = self
            .audit(
                terminal,
                Audited {
                    mode,
                    serial: Some(&card.serial),
                    person: Some(&link.person_id),
                    answer: shown.validity.as_str(),
                    nonce_id: Some(redeemed.id),
                    recheck_of: recheck,
                    register: (register && !link.registered).then_some(&link),
                },
                now,
            )
            .await?;
        Ok(answer(reference, shown, note))
    }

    fn check_card(
        &self,
        certificate: &[u8],
        req: &VerifyRequest,
        nonce: &[u8],
        terminal_id: &str,
        register: bool,
        now: DateTime<Utc>,
    ) -> Result<CheckedCard, CardCheckError> {
        let trusted = self.trusted().ok_or(CardCheckError::UnknownIssuer)?;
        let card = trusted.check_card(certificate, now, &self.grace)?;
        if req.mode == Mode::Pin || register {
            let signature = req
                .signature
                .as_deref()
                .and_then(|s| b64().decode(s).ok())
                .ok_or(CardCheckError::BadSignature)?;
            // The purpose is signed: a check's signature cannot register the card.
            let purpose = if register {
                Purpose::Register
            } else {
                Purpose::Verify
            };
            card.verify_message(
                &onshi_proto::signed_message(purpose, nonce, terminal_id),
                &signature,
            )?;
        }
        Ok(card)
    }

    /// `query`: a check by the numbers on a 資格確認書 (no card).
    pub async fn query(
        &self,
        terminal: &Terminal,
        req: &QueryRequest,
        now: DateTime<Utc>,
    ) -> Result<CheckResponse, ServiceError> {
        let field = |name: &str, value: &str, e: onshi_model::ModelError| {
            ServiceError::bad_request(format!("{name}「{value}」: {}", e.message_ja()))
        };
        let query = KeyQuery {
            insurer_number: InsurerNumber::parse(&req.insurer_number)
                .map_err(|e| field("保険者番号", &req.insurer_number, e))?,
            symbol: req
                .symbol
                .as_deref()
                .map(|s| InsuredCardSymbol::parse(s).map_err(|e| field("記号", s, e)))
                .transpose()?,
            number: InsuredIdentificationNumber::parse(&req.number)
                .map_err(|e| field("番号", &req.number, e))?,
            branch: req
                .branch
                .as_deref()
                .map(|s| InsuredBranchNumber::parse(s).map_err(|e| field("枝番", s, e)))
                .transpose()?,
            birthdate: req.birthdate,
        };
        let visit = req.visit_date;
        let eligibility = self.check.eligibility_for_key(&query, visit).await?;
        let person = eligibility.records.first().map(|r| r.person_id.clone());
        let what = Audited {
            mode: AuditMode::Query,
            serial: None,
            person: person.as_ref(),
            answer: eligibility.validity.as_str(),
            nonce_id: None,
            recheck_of: None,
            register: None,
        };
        let reference = self.audit(terminal, what, now).await?;
        Ok(answer(reference, eligibility, None))
    }

    /// Forgets the challenges spent before `before` (see
    /// `ServiceStore::prune_spent_challenges`); how many.
    pub fn prune_spent_challenges(&self, before: DateTime<Utc>) -> Result<u64, ServiceError> {
        Ok(self.store.prune_spent_challenges(before)?)
    }

    /// Whether the store answers and, with `crl_missing = "unready"`, every trusted CA has a
    /// CRL that is current at `now` (for `/readyz`).
    pub fn ready(&self, now: DateTime<Utc>) -> Readiness {
        if self.store.crl_generation().is_err() {
            return Readiness::StoreUnreachable;
        }
        if self.crl_missing == CrlMissing::Unready
            && self
                .trusted()
                .is_some_and(|t| !t.crl_problems(now).is_empty())
        {
            return Readiness::CrlNotCurrent;
        }
        Readiness::Ready
    }
}

/// Whether a card link describes this certificate: the validity the authority recorded for the
/// serial must be the certificate's (a link of another certificate, or a stale one, answers
/// nothing).
fn link_fits(link: &onshi_store::CardLink, card: &CheckedCard) -> bool {
    let fits = link.not_before == card.not_before && link.not_after == card.not_after;
    if !fits {
        tracing::warn!(
            serial = %card.serial,
            issuer = %card.issuer,
            "card link refused: its validity is not the certificate's (import issued.csv again)"
        );
    }
    fits
}

/// What one audit record says about a request.
struct Audited<'a> {
    mode: AuditMode,
    serial: Option<&'a str>,
    person: Option<&'a onshi_model::PersonId>,
    answer: &'a str,
    nonce_id: Option<[u8; 32]>,
    /// Which 未確認 visit this check re-does (the app's reference of it).
    recheck_of: Option<&'a str>,
    /// 利用登録 of this card, written with the record (only once the nonce is spent).
    register: Option<&'a CardLink>,
}

/// The longest reference of a re-checked visit.
const RECHECK_REFERENCE_MAX: usize = 64;

/// A re-check's reference of its visit as the audit keeps it: printable ASCII, at most
/// [`RECHECK_REFERENCE_MAX`] characters (the desk sends the visit's time, RFC 3339).
fn recheck_reference(value: Option<&str>) -> Result<Option<&str>, ServiceError> {
    match value {
        None => Ok(None),
        Some(v)
            if !v.is_empty()
                && v.len() <= RECHECK_REFERENCE_MAX
                && v.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(v))
        }
        Some(_) => Err(ServiceError::bad_request(format!(
            "recheck_of は確認し直す受付の時刻など、{RECHECK_REFERENCE_MAX}文字以内の半角英数記号です"
        ))),
    }
}

/// 照会番号: the time to the second and 8 random hex digits — unique, and sortable by time
/// ([`onshi_model::ReferenceNumber`], the one form the app accepts back).
fn reference_number(now: DateTime<Utc>) -> String {
    let mut r = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut r);
    onshi_model::ReferenceNumber::issue(now, r).to_string()
}

/// What the staff read when a card's link is held (E012).
const LINK_HELD_MESSAGE: &str =
    "このカードの登録内容を保険者が確認中です。資格確認書などの番号で確認してください。";

/// What leads an answer whose card was linked to the person recently (W004).
const LINK_CHANGED_MESSAGE: &str = "このカードのひも付けが最近変更されました。表示された氏名・生年月日が患者さんご本人のものか確認してください。";

fn warning_note(w: Option<&CardWarning>) -> Option<(ResultCode, String)> {
    match w? {
        CardWarning::InGracePeriod { .. } => Some((
            ResultCode::CertificateInGrace,
            "マイナンバーカードの電子証明書の有効期限が切れています（猶予期間中のため確認できました）。お早めに市区町村の窓口で更新するよう患者さんにお伝えください。".to_owned(),
        )),
        CardWarning::ExpiresSoon { .. } => Some((
            ResultCode::CertificateExpiresSoon,
            "マイナンバーカードの電子証明書の有効期限が3か月以内に切れます。市区町村の窓口で更新するよう患者さんにお伝えください。".to_owned(),
        )),
    }
}

/// A successful answer.
fn answer(reference: String, e: Eligibility, note: Option<(ResultCode, String)>) -> CheckResponse {
    CheckResponse {
        reference_number: reference,
        processing_result_status: ProcessingResultStatus::OK,
        processing_result_code: note.as_ref().map(|n| n.0),
        processing_result_message: note.map(|n| n.1),
        answer: e.into(),
    }
}

/// A check that ended in a card error: 異常終了 with the code and what to do.
fn failure(reference: String, code: ResultCode, message: &str) -> CheckResponse {
    CheckResponse {
        reference_number: reference,
        processing_result_status: ProcessingResultStatus::ERROR,
        processing_result_code: Some(code),
        processing_result_message: Some(message.to_owned()),
        answer: onshi_model::Answer::not_found(),
    }
}
