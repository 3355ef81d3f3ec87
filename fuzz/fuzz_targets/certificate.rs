#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onshi_pki::fuzzing::certificate(data));
