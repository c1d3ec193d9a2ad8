//! The versioned JSON document (`format_version` 1): the whole [`RunReport`], pretty-printed.

use std::io::{self, Write};

use crate::outcome::RunReport;

/// Writes `report` as pretty JSON followed by a newline.
pub fn write(report: &RunReport, mut out: impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()
}
