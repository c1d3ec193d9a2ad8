//! `sipa-check audit`: the guide's steps read back from the ZPA and ZIA APIs (read-only) or from
//! a snapshot of their answers, judged link by link.
//!
//! Layers, each testable alone: the fetch layer ([`client`], GET and the sign-in calls only)
//! keeps every answer as a document ([`documents`], exactly what a snapshot holds); [`parse`]
//! turns documents into the typed tenant ([`model`]); [`judge`] is pure.

pub mod documents;
pub mod judge;
pub mod model;
pub mod parse;
