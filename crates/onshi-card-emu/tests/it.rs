//! The one integration test binary of onshi-card-emu: the protocol crate's client driving the
//! software card in process and through the vpcd bridge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod it {
    mod client;
    mod support;
    mod vpcd;
}
