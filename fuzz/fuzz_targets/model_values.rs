#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onshi_model::fuzzing::parse_values(data));
