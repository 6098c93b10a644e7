//! What `hash` and `verify` print, byte for byte as sha256sum (and `sha256sum -c`) print
//! it: GNU/BSD lines, `NAME: OK/FAILED`, coreutils' warnings, its quoting of names in
//! messages, and the JSON objects. Also verify's counts. Computes no digest.

use std::io::{self, Write};

use super::{Closed, Stdout};
use crate::digest::Digest;
use crate::exit::{self, Exit};
use crate::hashpool::HashError;
use crate::input::manifest::{self, Entry, Style};

/// Everything `hash` writes. Errors writing to `out` are returned (a closed pipe ends the
/// command); errors writing to `err` are ignored, as there is nowhere left to say them.
pub(crate) struct HashPrinter<O: Write = io::Stdout, E: Write = io::Stderr> {
    out: Stdout<O>,
    err: E,
    style: Style,
    end: LineEnd,
    json: bool,
}

/// How `hash` ends a line: as sha256sum does, or as `sha256sum -z` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// A newline; names holding a newline or backslash are escaped.
    Newline,
    /// A NUL byte; names are written as they are.
    Nul,
}

impl HashPrinter {
    pub(crate) fn new(style: Style, end: LineEnd, json: bool) -> HashPrinter {
        HashPrinter {
            out: Stdout::new(),
            err: io::stderr(),
            style,
            end,
            json,
        }
    }
}

impl<O: Write, E: Write> HashPrinter<O, E> {
    /// One file's line (or its error on stderr, like `sha256sum: NAME: reason`); whether
    /// it was hashed (the caller counts the failures for `exit::status`).
    pub(crate) fn file(
        &mut self,
        name: &[u8],
        result: &Result<Digest, HashError>,
    ) -> Result<bool, Closed> {
        if self.json {
            let object = serde_json::json!({
                "path": String::from_utf8_lossy(name),
                "status": if result.is_ok() { "ok" } else { "failed" },
                "digest": result.as_ref().ok().map(Digest::to_string),
                "error": result.as_ref().err().map(HashError::to_string),
            });
            self.out.line(&object.to_string())?;
        }
        match result {
            Ok(digest) => {
                if !self.json {
                    let line = match self.end {
                        LineEnd::Newline => manifest::format_line(name, digest, self.style),
                        LineEnd::Nul => manifest::format_line_nul(name, digest, self.style),
                    };
                    self.out.write(&line)?;
                }
                Ok(true)
            }
            Err(e) => {
                if !self.json {
                    let _ = writeln!(self.err, "fetchpool: {}: {e}", quote_name(name));
                }
                Ok(false)
            }
        }
    }

    /// With `--json`, the closing summary: files hashed and failed, and the exit code.
    pub(crate) fn summary(&mut self, ok: u64, failed: u64, exit: Exit) -> Result<(), Closed> {
        if !self.json {
            return Ok(());
        }
        let object = serde_json::json!({
            "summary": true,
            "ok": ok,
            "failed": failed,
            "exit_code": exit.code(),
        });
        self.out.line(&object.to_string())
    }

    /// Reading the `--files-from` list (`None` or `-`: standard input) failed: said once;
    /// the list ends there (and counts as a failure).
    pub(crate) fn names_unreadable(&mut self, list: Option<&str>, e: &io::Error) {
        let list = match list {
            None | Some("-") => "standard input",
            Some(path) => path,
        };
        let _ = writeln!(self.err, "fetchpool: {list}: {}", crate::error::plain_io(e));
    }
}

/// How one listed file fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Ok(Digest),
    Mismatch(Digest),
    /// Missing, unreadable, refused, or its worker died: the reason, for stderr.
    Unreadable(String),
    /// Missing, with `--ignore-missing`: not reported, not counted as a failure.
    IgnoredMissing,
}

/// How the files of one manifest (or of all) fared.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) ok: usize,
    pub(crate) mismatched: usize,
    pub(crate) unreadable: usize,
    pub(crate) ignored: usize,
}

impl Tally {
    pub(crate) fn count(&mut self, outcome: &Verdict) {
        match outcome {
            Verdict::Ok(_) => self.ok += 1,
            Verdict::Mismatch(_) => self.mismatched += 1,
            Verdict::Unreadable(_) => self.unreadable += 1,
            Verdict::IgnoredMissing => self.ignored += 1,
        }
    }

    pub(crate) fn add(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.mismatched += other.mismatched;
        self.unreadable += other.unreadable;
        self.ignored += other.ignored;
    }

    /// Like coreutils, `--ignore-missing` with nothing left to check is a failure.
    fn is_nothing_verified(&self, ignore_missing: bool) -> bool {
        ignore_missing && self.ok + self.mismatched + self.unreadable == 0
    }

    /// Counts these files into the run's exit tally: unreadable ones (and a manifest of
    /// which no file was verified) as failed, mismatched ones as unproven.
    pub(crate) fn count_into(&self, run: &mut exit::Tally, ignore_missing: bool) {
        let nothing_verified = self.is_nothing_verified(ignore_missing);
        run.failed += (self.unreadable + usize::from(nothing_verified)) as u64;
        run.unproven += self.mismatched as u64;
    }
}

/// What `verify` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyMode {
    /// `NAME: OK` and failures.
    Normal,
    /// `--quiet`: failures and warnings only.
    Quiet,
    /// `--status`: nothing at all.
    Status,
    /// `--json`: one object per file and a summary, on stdout only.
    Json,
}

/// Everything `verify` writes, in coreutils' words. Errors writing to `out` are returned
/// (a closed pipe ends the command); errors writing to `err` are ignored.
pub(crate) struct VerifyPrinter<O: Write = io::Stdout, E: Write = io::Stderr> {
    out: Stdout<O>,
    err: E,
    mode: VerifyMode,
}

impl VerifyPrinter {
    pub(crate) fn new(mode: VerifyMode) -> VerifyPrinter {
        VerifyPrinter {
            out: Stdout::new(),
            err: io::stderr(),
            mode,
        }
    }
}

impl<O: Write, E: Write> VerifyPrinter<O, E> {
    /// One listed file: `NAME: OK`, `NAME: FAILED`, or `NAME: FAILED open or read` with the
    /// reason on stderr; or its JSON object.
    pub(crate) fn file(&mut self, entry: &Entry, outcome: &Verdict) -> Result<(), Closed> {
        if self.mode == VerifyMode::Json {
            return self.json_file(entry, outcome);
        }
        let word: &[u8] = match (outcome, self.mode) {
            (Verdict::IgnoredMissing, _) => return Ok(()),
            // The reason goes to stderr even with --status, as coreutils writes it.
            (Verdict::Unreadable(reason), mode) => {
                let _ = writeln!(self.err, "fetchpool: {}: {reason}", quote_name(&entry.name));
                if mode == VerifyMode::Status {
                    return Ok(());
                }
                b"FAILED open or read"
            }
            (_, VerifyMode::Status) | (Verdict::Ok(_), VerifyMode::Quiet) => return Ok(()),
            (Verdict::Ok(_), _) => b"OK",
            (Verdict::Mismatch(_), _) => b"FAILED",
        };
        let mut line = Vec::with_capacity(entry.name.len() + 24);
        // sha256sum -c escapes a name only when it holds a newline (coreutils 9).
        if entry.name.contains(&b'\n') {
            line.push(b'\\');
            manifest::push_escaped(&mut line, &entry.name);
        } else {
            line.extend_from_slice(&entry.name);
        }
        line.extend_from_slice(b": ");
        line.extend_from_slice(word);
        line.push(b'\n');
        self.out.write(&line)
    }

    fn json_file(&mut self, entry: &Entry, outcome: &Verdict) -> Result<(), Closed> {
        let (status, digest, error) = match outcome {
            Verdict::IgnoredMissing => return Ok(()),
            Verdict::Ok(got) => ("ok", Some(got), None),
            Verdict::Mismatch(got) => ("mismatch", Some(got), None),
            Verdict::Unreadable(reason) => ("failed", None, Some(reason)),
        };
        let object = serde_json::json!({
            "path": String::from_utf8_lossy(&entry.name),
            "status": status,
            "digest": digest.map(Digest::to_string),
            "expected": entry.digest.to_string(),
            "error": error,
        });
        self.out.line(&object.to_string())
    }

    /// coreutils' per-manifest warnings, on stderr.
    pub(crate) fn manifest_done(&mut self, whole_name: &str, tally: &Tally, ignore_missing: bool) {
        if matches!(self.mode, VerifyMode::Status | VerifyMode::Json) {
            return;
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if tally.unreadable > 0 {
            let n = tally.unreadable;
            let _ = writeln!(
                self.err,
                "fetchpool: WARNING: {n} listed file{} could not be read",
                plural(n)
            );
        }
        if tally.mismatched > 0 {
            let n = tally.mismatched;
            let _ = writeln!(
                self.err,
                "fetchpool: WARNING: {n} computed checksum{} did NOT match",
                plural(n)
            );
        }
        if tally.is_nothing_verified(ignore_missing) {
            let _ = writeln!(self.err, "fetchpool: {whole_name}: no file was verified");
        }
    }

    /// With `--json`, the counts of every manifest together.
    /// The same shape as every command's summary: `"summary": true`, counts, exit code.
    pub(crate) fn summary(&mut self, total: &Tally, exit: Exit) -> Result<(), Closed> {
        if self.mode != VerifyMode::Json {
            return Ok(());
        }
        let object = serde_json::json!({
            "summary": true,
            "ok": total.ok,
            "mismatch": total.mismatched,
            "failed": total.unreadable,
            "ignored_missing": total.ignored,
            "exit_code": exit.code(),
        });
        self.out.line(&object.to_string())
    }
}

/// A file name as coreutils shows it in messages (gnulib `quotef`): bare when that is
/// unambiguous, else shell-quoted, with unprintable bytes as `$'\n'`.
///
/// Matches sha256sum 9 in a UTF-8 locale for the usual cases; a name with both a `'` and an
/// unprintable byte is quoted validly but not byte-identically.
pub(crate) fn quote_name(name: &[u8]) -> String {
    if name.is_empty() {
        return "''".into();
    }
    let pieces = printable_pieces(name);
    let has_unprintable = pieces.iter().any(|p| matches!(p, Piece::Raw(_)));
    let is_special = |(i, c): (usize, char)| match c {
        ' ' | '!' | '"' | '$' | '&' | '\'' | '(' | ')' | '*' | ':' | ';' | '<' | '=' | '>'
        | '?' | '[' | '\\' | '^' | '`' | '|' => true,
        '#' | '~' => i == 0,
        '{' | '}' => name.len() == 1,
        _ => false,
    };
    let chars = || {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Char(c) => Some(*c),
                Piece::Raw(_) => None,
            })
            .enumerate()
    };
    if !has_unprintable && !chars().any(is_special) {
        return String::from_utf8_lossy(name).into_owned();
    }
    // A `'` among otherwise harmless characters reads best in double quotes: "it's".
    let fits_double_quotes = |(i, c): (usize, char)| {
        c.is_alphanumeric() || " '%+,-./:@]_{}".contains(c) || (i == 0 && (c == '#' || c == '~'))
    };
    if !has_unprintable && name.contains(&b'\'') && chars().all(fits_double_quotes) {
        return format!("\"{}\"", String::from_utf8_lossy(name));
    }
    let mut out = String::from("'");
    let mut in_dollar = false;
    for piece in &pieces {
        match piece {
            Piece::Char(c) => {
                if in_dollar {
                    out.push_str("''");
                    in_dollar = false;
                }
                if *c == '\'' {
                    out.push_str("'\\''");
                } else {
                    out.push(*c);
                }
            }
            Piece::Raw(byte) => {
                if !in_dollar {
                    out.push_str("'$'");
                    in_dollar = true;
                }
                match byte {
                    0x07 => out.push_str("\\a"),
                    0x08 => out.push_str("\\b"),
                    0x0c => out.push_str("\\f"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    0x0b => out.push_str("\\v"),
                    _ => out.push_str(&format!("\\{byte:03o}")),
                }
            }
        }
    }
    out.push('\'');
    out
}

enum Piece {
    Char(char),
    Raw(u8),
}

/// Printable characters, and every other byte (invalid UTF-8, control characters) alone.
fn printable_pieces(name: &[u8]) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                let mut buf = [0u8; 4];
                pieces.extend(c.encode_utf8(&mut buf).bytes().map(Piece::Raw));
            } else {
                pieces.push(Piece::Char(c));
            }
        }
        pieces.extend(chunk.invalid().iter().copied().map(Piece::Raw));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::digest::Algo;
    use crate::job::Origin;

    /// Expected values are what sha256sum 9.1 printed for these names (C.UTF-8 locale).
    #[test]
    fn quotes_names_like_coreutils_messages() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"no such", "'no such'"),
            (b"it's", "\"it's\""),
            (b"it's a", "\"it's a\""),
            (b"it's:x", "\"it's:x\""),
            (b"it's(x", "'it'\\''s(x'"),
            (b"it's~", "'it'\\''s~'"),
            (b"~it's", "\"~it's\""),
            (b"nl\nx", "'nl'$'\\n''x'"),
            (b"\xff", "''$'\\377'"),
            (b"\x7f", "''$'\\177'"),
            (b"a\x01b", "'a'$'\\001''b'"),
            (b"a\tb\tc", "'a'$'\\t''b'$'\\t''c'"),
            (b"a\n\nb", "'a'$'\\n\\n''b'"),
            (b"\xc2\x80x", "''$'\\302\\200''x'"),
            (b"\xe9t\xe9", "''$'\\351''t'$'\\351'"),
            (b"a*b", "'a*b'"),
            (b"~x", "'~x'"),
            (b"x~", "x~"),
            (b"a#b", "a#b"),
            (b"#b", "'#b'"),
            (b"a=b", "'a=b'"),
            (b"a:b", "'a:b'"),
            (b"a{b}", "a{b}"),
            (b"{", "'{'"),
            (b"a]b", "a]b"),
            (b"a\\b", "'a\\b'"),
            ("é".as_bytes(), "é"),
            (b"", "''"),
        ];
        for (name, want) in cases {
            assert_eq!(
                quote_name(name),
                *want,
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
        assert_eq!(quote_name(b"a'b!"), "'a'\\''b!'");
    }

    fn hashed(
        style: Style,
        json: bool,
        results: &[(&[u8], Result<Digest, HashError>)],
    ) -> (String, String, Exit) {
        let mut printer = HashPrinter {
            out: Stdout::to(Vec::new()),
            err: Vec::new(),
            style,
            end: LineEnd::Newline,
            json,
        };
        let mut failed = 0;
        for (name, result) in results {
            failed += u64::from(!printer.file(name, result).unwrap());
        }
        (
            String::from_utf8(printer.out.into_inner()).unwrap(),
            String::from_utf8(printer.err).unwrap(),
            exit::status(&exit::Tally::items(failed, 0)),
        )
    }

    #[test]
    fn prints_lines_and_errors_like_sha256sum() {
        let empty = crate::digest::hash_reader(Algo::Sha256, &b""[..]).unwrap();
        let missing = HashError::Io {
            kind: io::ErrorKind::NotFound,
            message: "No such file or directory".into(),
        };
        let (out, err, status) = hashed(
            Style::Gnu { binary: false },
            false,
            &[(b"a b", Ok(empty.clone())), (b"gone x", Err(missing))],
        );
        assert_eq!(out, format!("{}  a b\n", empty.to_hex()));
        assert_eq!(err, "fetchpool: 'gone x': No such file or directory\n");
        assert_eq!(status, Exit::Failed);
    }

    #[test]
    fn prints_one_json_object_per_file() {
        let empty = crate::digest::hash_reader(Algo::Sha256, &b""[..]).unwrap();
        let died = HashError::WorkerDied("hash worker died".into());
        let (out, err, _) = hashed(
            Style::Bsd,
            true,
            &[(b"e", Ok(empty.clone())), (b"x", Err(died))],
        );
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["digest"], format!("sha256:{}", empty.to_hex()));
        assert_eq!(lines[0]["status"], "ok");
        assert_eq!(lines[1]["status"], "failed");
        assert_eq!(lines[1]["error"], "hash worker died");
        assert_eq!(err, "");
    }

    fn entry(name: &[u8]) -> Entry {
        Entry {
            origin: Origin {
                source: Arc::from("m"),
                line: 1,
            },
            name: name.to_vec(),
            digest: crate::digest::hash_reader(crate::digest::Algo::Sha256, &b""[..]).unwrap(),
            style: Style::Gnu { binary: false },
        }
    }

    fn verified(mode: VerifyMode, outcomes: &[(&[u8], Verdict)]) -> (String, String) {
        let mut printer = VerifyPrinter {
            out: Stdout::to(Vec::new()),
            err: Vec::new(),
            mode,
        };
        let mut tally = Tally::default();
        for (name, outcome) in outcomes {
            printer.file(&entry(name), outcome).unwrap();
            tally.count(outcome);
        }
        printer.manifest_done("m", &tally, false);
        printer.summary(&tally, Exit::Mismatch).unwrap();
        (
            String::from_utf8(printer.out.into_inner()).unwrap(),
            String::from_utf8(printer.err).unwrap(),
        )
    }

    fn some_digest() -> Digest {
        crate::digest::hash_reader(crate::digest::Algo::Sha256, &b"x"[..]).unwrap()
    }

    #[test]
    fn prints_ok_failed_and_warnings_like_sha256sum_c() {
        let (out, err) = verified(
            VerifyMode::Normal,
            &[
                (b"a", Verdict::Ok(some_digest())),
                (b"b\\c", Verdict::Mismatch(some_digest())),
                (
                    b"n\nl",
                    Verdict::Unreadable("No such file or directory".into()),
                ),
                (b"gone", Verdict::IgnoredMissing),
            ],
        );
        assert_eq!(out, "a: OK\nb\\c: FAILED\n\\n\\nl: FAILED open or read\n");
        assert_eq!(
            err,
            "fetchpool: 'n'$'\\n''l': No such file or directory\n\
             fetchpool: WARNING: 1 listed file could not be read\n\
             fetchpool: WARNING: 1 computed checksum did NOT match\n"
        );
    }

    #[test]
    fn status_prints_only_why_a_file_could_not_be_read() {
        let outcomes: &[(&[u8], Verdict)] = &[
            (b"a", Verdict::Ok(some_digest())),
            (b"b", Verdict::Mismatch(some_digest())),
            (
                b"c",
                Verdict::Unreadable("No such file or directory".into()),
            ),
        ];
        assert_eq!(
            verified(VerifyMode::Status, outcomes),
            (
                String::new(),
                "fetchpool: c: No such file or directory\n".to_string()
            )
        );
    }

    #[test]
    fn quiet_drops_ok_lines_and_status_drops_everything() {
        let outcomes: &[(&[u8], Verdict)] = &[
            (b"a", Verdict::Ok(some_digest())),
            (b"b", Verdict::Mismatch(some_digest())),
            (b"c", Verdict::Mismatch(some_digest())),
        ];
        let (out, err) = verified(VerifyMode::Quiet, outcomes);
        assert_eq!(out, "b: FAILED\nc: FAILED\n");
        assert_eq!(
            err,
            "fetchpool: WARNING: 2 computed checksums did NOT match\n"
        );
        assert_eq!(
            verified(VerifyMode::Status, outcomes),
            (String::new(), String::new())
        );
    }

    #[test]
    fn json_has_one_object_per_file_and_a_summary() {
        let (out, err) = verified(
            VerifyMode::Json,
            &[
                (b"a", Verdict::Mismatch(some_digest())),
                (b"b", Verdict::Unreadable("Is a directory".into())),
            ],
        );
        assert_eq!(err, "");
        let objects: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0]["status"], "mismatch");
        assert_eq!(objects[0]["digest"], some_digest().to_string());
        assert_eq!(objects[1]["error"], "Is a directory");
        assert_eq!(objects[2]["summary"], true);
        assert_eq!(objects[2]["mismatch"], 1);
        assert_eq!(objects[2]["failed"], 1);
        assert_eq!(objects[2]["exit_code"], 3);
    }

    #[test]
    fn mismatch_wins_over_unreadable_and_nothing_verified_fails() {
        let status = |tally: &Tally, ignore_missing: bool| {
            let mut run = exit::Tally::default();
            tally.count_into(&mut run, ignore_missing);
            exit::status(&run)
        };
        let tally = Tally {
            mismatched: 1,
            unreadable: 1,
            ..Tally::default()
        };
        assert_eq!(status(&tally, false), Exit::Mismatch);
        let all_missing = Tally {
            ignored: 2,
            ..Tally::default()
        };
        assert_eq!(status(&all_missing, true), Exit::Failed);
        let one_ok = Tally {
            ok: 1,
            ..all_missing
        };
        assert_eq!(status(&one_ok, true), Exit::Ok);
    }
}
