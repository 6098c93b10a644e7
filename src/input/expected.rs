//! Expected digests by output name, from `-c` manifests, for jobs that come from arguments
//! and lists. Memory: 16 bytes a manifest line (a keyed hash of the name, and where the
//! line is); a job's digest is read back from its manifest line when the job asks, and the
//! name compared, so a hash collision can never attach another file's digest. A manifest
//! of a million lines so costs 16 MiB, where a map of names to digests took ~200 MiB.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::Digest;
use crate::error::Error;
use crate::input::manifest;
use crate::input::source::ManifestInput;
use crate::job::Origin;

/// Bits of an index entry's `at` that hold the byte offset of the line (256 TiB); the bits
/// above them say which manifest.
const OFFSET_BITS: u32 = 48;

/// The expected digests of every name the `-c` manifests list; a name listed twice takes
/// the later line, as a map would.
#[derive(Default)]
pub(crate) struct Expected {
    keys: RandomState,
    manifests: Vec<(Arc<File>, Arc<str>)>,
    /// (key of the name, manifest << OFFSET_BITS | offset of its line), sorted by key,
    /// lines of one key in manifest order.
    index: Vec<(u64, u64)>,
}

/// A manifest line that gives a name's digest.
pub(crate) struct Found {
    pub digest: Digest,
    at: u64,
}

impl Expected {
    /// Reads every manifest once, checking each line. A malformed line is an input error
    /// (`FILE:LINE: reason`), as in `manifest::parse`.
    pub(crate) fn load(manifests: &[ManifestInput]) -> Result<Expected, Error> {
        let mut expected = Expected::default();
        for (i, manifest) in manifests.iter().enumerate() {
            let (file, source) = match manifest {
                ManifestInput::File(path) => {
                    let file = File::open(path).map_err(|io_error| Error::ReadInput {
                        path: path.clone(),
                        io_error,
                    })?;
                    (Arc::new(file), Arc::from(path.to_string_lossy().as_ref()))
                }
                ManifestInput::Spool(file, name) => (Arc::clone(file), Arc::clone(name)),
            };
            expected.scan(i as u64, &file, &source)?;
            expected.manifests.push((file, source));
        }
        // Stable: the lines of one key stay in manifest order, the last one wins.
        expected.index.sort_by_key(|(key, _)| *key);
        Ok(expected)
    }

    fn scan(&mut self, manifest: u64, file: &Arc<File>, source: &Arc<str>) -> Result<(), Error> {
        let read_err = |io_error| Error::ReadInput {
            path: PathBuf::from(&**source),
            io_error,
        };
        let mut reader = BufReader::with_capacity(
            64 * 1024,
            ReadAt {
                file: Arc::clone(file),
                pos: 0,
            },
        );
        let (mut offset, mut line_no, mut buf) = (0u64, 0usize, Vec::new());
        let mut parser = manifest::LineParser::default();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(read_err)?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            match parser.parse(manifest::strip_line_end(&buf)) {
                Ok(Some((name, _, _))) => {
                    if let Some(name) = output_name(&name) {
                        let at = (manifest << OFFSET_BITS) | offset;
                        self.index.push((self.keys.hash_one(name), at));
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    return Err(Error::Input {
                        source: Arc::clone(source),
                        line: line_no,
                        reason,
                    });
                }
            }
            offset += n as u64;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The digest the manifests give for output name `name`, if any.
    pub(crate) fn get(&self, name: &str) -> Option<Found> {
        let key = self.keys.hash_one(name);
        let first = self.index.partition_point(|(k, _)| *k < key);
        let end = self.index.partition_point(|(k, _)| *k <= key);
        // The last line for the name wins; other names with the same key are skipped.
        self.index[first..end].iter().rev().find_map(|(_, at)| {
            let (listed, digest) = self.read_entry(*at).ok()?;
            (output_name(&listed) == Some(name)).then_some(Found { digest, at: *at })
        })
    }

    /// Where `found` came from, as `FILE:LINE` (counted now: only an error needs it).
    pub(crate) fn origin(&self, found: &Found) -> Origin {
        let (file, source) = &self.manifests[(found.at >> OFFSET_BITS) as usize];
        let offset = found.at & ((1 << OFFSET_BITS) - 1);
        let mut before = ReadAt {
            file: Arc::clone(file),
            pos: 0,
        }
        .take(offset);
        let mut line = 1;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = before.read(&mut buf) {
            line += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        Origin {
            source: Arc::clone(source),
            line,
        }
    }

    /// The name and digest of the line at `at`.
    fn read_entry(&self, at: u64) -> io::Result<(Vec<u8>, Digest)> {
        let (file, _) = &self.manifests[(at >> OFFSET_BITS) as usize];
        let mut reader = BufReader::with_capacity(
            4096,
            ReadAt {
                file: Arc::clone(file),
                pos: at & ((1 << OFFSET_BITS) - 1),
            },
        );
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        match manifest::parse_line(manifest::strip_line_end(&line)) {
            Ok(Some((name, digest, _))) => Ok((name, digest)),
            _ => Err(io::Error::other("manifest changed since it was read")),
        }
    }
}

/// A listed name as an output name: UTF-8, without a leading `./`.
fn output_name(listed: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(listed).ok()?;
    Some(name.strip_prefix("./").unwrap_or(name))
}

/// Reads a shared file from its own position (`pread`), leaving the file's offset alone.
struct ReadAt {
    file: Arc<File>,
    pos: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const A: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const B: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn manifest(text: &str) -> ManifestInput {
        let mut file = crate::input::source::tempfile_in_tmp().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        ManifestInput::Spool(Arc::new(file), Arc::from("m.sums"))
    }

    #[test]
    fn finds_digests_by_name_and_the_later_line_wins() {
        let first = manifest(&format!("# sums\n{A}  a.bin\n{A}  ./b.bin\n\n{A}  c.bin\n"));
        let second = manifest(&format!("SHA256 (c.bin) = {B}\n"));
        let expected = Expected::load(&[first, second]).unwrap();
        assert!(!expected.is_empty());
        let hex = |name: &str| expected.get(name).map(|f| f.digest.to_hex());
        assert_eq!(hex("a.bin").as_deref(), Some(A));
        assert_eq!(hex("b.bin").as_deref(), Some(A), "./ is dropped");
        assert_eq!(hex("c.bin").as_deref(), Some(B), "the later manifest wins");
        assert_eq!(hex("d.bin"), None);
        let found = expected.get("a.bin").unwrap();
        assert_eq!(expected.origin(&found).to_string(), "m.sums:2");
        let found = expected.get("c.bin").unwrap();
        assert_eq!(expected.origin(&found).to_string(), "m.sums:1");
    }

    #[test]
    fn a_malformed_line_is_an_input_error_with_its_line() {
        let bad = manifest(&format!("{A}  a.bin\nnot a line\n"));
        match Expected::load(&[bad]) {
            Err(Error::Input { line, .. }) => assert_eq!(line, 2),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted"),
        }
    }
}
