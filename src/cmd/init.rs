//! `sipa-check init`, `completions` and `man`: files and texts written from the binary itself.

use std::io::{self, Write};

use super::{CommandResult, Exit, invalid, is_stdout, shell_words};
use crate::cli::{CompletionsArgs, InitArgs, ManArgs};
use crate::scenario;

/// The bundled Office 365 scenario, as `sipa-check init` writes it.
pub const INIT_TEMPLATE: &str = scenario::OFFICE365_TOML;

/// `sipa-check init [FILE]`: the documented Office 365 template, to fill in and run.
pub fn init(args: &InitArgs, out: &mut dyn Write) -> CommandResult {
    if is_stdout(&args.file) {
        return match out
            .write_all(INIT_TEMPLATE.as_bytes())
            .and_then(|()| out.flush())
        {
            Ok(()) => Ok(Exit::Passed),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Passed),
            Err(e) => invalid(format!("cannot write standard output: {e}")),
        };
    }
    let path = &args.file;
    if path.is_dir() {
        return invalid(format!(
            "{} is a directory: name a file, such as {}",
            path.display(),
            path.join("sipa-check.toml").display()
        ));
    }
    // Only a file `run` can read: the documented TOML, or its values as JSON (no comments).
    let text = match scenario::Format::from_path(path) {
        Some(scenario::Format::Toml) => INIT_TEMPLATE.to_owned(),
        Some(scenario::Format::Json) => match scenario::office365_json() {
            Ok(json) => json,
            Err(e) => {
                return invalid(e);
            }
        },
        None => {
            return invalid(format!(
                "{}: a scenario file's name ends in .toml (the documented template) or .json (its values, without the comments JSON cannot hold); nothing was written",
                path.display()
            ));
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let written = options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            let shown = shell_words(&[path.display().to_string()]);
            let (fill_in, comments) = match scenario::Format::from_path(path) {
                Some(scenario::Format::Json) => (
                    "anchor.expect and your observers (\"observer\")",
                    "\n(JSON holds no comments: `sipa-check init -` prints the documented template)",
                ),
                _ => ("[anchor] expect and your observers' URLs", ""),
            };
            let _ = writeln!(
                out,
                "wrote {}: fill in {fill_in}, then:\n\n  \
                 sipa-check validate {shown}\n  sipa-check run {shown}{comments}",
                path.display()
            );
            Ok(Exit::Passed)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => invalid(format!(
            "{} already exists: pass --force to overwrite it, or name another file",
            path.display()
        )),
        Err(e) => invalid(format!("cannot write {}: {e}", path.display())),
    }
}

/// `sipa-check completions SHELL`: the completion script on `out`.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> CommandResult {
    crate::manual::completion(args.shell, out);
    let _ = out.flush();
    Ok(Exit::Passed)
}

/// `sipa-check man`: the top man page (roff) on `out`, or with `--dir` every page written there.
pub fn man(args: &ManArgs, out: &mut dyn Write) -> CommandResult {
    if let Some(dir) = &args.dir {
        return match crate::manual::write_pages(dir) {
            Ok(_) => Ok(Exit::Passed),
            Err(e) => invalid(format!(
                "cannot write the man pages to {}: {e}",
                dir.display()
            )),
        };
    }
    let top = crate::manual::pages().swap_remove(0);
    match out.write_all(&top.roff).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Passed),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Passed),
        Err(e) => invalid(format!("cannot write the man page: {e}")),
    }
}
