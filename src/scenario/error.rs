//! Scenario errors: each one knows the file, line and column of the value it is about.

use std::fmt;
use std::path::PathBuf;

pub use super::position::LineCol;

/// One problem in a scenario file, printed as `FILE:LINE:COL: message`, or `FILE: message` when
/// it is about the file as a whole (missing, a directory, an unknown format).
///
/// Lines and columns are 1-based; the column counts characters, not bytes, so it matches
/// what an editor shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as it was named (not canonicalised), so the message can be pasted back.
    pub file: PathBuf,
    /// Where in the text; `None` when the problem is the file itself, never a made-up 1:1.
    pub at: Option<LineCol>,
    /// A lower-case sentence naming the key path, the bad value and what would be right.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{}:{at}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Every problem found in one scenario, in file order; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl ScenarioErrors {
    /// The errors, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ScenarioError> {
        self.0.iter()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True only for a value built by hand: loading never fails with no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ScenarioErrors {
    type Item = &'a ScenarioError;
    type IntoIter = std::slice::Iter<'a, ScenarioError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One error per line, no trailing newline.
impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            error.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}
