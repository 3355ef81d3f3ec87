//! The software card as an [`onshi_card::Transport`] in the same process: what unit and
//! integration tests talk to, with a hook that takes the card out of the reader mid-exchange.

use onshi_card::{Transport, TransportError};

use crate::SoftCard;

/// A reader holding a [`SoftCard`], in process.
#[derive(Debug)]
pub struct InProcess {
    card: SoftCard,
    /// APDUs still answered before the card is taken out.
    remove_after: Option<usize>,
    removed: bool,
}

impl InProcess {
    /// A reader with `card` inserted and powered.
    pub fn new(card: SoftCard) -> Self {
        Self {
            card,
            remove_after: None,
            removed: false,
        }
    }

    /// Test hook: the card is taken out after `n` more APDUs; from then on every transmit
    /// returns [`TransportError::CardRemoved`] until [`InProcess::reinsert`].
    pub fn remove_after(&mut self, n: usize) {
        self.remove_after = Some(n);
    }

    /// Puts the card back: it is powered afresh (nothing selected, nothing verified).
    pub fn reinsert(&mut self) {
        self.remove_after = None;
        self.removed = false;
        self.card.reset();
    }

    /// The card (to look at its counters).
    pub fn card(&self) -> &SoftCard {
        &self.card
    }

    /// The card, mutably.
    pub fn card_mut(&mut self) -> &mut SoftCard {
        &mut self.card
    }

    /// Takes the card out for good.
    pub fn into_card(self) -> SoftCard {
        self.card
    }
}

impl Transport for InProcess {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(TransportError::CardRemoved);
        }
        match self.remove_after {
            Some(0) => {
                self.removed = true;
                self.remove_after = None;
                // Out of the reader, the card has lost power.
                self.card.reset();
                return Err(TransportError::CardRemoved);
            }
            Some(n) => self.remove_after = Some(n - 1),
            None => {}
        }
        Ok(self.card.process(command))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_card;

    const SELECT_JPKI: [u8; 15] = [
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];

    #[test]
    fn removal_and_reinsertion() {
        let mut reader = InProcess::new(SoftCard::in_memory(test_card::card_file()));
        assert_eq!(reader.transmit(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        reader.remove_after(2);
        assert_eq!(reader.transmit(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        assert_eq!(
            reader.transmit(&[0, 0xA4, 2, 0x0C, 2, 0, 0x0A]).unwrap(),
            [0x90, 0x00]
        );
        for _ in 0..3 {
            assert_eq!(
                reader.transmit(&SELECT_JPKI),
                Err(TransportError::CardRemoved)
            );
        }
        reader.reinsert();
        // Powered afresh: no EF is selected any more.
        assert_eq!(reader.transmit(&[0, 0xB0, 0, 0, 4]).unwrap(), [0x69, 0x86]);
        assert_eq!(reader.transmit(&SELECT_JPKI).unwrap(), [0x90, 0x00]);
        reader.remove_after(0);
        assert_eq!(
            reader.transmit(&SELECT_JPKI),
            Err(TransportError::CardRemoved)
        );
        assert!(reader.card().card_file().is_some());
    }
}
