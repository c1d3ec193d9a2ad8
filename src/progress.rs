//! Live progress on stderr while a run is going: one line, rewritten in place.

use std::io::Write;
use std::sync::Mutex;

use crate::observation::Observation;
use crate::plan::Check;
use crate::runner::Progress;

/// A one-line counter of finished checks, with the latest one's name.
#[derive(Default)]
pub struct Live {
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
    fn done(&self, finished: usize, total: usize, check: &Check, _seen: &Observation) {
        if let Ok(mut shown) = self.shown.lock() {
            *shown = true;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K[{finished}/{total}] {}", check.name);
        let _ = err.flush();
    }
}
