//! Funding-source resolution for orders (product.md §3): the one home of
//! the rule for every command that pays from a funding source.

use super::*;

/// A command that pays from a funding source: the holder, and the source
/// and address it names, if any.
pub(super) trait FundingRequest {
    /// Whose order it is.
    fn holder(&self) -> &Holder;
    /// `funding_source_token`, when named.
    fn named_source(&self) -> Option<&str>;
    /// `funding_source_address_token`, when named.
    fn named_address(&self) -> Option<&str>;
}

macro_rules! funding_request {
    ($($cmd:ty),*) => {$(
        impl FundingRequest for $cmd {
            fn holder(&self) -> &Holder {
                &self.holder
            }
            fn named_source(&self) -> Option<&str> {
                self.funding_source_token.as_deref()
            }
            fn named_address(&self) -> Option<&str> {
                self.funding_source_address_token.as_deref()
            }
        }
    )*};
}

funding_request!(GpaOrderCmd, MsaOrderCmd, OfferOrderCmd);

impl Ledger {
    /// Funding-source resolution (product.md §3): the named source (existing,
    /// active, the holder's or the program's); else the holder's default,
    /// else the program's default; else the only usable one; else rejected.
    /// `program` is the holder's program.
    pub(super) fn resolve_funding(
        &self,
        key: &'static str,
        c: &impl FundingRequest,
        program: &Token,
    ) -> Result<Funding, Rejection> {
        let holder = c.holder();
        let field = Field::Of(key, "funding_source_token");
        let chosen: &FundingSourceState = match c.named_source() {
            Some(t) => {
                let owned_by = |fs: &FundingSourceState| match &fs.cmd.holder {
                    Some(h) => h == holder,
                    None => fs.program_token == *program,
                };
                let fs = self
                    .funding_sources
                    .get(t)
                    .ok_or_else(|| Rejection::new(Code::UnknownReference, field, format!("no funding source {t:?}")))?;
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
            None => self.default_funding(holder, program, field)?,
        };
        self.funding_from(key, chosen, program, c.named_address())
    }

    /// The source an order that names none pays from: the holder's default,
    /// else the program's default, else the only usable one (active, not a
    /// `programgateway`); candidates in token order, so the answer does not
    /// depend on hash order. Iterates the candidate lists; builds nothing.
    fn default_funding(&self, holder: &Holder, program: &str, field: Field) -> Result<&FundingSourceState, Rejection> {
        let (own, prog) = (self.holder_sources.get(holder), self.program_sources.get(program));
        let default_of = |tokens| -> Result<Option<&FundingSourceState>, Rejection> {
            let mut d = self.usable_sources(tokens).filter(|f| f.cmd.is_default_account);
            match (d.next(), d.next()) {
                (None, _) => Ok(None),
                (Some(one), None) => Ok(Some(one)),
                (Some(_), Some(_)) => {
                    reject(Code::FundingSourceAmbiguous, field, "several default funding sources; name one")
                }
            }
        };
        if let Some(d) = default_of(own)? {
            return Ok(d);
        }
        if let Some(d) = default_of(prog)? {
            return Ok(d);
        }
        let mut all = self.usable_sources(own).chain(self.usable_sources(prog));
        match (all.next(), all.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => reject(Code::NoFundingSource, field, "the holder has no usable funding source"),
            (Some(_), Some(_)) => {
                reject(Code::FundingSourceAmbiguous, field, "several funding sources and none is the default; name one")
            }
        }
    }

    /// The usable sources among `tokens`: active, not a `programgateway`.
    fn usable_sources<'a>(
        &'a self,
        tokens: Option<&'a Vec<Token>>,
    ) -> impl Iterator<Item = &'a FundingSourceState> + 'a {
        tokens
            .into_iter()
            .flatten()
            .filter_map(|t| self.funding_sources.get(t))
            .filter(|fs| fs.cmd.active && fs.cmd.kind != FundingKind::ProgramGateway)
    }

    pub(super) fn funding_from(
        &self,
        key: &'static str,
        fs: &FundingSourceState,
        program: &Token,
        address: Option<&str>,
    ) -> Result<Funding, Rejection> {
        if let Some(a) = address {
            match self.addresses.get(a) {
                Some((owner, _)) if owner == &fs.cmd.token => {}
                Some(_) => {
                    return reject(
                        Code::FundingSourceNotOwned,
                        Field::Of(key, "funding_source_address_token"),
                        format!("address {a:?} belongs to another funding source"),
                    )
                }
                None => {
                    return reject(
                        Code::UnknownReference,
                        Field::Of(key, "funding_source_address_token"),
                        format!("no funding source address {a:?}"),
                    )
                }
            }
        }
        if fs.cmd.kind == FundingKind::PaymentCard && !fs.has_address {
            return reject(
                Code::FundingSourceAddressRequired,
                Field::Of(key, "funding_source_token"),
                format!("payment-card funding source {:?} needs an address first", fs.cmd.token),
            );
        }
        Ok(Funding { source_token: fs.cmd.token.clone(), kind: fs.cmd.kind, program_token: program.clone() })
    }
}
