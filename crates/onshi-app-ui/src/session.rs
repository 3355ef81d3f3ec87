//! One check at a time at the desk, as a state machine the page polls: waiting for the card,
//! working, the PIN pad, the result or what went wrong. The check itself runs on its own thread
//! (the card and the PC/SC calls block), with a [`Desk`] that waits for the PIN the page sends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use onshi_app::reader::{ReaderSpec, ReaderState};
use onshi_app::{AppError, CheckOutcome, Desk};
use onshi_card::client::Client;
use onshi_card::error::CardError;
use onshi_card::transport::TransportError;
use onshi_card::Pin;
use onshi_proto::Mode;

/// How long the page waits for a card to be placed.
const CARD_WAIT: Duration = Duration::from_secs(120);
/// How long the PIN pad waits for the patient.
const PIN_WAIT: Duration = Duration::from_secs(120);
/// How often the worker looks at the reader and at a cancel.
const TICK: Duration = Duration::from_millis(200);

/// Where the desk is.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Ready: choose PIN or 目視.
    Idle,
    /// Waiting for the card to be placed.
    WaitingForCard {
        /// The chosen mode.
        mode: Mode,
    },
    /// Reading the card or asking the service.
    Working {
        /// The chosen mode.
        mode: Mode,
    },
    /// The PIN pad is shown to the patient.
    NeedPin {
        /// The tries the PIN has left.
        tries_left: u8,
    },
    /// The service answered.
    Done(Box<Answer>),
    /// Asking the service without a card (a check by numbers, a re-check of a kept
    /// certificate).
    Asking {
        /// What is being asked, for the screen's title.
        title: &'static str,
    },
    /// The check stopped.
    Failed(Failure),
}

impl Phase {
    /// A short key for the page: `idle`, `waiting`, `working`, `pin`, `done`, `failed`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::WaitingForCard { .. } => "waiting",
            Self::Working { .. } => "working",
            Self::Asking { .. } => "asking",
            Self::NeedPin { .. } => "pin",
            Self::Done(_) => "done",
            Self::Failed(_) => "failed",
        }
    }

    fn busy(&self) -> bool {
        matches!(
            self,
            Self::WaitingForCard { .. }
                | Self::Working { .. }
                | Self::NeedPin { .. }
                | Self::Asking { .. }
        )
    }
}

/// An answered check as the result screen shows it.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The service's answer.
    pub outcome: CheckOutcome,
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// For a re-check: when the 未確認 visit was recorded.
    pub recheck_of: Option<DateTime<Utc>>,
    /// A re-check made without the card (the certificate kept for the visit, 目視).
    pub without_card: bool,
    /// The clipboard texts (Unicode, CRLF), one per record of a 有効 answer in the answer's
    /// order; none for an answer that is not 有効. The staff copy the one they pick.
    pub clipboards: Vec<String>,
}

/// A check that stopped, with what the staff can do next.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The PIN is wrong or locked: offer 目視.
    pub offer_visual: bool,
    /// Recorded as 未確認 in the history (the service could not be asked).
    pub unconfirmed: bool,
    /// The mode that was tried.
    pub mode: Mode,
    /// The verdict and the next steps ([`onshi_app::guidance`]).
    pub guidance: onshi_app::guidance::Guidance,
}

/// What the page asked for.
#[derive(Clone, Debug)]
pub enum Job {
    /// A check by the numbers on a 資格確認書 (no card).
    Query(Box<onshi_app::Numbers>),
    /// A new check.
    Check(Mode),
    /// 利用登録 on the spot, after the patient's consent (PIN).
    Register,
    /// A re-check of history entry `entry` without the card: the certificate kept for it, 目視.
    RecheckHeld {
        /// The entry (1 = the oldest).
        entry: usize,
    },
    /// A re-check of history entry `entry` (1 = the oldest).
    Recheck {
        /// The entry.
        entry: usize,
        /// The mode.
        mode: Mode,
    },
}

impl Job {
    fn mode(&self) -> Mode {
        match self {
            Self::Check(mode) | Self::Recheck { mode, .. } => *mode,
            Self::Register => Mode::Pin,
            Self::Query(_) | Self::RecheckHeld { .. } => Mode::Visual,
        }
    }
}

struct Inner {
    phase: Phase,
    /// Bumped on every change of phase, so the page redraws only then.
    seq: u64,
    pin: Option<SyncSender<Pin>>,
    cancel: Arc<AtomicBool>,
}

/// The desk's state, shared by the web handlers and the worker thread.
pub struct Session {
    data: PathBuf,
    inner: Mutex<Inner>,
}

/// Why the page's request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A check is already running.
    Busy,
    /// No PIN is being asked for.
    NoPinWanted,
}

impl Refusal {
    /// In Japanese.
    pub fn message_ja(&self) -> &'static str {
        match self {
            Self::Busy => "確認の途中です。終わるまでお待ちいただくか、取りやめてください。",
            Self::NoPinWanted => "いまは暗証番号の入力を待っていません。",
        }
    }
}

impl Session {
    /// A desk for the app data directory `data`.
    pub fn new(data: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            data,
            inner: Mutex::new(Inner {
                phase: Phase::Idle,
                seq: 1,
                pin: None,
                cancel: Arc::new(AtomicBool::new(false)),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicked worker leaves a usable state: the phase is replaced as a whole.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The phase and its sequence number.
    pub fn phase(&self) -> (Phase, u64) {
        let inner = self.lock();
        (inner.phase.clone(), inner.seq)
    }

    fn set(&self, phase: Phase) {
        let mut inner = self.lock();
        inner.phase = phase;
        inner.seq += 1;
    }

    /// Starts `job` with the card in `reader` on a new thread.
    pub fn start(self: &Arc<Self>, job: Job, reader: ReaderSpec) -> Result<(), Refusal> {
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut inner = self.lock();
            if inner.phase.busy() {
                return Err(Refusal::Busy);
            }
            inner.phase = match job {
                Job::Query(_) => Phase::Asking {
                    title: "番号で確認しています",
                },
                Job::RecheckHeld { .. } => Phase::Asking {
                    title: "カードなしで確認し直しています",
                },
                _ => Phase::WaitingForCard { mode: job.mode() },
            };
            inner.seq += 1;
            inner.pin = None;
            inner.cancel = cancel.clone();
        }
        let session = self.clone();
        std::thread::spawn(move || {
            let now = Utc::now();
            let result = session.run(&job, &reader, &cancel);
            let phase = match result {
                Ok((outcome, recheck_of)) => Phase::Done(Box::new(Answer {
                    clipboards: onshi_app::check::clipboard_texts(&outcome, now),
                    outcome,
                    at: now,
                    recheck_of,
                    without_card: matches!(job, Job::RecheckHeld { .. }),
                })),
                Err(e) => Phase::Failed(failure(&e, &job)),
            };
            let mut inner = session.lock();
            inner.pin = None;
            inner.phase = phase;
            inner.seq += 1;
        });
        Ok(())
    }

    /// The PIN the patient typed, for the check waiting on it.
    pub fn pin(&self, pin: Pin) -> Result<(), Refusal> {
        let mut inner = self.lock();
        let waiting = matches!(inner.phase, Phase::NeedPin { .. });
        match (waiting, inner.pin.take()) {
            (true, Some(tx)) => {
                inner.phase = Phase::Working { mode: Mode::Pin };
                inner.seq += 1;
                tx.try_send(pin).map_err(|_| Refusal::NoPinWanted)
            }
            _ => Err(Refusal::NoPinWanted),
        }
    }

    /// Stops a running check (nothing more is read from the card or sent), or clears the
    /// result screen for the next patient.
    pub fn cancel(&self) {
        let mut inner = self.lock();
        if inner.phase.busy() {
            inner.cancel.store(true, Ordering::SeqCst);
            inner.pin = None;
        } else {
            inner.phase = Phase::Idle;
            inner.seq += 1;
        }
    }

    fn run(
        self: &Arc<Self>,
        job: &Job,
        reader: &ReaderSpec,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(CheckOutcome, Option<DateTime<Utc>>), AppError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        if let Job::Query(numbers) = job {
            // No card: the service is asked at once, for the clinic's day (JST).
            let now = Utc::now();
            let visit = crate::view::jst(now).date();
            let outcome = runtime.block_on(onshi_app::query(&self.data, numbers, visit, now))?;
            return Ok((outcome, None));
        }
        if let Job::RecheckHeld { entry } = job {
            let done = runtime.block_on(onshi_app::check::recheck_held(
                &self.data,
                Some(*entry),
                Utc::now(),
            ))?;
            return Ok((done.outcome, Some(done.recorded)));
        }
        let mode = job.mode();
        let waited = Instant::now();
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Err(AppError::Cancelled);
            }
            if let ReaderState::CardPresent { .. } = reader.state() {
                break;
            }
            if waited.elapsed() > CARD_WAIT {
                return Err(CardError::from(TransportError::NoCard).into());
            }
            std::thread::sleep(TICK);
        }
        self.set(Phase::Working { mode });
        let mut card = Client::new(reader.open()?);
        let mut desk = PagePinPad {
            session: self.clone(),
            cancel: cancel.clone(),
        };
        let now = Utc::now();
        match *job {
            // Answered above, without a card.
            Job::Query(_) | Job::RecheckHeld { .. } => Err(AppError::Cancelled),
            Job::Check(mode) => {
                // The clinic's day: Japan Standard Time, as the history shows it.
                let visit = crate::view::jst(now).date();
                let outcome = runtime.block_on(onshi_app::check(
                    &self.data, &mut card, &mut desk, mode, visit, now,
                ))?;
                Ok((outcome, None))
            }
            Job::Register => {
                let visit = crate::view::jst(now).date();
                let outcome = runtime.block_on(onshi_app::register(
                    &self.data, &mut card, &mut desk, visit, now,
                ))?;
                Ok((outcome, None))
            }
            Job::Recheck { entry, mode } => {
                let done = runtime.block_on(onshi_app::recheck(
                    &self.data,
                    &mut card,
                    &mut desk,
                    mode,
                    Some(entry),
                    now,
                ))?;
                Ok((done.outcome, Some(done.recorded)))
            }
        }
    }
}

/// The page's PIN pad as the check's [`Desk`]. The photo is confirmed on the page before a
/// 目視 check starts.
struct PagePinPad {
    session: Arc<Session>,
    cancel: Arc<AtomicBool>,
}

impl Desk for PagePinPad {
    fn pin(&mut self, tries_left: u8) -> Result<Pin, AppError> {
        let (tx, rx) = sync_channel(1);
        {
            let mut inner = self.session.lock();
            inner.pin = Some(tx);
            inner.phase = Phase::NeedPin { tries_left };
            inner.seq += 1;
        }
        let asked = Instant::now();
        loop {
            if self.cancel.load(Ordering::SeqCst) || asked.elapsed() > PIN_WAIT {
                return Err(AppError::Cancelled);
            }
            match rx.recv_timeout(TICK) {
                Ok(pin) => return Ok(pin),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(AppError::Cancelled),
            }
        }
    }

    fn confirm_photo(&mut self) -> Result<bool, AppError> {
        Ok(true)
    }
}

/// What the page says when a check stops: the verdict and next steps of
/// [`onshi_app::guidance`] (worded for the page: buttons rather than command-line options), and
/// which buttons to show.
fn failure(e: &AppError, job: &Job) -> Failure {
    let pin_stopped = matches!(
        e,
        AppError::Card(CardError::PinBlocked | CardError::WrongPin { .. })
    );
    Failure {
        offer_visual: pin_stopped && job.mode() == Mode::Pin,
        unconfirmed: e.is_service_error() && matches!(job, Job::Check(_) | Job::Register),
        guidance: match job {
            Job::Query(_) => onshi_app::guidance::for_query_error(e),
            Job::RecheckHeld { .. } => onshi_app::guidance::for_recheck_error(e),
            _ => onshi_app::guidance::for_error(e),
        },
        mode: job.mode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_taken_only_when_asked_for() {
        let session = Session::new(PathBuf::from("/nonexistent"));
        let pin = Pin::parse("1234").map_err(|e| e.message_ja());
        assert_eq!(
            pin.map(|p| session.pin(p)).ok(),
            Some(Err(Refusal::NoPinWanted))
        );
    }

    #[test]
    fn a_check_without_a_card_can_be_cancelled() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let session = Session::new(dir.path().to_owned());
        let reader = ReaderSpec::Emulated(dir.path().join("no-card.json"));
        assert_eq!(
            session.start(Job::Check(Mode::Visual), reader.clone()),
            Ok(())
        );
        assert_eq!(session.phase().0.key(), "waiting");
        assert_eq!(
            session.start(Job::Check(Mode::Visual), reader),
            Err(Refusal::Busy)
        );
        session.cancel();
        let started = Instant::now();
        while session.phase().0.key() != "failed" {
            assert!(started.elapsed() < Duration::from_secs(10), "never stopped");
            std::thread::sleep(Duration::from_millis(20));
        }
        match session.phase().0 {
            Phase::Failed(f) => {
                assert_eq!(f.guidance.verdict, "確認を取りやめました");
                assert!(!f.unconfirmed && !f.offer_visual);
            }
            other => panic!("{other:?}"),
        }
        // The failure screen clears for the next patient.
        session.cancel();
        assert_eq!(session.phase().0.key(), "idle");
    }

    #[test]
    fn wrong_and_locked_pins_offer_visual() {
        let wrong = failure(
            &AppError::Card(CardError::WrongPin { tries_left: 2 }),
            &Job::Check(Mode::Pin),
        );
        assert!(
            wrong.offer_visual && wrong.guidance.steps[0].contains("あと2回"),
            "{wrong:?}"
        );
        let locked = failure(
            &AppError::Card(CardError::PinBlocked),
            &Job::Check(Mode::Pin),
        );
        assert!(
            locked.offer_visual && locked.guidance.steps.iter().any(|s| s.contains("市区町村"))
        );
        assert_eq!(locked.guidance.verdict, "暗証番号がロックされています");
        assert!(locked.guidance.steps.iter().any(|s| s.contains("初期化")));
        let numbers = onshi_app::Numbers::parse("06139992", "", "1", "", "19800102");
        let query = failure(
            &AppError::Unreachable("x".into()),
            &Job::Query(Box::new(
                numbers
                    .map_err(|e| e.message_ja())
                    .unwrap_or_else(|e| panic!("{e}")),
            )),
        );
        assert!(
            !query.unconfirmed,
            "a check by numbers is not recorded 未確認"
        );
        assert!(query
            .guidance
            .steps
            .iter()
            .any(|s| s.contains("番号で確認")));
        assert!(!locked.guidance.steps.iter().any(|s| s.contains("--mode")));
        let outage = failure(
            &AppError::Unreachable("x".into()),
            &Job::Check(Mode::Visual),
        );
        assert!(outage.unconfirmed && outage.guidance.verdict.contains("未確認"));
        let again = failure(
            &AppError::Unreachable("x".into()),
            &Job::Recheck {
                entry: 1,
                mode: Mode::Visual,
            },
        );
        assert!(!again.unconfirmed);
    }
}
