#![no_main]
// View query strings: any bytes give an answer or a typed QueryError, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cardledger_query::fuzz_params(data));
