//! What a `.part` file needs to be resumed safely: the validator (strong ETag, else
//! Last-Modified) of the response it came from, kept in a small sidecar
//! `NAME.part.fetchpool`, and the parsing of `Content-Range`. A resume sends `Range` with
//! `If-Range`, so it can never splice two versions of a resource (RFC 9110 §13.1.5).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::{Algo, hash_reader};

/// Bodies smaller than this are not worth a sidecar: re-fetching them costs less than the
/// extra file per download (which matters at thousands of small files per second).
pub(crate) const MIN_RESUMABLE_BYTES: u64 = 1024 * 1024;

const MAGIC: &str = "fetchpool-part 1";

/// What was saved when the `.part` began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    /// sha256 of the URL: identifies the resource without writing secrets to disk.
    pub url_id: String,
    /// Sent back as `If-Range`.
    pub validator: String,
}

pub(crate) fn sidecar_path(part: &Path) -> PathBuf {
    let mut s = part.as_os_str().to_owned();
    s.push(".fetchpool");
    PathBuf::from(s)
}

pub(crate) fn url_id(url: &str) -> String {
    hash_reader(Algo::Sha256, url.as_bytes())
        .map(|d| d.to_hex())
        .unwrap_or_default()
}

/// The validator to resume with: a strong ETag, else Last-Modified. Weak ETags cannot be
/// used with If-Range.
pub(crate) fn validator(etag: Option<&str>, last_modified: Option<&str>) -> Option<String> {
    match etag {
        Some(tag) if !tag.starts_with("W/") && !tag.is_empty() => Some(tag.to_string()),
        _ => last_modified.filter(|v| !v.is_empty()).map(str::to_string),
    }
}

/// A `.part`'s sidecar as this run knows it: read once per file, then kept in step with
/// every save and discard. The common case (no sidecar) so costs one failed open and no
/// unlink of a name that is not there, which counts at thousands of small files a second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sidecar {
    /// What it says, when it is usable.
    pub saved: Option<Saved>,
    /// A sidecar file is there (usable or not), so forgetting it means removing it.
    pub on_disk: bool,
    /// This run's advisory lock on the `.part` (see `download::PartLock`): kept through
    /// `discard`, released when the sidecar is dropped, after the file has landed.
    pub lock: Option<std::sync::Arc<super::PartLock>>,
    /// The `.part` is another process's (its lock is held elsewhere): this run neither
    /// resumes, removes nor rewrites it, so it counts as resumable.
    pub foreign: bool,
}

impl Sidecar {
    pub(crate) fn read(part: &Path) -> Sidecar {
        match fs::read_to_string(sidecar_path(part)) {
            Ok(text) => Sidecar {
                saved: parse(&text),
                on_disk: true,
                ..Sidecar::default()
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Sidecar::default(),
            // Unreadable (not UTF-8, no permission): useless, but there is a file to remove.
            Err(_) => Sidecar {
                saved: None,
                on_disk: true,
                ..Sidecar::default()
            },
        }
    }

    /// Records the validator a fresh `.part` begins with. A failed write leaves no
    /// resumable state (the partial sidecar, if any, is still removed later).
    pub(crate) fn save(&mut self, part: &Path, saved: Saved) {
        let text = format!("{MAGIC}\n{}\n{}\n", saved.url_id, saved.validator);
        let written = fs::write(sidecar_path(part), text).is_ok();
        self.on_disk = true;
        self.saved = written.then_some(saved);
    }

    /// Forgets how to resume (the `.part`'s bytes stay until removed or overwritten).
    pub(crate) fn discard(&mut self, part: &Path) {
        if self.foreign {
            return;
        }
        if self.on_disk {
            let _ = fs::remove_file(sidecar_path(part));
        }
        *self = Sidecar {
            lock: self.lock.take(),
            ..Sidecar::default()
        };
    }

    /// True when a later run can resume the `.part` (or another process owns it).
    pub(crate) fn is_resumable(&self) -> bool {
        self.saved.is_some() || self.foreign
    }
}

fn parse(text: &str) -> Option<Saved> {
    let (_, url_id, validator) = parse_head(&mut text.lines(), &[MAGIC])?;
    Some(Saved { url_id, validator })
}

/// The head every sidecar starts with: its magic line (one of `magics`, the versions a
/// reader knows), the URL's id (64 hex digits) and the validator, each on a line of its
/// own. Gives which magic it was (its index in `magics`), the id and the validator; `None`
/// for anything else.
pub(crate) fn parse_head<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    magics: &[&str],
) -> Option<(usize, String, String)> {
    let first = lines.next()?;
    let version = magics.iter().position(|m| *m == first)?;
    let url_id = lines.next()?.to_string();
    let validator = lines.next()?.to_string();
    // Header values cannot contain line breaks; an empty validator is no validator.
    (!validator.is_empty() && url_id.len() == 64).then_some((version, url_id, validator))
}

/// A parsed `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: Option<u64>,
}

pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let (start, end) = range.split_once('-')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(ContentRange { start, end, total })
}

/// `Content-Range: bytes */TOTAL` of a 416 answer: the full length.
pub(crate) fn unsatisfied_total(value: &str) -> Option<u64> {
    value.trim().strip_prefix("bytes */")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range_and_rejects_nonsense() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some(ContentRange {
                start: 100,
                end: 199,
                total: Some(200)
            })
        );
        assert_eq!(
            parse_content_range("bytes 0-0/*"),
            Some(ContentRange {
                start: 0,
                end: 0,
                total: None
            })
        );
        assert_eq!(parse_content_range("bytes 100-199/150"), None);
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(unsatisfied_total("bytes */1234"), Some(1234));
        assert_eq!(unsatisfied_total("bytes 0-1/2"), None);
    }

    #[test]
    fn prefers_a_strong_etag_and_never_a_weak_one() {
        assert_eq!(
            validator(Some("\"abc\""), Some("d")),
            Some("\"abc\"".into())
        );
        assert_eq!(validator(Some("W/\"abc\""), Some("d")), Some("d".into()));
        assert_eq!(validator(Some("W/\"abc\""), None), None);
        assert_eq!(validator(None, None), None);
    }

    #[test]
    fn sidecar_round_trips_and_rejects_foreign_text() {
        let saved = Saved {
            url_id: url_id("http://h/x"),
            validator: "\"v1\"".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("x.part");
        assert_eq!(Sidecar::read(&part), Sidecar::default());
        Sidecar::default().save(&part, saved.clone());
        let mut found = Sidecar::read(&part);
        assert_eq!(found.saved, Some(saved));
        assert!(found.on_disk && found.is_resumable());
        found.discard(&part);
        assert!(!sidecar_path(&part).exists());
        assert_eq!(Sidecar::read(&part), Sidecar::default());
        fs::write(sidecar_path(&part), "junk").unwrap();
        let junk = Sidecar::read(&part);
        assert!(junk.on_disk && !junk.is_resumable());
        assert_eq!(parse("something else\n"), None);
        assert_eq!(parse(&format!("{MAGIC}\n{}\n\n", "0".repeat(64))), None);
    }
}
