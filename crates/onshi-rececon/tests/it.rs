//! The integration tests of onshi-rececon (one binary: see STYLE.md).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod it {
    pub mod clipboard;
    pub mod files;
    pub mod fixtures;
    pub mod readers;
    pub mod sample;
    pub mod schema;
    pub mod xml;
}
