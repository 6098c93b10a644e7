//! `fetchpool hash FILE...`: digests computed on the hash pool, printed in argument order
//! byte for byte as sha256sum (or `--tag`) prints them. Wiring plus `Printer`, the one
//! place this command writes, until report.rs takes over the terminal.

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::cli::{AlgoArg, HashArgs};
use crate::digest::{Algo, Digest};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::{self, HashError, HashPool};
use crate::input::manifest::{self, Style};

pub(crate) fn run(args: HashArgs) -> Result<Exit, Error> {
    let algo = algo_of(args.algo);
    let style = if args.tag {
        Style::Bsd
    } else {
        Style::Gnu { binary: false }
    };
    let config = crate::settings::pool_config(args.hash_workers)?;
    let workers = config.workers.get();
    let pool = HashPool::spawn(config)?;

    let items = names(args.files).map(|name| match name {
        Ok(name) => {
            let path = PathBuf::from(OsString::from_vec(name.clone()));
            (Ok(name), Some((path, algo)))
        }
        Err(e) => (Err(e), None),
    });
    let mut printer = Printer {
        out: io::stdout().lock(),
        err: io::stderr(),
        style,
        json: args.json,
    };
    let mut status = Exit::Ok;
    for (name, answer) in hashpool::hash_in_order(&pool, workers, items) {
        let written = match (&name, answer) {
            (Ok(name), Some(result)) => printer.file(name, &result),
            (Err(e), _) => Ok(printer.names_unreadable(e)),
            (Ok(_), None) => unreachable!("every name is hashed"),
        };
        match written {
            Ok(exit) => status = exit::merge(status, exit),
            // `fetchpool hash * | head -1`: the reader is gone; stop quietly. Dropping
            // the pool (not shutting it down) kills the workers instead of finishing.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(status),
            Err(io_error) => return Err(stdout_error(io_error)),
        }
    }
    match printer.out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(status),
        Err(io_error) => return Err(stdout_error(io_error)),
        Ok(()) => {}
    }
    pool.shutdown();
    Ok(status)
}

fn stdout_error(io_error: io::Error) -> Error {
    Error::WriteOutput {
        path: PathBuf::from("standard output"),
        io_error,
    }
}

fn algo_of(arg: AlgoArg) -> Algo {
    match arg {
        AlgoArg::Sha224 => Algo::Sha224,
        AlgoArg::Sha256 => Algo::Sha256,
        AlgoArg::Sha384 => Algo::Sha384,
        AlgoArg::Sha512 => Algo::Sha512,
    }
}

/// The file names in argument order; `-` expands lazily to the lines of stdin (raw bytes,
/// blank lines skipped). A read error on stdin ends the list after yielding the error.
fn names(files: Vec<PathBuf>) -> impl Iterator<Item = io::Result<Vec<u8>>> {
    files.into_iter().flat_map(|file| {
        let from_stdin = file.as_os_str() == "-";
        let mut single = Some(file.into_os_string().into_vec());
        let mut stdin = from_stdin.then(|| io::stdin().lock());
        std::iter::from_fn(move || {
            let Some(reader) = stdin.as_mut() else {
                return single.take().map(Ok);
            };
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return None,
                    Ok(_) => {
                        let name = line.strip_suffix(b"\n").unwrap_or(&line);
                        if !name.is_empty() {
                            return Some(Ok(name.to_vec()));
                        }
                    }
                    Err(e) => {
                        stdin = None;
                        single = None;
                        return Some(Err(e));
                    }
                }
            }
        })
    })
}

/// Everything `hash` writes. Errors writing to `out` are returned (a closed pipe ends the
/// command); errors writing to `err` are ignored, as there is nowhere left to say them.
struct Printer<O: Write, E: Write> {
    out: O,
    err: E,
    style: Style,
    json: bool,
}

impl<O: Write, E: Write> Printer<O, E> {
    /// One file's line (or its error on stderr, like `sha256sum: NAME: reason`).
    fn file(&mut self, name: &[u8], result: &Result<Digest, HashError>) -> io::Result<Exit> {
        if self.json {
            let object = serde_json::json!({
                "path": String::from_utf8_lossy(name),
                "status": if result.is_ok() { "ok" } else { "failed" },
                "digest": result.as_ref().ok().map(Digest::to_string),
                "error": result.as_ref().err().map(HashError::to_string),
            });
            writeln!(self.out, "{object}")?;
        }
        match result {
            Ok(digest) => {
                if !self.json {
                    self.out
                        .write_all(&manifest::format_line(name, digest, self.style))?;
                }
                Ok(Exit::Ok)
            }
            Err(e) => {
                if !self.json {
                    let _ = writeln!(self.err, "fetchpool: {}: {e}", quote_name(name));
                }
                Ok(Exit::Failed)
            }
        }
    }

    fn names_unreadable(&mut self, e: &io::Error) -> Exit {
        let _ = writeln!(
            self.err,
            "fetchpool: standard input: {}",
            crate::error::plain_io(e)
        );
        Exit::Failed
    }
}

/// A file name as coreutils shows it in messages (gnulib `quotef`): bare when that is
/// unambiguous, else shell-quoted, with unprintable bytes as `$'\n'`. Used by verify too;
/// it moves to report.rs with the rest of the printing.
///
/// Matches sha256sum 9 in a UTF-8 locale for the usual cases; a name with both a `'` and an
/// unprintable byte is quoted validly but not byte-identically.
pub(super) fn quote_name(name: &[u8]) -> String {
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
    use super::*;

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

    fn printed(
        style: Style,
        json: bool,
        results: &[(&[u8], Result<Digest, HashError>)],
    ) -> (String, String, Exit) {
        let mut printer = Printer {
            out: Vec::new(),
            err: Vec::new(),
            style,
            json,
        };
        let mut status = Exit::Ok;
        for (name, result) in results {
            status = exit::merge(status, printer.file(name, result).unwrap());
        }
        (
            String::from_utf8(printer.out).unwrap(),
            String::from_utf8(printer.err).unwrap(),
            status,
        )
    }

    #[test]
    fn prints_lines_and_errors_like_sha256sum() {
        let empty = crate::digest::hash_reader(Algo::Sha256, &b""[..]).unwrap();
        let missing = HashError::Io {
            kind: io::ErrorKind::NotFound,
            message: "No such file or directory".into(),
        };
        let (out, err, status) = printed(
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
        let (out, err, _) = printed(
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
}
