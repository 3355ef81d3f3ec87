//! End-to-end tests: the real `onshi` binary on real files and stores.

mod it {
    mod cli;
    mod crash;
}
