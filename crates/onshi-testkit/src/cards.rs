//! Software My Number cards from the test card authority: issued to a person (what the card says
//! of its holder is the person's own name and birth date, which the wrong-link guard compares at
//! import), opened in-process, and answering a check's challenge as the reception app does.
//!
//! The panicking helpers ([`Cards::issue`], [`card_answer`], [`open_card`]) are for tests, where
//! a failure is the test's failure; the others return [`KitError`].
#![allow(clippy::expect_used)] // see the module's documentation

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::Pin;
use onshi_card_emu::{InProcess, SoftCard};
use onshi_jlis::{Authority, IssuedCard};
use onshi_model::Person;
use onshi_proto as proto;

use crate::KitError;

/// The PIN of every software card of a world.
pub const CARD_PIN: &str = "1234";

/// What a card says of its holder: the person's name, birth date and sex (the card authority's
/// record, which the wrong-link guard compares with the insurer's at import).
pub fn attributes_of(person: &Person) -> onshi_card::tlv::Attributes {
    onshi_card::tlv::Attributes {
        name: person.name.as_str().to_owned(),
        address: "東京都".into(),
        birth: person.birthdate.format("%Y%m%d").to_string(),
        sex: person.sex.as_str().to_owned(),
    }
}

/// What a card of `person` (an id of the fixed persons, see [`crate::people`]) says of its
/// holder; a person not among them gets a placeholder holder (試験　花子).
pub fn holder_attributes(person: &str) -> onshi_card::tlv::Attributes {
    match crate::people::fixed_person(person) {
        Some(p) => attributes_of(&p),
        None => onshi_card::tlv::Attributes {
            name: "試験　花子".into(),
            address: "東京都".into(),
            birth: "19800102".into(),
            sex: "2".into(),
        },
    }
}

/// Issues a card (PIN [`CARD_PIN`]) for `person_id` into `out`, valid over `validity` (from
/// `now` for five years when `None`).
pub fn issue(
    authority: &Authority,
    person_id: &str,
    attributes: onshi_card::tlv::Attributes,
    validity: Option<(DateTime<Utc>, DateTime<Utc>)>,
    out: PathBuf,
    now: DateTime<Utc>,
) -> Result<IssuedCard, KitError> {
    let pin = Pin::parse(CARD_PIN).map_err(|e| KitError::Setup(format!("PIN: {e}")))?;
    Ok(authority.issue_card(
        &onshi_jlis::IssueRequest {
            person_id: person_id.to_owned(),
            pin,
            attributes,
            attributes_pin: None,
            record_holder: true,
            not_before: validity.map(|v| v.0),
            not_after: validity.map(|v| v.1),
            out,
        },
        now,
    )?)
}

/// The validity of a card that is good for years: from 30 days ago to 1500 days ahead.
pub fn years(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (now - Duration::days(30), now + Duration::days(1500))
}

/// Issues `count` cards (`card-0000.json`… in `out`) to `persons` in turn, on every core (RSA
/// key generation is slow); in the order of their numbers.
pub fn issue_many(
    authority: &Authority,
    out: &Path,
    persons: &[Person],
    count: usize,
    now: DateTime<Utc>,
) -> Result<Vec<IssuedCard>, KitError> {
    if persons.is_empty() {
        return Err(KitError::Setup("no person to issue a card to".to_owned()));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(count).max(1);
    let mut cards: Vec<(usize, IssuedCard)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let person = &persons[i % persons.len()];
                            let out = out.join(format!("card-{i:04}.json"));
                            let card = issue(
                                authority,
                                person.id.as_str(),
                                attributes_of(person),
                                None,
                                out,
                                now,
                            )?;
                            Ok((i, card))
                        })
                        .collect::<Result<Vec<_>, KitError>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for w in workers {
            let issued = w
                .join()
                .map_err(|_| KitError::Setup("a card-issuing thread panicked".to_owned()))??;
            all.extend(issued);
        }
        Ok::<_, KitError>(all)
    })?;
    cards.sort_by_key(|(i, _)| *i);
    Ok(cards.into_iter().map(|(_, c)| c).collect())
}

/// The test JPKI authority of a test world and its cards (person → card file).
pub struct Cards {
    /// The authority.
    pub authority: Authority,
    /// Its folder (`ca.pem`, `issued.csv`, the card files).
    pub dir: PathBuf,
}

impl Cards {
    /// A new authority in `root/jlis`, its CA valid from ten years ago.
    pub fn new(root: &Path) -> Self {
        let dir = root.join(crate::JLIS_DIR);
        let authority = crate::authority(&dir, Utc::now() - Duration::days(3650))
            .expect("the test card authority");
        Self { authority, dir }
    }

    /// Issues a card for a person (one of the fixed persons, or a placeholder holder), valid from
    /// `from` to `to`.
    pub fn issue(&self, person: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> PathBuf {
        let out = self
            .dir
            .join(format!("{person}-{}.card.json", to.timestamp()));
        issue(
            &self.authority,
            person,
            holder_attributes(person),
            Some((from, to)),
            out,
            Utc::now(),
        )
        .expect("a software card")
        .path
    }

    /// A card valid for years.
    pub fn valid(&self, person: &str) -> PathBuf {
        let (from, to) = years(Utc::now());
        self.issue(person, from, to)
    }
}

/// Opens a software card in-process.
pub fn open_card(path: &Path) -> Client<InProcess> {
    Client::new(InProcess::new(
        SoftCard::open(path).expect("a software card file"),
    ))
}

/// Reads a card's certificate and (with `pin`) signs the check's message for `nonce` at
/// `terminal`: (certificate, signature), base64.
pub fn card_answer(
    card: &Path,
    nonce_b64: &str,
    terminal: &str,
    pin: Option<&str>,
) -> (String, Option<String>) {
    card_answer_for(proto::Purpose::Verify, card, nonce_b64, terminal, pin)
}

/// [`card_answer`] for another purpose (利用登録).
pub fn card_answer_for(
    purpose: proto::Purpose,
    card: &Path,
    nonce_b64: &str,
    terminal: &str,
    pin: Option<&str>,
) -> (String, Option<String>) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut client = open_card(card);
    let cert = client
        .read_auth_certificate()
        .expect("the card's certificate");
    let signature = pin.map(|pin| {
        let nonce = b64.decode(nonce_b64).expect("a base64 challenge");
        let digest = proto::signed_digest(purpose, &nonce, terminal);
        client
            .verify_auth_pin(&Pin::parse(pin).expect("a PIN"))
            .expect("the PIN accepted");
        b64.encode(
            client
                .sign_with_auth_key(&sha256_digest_info(&digest))
                .expect("the card's signature"),
        )
    });
    (b64.encode(cert), signature)
}
