//! Integration tests: a real service in-process on loopback TLS, the app's functions, software
//! cards. One test binary for the crate.

mod it {
    mod checks;
}
