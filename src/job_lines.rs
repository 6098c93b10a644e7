//! One line per job, written out in job order at the end of a run: `--failed FILE` (URL-list
//! lines of the jobs that failed) and `--write-checksums FILE` (manifest lines of the files
//! that landed). The lines wait in an unnamed spill file while the run goes, and memory
//! holds 16 bytes a line (job number, where its line is): a run of a million jobs stays
//! small, where holding each job's record took 150 to 280 bytes.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::Error;
use crate::job::JobId;

/// Lines in the order they came, with an index to put them in job order.
#[derive(Debug, Default)]
pub(crate) struct JobLines {
    spill: Option<File>,
    /// Bytes written to `spill`.
    end: u64,
    index: Vec<Entry>,
    /// The first error writing the spill: `write_to` reports it.
    error: Option<io::Error>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: JobId,
    /// Offset in the spill (high 40 bits: 1 TiB) and length (low 24 bits: 16 MiB; list
    /// lines are far shorter).
    at: u64,
}

const LEN_BITS: u32 = 24;

impl Entry {
    fn offset(self) -> u64 {
        self.at >> LEN_BITS
    }

    fn len(self) -> usize {
        (self.at & ((1 << LEN_BITS) - 1)) as usize
    }
}

impl JobLines {
    /// Adds job `id`'s line (with its newline).
    pub(crate) fn push(&mut self, id: JobId, line: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.append(id, line) {
            self.error = Some(e);
        }
    }

    fn append(&mut self, id: JobId, line: &[u8]) -> io::Result<()> {
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(crate::input::plan::tempfile_in_tmp()?),
        };
        let len = line.len() as u64;
        if len >= 1 << LEN_BITS || self.end >= 1 << (64 - LEN_BITS) {
            return Err(io::Error::other("line or list too large"));
        }
        spill.write_all_at(line, self.end)?;
        self.index.push(Entry {
            id,
            at: (self.end << LEN_BITS) | len,
        });
        self.end += len;
        Ok(())
    }

    /// Writes every line, in job order.
    pub(crate) fn write_to(mut self, out: &mut impl Write) -> io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let Some(spill) = self.spill else {
            return Ok(());
        };
        // Jobs mostly end in the order they started: often there is nothing to sort.
        if !self.index.is_sorted_by_key(|e| e.id) {
            self.index.sort_unstable_by_key(|e| e.id);
        }
        let mut line = Vec::new();
        for e in &self.index {
            line.resize(e.len(), 0);
            spill.read_exact_at(&mut line, e.offset())?;
            out.write_all(&line)?;
        }
        out.flush()
    }

    /// Writes every line, in job order, to a new file at `path` (replacing one there).
    pub(crate) fn write_file(self, path: &Path) -> Result<(), Error> {
        let written = File::create(path).and_then(|file| {
            let mut out = io::BufWriter::with_capacity(256 * 1024, file);
            self.write_to(&mut out)
        });
        written.map_err(|io_error| Error::WriteOutput {
            path: path.to_path_buf(),
            io_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_in_job_order() {
        let mut failed = JobLines::default();
        let mut out = Vec::new();
        JobLines::default().write_to(&mut out).unwrap();
        assert!(out.is_empty());
        for (id, line) in [(7, "g\n"), (2, "b b\n"), (5, "e\n"), (0, "a\n")] {
            failed.push(id, line.as_bytes());
        }
        assert_eq!(failed.index.len(), 4);
        failed.write_to(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\nb b\ne\ng\n");
    }
}
