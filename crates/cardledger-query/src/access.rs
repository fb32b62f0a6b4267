//! Access scoping: every query runs for a principal allowed some programs and
//! optionally denied some fields. Checked after parsing and before anything
//! else, in the order 403003 (program), 403001 (field in `fields` or
//! `sort_by`), 403002 (filter).

use std::collections::BTreeSet;

use crate::error::QueryError;
use crate::params::Params;
use crate::table::Column;

/// Who is asking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal {
    /// The programs the principal may query; `None`: all.
    pub programs: Option<BTreeSet<String>>,
    /// Fields the principal may neither see, sort by nor filter on. They are
    /// left out of the schema and of records.
    pub denied_fields: BTreeSet<String>,
}

impl Principal {
    /// A principal allowed everything (a trusted local host such as the CLI).
    pub fn all() -> Principal {
        Principal::default()
    }

    /// Whether the principal may see `field`.
    pub fn may_see(&self, field: &str) -> bool {
        !self.denied_fields.contains(field)
    }

    /// Whether the principal may query `program`.
    pub fn may_query(&self, program: &str) -> bool {
        match &self.programs {
            Some(allowed) => allowed.contains(program),
            None => true,
        }
    }
}

/// Checks the query against the principal: 403003 for a program it may not
/// query, 403001 for a denied field in `fields` or `sort_by`, 403002 for a
/// filter on a denied field. Fields the view does not have are not judged
/// here (they are 400006 later), so a denied field and an unknown one never
/// look alike except in the schema, which shows neither.
pub fn check_access(principal: &Principal, params: &Params, columns: &[Column]) -> Result<(), QueryError> {
    let known = |field: &str| columns.iter().any(|c| c.field == field);
    if let Some(p) = params.programs.iter().find(|p| !principal.may_query(p)) {
        return Err(QueryError::DeniedProgram { program: p.clone() });
    }
    if let Some(fields) = &params.fields {
        if let Some(f) = fields.iter().find(|f| known(f) && !principal.may_see(f)) {
            return Err(QueryError::DeniedField { param: "fields", field: f.clone() });
        }
    }
    if let Some(sort) = &params.sort {
        if known(&sort.field) && !principal.may_see(&sort.field) {
            return Err(QueryError::DeniedField { param: "sort_by", field: sort.field.clone() });
        }
    }
    if let Some(f) = params.filters.iter().find(|f| known(&f.field) && !principal.may_see(&f.field)) {
        return Err(QueryError::DeniedFilter { field: f.field.clone() });
    }
    Ok(())
}
