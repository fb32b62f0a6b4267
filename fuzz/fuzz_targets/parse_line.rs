#![no_main]
// JSON command parsing plus validation: any bytes give a command or a rejection, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cardledger_domain::fuzz_parse_line(data));
