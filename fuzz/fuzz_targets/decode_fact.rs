#![no_main]
// Event payload decoding: any bytes give a fact or an error, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cardledger_domain::fuzz_decode_fact(data));
