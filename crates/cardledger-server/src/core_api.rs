//! The Core API under `/v3`: each `POST` body is the source page's request
//! body, wrapped under its command key and parsed by the one wire parser
//! (`wire::parse_value`); each answer is the one renderer's
//! (`response.rs`, through the facade). A create answers 201; repeating it
//! with the same token and body answers the same 201 and body; the same
//! token with another body is 409.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Router};
use serde_json::{json, Map, Value};

use cardledger::layers::domain::wire;
use cardledger::pairs_from_query;
use cardledger::{AsOf, Cardledger, Code, Error, Holder, Outcome, Rejection, LIST_KINDS};

use crate::auth::{Principal, Programs};
use crate::error::{self, ApiError};
use crate::{blocking, body_limit, read_body, Shared};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v3/users", post(create("user", None)).get(list("users")))
        .route("/v3/users/{token}", get(fetch("user")))
        .route("/v3/businesses", post(create("business", None)).get(list("businesses")))
        .route("/v3/businesses/{token}", get(fetch("business")))
        .route("/v3/fundingsources/program", post(create("funding_source", Some("program"))))
        .route("/v3/fundingsources/programgateway", post(create("funding_source", Some("programgateway"))))
        .route("/v3/fundingsources/ach", post(create("funding_source", Some("ach"))))
        .route("/v3/fundingsources/paymentcard", post(create("funding_source", Some("paymentcard"))))
        .route("/v3/fundingsources/addresses", post(create("funding_source_address", None)))
        .route("/v3/fundingsources/addresses/{token}", get(fetch("funding_source_address")))
        .route("/v3/fundingsources/addresses/user/{token}", list_of_holder("funding_source_addresses", "user_token"))
        .route(
            "/v3/fundingsources/addresses/business/{token}",
            list_of_holder("funding_source_addresses", "business_token"),
        )
        .route("/v3/fundingsources/user/{token}", list_of_holder("funding_sources", "user_token"))
        .route("/v3/fundingsources/business/{token}", list_of_holder("funding_sources", "business_token"))
        .route("/v3/fundingsources/{token}", get(fetch("funding_source")))
        .route("/v3/fees", post(create("fee", None)).get(list("fees")))
        .route("/v3/fees/{token}", get(fetch("fee")))
        .route("/v3/campaigns", post(create("campaign", None)).get(list("campaigns")))
        .route("/v3/campaigns/{token}", get(fetch("campaign")))
        .route("/v3/merchants", post(create("merchant", None)).get(list("merchants")))
        .route("/v3/merchants/{token}", get(fetch("merchant")))
        .route("/v3/offers", post(create("offer", None)).get(list("offers")))
        .route("/v3/offers/{token}", get(fetch("offer")))
        .route("/v3/gpaorders", post(create("gpa_order", None)).get(list("gpa_orders")))
        .route("/v3/gpaorders/unloads", post(create("gpa_unload", None)).get(list("gpa_unloads")))
        .route("/v3/gpaorders/unloads/{token}", get(fetch("gpa_unload")))
        .route("/v3/gpaorders/{token}", get(fetch("gpa_order")))
        .route("/v3/msaorders", post(create("msa_order", None)).get(list("msa_orders")))
        .route("/v3/msaorders/unloads", post(create("msa_unload", None)).get(list("msa_unloads")))
        .route("/v3/msaorders/unloads/{token}", get(fetch("msa_unload")))
        .route("/v3/msaorders/{token}", get(fetch("msa_order")).put(update_msa_order))
        .route("/v3/offerorders", post(create("offer_order", None)).get(list("offer_orders")))
        .route("/v3/offerorders/{token}", get(fetch("offer_order")))
        .route("/v3/feetransfers", post(create("fee_transfer", None)).get(list("fee_transfers")))
        .route("/v3/feetransfers/{token}", get(fetch("fee_transfer")))
        .route("/v3/balances/{token}", get(balances))
        .route("/v3/balances/{token}/msas", get(balances_msas))
        .route("/v3/credit/accounts", post(create("credit_account", None)).get(list("credit_accounts")))
        .route("/v3/credit/accounts/{account}", get(fetch("credit_account")))
        .route("/v3/credit/accounts/{account}/balances", get(credit_balance))
        .route("/v3/credit/accounts/{account}/journalentries", list_of_holder("journal_entries", "account_token"))
        .route("/v3/journalentries", list("journal_entries"))
        .route("/v3/programdeposits", list("program_deposits"))
        .route("/v3/credit/accounts/{account}/statements", get(statements))
        .route("/v3/credit/accounts/{account}/statements/{statement}", get(statements))
        .route("/v3/credit/accounts/{account}/statements/{statement}/{part}", get(statements))
        .route("/v3/credit/accounts/{account}/ledgerentries", account_endpoint("ledgerentries"))
        .route("/v3/credit/accounts/{account}/delinquencystate", account_endpoint("delinquencystate"))
        .route("/v3/credit/accounts/{account}/delinquencystate/transitions", account_endpoint("transitions"))
        .route("/v3/commands", post(commands))
}

/// A JSON answer with a status.
pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response {
    // straight into bytes: `to_string` goes through `fmt::Write` piece by
    // piece, which cost as much as rendering the response in the first place
    let body = serde_json::to_vec(v).unwrap_or_else(|e| unreachable!("a serde_json::Value always serializes: {e}"));
    json_bytes_response(status, body)
}

/// A JSON answer already rendered to bytes.
pub(crate) fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// 415 unless the body is declared JSON.
fn require_json(headers: &HeaderMap, also: &[&str]) -> Result<(), ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime == "application/json" || also.contains(&mime.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error::NOT_JSON,
            format!("Content-Type must be application/json; got {ct:?}"),
        ))
    }
}

/// Reads and decodes a JSON object body (400 1001 / 1002 otherwise).
async fn json_body(headers: &HeaderMap, body: Body, path: &str) -> Result<Map<String, Value>, ApiError> {
    require_json(headers, &[])?;
    let bytes = read_body(body, body_limit(path)).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::rejection(&Rejection::new(Code::MalformedJson, "", format!("malformed JSON: {e}"))))?;
    match value {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::rejection(&Rejection::new(Code::NotAnObject, "", "the body must be a JSON object"))),
    }
}

fn create(key: &'static str, source_type: Option<&'static str>) -> MethodRouter<Shared> {
    post(
        move |State(state): State<Shared>,
              Extension(principal): Extension<Principal>,
              uri: axum::http::Uri,
              headers: HeaderMap,
              body: Body| async move {
            let mut o = match json_body(&headers, body, uri.path()).await {
                Ok(o) => o,
                Err(e) => return e.into_response(),
            };
            if let Some(t) = source_type {
                if o.contains_key("type") {
                    return ApiError::rejection(&Rejection::new(
                        Code::UnknownField,
                        "type",
                        "is given by the path (/fundingsources/TYPE)",
                    ))
                    .into_response();
                }
                o.insert("type".into(), t.into());
            }
            submit(&state, principal, key, o, StatusCode::CREATED).await.unwrap_or_else(IntoResponse::into_response)
        },
    )
}

async fn update_msa_order(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(token): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut o = match json_body(&headers, body, uri.path()).await {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    if o.get("token").is_some_and(|t| t.as_str() != Some(token.as_str())) {
        return ApiError::rejection(&Rejection::new(Code::InvalidValue, "token", "differs from the path's token"))
            .into_response();
    }
    o.insert("token".into(), token.into());
    submit(&state, principal, "msa_order_update", o, StatusCode::OK).await.unwrap_or_else(IntoResponse::into_response)
}

/// Scopes, parses and submits one command; answers once it is durable.
async fn submit(
    state: &Shared,
    principal: Principal,
    key: &'static str,
    mut body: Map<String, Value>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let creates_in_program =
        matches!(key, "user" | "business" | "credit_account") || (key == "funding_source" && is_program_source(&body));
    if creates_in_program && !body.contains_key("program_token") {
        if let Some(p) = principal.sole_program() {
            body.insert("program_token".into(), p.into());
        }
    }
    let value = Value::Object(Map::from_iter([(key.to_string(), Value::Object(body))]));
    // the place is held until the answer: it bounds the submitter's queue
    let permit = crate::permit(state)?;
    // a credential for every program needs no look-up of the program (a
    // read, which waits while a batch is being flushed: the blocking pool)
    let value = if principal.programs == Programs::All {
        value
    } else {
        crate::on_pool(state, move |ledger| {
            if let Some(program) = command_program(ledger, key, &value).filter(|p| !principal.may(p)) {
                return Err(ApiError::program(&program));
            }
            if creates_in_program && command_program(ledger, key, &value).is_none() {
                return Err(ApiError::rejection(&Rejection::new(
                    Code::MissingField,
                    format!("{key}.program_token"),
                    "is required: this credential acts in several programs",
                )));
            }
            Ok(value)
        })
        .await?
    };
    let line = wire::parse_value(&value).map_err(|r| ApiError::rejection(&r))?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let gone = || ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error::INTERNAL, "the submitter thread stopped");
    state.submitter.send((line, reply)).map_err(|_| gone())?;
    let outcome = answer.await.map_err(|_| gone())?.map_err(Error::from)?;
    drop(permit);
    match outcome {
        // rendered here, on the request's task: the engine only captured
        // what the response reads (its submitter thread leads the commits)
        Outcome::Recorded { response: Some(r), .. } | Outcome::Duplicate { response: Some(r), .. } => {
            Ok(json_bytes_response(status, r.to_bytes()))
        }
        Outcome::Recorded { response: None, .. } | Outcome::Duplicate { response: None, .. } => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error::INTERNAL,
            "the engine answered without a response (submit_batch captures every one)",
        )),
        Outcome::Rejected(r) => Err(ApiError::rejection(&r)),
    }
}

fn is_program_source(body: &Map<String, Value>) -> bool {
    matches!(body.get("type").and_then(Value::as_str), Some("program" | "programgateway"))
}

/// The program a command acts in, when it can be told before deciding it:
/// its `program_token`, or the program of the holder, order or account it
/// names. `None` when it names none (or only unknown ones: the engine then
/// rejects it).
fn command_program(ledger: &Cardledger, key: &str, value: &Value) -> Option<String> {
    let body = value.get(key)?;
    if let Some(p) = body.get("program_token").and_then(Value::as_str) {
        return Some(p.to_string());
    }
    resource_program(ledger, body, 2)
}

/// The program of a rendered resource (or command body): its
/// `program_token`, else that of the holder, account, funding source or
/// original order it names.
pub(crate) fn resource_program(ledger: &Cardledger, v: &Value, depth: u8) -> Option<String> {
    if let Some(p) = v.get("program_token").and_then(Value::as_str) {
        return Some(p.to_string());
    }
    if depth == 0 {
        return None;
    }
    let refs = [
        ("user_token", "user"),
        ("business_token", "business"),
        ("account_token", "credit_account"),
        ("funding_source_token", "funding_source"),
        ("original_order_token", "gpa_order"),
        ("original_order_token", "msa_order"),
    ];
    for (field, kind) in refs {
        if let Some(t) = v.get(field).and_then(Value::as_str) {
            if let Ok(r) = ledger.get(kind, t) {
                if let Some(p) = resource_program(ledger, &r, depth - 1) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// `as_of_seq` / `as_of_time` of a query string (other keys are left to
/// the endpoint, which ignores them as before).
fn as_of_only(query: Option<&str>) -> Result<AsOf, Error> {
    AsOf::take_from(&mut pairs_from_query(query.unwrap_or("")))
}

fn fetch(kind: &'static str) -> MethodRouter<Shared> {
    get(
        move |State(state): State<Shared>,
              Extension(principal): Extension<Principal>,
              Path(token): Path<String>,
              RawQuery(query): RawQuery| async move {
            blocking(&state, move |ledger| {
                let v = ledger.get_at(kind, &token, as_of_only(query.as_deref())?)?;
                check_scope(&principal, resource_program(ledger, &v, 2), kind, &token)?;
                Ok(json_response(StatusCode::OK, &v))
            })
            .await
            .unwrap_or_else(IntoResponse::into_response)
        },
    )
}

/// A resource of a program the principal may not see answers 404, as if
/// it did not exist (its token is not disclosed to another program).
fn check_scope(principal: &Principal, program: Option<String>, kind: &str, token: &str) -> Result<(), ApiError> {
    match program {
        Some(p) if !principal.may(&p) => Err(Error::NotFound { what: format!("{kind} {token:?}") }.into()),
        _ => Ok(()),
    }
}

fn list(kind: &'static str) -> MethodRouter<Shared> {
    get(
        move |State(state): State<Shared>, Extension(principal): Extension<Principal>, RawQuery(query): RawQuery| async move {
            let pairs = pairs_from_query(query.as_deref().unwrap_or(""));
            list_answer(state, principal, kind, pairs).await
        },
    )
}

/// A list whose holder is the last path segment:
/// `/fundingsources/user/{token}` and the like.
fn list_of_holder(kind: &'static str, holder_field: &'static str) -> MethodRouter<Shared> {
    get(
        move |State(state): State<Shared>,
              Extension(principal): Extension<Principal>,
              Path(token): Path<String>,
              RawQuery(query): RawQuery| async move {
            let mut pairs = pairs_from_query(query.as_deref().unwrap_or(""));
            pairs.push((holder_field.to_string(), token));
            list_answer(state, principal, kind, pairs).await
        },
    )
}

/// Lists through the facade, scoped: a credential that is not for every
/// program lists only what a holder, order or program of its own names (a
/// credential bound to one program lists users and businesses of it).
async fn list_answer(
    state: Shared,
    principal: Principal,
    kind: &'static str,
    mut pairs: Vec<(String, String)>,
) -> Response {
    blocking(&state, move |ledger| {
        let filters = LIST_KINDS.iter().find(|k| k.name == kind).map_or(&[][..], |k| k.filters);
        // fees, campaigns, merchants and offers belong to no program
        let global = !filters.iter().any(|f| matches!(*f, "program_token" | "user_token" | "account_token"));
        if principal.programs != Programs::All && !global {
            // naming nothing that scopes it, a one-program credential lists its program
            let scoped = |k: &str| {
                matches!(
                    k,
                    "user_token"
                        | "business_token"
                        | "original_order_token"
                        | "program_token"
                        | "account_token"
                        | "funding_source_token"
                )
            };
            if filters.contains(&"program_token") && !pairs.iter().any(|(k, _)| scoped(k)) {
                if let Some(p) = principal.sole_program() {
                    pairs.push(("program_token".to_string(), p.to_string()));
                }
            }
            let named = Value::Object(
                pairs.iter().filter(|(k, _)| scoped(k)).map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect(),
            );
            match resource_program(ledger, &named, 2) {
                Some(p) if principal.may(&p) => {}
                Some(p) => return Err(ApiError::program(&p)),
                None => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        error::PROGRAM_FORBIDDEN,
                        "user_token, business_token, account_token, original_order_token or program_token: a \
                         credential for some programs lists what one holder, account, order or program of its own \
                         names",
                    ))
                }
            }
        }
        Ok(json_response(StatusCode::OK, &ledger.list(kind, &pairs)?))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// The holder of a balances token: a user, else a business.
fn holder_balances(
    ledger: &Cardledger,
    principal: &Principal,
    token: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let as_of = as_of_only(query)?;
    let b = match ledger.balances_at(&Holder::User(token.into()), as_of) {
        Err(Error::NotFound { .. }) => ledger.balances_at(&Holder::Business(token.into()), as_of)?,
        other => other?,
    };
    let probe = json!({"user_token": b.get("user_token"), "business_token": b.get("business_token")});
    check_scope(principal, resource_program(ledger, &probe, 1), "holder", token)?;
    Ok(b)
}

/// The published Core API schema's additions to a balance (product.md §4):
/// `cached_balance` equal to `ledger_balance` (there is no cache to lag),
/// and each nested per-currency balance with its own (empty) `balances`.
fn published_balance(b: &mut Value) {
    fn cached(o: &mut Map<String, Value>) {
        if let Some(l) = o.get("ledger_balance").cloned() {
            o.insert("cached_balance".into(), l);
        }
    }
    let Value::Object(o) = b else { return };
    cached(o);
    if let Some(Value::Object(per_currency)) = o.get_mut("balances") {
        for inner in per_currency.values_mut() {
            if let Value::Object(i) = inner {
                cached(i);
                i.insert("balances".into(), json!({}));
            }
        }
    }
}

async fn balances(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let b = holder_balances(ledger, &principal, &token, query.as_deref())?;
        let links = json!([
            {"rel": "self", "method": "GET", "href": format!("/v3/balances/{token}")},
            {"rel": "msas", "method": "GET", "href": format!("/v3/balances/{token}/msas")},
        ]);
        let mut gpa = b.get("gpa").cloned().unwrap_or(Value::Null);
        published_balance(&mut gpa);
        let mut answer = json!({"gpa": gpa, "links": links});
        stamp_like(&b, &mut answer);
        Ok(json_response(StatusCode::OK, &answer))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v3/credit/accounts/{account}/balances`: the account's balance
/// between statements (current balance, available credit, the open
/// cycle's activity so far); another program's account is 404.
async fn credit_balance(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(account): Path<String>,
) -> Response {
    blocking(&state, move |ledger| {
        let b = ledger.credit_balance(&account)?;
        check_scope(&principal, resource_program(ledger, &b, 0), "credit account", &account)?;
        Ok(json_response(StatusCode::OK, &b))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn balances_msas(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    blocking(&state, move |ledger| {
        let b = holder_balances(ledger, &principal, &token, query.as_deref())?;
        let mut msas = b.get("msas").cloned().unwrap_or_else(|| json!([]));
        if let Value::Array(list) = &mut msas {
            list.iter_mut().for_each(published_balance);
        }
        let n = msas.as_array().map_or(0, Vec::len);
        let links = json!([{"rel": "gpa", "method": "GET", "href": format!("/v3/balances/{token}")}]);
        let mut answer = json!({"count": n, "data": msas, "links": links});
        stamp_like(&b, &mut answer);
        Ok(json_response(StatusCode::OK, &answer))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Copies an as-of read's `as_of_seq` / `as_of_hash` onto the answer built
/// from it.
fn stamp_like(from: &Value, to: &mut Value) {
    if let Value::Object(o) = to {
        for k in ["as_of_seq", "as_of_hash"] {
            if let Some(v) = from.get(k) {
                o.insert(k.into(), v.clone());
            }
        }
    }
}

async fn statements(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(parts): Path<Vec<(String, String)>>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut it = parts.into_iter().map(|(_, v)| v);
    let account = it.next().unwrap_or_default();
    let path: Vec<String> = it.collect();
    statements_at(state, principal, account, path, query).await
}

/// An account-level statements endpoint (`delinquencystate`, `transitions`,
/// `ledgerentries`).
fn account_endpoint(endpoint: &'static str) -> MethodRouter<Shared> {
    get(
        move |State(state): State<Shared>,
              Extension(principal): Extension<Principal>,
              Path(account): Path<String>,
              RawQuery(query): RawQuery| async move {
            statements_at(state, principal, account, vec![endpoint.to_string()], query).await
        },
    )
}

async fn statements_at(
    state: Shared,
    principal: Principal,
    account: String,
    path: Vec<String>,
    query: Option<String>,
) -> Response {
    let params: Vec<String> =
        pairs_from_query(query.as_deref().unwrap_or("")).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    blocking(&state, move |ledger| {
        let probe = json!({"account_token": account});
        check_scope(&principal, resource_program(ledger, &probe, 1), "credit_account", &account)?;
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        Ok(json_response(StatusCode::OK, &ledger.statements(&account, &path, &params)?))
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v3/commands`: JSON lines in the ingest format, answered with the
/// ingest answer lines (one per line, an empty one rejected with 1001, in
/// order, once durable).
/// A program-bound credential may send only commands of its programs.
async fn commands(
    State(state): State<Shared>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        require_json(&headers, &["application/x-ndjson", "application/jsonl", "application/json-lines"])?;
        // the body is read before a place is taken: a refusal that left it
        // unread would reach many clients as a broken pipe, not as the 429
        let bytes = read_body(body, crate::body_limit("/v3/commands")).await?;
        let permit = crate::permit(&state)?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
            ApiError::rejection(&Rejection::new(
                Code::MalformedJson,
                "",
                format!("malformed JSON: not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            ))
        })?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        crate::blocking_with(&state, permit, move |ledger| {
            if principal.programs != Programs::All {
                for (i, line) in lines.iter().enumerate() {
                    let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
                    let Some(key) = v.as_object().and_then(|o| o.keys().find(|k| *k != "time")).cloned() else {
                        continue;
                    };
                    let program = if key == "program" {
                        v.get("program").and_then(|b| b.get("token")).and_then(Value::as_str).map(str::to_string)
                    } else {
                        command_program(ledger, &key, &v)
                    };
                    match program {
                        Some(p) if principal.may(&p) => {}
                        Some(p) => return Err(ApiError::program(&format!("{p}\" (line {}", i + 1))),
                        None if key == "tick" => {
                            return Err(ApiError::new(
                                StatusCode::FORBIDDEN,
                                error::PROGRAM_FORBIDDEN,
                                format!("line {}: tick moves every program's time; it needs a \"*\" credential", i + 1),
                            ))
                        }
                        None => {}
                    }
                }
            }
            let answers = ledger.ingest_chunk(&lines, 1)?;
            let mut out = String::new();
            for a in answers {
                out.push_str(&a.to_string());
                out.push('\n');
            }
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
        })
        .await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
