//! The ledger's accounts over HTTP: `GET /v3/trialbalance` (`program`,
//! `as_of_seq` / `as_of_time`) and `GET /v3/postings/{account}` (`count`,
//! `start_index`, `sort_by`, `as_of_seq` / `as_of_time`). A credential for
//! some programs sees only their accounts: the trial balance of one of its
//! programs (its sole program by default), the postings of an account of
//! one of them; network accounts, shared by every program, need a `*`
//! credential.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;

use cardledger::{pairs_from_query, AsOf, Cardledger, Code, Error, PostingsQuery, Rejection};

use crate::auth::{Principal, Programs};
use crate::core_api::{json_response, resource_program};
use crate::error::{self, ApiError};
use crate::{blocking, Shared};

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/v3/trialbalance", get(trial_balance)).route("/v3/postings/{account}", get(postings))
}

async fn trial_balance(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let mut pairs = pairs_from_query(query.as_deref().unwrap_or(""));
        let as_of = AsOf::take_from(&mut pairs)?;
        let mut program = None;
        for (k, v) in pairs {
            match k.as_str() {
                "program" => program = Some(v),
                other => {
                    return Err(Error::Rejected(Rejection::new(
                        Code::UnknownField,
                        other,
                        format!("{other:?} is not a parameter of trialbalance (program, as_of_seq, as_of_time)"),
                    ))
                    .into())
                }
            }
        }
        if principal.programs != Programs::All {
            if program.is_none() {
                program = principal.sole_program().map(str::to_string);
            }
            match &program {
                Some(p) if principal.may(p) => {}
                Some(p) => return Err(ApiError::program(p)),
                None => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        error::PROGRAM_FORBIDDEN,
                        "program: a credential for some programs reads the trial balance of one of them",
                    ))
                }
            }
        }
        Ok(json_response(StatusCode::OK, &ledger.trial_balance(program.as_deref(), as_of)?))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The program an account name belongs to (`None`: a network account, or
/// one naming nothing known).
fn account_program(ledger: &Cardledger, account: &str) -> Option<String> {
    let (kind, rest) = account.split_once(':')?;
    let probe = match kind {
        "program_bank" | "program_equity" | "fee_income" | "reward_expense" | "credit_income" | "credit_payments" => {
            return Some(rest.to_string())
        }
        "gpa" | "msa" | "msa_credit" => {
            let (holder_kind, token) = rest.split_once(':')?;
            let token = if kind == "gpa" { token } else { token.split_once(':').map_or(token, |(t, _)| t) };
            match holder_kind {
                "user" => json!({"user_token": token}),
                "business" => json!({"business_token": token}),
                _ => return None,
            }
        }
        "funding_source" => json!({"funding_source_token": rest}),
        "credit_receivable" => json!({"account_token": rest}),
        _ => return None,
    };
    resource_program(ledger, &probe, 1)
}

async fn postings(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let query = PostingsQuery::parse(&pairs_from_query(query.as_deref().unwrap_or("")))?;
        if principal.programs != Programs::All {
            match account_program(ledger, &account) {
                Some(p) if principal.may(&p) => {}
                // another program's account is not disclosed
                Some(_) => return Err(Error::NotFound { what: format!("account {account:?}") }.into()),
                None => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        error::PROGRAM_FORBIDDEN,
                        "account: a network account (shared by every program) needs a \"*\" credential",
                    ))
                }
            }
        }
        Ok(json_response(StatusCode::OK, &ledger.postings(&account, &query)?))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}
