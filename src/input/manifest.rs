//! Checksum manifests: GNU `HEX  NAME` / `HEX *NAME` / `HEX NAME` (with `\`-escaped names)
//! and BSD `SHA256 (NAME) = HEX`. Parse and write; names are raw bytes. Knows nothing about
//! opening the files a manifest names.
//!
//! The forms follow GNU coreutils 9 (`md5sum.c`): a line that starts with `\` has its name
//! escaped (`\\`, `\n`, `\r`); the algorithm of an untagged line follows its length.

use std::io::BufRead;
use std::sync::Arc;

use crate::digest::{Algo, Digest, DigestParseError};
use crate::error::Error;
use crate::job::Origin;

/// Which way a line was written, so it can be written back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `HEX  NAME` (`binary`: `HEX *NAME`).
    Gnu { binary: bool },
    /// `HEX NAME`: one space, as `md5 -r` writes ("BSD reversed" in coreutils), which
    /// `sha256sum -c` reads too.
    OneSpace,
    /// `ALGO (NAME) = HEX`.
    Bsd,
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub origin: Origin,
    /// The file name as raw bytes, unescaped.
    pub name: Vec<u8>,
    pub digest: Digest,
    pub style: Style,
}

/// Streams a manifest; blank lines and `#` comments are skipped. A malformed line is an
/// `Error::Input` item and a read failure an `Error::ReadInput` item; either ends the stream.
pub fn parse<R: BufRead>(
    mut reader: R,
    source: Arc<str>,
) -> impl Iterator<Item = Result<Entry, Error>> {
    let mut line_no = 0;
    let mut buf = Vec::new();
    let mut done = false;
    let mut parser = LineParser::default();
    std::iter::from_fn(move || {
        while !done {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => done = true,
                Ok(_) => {
                    line_no += 1;
                    let line = strip_line_end(&buf);
                    let origin = Origin {
                        source: Arc::clone(&source),
                        line: line_no,
                    };
                    match parser.parse(line) {
                        Ok(None) => {}
                        Ok(Some((name, digest, style))) => {
                            return Some(Ok(Entry {
                                origin,
                                name,
                                digest,
                                style,
                            }));
                        }
                        Err(reason) => {
                            done = true;
                            return Some(Err(Error::Input {
                                source: origin.source,
                                line: origin.line,
                                reason,
                            }));
                        }
                    }
                }
                Err(io_error) => {
                    done = true;
                    return Some(Err(Error::ReadInput {
                        path: source.to_string().into(),
                        io_error,
                    }));
                }
            }
        }
        None
    })
}

/// Drops a trailing `\n` and then a `\r` (manifests written on Windows).
pub(crate) fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(crate) type Parsed = (Vec<u8>, Digest, Style);

/// Parses one line on its own (without its line end), as the first line of a manifest.
/// `Ok(None)` for blank lines and comments; `Err` is the reason, for `FILE:LINE: reason`.
pub(crate) fn parse_line(line: &[u8]) -> Result<Option<Parsed>, String> {
    LineParser::default().parse(line)
}

/// Parses the lines of one manifest in order, remembering what coreutils remembers: once a
/// line used the one-space form `HEX NAME`, a later `HEX  NAME` line means a name that
/// starts with a space; once a line used `HEX  NAME` or `HEX *NAME`, a one-space line is
/// refused (coreutils: "to minimize security issues with attackers renaming files with
/// leading spaces", md5sum.c `split_3`).
#[derive(Debug, Default, Clone)]
pub(crate) struct LineParser {
    /// `Some(true)`: the manifest uses `HEX NAME`; `Some(false)`: `HEX  NAME`/`HEX *NAME`.
    one_space: Option<bool>,
}

impl LineParser {
    /// Parses the next line (without its line end); see `parse_line`.
    pub(crate) fn parse(&mut self, line: &[u8]) -> Result<Option<Parsed>, String> {
        // coreutils skips leading blanks too.
        let start = line
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(line.len());
        let line = &line[start..];
        if line.is_empty() || line[0] == b'#' {
            return Ok(None);
        }
        let (escaped, rest) = match line.strip_prefix(b"\\") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let hex_len = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let word_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        if hex_len > 0 && matches!(rest.get(hex_len), Some(b' ' | b'\t') | None) {
            parse_gnu(
                &rest[..hex_len],
                &rest[hex_len..],
                escaped,
                &mut self.one_space,
            )
            .map(Some)
        } else if word_len > 0 && is_bsd_open(&rest[word_len..]) {
            parse_bsd(&rest[..word_len], &rest[word_len..], escaped).map(Some)
        } else if word_len > 0 && matches!(rest.get(word_len), Some(b' ' | b'\t')) {
            Err(format!(
                "digest '{}' is not hexadecimal",
                String::from_utf8_lossy(&rest[..word_len])
            ))
        } else {
            Err("expected 'HEX  NAME', 'HEX *NAME' or 'SHA256 (NAME) = HEX'".into())
        }
    }
}

/// `(` or ` (` after a BSD tag.
fn is_bsd_open(after_tag: &[u8]) -> bool {
    after_tag.starts_with(b"(") || after_tag.starts_with(b" (")
}

/// `rest` starts right after the hex digits, with a blank (space or tab). As coreutils'
/// `split_3`: after that blank, a space or `*` gives the mode (text, binary) and the name
/// follows; anything else (or a name of one character) is the one-space form `HEX NAME`.
/// `one_space` is the form this manifest has used so far.
fn parse_gnu(
    hex: &[u8],
    rest: &[u8],
    escaped: bool,
    one_space: &mut Option<bool>,
) -> Result<Parsed, String> {
    let hex = std::str::from_utf8(hex).expect("hex digits are ASCII");
    let digest = Digest::from_hex_guess(hex).map_err(|e| e.to_string())?;
    let after = match rest {
        [b' ' | b'\t', after @ ..] if !after.is_empty() => after,
        _ => return Err("missing file name after the digest".into()),
    };
    let (name, style) = if after.len() == 1 || !matches!(after[0], b' ' | b'*') {
        if *one_space == Some(false) {
            return Err(
                "one space between the digest and the name, after lines with two \
                 (sha256sum -c refuses the mix too)"
                    .into(),
            );
        }
        *one_space = Some(true);
        (after, Style::OneSpace)
    } else if *one_space == Some(true) {
        // The mode character is part of the name in a one-space manifest.
        (after, Style::OneSpace)
    } else {
        *one_space = Some(false);
        let binary = after[0] == b'*';
        (&after[1..], Style::Gnu { binary })
    };
    let name = unescape_if(escaped, name)?;
    Ok((name, digest, style))
}

/// `rest` starts right after the tag: ` (NAME) = HEX`.
fn parse_bsd(tag: &[u8], rest: &[u8], escaped: bool) -> Result<Parsed, String> {
    let tag = String::from_utf8_lossy(tag);
    let algo = Algo::ALL
        .into_iter()
        .find(|a| a.tag() == tag)
        .ok_or_else(|| {
            format!("unsupported algorithm '{tag}' (expected SHA224, SHA256, SHA384 or SHA512)")
        })?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let rest = rest.strip_prefix(b"(").expect("checked by is_bsd_open");
    // Like coreutils, the name ends at the last ')': names may contain ')' themselves.
    let close = rest
        .iter()
        .rposition(|&b| b == b')')
        .ok_or("missing ') = HEX' after the file name")?;
    let (name, after) = (&rest[..close], &rest[close + 1..]);
    let after = trim_blanks(after);
    let hex = after
        .strip_prefix(b"=")
        .map(trim_blanks)
        .ok_or("expected ' = HEX' after the file name")?;
    if name.is_empty() {
        return Err("missing file name between the parentheses".into());
    }
    let hex = std::str::from_utf8(hex).map_err(|_| DigestParseError::NotHex.to_string())?;
    if hex.is_empty() {
        return Err("missing digest after '='".into());
    }
    let digest = Digest::from_hex(algo, hex).map_err(|e| e.to_string())?;
    let name = unescape_if(escaped, name)?;
    Ok((name, digest, Style::Bsd))
}

fn trim_blanks(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    &s[start..]
}

fn unescape_if(escaped: bool, name: &[u8]) -> Result<Vec<u8>, String> {
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_vec()
    };
    if name.contains(&0) {
        return Err("file name contains a NUL byte".into());
    }
    Ok(name)
}

/// Undoes `\\`, `\n` and `\r`, the only escapes coreutils writes (or accepts).
fn unescape(name: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => {
                return Err(format!(
                    "unknown escape '\\{}' in file name (only \\\\, \\n and \\r)",
                    String::from_utf8_lossy(&[other])
                ));
            }
            None => return Err("file name ends with a lone backslash".into()),
        }
    }
    Ok(out)
}

/// True when sha256sum writes this name escaped (with a leading `\` on the line).
pub(crate) fn needs_escape(name: &[u8]) -> bool {
    name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r'))
}

/// Appends `name` with `\\`, `\n` and `\r` escaped (the caller adds the leading `\`).
pub(crate) fn push_escaped(out: &mut Vec<u8>, name: &[u8]) {
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Writes one line (with its newline) the way sha256sum / `sha256sum --tag` would.
pub fn format_line(name: &[u8], digest: &Digest, style: Style) -> Vec<u8> {
    format_record(name, digest, style, needs_escape(name), b'\n')
}

/// Writes one record the way `sha256sum -z` (or `--tag -z`) would: the name as it is, never
/// escaped, and a NUL byte at the end.
pub fn format_line_nul(name: &[u8], digest: &Digest, style: Style) -> Vec<u8> {
    format_record(name, digest, style, false, b'\0')
}

fn format_record(name: &[u8], digest: &Digest, style: Style, escape: bool, end: u8) -> Vec<u8> {
    let mut line = Vec::with_capacity(name.len() + digest.as_bytes().len() * 2 + 16);
    if escape {
        line.push(b'\\');
    }
    let push_name = |line: &mut Vec<u8>| {
        if escape {
            push_escaped(line, name);
        } else {
            line.extend_from_slice(name);
        }
    };
    match style {
        Style::Gnu { binary } => {
            line.extend_from_slice(digest.to_hex().as_bytes());
            line.extend_from_slice(if binary { b" *" } else { b"  " });
            push_name(&mut line);
        }
        Style::OneSpace => {
            line.extend_from_slice(digest.to_hex().as_bytes());
            line.push(b' ');
            push_name(&mut line);
        }
        Style::Bsd => {
            line.extend_from_slice(digest.algo().tag().as_bytes());
            line.extend_from_slice(b" (");
            push_name(&mut line);
            line.extend_from_slice(b") = ");
            line.extend_from_slice(digest.to_hex().as_bytes());
        }
    }
    line.push(end);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const E3: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse_all(text: &[u8]) -> Vec<Result<Entry, Error>> {
        parse(text, Arc::from("m.txt")).collect()
    }

    fn one(text: &[u8]) -> Entry {
        let mut all = parse_all(text);
        assert_eq!(all.len(), 1, "{:?}", String::from_utf8_lossy(text));
        all.remove(0).unwrap()
    }

    fn reason(text: &[u8]) -> (usize, String) {
        match parse_all(text).pop() {
            Some(Err(Error::Input { line, reason, .. })) => (line, reason),
            other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn reads_gnu_text_and_binary_lines() {
        let e = one(format!("{E3}  a file.txt\n").as_bytes());
        assert_eq!(e.name, b"a file.txt");
        assert_eq!(e.style, Style::Gnu { binary: false });
        assert_eq!(e.digest.algo(), Algo::Sha256);
        assert_eq!(e.origin.line, 1);
        let e = one(format!("{E3} *b.bin").as_bytes());
        assert_eq!(
            (e.name.as_slice(), e.style),
            (&b"b.bin"[..], Style::Gnu { binary: true })
        );
    }

    #[test]
    fn reads_one_space_lines_as_sha256sum_c_does() {
        let e = one(format!("{E3} a file").as_bytes());
        assert_eq!(
            (e.name.as_slice(), e.style),
            (&b"a file"[..], Style::OneSpace)
        );
        let e = one(format!("{E3}\tb").as_bytes());
        assert_eq!(e.name, b"b");
        let e = one(format!("{E3}\t*c").as_bytes());
        assert_eq!(e.name, b"c");
        // A one-character name after two spaces: coreutils reads it as ` `.
        assert_eq!(one(format!("{E3}  ").as_bytes()).name, b" ");
        // Once one-space, a second space or '*' belongs to the name.
        let all = parse_all(format!("{E3} a\n{E3}  b\n{E3} *c\n").as_bytes());
        let names: Vec<Vec<u8>> = all.into_iter().map(|e| e.unwrap().name).collect();
        assert_eq!(names, [&b"a"[..], b" b", b"*c"]);
        // After a two-space line, a one-space line is refused, as coreutils does.
        let (line, why) = reason(format!("{E3}  a\n{E3} b\n").as_bytes());
        assert_eq!(line, 2);
        assert!(why.starts_with("one space between the digest"), "{why}");
    }

    #[test]
    fn reads_escaped_gnu_names() {
        let e = one(format!("\\{E3}  new\\nline \\\\ back\\rcr\n").as_bytes());
        assert_eq!(e.name, b"new\nline \\ back\rcr");
    }

    #[test]
    fn keeps_backslashes_of_unescaped_lines() {
        assert_eq!(one(format!("{E3}  a\\nb").as_bytes()).name, b"a\\nb");
    }

    #[test]
    fn reads_bsd_lines_and_names_with_parentheses() {
        let sha512 = "a".repeat(128);
        let e = one(format!("SHA512 (x (1).iso) = {sha512}\r\n").as_bytes());
        assert_eq!(e.name, b"x (1).iso");
        assert_eq!((e.digest.algo(), e.style), (Algo::Sha512, Style::Bsd));
        let e = one(format!("\\SHA256 (a\\nb) = {E3}").as_bytes());
        assert_eq!(e.name, b"a\nb");
        let e = one(format!("SHA256(tight)={E3}").as_bytes());
        assert_eq!(e.name, b"tight");
    }

    #[test]
    fn skips_comments_blank_lines_and_counts_them() {
        let text = format!("# made by hand\n\n   \n{E3}  x\n");
        let e = one(text.as_bytes());
        assert_eq!(e.origin.line, 4);
    }

    #[test]
    fn reads_non_utf8_names_as_bytes() {
        let mut text = format!("{E3}  ").into_bytes();
        text.extend_from_slice(b"\xff\xfe.bin\n");
        assert_eq!(one(&text).name, b"\xff\xfe.bin");
    }

    #[test]
    fn guesses_each_algorithm_from_the_hex_length() {
        for algo in Algo::ALL {
            let hex = "0".repeat(algo.len_bytes() * 2);
            assert_eq!(one(format!("{hex}  f").as_bytes()).digest.algo(), algo);
        }
    }

    #[test]
    fn explains_each_kind_of_bad_line() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"abc  x",
                "no SHA-2 digest has 3 hex digits (expected 56, 64, 96 or 128)",
            ),
            (b"xyz  name", "digest 'xyz' is not hexadecimal"),
            (
                b"MD5 (x) = d41d8cd98f00b204e9800998ecf8427e",
                "unsupported algorithm 'MD5' (expected SHA224, SHA256, SHA384 or SHA512)",
            ),
            (
                b"SHA256 (x) = abc",
                "sha256 digest must have 64 hex digits, not 3",
            ),
            (b"SHA256 (x) = zz", "digest is not hexadecimal"),
            (b"SHA256 (x = 00", "missing ') = HEX' after the file name"),
            (b"SHA256 (x) 00", "expected ' = HEX' after the file name"),
            (
                b"SHA256 () = 00",
                "missing file name between the parentheses",
            ),
            (
                b"!!",
                "expected 'HEX  NAME', 'HEX *NAME' or 'SHA256 (NAME) = HEX'",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                reason(line),
                (1, want.to_string()),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        let gnu_cases = [
            (E3.to_string(), "missing file name after the digest"),
            (format!("{E3} "), "missing file name after the digest"),
            (
                format!("\\{E3}  a\\tb"),
                "unknown escape '\\t' in file name (only \\\\, \\n and \\r)",
            ),
            (
                format!("\\{E3}  a\\"),
                "file name ends with a lone backslash",
            ),
            (format!("{E3}  a\0b"), "file name contains a NUL byte"),
        ];
        for (line, want) in gnu_cases {
            assert_eq!(reason(line.as_bytes()), (1, want.to_string()), "{line:?}");
        }
    }

    #[test]
    fn stops_at_the_first_bad_line_with_its_number() {
        let text = format!("{E3}  a\n# fine\nnope\n{E3}  b\n");
        let all = parse_all(text.as_bytes());
        assert_eq!(all.len(), 2);
        let Err(e) = &all[1] else { panic!("{all:?}") };
        assert_eq!(
            e.to_string(),
            "m.txt:3: expected 'HEX  NAME', 'HEX *NAME' or 'SHA256 (NAME) = HEX'"
        );
    }

    #[test]
    fn writes_lines_like_sha256sum() {
        let d = Digest::from_hex_guess(E3).unwrap();
        let gnu = Style::Gnu { binary: false };
        assert_eq!(
            format_line(b"a b", &d, gnu),
            format!("{E3}  a b\n").into_bytes()
        );
        assert_eq!(
            format_line(b"x", &d, Style::Gnu { binary: true }),
            format!("{E3} *x\n").into_bytes()
        );
        assert_eq!(
            format_line(b"a\\b\nc\rd", &d, gnu),
            format!("\\{E3}  a\\\\b\\nc\\rd\n").into_bytes()
        );
        assert_eq!(
            format_line(b"n\nl", &d, Style::Bsd),
            format!("\\SHA256 (n\\nl) = {E3}\n").into_bytes()
        );
        assert_eq!(
            format_line(b"a b", &d, Style::OneSpace),
            format!("{E3} a b\n").into_bytes()
        );
        assert_eq!(
            format_line_nul(b"n\nl\\", &d, gnu),
            format!("{E3}  n\nl\\\0").into_bytes()
        );
    }

    /// format(parse(x)) == x for every fixture that is meant to parse.
    #[test]
    fn formatting_parsed_fixtures_gives_back_the_same_bytes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/manifests");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file_name.starts_with("roundtrip-") {
                continue;
            }
            let text = std::fs::read(&path).unwrap();
            let mut again = Vec::new();
            for entry in parse(&text[..], Arc::from(file_name.as_str())) {
                let entry = entry.unwrap();
                again.extend(format_line(&entry.name, &entry.digest, entry.style));
            }
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&text),
                "{file_name}"
            );
            assert_eq!(again, text, "{file_name}");
            checked += 1;
        }
        assert!(checked >= 3, "only {checked} round-trip fixtures found");
    }
}
