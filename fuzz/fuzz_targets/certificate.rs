#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onshi_jlis::fuzzing::certificate(data));
