//! Scenario files: parse (TOML or JSON, with positions), then validate into the typed model.
//! No I/O beyond reading the file.

mod de;
mod document;
mod error;
pub mod model;
mod overrides;
mod position;
mod raw;
mod validate;
mod values;

use std::path::Path;

use serde::Deserialize as _;

pub use error::{ScenarioError, ScenarioErrors};
pub use model::{
    AnchorSet, EchoObserver, Extract, Family, FamilySelection, Limits, LoginHost, LoginSpec,
    ObserverRole, Port, ProxySpec, Scenario, Secret, Vantage,
};
pub use overrides::Overrides;
pub use values::{
    PROXY_PASSWORD_ENV, parse_anchor, parse_deadline, parse_dns_server, parse_duration,
    parse_family, parse_proxy, parse_samples, parse_timeout, shorten,
};

use de::{Ctx, DeError, Diag, NodeDe};
use position::LineIndex;
use raw::RawScenario;

/// The bundled Office 365 scenario (the vendor guide's configuration), as text.
pub const OFFICE365_TOML: &str = include_str!("../../scenarios/office365.toml");
/// The bundled scenario that `sipa-check lab` runs against the embedded lab, as text.
pub const LAB_TOML: &str = include_str!("../../scenarios/lab.toml");

/// A scenario file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// The format a file name's extension says (`.toml`, `.json`, any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads, parses and validates a scenario file; the format comes from the extension.
pub fn load(path: &Path) -> Result<Scenario, ScenarioErrors> {
    let at_start = |message: String| {
        ScenarioErrors(vec![ScenarioError {
            file: path.to_path_buf(),
            line: 1,
            col: 1,
            message,
        }])
    };
    let Some(format) = Format::from_path(path) else {
        return Err(at_start(
            "unknown scenario format: name the file *.toml or *.json".into(),
        ));
    };
    let bytes = std::fs::read(path).map_err(|e| at_start(format!("cannot read scenario: {e}")))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => load_str(text, path, format),
        Err(e) => {
            // The valid prefix tells where the bad byte is.
            let valid = bytes
                .get(..e.valid_up_to())
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("");
            let at = LineIndex::new(valid).line_col(valid.len());
            Err(ScenarioErrors(vec![ScenarioError {
                file: path.to_path_buf(),
                line: at.line,
                col: at.col,
                message: "the scenario is not valid UTF-8: save it as UTF-8".into(),
            }]))
        }
    }
}

/// Parses and validates scenario text; `source` names it in errors and anchors relative paths.
/// Total: any text gives a scenario or errors, never a panic.
pub fn load_str(text: &str, source: &Path, format: Format) -> Result<Scenario, ScenarioErrors> {
    let index = LineIndex::new(text);
    let parsed = match format {
        Format::Toml => document::parse_toml(text),
        Format::Json => document::parse_json(text, &index),
    };
    let diags = match parsed {
        Err(e) => vec![Diag {
            offset: e.offset,
            message: e.message,
        }],
        Ok(root) => {
            let ctx = Ctx::new(&index);
            let raw = RawScenario::deserialize(NodeDe::root(&root, &ctx));
            let mut diags = ctx.found.into_inner();
            match raw {
                Err(DeError { offset, message }) => {
                    diags.push(Diag {
                        offset: offset.unwrap_or(root.span.start),
                        message,
                    });
                }
                Ok(raw) => match validate::validate(raw, root.span.start, source, &index) {
                    Ok(scenario) if diags.is_empty() => return Ok(scenario),
                    Ok(_) => {}
                    Err(more) => diags.extend(more),
                },
            }
            diags
        }
    };
    Err(to_errors(diags, source, &index))
}

fn to_errors(mut diags: Vec<Diag>, source: &Path, index: &LineIndex<'_>) -> ScenarioErrors {
    // File order; equal positions keep the order they were found in.
    diags.sort_by_key(|d| d.offset);
    ScenarioErrors(
        diags
            .into_iter()
            .map(|d| {
                let at = index.line_col(d.offset);
                ScenarioError {
                    file: source.to_path_buf(),
                    line: at.line,
                    col: at.col,
                    message: d.message,
                }
            })
            .collect(),
    )
}

/// The bundled Office 365 scenario: the vendor guide's login hosts and ports, no anchors yet
/// (give them with `--expect-ip`).
pub fn bundled_office365() -> Scenario {
    bundled(OFFICE365_TOML, "<bundled>/office365.toml")
}

/// The bundled scenario for the embedded lab.
pub fn bundled_lab() -> Scenario {
    bundled(LAB_TOML, "<bundled>/lab.toml")
}

fn bundled(text: &str, source: &str) -> Scenario {
    // The bundled files are part of the program and tested: an error here is a build defect.
    load_str(text, Path::new(source), Format::Toml)
        .unwrap_or_else(|e| panic!("bundled scenario {source} is invalid:\n{e}"))
}
