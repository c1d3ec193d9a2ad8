//! Live progress on stderr while a run is going: one line, rewritten in place.

use std::io::Write;
use std::sync::Mutex;

use crate::outcome::{Outcome, Status};
use crate::runner::Progress;

/// A one-line counter of finished checks and problems so far.
#[derive(Default)]
pub struct Live {
    problems: Mutex<usize>,
    shown: Mutex<bool>,
}

impl Live {
    pub fn new() -> Live {
        Live::default()
    }

    /// Clears the line, so the report starts on a clean one.
    pub fn finish(&self) {
        if self.shown.lock().is_ok_and(|s| *s) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Progress for Live {
    fn done(&self, finished: usize, total: usize, outcome: &Outcome) {
        let problems = match self.problems.lock() {
            Ok(mut p) => {
                if matches!(outcome.status, Status::Fail | Status::Error) {
                    *p += 1;
                }
                *p
            }
            Err(_) => 0,
        };
        if let Ok(mut shown) = self.shown.lock() {
            *shown = true;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{finished}/{total}] {problems} problem(s) · {}",
            outcome.name
        );
        let _ = err.flush();
    }
}
