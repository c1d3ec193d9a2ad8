//! sipa-check: proves that Zscaler Source IP Anchoring for Office 365 Conditional Access works,
//! from where users sit. The binary is a thin layer over this library.

pub mod observation;
pub mod outcome;
pub mod plan;
pub mod probe;
pub mod runner;
pub mod scenario {
    pub mod model;
}
pub mod verdict;
