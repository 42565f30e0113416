#![no_main]
//! See `secrets_engine::fuzzing::id` for the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| secrets_engine::fuzzing::id(data));
