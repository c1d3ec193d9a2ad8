//! The pure judge: the tenant model and what the guide requires, in; one check per link of the
//! guide's chain, out. Each check names the object (name and id), what the guide requires, what
//! the tenant has, the portal path to fix it and the guide step. No I/O.
//!
//! Policy rules are evaluated as ZPA does: ascending rule order, disabled rules skipped,
//! operands of a condition combined by its operator (OR by default), a negated condition
//! inverted, conditions combined by the rule's operator (AND by default). Traffic from a ZIA
//! Service Edge carries an application, its segment group and its client type, nothing else, so
//! an operand on any other attribute (IdP, SAML, posture...) does not match it.

use super::model::*;

mod link;
mod zia;
mod zpa;

use link::unreadable;
#[cfg(test)]
use link::*;
pub use link::{
    AuditCheck, CLIENT_TYPE_SIPA, CLIENT_TYPE_ZAPP, CLIENT_TYPE_ZIA_INSPECTION, Coverage,
    PolicyRequest, Requirements, Subject, chain_connectors, coverage, first_match, rule_matches,
    specificity,
};

/// Judges the tenant against the requirements: every link of the chain, in the guide's order.
pub fn judge(tenant: &Tenant, req: &Requirements) -> Vec<AuditCheck> {
    let mut checks = Vec::new();
    let zpa = match &tenant.zpa {
        Ok(zpa) => Some(zpa),
        Err(u) => {
            checks.push(unreadable(u));
            None
        }
    };
    let chain = zpa.map(|zpa| zpa::judge_zpa(zpa, req, &mut checks));
    match &tenant.zia {
        Ok(zia) => zia::judge_zia(zia, chain.as_ref(), &mut checks),
        Err(u) => checks.push(unreadable(u)),
    }
    checks
}

#[cfg(test)]
mod tests;
