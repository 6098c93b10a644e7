//! Parses URL lists (`-i FILE`, stdin, arguments) into `JobSpec`s, one line at a time.
//! Knows nothing about HTTP or disks.
//!
//! Format: one URL a line; blank lines and lines starting with `#` are ignored; after the
//! URL, whitespace-separated fields: `out=NAME`, `sha224=HEX`, `sha256=HEX`, `sha384=HEX`,
//! `sha512=HEX`.

use std::io::BufRead;
use std::sync::Arc;

use crate::error::Error;
use crate::job::{JobSpec, Origin};

/// Parses one line. `Ok(None)` for blank lines and comments.
pub fn parse_line(line: &str, origin: Origin) -> Result<Option<JobSpec>, Error> {
    let _ = (line, origin);
    todo!("helper: input")
}

/// Streams a list: lazily yields one item per non-blank, non-comment line. Read errors
/// become `Error::ReadInput` items (with `source` as the path).
pub fn parse<R: BufRead>(
    reader: R,
    source: Arc<str>,
) -> impl Iterator<Item = Result<JobSpec, Error>> {
    let _ = (reader, source);
    std::iter::empty()
}
