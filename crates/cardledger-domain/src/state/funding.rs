//! Funding-source resolution for orders (product.md §3).

use super::*;

impl Ledger {
    /// Funding-source resolution (product.md §3): the named source (existing,
    /// active, the holder's or the program's); else the holder's default,
    /// else the program's default; else the only usable one; else rejected.
    pub(super) fn resolve_funding<'a>(
        &'a self,
        key: &str,
        holder: &Holder,
        program: &str,
        named: Option<&str>,
        address: Option<&str>,
    ) -> Result<Funding, Rejection> {
        let field = format!("{key}.funding_source_token");
        let owned_by = |fs: &FundingSourceState| match &fs.cmd.holder {
            Some(h) => h == holder,
            None => fs.program_token == program,
        };
        let chosen: &FundingSourceState = match named {
            Some(t) => {
                let fs = self.funding_sources.get(t).ok_or_else(|| {
                    Rejection::new(Code::UnknownReference, field.clone(), format!("no funding source {t:?}"))
                })?;
                if !owned_by(fs) {
                    return reject(
                        Code::FundingSourceNotOwned,
                        field,
                        format!("funding source {t:?} belongs to another holder or program"),
                    );
                }
                if !fs.cmd.active {
                    return reject(Code::Inactive, field, format!("funding source {t:?} is inactive"));
                }
                fs
            }
            None => {
                // candidates in token order: deterministic whatever the hash order
                let usable = |tokens: Option<&Vec<String>>| -> Vec<&FundingSourceState> {
                    tokens
                        .into_iter()
                        .flatten()
                        .filter_map(|t| self.funding_sources.get(t))
                        .filter(|fs| fs.cmd.active && fs.cmd.kind != FundingKind::ProgramGateway)
                        .collect()
                };
                let own = usable(self.holder_sources.get(holder));
                let prog = usable(self.program_sources.get(program));
                let default_of = |v: &[&'a FundingSourceState]| -> Result<Option<&'a FundingSourceState>, Rejection> {
                    let mut d = v.iter().filter(|f| f.cmd.is_default_account);
                    match (d.next(), d.next()) {
                        (None, _) => Ok(None),
                        (Some(one), None) => Ok(Some(*one)),
                        (Some(_), Some(_)) => reject(
                            Code::FundingSourceAmbiguous,
                            field.clone(),
                            "several default funding sources; name one",
                        ),
                    }
                };
                let pick = if let Some(d) = default_of(&own)? {
                    d
                } else if let Some(d) = default_of(&prog)? {
                    d
                } else {
                    match (own.len() + prog.len(), own.first().or(prog.first())) {
                        (1, Some(one)) => *one,
                        (0, _) | (_, None) => {
                            return reject(Code::NoFundingSource, field, "the holder has no usable funding source")
                        }
                        _ => {
                            return reject(
                                Code::FundingSourceAmbiguous,
                                field,
                                "several funding sources and none is the default; name one",
                            )
                        }
                    }
                };
                return self.funding_from(key, pick, program, address);
            }
        };
        self.funding_from(key, chosen, program, address)
    }

    pub(super) fn funding_from(
        &self,
        key: &str,
        fs: &FundingSourceState,
        program: &str,
        address: Option<&str>,
    ) -> Result<Funding, Rejection> {
        if let Some(a) = address {
            match self.addresses.get(a) {
                Some((owner, _)) if owner == &fs.cmd.token => {}
                Some(_) => {
                    return reject(
                        Code::FundingSourceNotOwned,
                        format!("{key}.funding_source_address_token"),
                        format!("address {a:?} belongs to another funding source"),
                    )
                }
                None => {
                    return reject(
                        Code::UnknownReference,
                        format!("{key}.funding_source_address_token"),
                        format!("no funding source address {a:?}"),
                    )
                }
            }
        }
        if fs.cmd.kind == FundingKind::PaymentCard && !fs.has_address {
            return reject(
                Code::FundingSourceAddressRequired,
                format!("{key}.funding_source_token"),
                format!("payment-card funding source {:?} needs an address first", fs.cmd.token),
            );
        }
        Ok(Funding { source_token: fs.cmd.token.clone(), kind: fs.cmd.kind, program_token: program.to_string() })
    }
}
