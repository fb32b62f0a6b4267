#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Exports are real files: checked with the standard tools (`gzip -t`,
//! `unzip -t`; a missing tool fails the test), then decompressed and compared
//! with the answer rendered directly.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use cardledger_query::fuzz::sample_table;
use cardledger_query::{export, pairs_from_query, parse_params, run, Compression, ExportFormat, Principal, Rates};

/// Runs a standard tool and fails the test unless it exits 0.
fn tool_ok(tool: &str, args: &[&str], file: &Path) {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed to check exports: {e}"));
    assert!(out.status.success(), "{tool} {args:?} {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

fn unzip_only(path: &Path) -> (String, Vec<u8>) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    assert_eq!(archive.len(), 1, "one entry per zip export");
    let mut entry = archive.by_index(0).unwrap();
    let mut out = Vec::new();
    entry.read_to_end(&mut out).unwrap();
    (entry.name().unwrap().to_string(), out)
}

#[test]
fn gz_and_zip_exports_pass_the_standard_tools() {
    let dir = tempfile::tempdir().unwrap();
    let table = sample_table();
    let params =
        parse_params(&pairs_from_query("program=p1,p2&currency=EUR&fields=program,corrected_post_date,amount_to_send"))
            .unwrap();
    let answer =
        run(&table, &params, &Principal::all(), &Rates::new().with("USD", "EUR", "0.91".parse().unwrap()), None)
            .unwrap();
    let mut csv = Vec::new();
    answer.write_csv(&mut csv).unwrap();
    assert_eq!(String::from_utf8_lossy(&csv).lines().count(), 21, "header and 20 rows");
    let allowed = [ExportFormat::Csv, ExportFormat::Xlsx];

    // gz (the default compression).
    assert_eq!(params.compress, Compression::Gz);
    let gz = export(&answer, ExportFormat::Csv, &allowed, params.compress, dir.path()).unwrap();
    assert!(gz.token.ends_with(".csv.gz"), "{}", gz.token);
    assert_eq!(gz.token.len(), 40 + ".csv.gz".len());
    assert!(gz.token[..40].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(gz.path, dir.path().join(&gz.token));
    assert_eq!(gz.to_json(), serde_json::json!({ "token": gz.token }));
    tool_ok("gzip", &["-t"], &gz.path);
    assert_eq!(gunzip(&gz.path), csv);
    let tool = Command::new("gzip").arg("-dc").arg(&gz.path).output().unwrap();
    assert_eq!(tool.stdout, csv, "gzip -dc gives the CSV");

    // zip: one entry named like the token without `.zip`.
    let zip = export(&answer, ExportFormat::Csv, &allowed, Compression::Zip, dir.path()).unwrap();
    assert!(zip.token.ends_with(".csv.zip"), "{}", zip.token);
    assert_eq!(zip.token[..40], gz.token[..40], "same content, same name");
    tool_ok("unzip", &["-t"], &zip.path);
    let (name, content) = unzip_only(&zip.path);
    assert_eq!(name, zip.token.trim_end_matches(".zip"));
    assert_eq!(content, csv);
    let tool = Command::new("unzip").arg("-p").arg(&zip.path).output().unwrap();
    assert_eq!(tool.stdout, csv, "unzip -p gives the CSV");

    // xlsx inside gz: the workbook is itself a zip archive that unzip accepts.
    let xlsx = export(&answer, ExportFormat::Xlsx, &allowed, Compression::Gz, dir.path()).unwrap();
    assert!(xlsx.token.ends_with(".xlsx.gz"), "{}", xlsx.token);
    tool_ok("gzip", &["-t"], &xlsx.path);
    let book = gunzip(&xlsx.path);
    assert_eq!(book, answer.write_xlsx().unwrap());
    let raw = dir.path().join("book.xlsx");
    std::fs::write(&raw, &book).unwrap();
    tool_ok("unzip", &["-t"], &raw);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&raw).unwrap()).unwrap();
    let mut sheet = String::new();
    archive.by_name("xl/worksheets/sheet1.xml").unwrap().read_to_string(&mut sheet).unwrap();
    assert!(sheet.contains("<v>-1921.06</v>"), "the newest p1 amount in EUR is in the sheet");
    let mut strings = String::new();
    archive.by_name("xl/sharedStrings.xml").unwrap().read_to_string(&mut strings).unwrap();
    assert!(strings.contains("amount_to_send"), "header row");

    // Only the file and no temporary is left behind.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want = vec![gz.token.clone(), zip.token.clone(), xlsx.token.clone(), "book.xlsx".to_string()];
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn export_checks_the_views_formats_and_reports_io_errors() {
    let table = sample_table();
    let params = parse_params(&pairs_from_query("program=p1")).unwrap();
    let answer = run(&table, &params, &Principal::all(), &Rates::new(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = export(&answer, ExportFormat::Xlsx, &[ExportFormat::Csv], Compression::Gz, dir.path()).unwrap_err();
    assert_eq!(e.code(), 400012);
    assert!(e.to_string().contains("xlsx"), "{e}");
    let missing = dir.path().join("no/such/dir");
    let e = export(&answer, ExportFormat::Csv, &[ExportFormat::Csv], Compression::Gz, &missing).unwrap_err();
    assert_eq!(e.code(), 500001);
    assert!(e.to_string().contains("no/such/dir"), "{e}");
}
