//! File exports: render an answer as CSV or XLSX, compress it (gz or zip)
//! and write it under a directory, named by a token. The token is the first
//! 40 hex digits of the blake3 hash of the uncompressed content plus the
//! extensions (`3f…9a.csv.gz`), like the pages' tokens: the same content
//! always gets the same name, so a repeated export rewrites the same file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;

use crate::answer::Answer;
use crate::error::QueryError;
use crate::params::{Compression, ExportFormat};

/// A finished export: the token the API returns and the file it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportToken {
    /// `<40 hex>.<format>.<compression>`, e.g. `…a9.csv.gz`.
    pub token: String,
    /// The file: `dir/token`.
    pub path: PathBuf,
}

impl ExportToken {
    /// `{"token": "…csv.gz"}`, the pages' export response.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "token": self.token })
    }
}

/// Renders `answer` as `format` (which must be one of the view's `allowed`
/// formats, else 400012), compresses it and writes `dir/<token>` atomically
/// (a temporary file renamed into place). A zip holds one entry named
/// `<hex>.<format>`.
pub fn export(
    answer: &Answer<'_>,
    format: ExportFormat,
    allowed: &[ExportFormat],
    compression: Compression,
    dir: &Path,
) -> Result<ExportToken, QueryError> {
    if !allowed.contains(&format) {
        return Err(QueryError::FormatNotAllowed {
            format: format.name().into(),
            allowed: allowed.iter().map(|f| f.name()).collect::<Vec<_>>().join(","),
        });
    }
    let content = match format {
        ExportFormat::Csv => {
            let mut out = Vec::new();
            answer.write_csv(&mut out)?;
            out
        }
        ExportFormat::Xlsx => answer.write_xlsx()?,
    };
    let hash = blake3::hash(&content).to_hex();
    let hex = hash.as_str().get(..40).unwrap_or(hash.as_str());
    let inner = format!("{hex}.{}", format.name());
    let token = format!("{inner}.{}", compression.extension());
    let path = dir.join(&token);
    let io = |e: std::io::Error| QueryError::Io { path: path.display().to_string(), message: e.to_string() };
    let compressed = match compression {
        Compression::Gz => gzip(&content).map_err(io)?,
        Compression::Zip => zip_one(&inner, &content)
            .map_err(|e| QueryError::Io { path: path.display().to_string(), message: e.to_string() })?,
    };
    let tmp = dir.join(format!(".{token}.tmp"));
    fs::write(&tmp, &compressed).map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    Ok(ExportToken { token, path })
}

fn gzip(content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(content)?;
    enc.finish()
}

fn zip_one(name: &str, content: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, options)?;
    w.write_all(content)?;
    Ok(w.finish()?.into_inner())
}
