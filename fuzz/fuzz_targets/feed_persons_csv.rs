#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onshi_feed::fuzzing::persons_csv(data));
