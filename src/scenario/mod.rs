//! Scenario files: parse (TOML or JSON, with positions), then validate into the typed model.
//! No I/O beyond reading the file.

pub mod cloud;
mod de;
mod document;
mod error;
pub mod model;
mod overrides;
mod position;
mod raw;
mod readiness;
mod validate;
mod values;
mod vantages;

use std::path::Path;

use serde::Deserialize as _;

pub use error::{LineCol, ScenarioError, ScenarioErrors};
pub use model::{
    AnchorSet, DecisionSpec, EchoObserver, EntraSpec, Extract, Family, FamilySelection, Limits,
    LocalBind, LoginHost, LoginSpec, ObserverRole, PacLocation, Port, ProxySpec, Require, Scenario,
    Secret, Vantage,
};
pub use overrides::Overrides;
pub use position::line_col;
pub use readiness::{Shortfall, Summary};
pub use values::{
    PROXY_PASSWORD_ENV, parse_anchor, parse_deadline, parse_dns_server, parse_duration,
    parse_entra_mode, parse_entra_wait, parse_env_proxy, parse_family, parse_pac_location,
    parse_proxy, parse_require, parse_samples, parse_timeout, shorten,
};

use de::{Ctx, DeError, Diag, NodeDe};
use position::LineIndex;
use raw::RawScenario;

/// The bundled Office 365 scenario (the vendor guide's configuration), as text.
pub const OFFICE365_TOML: &str = include_str!("../../scenarios/office365.toml");
/// The bundled Office 365 scenario's values as JSON (pretty, with a trailing newline): what
/// `sipa-check init FILE.json` writes. The same scenario as [`OFFICE365_TOML`] without its
/// comments, which JSON cannot hold.
pub fn office365_json() -> Result<String, String> {
    let values: toml::Table = toml::from_str(OFFICE365_TOML)
        .map_err(|e| format!("the bundled template does not parse: {e}"))?;
    let mut json = serde_json::to_string_pretty(&values)
        .map_err(|e| format!("the bundled template cannot be written as JSON: {e}"))?;
    json.push('\n');
    Ok(json)
}

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

    /// The format of text with no file name (standard input): JSON if it starts with `{`,
    /// TOML otherwise.
    pub fn sniff(bytes: &[u8]) -> Format {
        let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        match text.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Toml,
        }
    }
}

/// The command-line name of standard input as a scenario: `sipa-check validate -`.
pub const STDIN_ARG: &str = "-";
/// How a scenario read from standard input is named in errors.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads, parses and validates a scenario file; the format comes from the extension.
///
/// A problem with the file itself (missing, a directory, an unknown extension) is one error
/// without a position: there is no line to point at.
pub fn load(path: &Path) -> Result<Scenario, ScenarioErrors> {
    let whole_file = |message: String| {
        ScenarioErrors(vec![ScenarioError {
            file: path.to_path_buf(),
            at: None,
            message,
        }])
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let dir = path.display().to_string();
            return Err(whole_file(format!(
                "is a directory: name the scenario files in it, e.g. {}/*.toml",
                dir.trim_end_matches('/')
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(whole_file(
                "cannot read scenario: no such file (check the path, or create one from the template with `sipa-check init FILE`)".into(),
            ));
        }
        Err(e) => return Err(whole_file(format!("cannot read scenario: {e}"))),
    }
    let Some(format) = Format::from_path(path) else {
        return Err(whole_file(
            "unknown scenario format: name the file *.toml or *.json".into(),
        ));
    };
    let bytes =
        std::fs::read(path).map_err(|e| whole_file(format!("cannot read scenario: {e}")))?;
    load_bytes(&bytes, path, format)
}

/// Reads a scenario from standard input (or any reader), named `<stdin>` in errors; the format
/// is TOML unless the text starts with `{` (JSON). Relative paths in it (`ca_files`) are taken
/// from the working directory.
pub fn load_reader(input: &mut dyn std::io::Read) -> Result<Scenario, ScenarioErrors> {
    let source = Path::new(STDIN_NAME);
    let mut bytes = Vec::new();
    if let Err(e) = input.read_to_end(&mut bytes) {
        return Err(ScenarioErrors(vec![ScenarioError {
            file: source.to_path_buf(),
            at: None,
            message: format!("cannot read scenario: {e}"),
        }]));
    }
    load_bytes(&bytes, source, Format::sniff(&bytes))
}

/// Parses and validates scenario bytes: they must be UTF-8. `source` names them in errors.
pub fn load_bytes(bytes: &[u8], source: &Path, format: Format) -> Result<Scenario, ScenarioErrors> {
    match std::str::from_utf8(bytes) {
        Ok(text) => load_str(text, source, format),
        Err(e) => {
            // The valid prefix tells where the bad byte is.
            let valid = bytes
                .get(..e.valid_up_to())
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("");
            Err(ScenarioErrors(vec![ScenarioError {
                file: source.to_path_buf(),
                at: Some(LineIndex::new(valid).line_col(valid.len())),
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
            .map(|d| ScenarioError {
                file: source.to_path_buf(),
                at: Some(index.line_col(d.offset)),
                message: d.message,
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

/// The lab scenario from the lab's two places (`lab --places`), as text.
pub const LAB_PLACES_TOML: &str = include_str!("../../scenarios/lab-places.toml");

/// The bundled lab scenario from two places (the office and the guest network, two
/// `[[vantage]]` entries bound to the lab's place addresses): what `sipa-check lab --places`
/// runs.
pub fn bundled_lab_places() -> Scenario {
    bundled(LAB_PLACES_TOML, "<bundled>/lab-places.toml")
}

/// The lab scenario with Entra's sign-in log as the login hosts' evidence (`lab --entra`).
pub const LAB_ENTRA_TOML: &str = include_str!("../../scenarios/lab-entra.toml");

/// The bundled scenario for the embedded lab with `[entra]`.
pub fn bundled_lab_entra() -> Scenario {
    bundled(LAB_ENTRA_TOML, "<bundled>/lab-entra.toml")
}

fn bundled(text: &str, source: &str) -> Scenario {
    // The bundled files are part of the program and tested: an error here is a build defect.
    load_str(text, Path::new(source), Format::Toml)
        .unwrap_or_else(|e| panic!("bundled scenario {source} is invalid:\n{e}"))
}
