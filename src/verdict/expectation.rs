//! What a run expects beside each check's own kind, and the diagnosis a judging function
//! names: the ground every part of the verdict stands on.

use crate::observation::Cut;
use crate::observation::show_duration;
use crate::outcome::Diagnosis;
use crate::scenario::model::{AnchorSet, Port, Require};

/// What the run expects, beside each check's own kind.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub anchors: AnchorSet,
    /// Login traffic must be anchored from this vantage (false outside trusted locations).
    pub expect_anchored: bool,
    /// An explicit proxy resolves names, so local DNS only informs.
    pub proxied: bool,
    pub login_ports: Vec<Port>,
    /// What each login host's evidence must be.
    pub require: Require,
    /// What an entra sign-in check is judged on (`[entra] mode`).
    pub entra_mode: crate::scenario::model::EntraMode,
    /// What showed, in this run or a sibling vantage's, that a Conditional Access policy
    /// refuses the probe app outside the trusted locations; `None`: nothing did.
    pub ca_policy: Option<crate::observation::CaPolicyProof>,
}

#[cfg(test)]
impl Expectation {
    /// The lab's expectation, for unit tests: anchors {127.0.0.2}, login ports 80 and 443,
    /// evidence on the path, Entra's log.
    pub(crate) fn lab(expect_anchored: bool, proxied: bool) -> Expectation {
        Expectation {
            anchors: AnchorSet(vec!["127.0.0.2/32".parse().unwrap()]),
            expect_anchored,
            proxied,
            login_ports: vec![Port::HTTP, Port::HTTPS],
            require: Require::default(),
            entra_mode: Default::default(),
            ca_policy: None,
        }
    }
}

/// The diagnosis of `cause`, said of this case in `likely_cause`.
pub(super) fn diagnosis(
    cause: crate::cause::Cause,
    likely_cause: impl Into<String>,
) -> Option<Diagnosis> {
    Some(Diagnosis::of(cause, likely_cause))
}

/// What stopped a run, as people read it.
pub fn describe_cut(cut: &Cut) -> String {
    match cut {
        Cut::Deadline { deadline } => {
            format!("the run's deadline of {} passed", show_duration(*deadline))
        }
        Cut::Interrupted => "interrupted".into(),
        Cut::Terminated => "terminated (SIGTERM)".into(),
    }
}

/// A cause chain as one line, outermost first, without the links that repeat what an earlier
/// link already said (HTTP clients wrap the same I/O error several times).
pub(super) fn chain(causes: &[String]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for c in causes {
        let c = c.trim();
        if c.is_empty() || kept.iter().any(|k| k.contains(c)) {
            continue;
        }
        kept.push(c);
    }
    kept.join(": ")
}
