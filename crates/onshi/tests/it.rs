//! End-to-end tests: the real `onshi` binary on real files and stores.

mod it {
    mod app;
    mod app_pcsc;
    mod app_ui;
    mod browser;
    mod card;
    mod cli;
    mod crash;
    mod desk_cli;
    mod desk_enroll;
    mod desk_install;
    mod faults;
    mod link_guard;
    mod logs;
    mod portal;
    mod reader_faults;
    mod server;
}
