//! Preparing the requests, not timed: challenges from the server over each terminal's kept-alive
//! connection, then the cards' PIN-mode signatures over them on every core (signing is the
//! card's cost at the reception desk, not the server's).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use hyper::body::Bytes;
use onshi_card::{sha256_digest_info, Client, Pin};
use onshi_card_emu::{CardFile, InProcess, SoftCard};
use onshi_client::ServiceClient;
use onshi_proto::{ChallengeResponse, Mode, VerifyRequest};

use super::https::Connection;
use super::world::{Card, Terminal, CARD_PIN};
use super::VerifyError;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// `counts[t]` challenges for each terminal `t`, fetched on one kept-alive connection per
/// terminal, the terminals side by side.
pub(crate) async fn challenges(
    addr: SocketAddr,
    configs: &[Arc<ServiceClient>],
    counts: &[usize],
) -> Result<Vec<Vec<String>>, VerifyError> {
    let fetches: Vec<_> = configs
        .iter()
        .zip(counts)
        .map(|(config, &count)| {
            let config = config.clone();
            tokio::spawn(async move { fetch_challenges(addr, &config, count).await })
        })
        .collect();
    let mut nonces = Vec::with_capacity(fetches.len());
    for fetch in fetches {
        nonces.push(fetch.await??);
    }
    Ok(nonces)
}

async fn fetch_challenges(
    addr: SocketAddr,
    config: &Arc<ServiceClient>,
    count: usize,
) -> Result<Vec<String>, VerifyError> {
    let mut conn = Connection::open(addr, config).await?;
    let mut nonces = Vec::with_capacity(count);
    for _ in 0..count {
        let (status, body) = conn
            .post_patiently(onshi_proto::CHALLENGE, Bytes::new())
            .await?;
        if status != 200 {
            return Err(VerifyError::refused("challenge", status, &body));
        }
        nonces.push(serde_json::from_slice::<ChallengeResponse>(&body)?.nonce);
    }
    Ok(nonces)
}

/// One challenge to sign: the terminal it was minted for, its place among that terminal's
/// nonces, and the card that signs it.
struct Job<'a> {
    terminal: usize,
    slot: usize,
    card: usize,
    nonce: &'a str,
}

/// The verify request bodies, in the shape of `nonces` (per terminal, in order). Card `k % cards`
/// signs the `k`-th challenge; each thread owns the cards `≡ thread (mod threads)`.
pub(crate) fn sign_all(
    cards: &[Card],
    terminals: &[Terminal],
    nonces: &[Vec<String>],
    visit_date: onshi_model::Date,
) -> Result<Vec<Vec<Bytes>>, VerifyError> {
    let jobs: Vec<Job<'_>> = nonces
        .iter()
        .enumerate()
        .flat_map(|(terminal, list)| {
            list.iter()
                .enumerate()
                .map(move |(slot, nonce)| (terminal, slot, nonce))
        })
        .enumerate()
        .map(|(k, (terminal, slot, nonce))| Job {
            terminal,
            slot,
            card: k % cards.len(),
            nonce,
        })
        .collect();
    let threads = super::cores().min(cards.len()).max(1);
    let mut bodies: Vec<Vec<Bytes>> = nonces.iter().map(|n| vec![Bytes::new(); n.len()]).collect();
    let signed = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<&Job<'_>> = jobs.iter().filter(|j| j.card % threads == t).collect();
                s.spawn(move || {
                    let mut signer = Signer::new(cards, terminals, visit_date)?;
                    mine.into_iter()
                        .map(|j| Ok((j.terminal, j.slot, signer.body(j)?)))
                        .collect::<Result<Vec<_>, VerifyError>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(jobs.len());
        for w in workers {
            let part = w
                .join()
                .map_err(|_| VerifyError::Setup("a signing thread panicked".to_owned()))??;
            all.extend(part);
        }
        Ok::<_, VerifyError>(all)
    })?;
    for (terminal, slot, body) in signed {
        bodies[terminal][slot] = body;
    }
    Ok(bodies)
}

/// A signing thread's cards, each in its in-process reader, opened on first use.
pub(crate) struct Signer<'a> {
    cards: &'a [Card],
    terminals: &'a [Terminal],
    visit_date: onshi_model::Date,
    readers: HashMap<usize, Client<InProcess>>,
    pin: Pin,
}

impl<'a> Signer<'a> {
    pub(crate) fn new(
        cards: &'a [Card],
        terminals: &'a [Terminal],
        visit_date: onshi_model::Date,
    ) -> Result<Self, VerifyError> {
        Ok(Self {
            cards,
            terminals,
            visit_date,
            readers: HashMap::new(),
            pin: Pin::parse(CARD_PIN).map_err(|e| VerifyError::Setup(format!("PIN: {e}")))?,
        })
    }

    /// The verify request body for `nonce`, signed by card `card` for terminal `terminal`.
    pub(crate) fn sign(
        &mut self,
        terminal: usize,
        card: usize,
        nonce: &str,
    ) -> Result<Bytes, VerifyError> {
        self.body(&Job {
            terminal,
            slot: 0,
            card,
            nonce,
        })
    }

    /// What the reception app does in PIN mode: verify the PIN on the card, have it sign the
    /// DigestInfo of `onshi_proto::signed_digest` (purpose verify), and build the request.
    fn body(&mut self, job: &Job<'_>) -> Result<Bytes, VerifyError> {
        let card = &self.cards[job.card];
        let reader = match self.readers.entry(job.card) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                // Counters in memory: the card file is not rewritten on every PIN check.
                let card = SoftCard::in_memory(CardFile::load(&card.path)?);
                e.insert(Client::new(InProcess::new(card)))
            }
        };
        let terminal_id = &self.terminals[job.terminal].id;
        let nonce = b64()
            .decode(job.nonce)
            .map_err(|e| VerifyError::Setup(format!("challenge is not base64: {e}")))?;
        let digest = onshi_proto::signed_digest(onshi_proto::Purpose::Verify, &nonce, terminal_id);
        reader.verify_auth_pin(&self.pin)?;
        let signature = reader.sign_with_auth_key(&sha256_digest_info(&digest))?;
        let request = VerifyRequest {
            mode: Mode::Pin,
            certificate: card.certificate_b64.clone(),
            signature: Some(b64().encode(signature)),
            nonce: job.nonce.to_owned(),
            visit_date: self.visit_date,
            recheck_of: None,
        };
        Ok(Bytes::from(serde_json::to_vec(&request)?))
    }
}
