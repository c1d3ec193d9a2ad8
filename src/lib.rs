//! sipa-check: proves that Zscaler Source IP Anchoring for Office 365 Conditional Access works,
//! from where users sit. The binary is a thin layer over this library.

pub mod address;
pub mod audit;
pub mod cause;
pub mod cli;
pub mod cmd;
pub mod complete;
pub mod entra;
pub mod guide;
pub mod lab;
pub mod manual;
pub mod metrics;
pub mod observation;
pub mod outcome;
pub mod pac;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod push;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod serve;
pub mod verdict;
