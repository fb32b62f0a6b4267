#![no_main]
// Record/frame decoding: any bytes give a frame or a typed error, never a panic;
// a decoded frame re-encodes to the same bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cardledger_core::fuzz::fuzz_decode_frame(data));
