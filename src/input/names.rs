//! Output names: derived from a URL or an `out=` field, always one safe path component,
//! and claimed once per run (two jobs with one output name are an input error).

use crate::job::Origin;

/// The file name for a URL: its last path segment, percent-decoded and sanitized.
pub fn from_url(url: &str) -> String {
    let _ = url;
    todo!("helper: input")
}

/// Checks an `out=` value: `Err(reason)` unless it is one plain file name.
pub fn check_out(value: &str) -> Result<String, String> {
    let _ = value;
    todo!("helper: input")
}

/// Remembers which names are taken (compactly: a hash of the name, not the name).
#[derive(Default)]
pub struct Claims {}

impl Claims {
    /// Claims `name` for `origin`; `Err(first)` names the origin that took it first.
    pub fn claim(&mut self, name: &str, origin: &Origin) -> Result<(), Origin> {
        let _ = (name, origin);
        todo!("helper: input")
    }
}
