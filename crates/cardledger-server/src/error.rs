//! The one error shape of every HTTP answer that is not a success:
//! `{"error_code": "…", "error_message": "…"}` (the Core API's), with the
//! status beside it. Codes are strings, as the Core API prints them: the
//! engine's rejection codes (1001–1214), the facade's (404001, 503001, …),
//! the view layer's (400001–403003) and the HTTP layer's own below.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use cardledger::{Code, Error, Rejection};

/// No or wrong credentials.
pub const UNAUTHORIZED: u32 = 401001;
/// The credential may not act in the program the request names.
pub const PROGRAM_FORBIDDEN: u32 = 403101;
/// No such route.
pub const NO_ROUTE: u32 = 404002;
/// The route exists but not with this method.
pub const METHOD: u32 = 405001;
/// The body is larger than the route's limit.
pub const BODY_TOO_LARGE: u32 = 413001;
/// The path is longer than `PATH_CHARS_MAX`.
pub const PATH_TOO_LONG: u32 = 414001;
/// The body is not JSON (`Content-Type`).
pub const NOT_JSON: u32 = 415001;
/// Too many requests in flight.
pub const SATURATED: u32 = 429001;
/// The headers are larger than `HEADER_BYTES_MAX`.
pub const HEADERS_TOO_LARGE: u32 = 431001;
/// A webhook registration or list parameter is invalid (the message names the field).
pub const WEBHOOK_INVALID: u32 = 400201;
/// Webhooks need a credential for every program.
pub const WEBHOOK_FORBIDDEN: u32 = 403201;
/// No such webhook.
pub const WEBHOOK_NOT_FOUND: u32 = 404201;
/// A webhook with that token exists.
pub const WEBHOOK_EXISTS: u32 = 409201;
/// A worker failed (a bug: reported, never hidden).
pub const INTERNAL: u32 = 500100;

/// An HTTP error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The stable code.
    pub code: u32,
    /// What went wrong, naming the field or parameter.
    pub message: String,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// A rejected command: 409 for a token reused with another body, 400
    /// otherwise.
    pub fn rejection(r: &Rejection) -> ApiError {
        let status = if r.code == Code::TokenConflict { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
        ApiError::new(status, u32::from(r.code.number()), r.message.clone())
    }

    /// 403: the credential may not act in `program`.
    pub fn program(program: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            PROGRAM_FORBIDDEN,
            format!("program_token: this credential may not act in program {program:?}"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        if let Error::Rejected(r) = &e {
            return ApiError::rejection(r);
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = e.to_json().get("error_message").and_then(|m| m.as_str()).map(str::to_string);
        ApiError::new(status, e.code(), message.unwrap_or_else(|| e.to_string()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code.to_string(), "error_message": self.message}).to_string();
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::TOO_MANY_REQUESTS || self.status == StatusCode::SERVICE_UNAVAILABLE {
            // 429: the in-flight bound frees up as requests finish; 503: an
            // operator restarts the server (a client retries either)
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"cardledger\""));
        }
        res
    }
}
