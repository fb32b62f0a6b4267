//! DiVA under `/data/v2`: the view list, view queries (every parameter
//! `cardledger view` takes, plus `format=csv|xlsx` for a download and
//! `rate=FROM:TO=RATE` for conversions), schemas, and exports. The
//! principal's programs scope every query (403001–403003 from the query
//! layer).

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use cardledger::pairs_from_query;
use cardledger::{principal_for, Cardledger, ExportFormat, ViewKind, ViewRequest};

use crate::auth::{Principal, Programs};
use crate::core_api::json_response;
use crate::error::ApiError;
use crate::{blocking, Shared};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/data/v2/views", get(views))
        .route("/data/v2/views/{view}/{agg}", get(view))
        .route("/data/v2/views/{view}/{agg}/schema", get(schema))
        .route("/data/v2/views/{view}/{agg}/{export_type}", get(export))
        .route("/data/v2/exports/{token}", get(download))
}

fn query_principal(p: &Principal) -> cardledger::Principal {
    match &p.programs {
        Programs::All => cardledger::Principal::all(),
        Programs::Only(set) => principal_for(set.iter().cloned()),
    }
}

/// Splits off the HTTP-only parameters (`format`, `rate`) and builds the
/// request for `principal`.
fn request(
    view: &str,
    agg: &str,
    query: Option<&str>,
    principal: &Principal,
) -> Result<(ViewRequest, Option<String>), ApiError> {
    let mut pairs = pairs_from_query(query.unwrap_or(""));
    let mut format = None;
    let mut rates = Vec::new();
    pairs.retain(|(k, v)| match k.as_str() {
        "format" => {
            format = Some(v.clone());
            false
        }
        "rate" => {
            rates.push(v.clone());
            false
        }
        _ => true,
    });
    let mut request = ViewRequest::parse(view, agg, &pairs)?;
    request.set_rates(&rates).map_err(cardledger::Error::from)?;
    Ok((request.with_principal(query_principal(principal)), format))
}

async fn views(State(state): State<Shared>) -> Response {
    blocking(&state, |ledger| {
        let list: Vec<Value> = ledger.views().iter().map(|v| v.to_json()).collect();
        Ok(json_response(StatusCode::OK, &json!({"views": list})))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn view(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path((view, agg)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let (request, format) = request(&view, &agg, query.as_deref(), &principal)?;
        match format.as_deref() {
            None | Some("json") => {
                let text = ledger.view_json_text(&request)?;
                Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], text).into_response())
            }
            Some(f) => {
                let format = ExportFormat::parse(f, request.kind.formats()).map_err(cardledger::Error::from)?;
                download_export(ledger, &request, format)
            }
        }
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Writes the export and answers its file as an attachment.
fn download_export(ledger: &Cardledger, request: &ViewRequest, format: ExportFormat) -> Result<Response, ApiError> {
    let token = ledger.view_export(request, format, &ledger.exports_dir())?;
    file_response(&token.path, &token.token)
}

fn file_response(path: &std::path::Path, name: &str) -> Result<Response, ApiError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, crate::error::INTERNAL, format!("reading the export: {e}"))
    })?;
    let mime = if name.ends_with(".zip") { "application/zip" } else { "application/gzip" };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

async fn schema(
    State(state): State<Shared>,
    Path((view, agg)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let kind = ViewKind::parse(&view, &agg).map_err(cardledger::Error::from)?;
        let pairs = pairs_from_query(query.as_deref().unwrap_or(""));
        Ok(json_response(StatusCode::OK, &ledger.view_schema(kind, &pairs)?))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The page's file export: `GET /views/{view}/{agg}/{export_type}` answers
/// `{"token": "…csv.gz"}`; `GET /exports/{token}` downloads it.
async fn export(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path((view, agg, export_type)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let (request, _) = request(&view, &agg, query.as_deref(), &principal)?;
        let format = ExportFormat::parse(&export_type, request.kind.formats()).map_err(cardledger::Error::from)?;
        let token = ledger.view_export(&request, format, &ledger.exports_dir())?;
        Ok(json_response(StatusCode::OK, &token.to_json()))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// An export token is `<40 hex>.<csv|xlsx>.<gz|zip>`; anything else is 404
/// (never a path outside the exports directory).
fn valid_export_token(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(hex), Some(format), Some(comp), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    hex.len() == 40
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(format, "csv" | "xlsx")
        && matches!(comp, "gz" | "zip")
}

async fn download(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    blocking(&state, move |ledger| {
        let path = ledger.exports_dir().join(&token);
        if !valid_export_token(&token) || !path.is_file() {
            return Err(cardledger::Error::NotFound { what: format!("export {token:?}") }.into());
        }
        file_response(&path, &token)
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}
