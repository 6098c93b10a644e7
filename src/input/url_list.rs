//! Parses URL lists (`-i FILE`, stdin, arguments) into `JobSpec`s, one line at a time.
//! Knows nothing about HTTP or disks, and leaves duplicate names to `names::Claims`.
//!
//! Format: one URL a line; blank lines and lines starting with `#` are ignored; after the
//! URL, whitespace-separated fields: `out=NAME`, `sha224=HEX`, `sha256=HEX`, `sha384=HEX`,
//! `sha512=HEX`.

use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::{Algo, Digest};
use crate::error::Error;
use crate::input::names;
use crate::job::{JobSpec, Origin};

/// Longest line we hold in memory. A URL list has short lines; a file without newlines
/// (a binary given by mistake) must not grow one buffer without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Longest token quoted back in a message; the rest is elided with `…`.
const MAX_QUOTED_CHARS: usize = 160;

const EXPECTED_FIELDS: &str = "out=, sha224=, sha256=, sha384=, sha512=";

/// Writes a job back as a list line that `parse_line` reads as the same job: the URL, then
/// `out=` when the name is not the one the URL gives, then the digest field.
pub fn format_line(job: &JobSpec) -> String {
    let mut line = job.url.clone();
    if job.name != names::from_url(&job.url) {
        line += &format!(" out={}", job.name);
    }
    if let Some(digest) = &job.expect {
        line += &format!(" {}={}", digest.algo(), digest.to_hex());
    }
    line
}

/// Parses one line. `Ok(None)` for blank lines and comments.
pub fn parse_line(line: &str, origin: Origin) -> Result<Option<JobSpec>, Error> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    match parse_fields(line) {
        Ok(Fields { url, out, expect }) => Ok(Some(JobSpec {
            name: out.unwrap_or_else(|| names::from_url(url)),
            url: url.to_string(),
            expect,
            origin,
        })),
        Err(reason) => Err(Error::Input {
            source: origin.source,
            line: origin.line,
            reason,
        }),
    }
}

/// What one non-blank line says, borrowed from it.
struct Fields<'a> {
    url: &'a str,
    out: Option<String>,
    expect: Option<Digest>,
}

fn parse_fields(line: &str) -> Result<Fields<'_>, String> {
    let mut tokens = line.split_whitespace();
    let url = tokens.next().unwrap_or_default();
    check_url(url)?;
    let mut fields = Fields {
        url,
        out: None,
        expect: None,
    };
    // The key of the digest field already seen, to name both in the error.
    let mut digest_key: Option<&str> = None;
    for token in tokens {
        let Some((key, value)) = token.split_once('=') else {
            return Err(format!(
                "expected key=value after the URL, got {} (write a space in a URL as %20)",
                quote(token)
            ));
        };
        match key {
            "out" => {
                if fields.out.is_some() {
                    return Err("repeated field 'out='".to_string());
                }
                let name = names::validate_out_name(value)
                    .map_err(|reason| format!("bad out= value {}: {reason}", quote(value)))?;
                fields.out = Some(name);
            }
            _ => {
                let Some(algo) = Algo::ALL.into_iter().find(|a| a.name() == key) else {
                    return Err(format!(
                        "unknown field {} (expected {EXPECTED_FIELDS})",
                        quote(&format!("{key}="))
                    ));
                };
                match digest_key {
                    Some(first) if first == key => {
                        return Err(format!("repeated field '{key}='"));
                    }
                    // One JobSpec holds one expected digest; picking one silently would
                    // hide a list that disagrees with itself.
                    Some(first) => {
                        return Err(format!(
                            "more than one digest field ('{first}=' and '{key}=')"
                        ));
                    }
                    None => digest_key = Some(key),
                }
                let digest = Digest::from_hex(algo, value)
                    .map_err(|e| format!("bad {key}= value {}: {e}", quote(value)))?;
                fields.expect = Some(digest);
            }
        }
    }
    Ok(fields)
}

/// Accepts an absolute `http://` or `https://` URL with a host; the URL itself is kept as
/// given (never re-encoded), so here it is only checked, not parsed into parts.
fn check_url(url: &str) -> Result<(), String> {
    let rest = strip_prefix_ignore_case(url, "http://")
        .or_else(|| strip_prefix_ignore_case(url, "https://"))
        .ok_or_else(|| format!("not an http(s) URL: {}", quote(url)))?;
    // Checked before the host so that a control character is named as such, and never
    // reaches a request line or a terminal.
    if url.contains(char::is_control) {
        return Err(format!("URL contains a control character: {}", quote(url)));
    }
    // The request line is ASCII (RFC 9112 §3.2); we do not re-encode, so say it here
    // rather than fail later, per file, in the HTTP client.
    if !url.is_ascii() {
        return Err(format!(
            "URL contains non-ASCII characters (percent-encode them): {}",
            quote(url)
        ));
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if host_port.starts_with('[') {
        // An IPv6 literal: `[::1]:8080`.
        match host_port.find(']') {
            Some(close) => (&host_port[..=close], &host_port[close + 1..]),
            None => return Err(format!("URL has a bad IPv6 host: {}", quote(url))),
        }
    } else {
        match host_port.find(':') {
            Some(colon) => (&host_port[..colon], &host_port[colon..]),
            None => (host_port, ""),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("URL has no host: {}", quote(url)));
    }
    if let Some(digits) = port.strip_prefix(':') {
        if digits.parse::<u16>().is_err() {
            return Err(format!("URL has a bad port: {}", quote(url)));
        }
    } else if !port.is_empty() {
        return Err(format!("URL has a bad IPv6 host: {}", quote(url)));
    }
    Ok(())
}

/// Schemes are case-insensitive (RFC 3986 §3.1): `HTTPS://h/` is fine.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `'token'` for a message: control characters escaped (a list line must not be able to
/// drive the terminal) and very long tokens shortened, so the message stays one line.
fn quote(token: &str) -> String {
    let mut out = String::with_capacity(token.len() + 2);
    out.push('\'');
    for (i, c) in token.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Streams a list: lazily yields one item per non-blank, non-comment line. Read errors
/// become `Error::ReadInput` items (with `source` as the path) and end the stream.
pub fn parse<R: BufRead>(
    reader: R,
    source: Arc<str>,
) -> impl Iterator<Item = Result<JobSpec, Error>> {
    Specs {
        reader,
        source,
        line: 0,
        buf: Vec::new(),
        done: false,
    }
}

/// The iterator behind `parse`: one reused line buffer, so memory stays flat however
/// long the list.
struct Specs<R> {
    reader: R,
    source: Arc<str>,
    /// Number of the line last read (1-based once reading starts).
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Specs<R> {
    fn input_error(&self, reason: impl Into<String>) -> Error {
        Error::Input {
            source: Arc::clone(&self.source),
            line: self.line,
            reason: reason.into(),
        }
    }

    /// Reads the next line into `buf` without its `\n` / `\r\n`: `Ok(None)` at the end,
    /// `Ok(Some(false))` for a line longer than `MAX_LINE_BYTES` (read to its end, not kept).
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            return Ok(Some(true));
        }
        if self.buf.len() <= MAX_LINE_BYTES {
            return Ok(Some(true)); // the last line, without a newline
        }
        skip_line(&mut self.reader)?;
        Ok(Some(false))
    }
}

/// Consumes input up to and including the next `\n` without storing it.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = available.len();
                reader.consume(len);
            }
        }
    }
}

impl<R: BufRead> Iterator for Specs<R> {
    type Item = Result<JobSpec, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let fits = match self.read_line() {
                Ok(Some(fits)) => fits,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(io_error) => {
                    self.done = true;
                    return Some(Err(Error::ReadInput {
                        path: PathBuf::from(&*self.source),
                        io_error,
                    }));
                }
            };
            if !fits {
                return Some(Err(
                    self.input_error(format!("line is longer than {MAX_LINE_BYTES} bytes"))
                ));
            }
            let mut bytes = &self.buf[..];
            // Editors on Windows may start a UTF-8 file with a byte-order mark.
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Some(Err(self.input_error("line is not valid UTF-8")));
            };
            let origin = Origin {
                source: Arc::clone(&self.source),
                line: self.line,
            };
            match parse_line(text, origin) {
                Ok(None) => continue,
                Ok(Some(spec)) => return Some(Ok(spec)),
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn origin(line: usize) -> Origin {
        Origin {
            source: "urls.txt".into(),
            line,
        }
    }

    fn ok(line: &str) -> JobSpec {
        parse_line(line, origin(7))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .unwrap_or_else(|| panic!("{line:?}: skipped"))
    }

    /// The full message, as `run()` would print it after `fetchpool: `.
    fn err(line: &str) -> String {
        match parse_line(line, origin(7)) {
            Err(e) => e.to_string(),
            Ok(x) => panic!("{line:?}: expected an error, got {x:?}"),
        }
    }

    #[test]
    fn skips_blank_lines_and_comments() {
        for line in [
            "",
            "   ",
            "\t",
            "# a comment",
            "   # indented comment",
            "#http://h/x",
        ] {
            assert_eq!(parse_line(line, origin(1)).unwrap(), None, "{line:?}");
        }
    }

    #[test]
    fn a_bare_url_is_named_after_its_last_segment() {
        let spec = ok("  http://127.0.0.1:8080/a/b.tar.gz?x=1  ");
        assert_eq!(spec.url, "http://127.0.0.1:8080/a/b.tar.gz?x=1");
        assert_eq!(spec.name, "b.tar.gz");
        assert_eq!(spec.expect, None);
        assert_eq!(spec.origin, origin(7));
    }

    #[test]
    fn keeps_the_url_exactly_as_given() {
        let url = "https://h/a%20b/%2e%2e%2Fc?q=%41&r=+#frag";
        assert_eq!(ok(url).url, url);
        assert_eq!(ok(url).name, ".._c");
    }

    #[test]
    fn accepts_schemes_in_any_case() {
        assert_eq!(ok("HTTPS://h/x").url, "HTTPS://h/x");
        assert_eq!(ok("Http://h/x").name, "x");
    }

    #[test]
    fn out_field_names_the_file() {
        let spec = ok("http://h/download?id=3 out=report.pdf");
        assert_eq!(spec.name, "report.pdf");
    }

    #[test]
    fn digest_fields_set_the_expected_digest() {
        let spec = ok(&format!("http://h/x sha256={HEX64}\tout=x.bin"));
        assert_eq!(
            spec.expect,
            Some(Digest::from_hex(Algo::Sha256, HEX64).unwrap())
        );
        assert_eq!(spec.name, "x.bin");
        for algo in Algo::ALL {
            let hex = "A".repeat(algo.len_bytes() * 2);
            let spec = ok(&format!("http://h/x {}={hex}", algo.name()));
            assert_eq!(spec.expect.unwrap().algo(), algo);
        }
    }

    #[test]
    fn accepts_hosts_with_ports_userinfo_and_ipv6() {
        ok("http://127.0.0.1:8080/x");
        ok("http://user:pw@h/x");
        ok("http://[::1]:8080/x");
        ok("http://[::1]/x");
        ok("http://h");
        ok("http://h?x");
    }

    #[test]
    fn rejects_other_schemes() {
        assert_eq!(err("ftp://x"), "urls.txt:7: not an http(s) URL: 'ftp://x'");
        assert_eq!(
            err("file:///etc/passwd"),
            "urls.txt:7: not an http(s) URL: 'file:///etc/passwd'"
        );
        assert_eq!(
            err("example.com/x"),
            "urls.txt:7: not an http(s) URL: 'example.com/x'"
        );
        assert_eq!(err("/x out=y"), "urls.txt:7: not an http(s) URL: '/x'");
        assert_eq!(
            err("http:/h/x"),
            "urls.txt:7: not an http(s) URL: 'http:/h/x'"
        );
        assert_eq!(err("out=x"), "urls.txt:7: not an http(s) URL: 'out=x'");
    }

    #[test]
    fn rejects_urls_without_a_host() {
        assert_eq!(err("http:///x"), "urls.txt:7: URL has no host: 'http:///x'");
        assert_eq!(err("https://"), "urls.txt:7: URL has no host: 'https://'");
        assert_eq!(
            err("http://:80/x"),
            "urls.txt:7: URL has no host: 'http://:80/x'"
        );
        assert_eq!(
            err("http://u@/x"),
            "urls.txt:7: URL has no host: 'http://u@/x'"
        );
        assert_eq!(
            err("http://[]/x"),
            "urls.txt:7: URL has no host: 'http://[]/x'"
        );
    }

    #[test]
    fn rejects_bad_ports_and_ipv6_literals() {
        assert_eq!(
            err("http://h:x/"),
            "urls.txt:7: URL has a bad port: 'http://h:x/'"
        );
        assert_eq!(
            err("http://h:99999/"),
            "urls.txt:7: URL has a bad port: 'http://h:99999/'"
        );
        assert_eq!(
            err("http://[::1/"),
            "urls.txt:7: URL has a bad IPv6 host: 'http://[::1/'"
        );
        assert_eq!(
            err("http://[::1]x/"),
            "urls.txt:7: URL has a bad IPv6 host: 'http://[::1]x/'"
        );
    }

    #[test]
    fn rejects_control_and_non_ascii_characters_in_urls() {
        assert_eq!(
            err("http://h/a\u{1b}[2Jb"),
            "urls.txt:7: URL contains a control character: 'http://h/a\\u{1b}[2Jb'"
        );
        assert_eq!(
            err("http://h/café"),
            "urls.txt:7: URL contains non-ASCII characters (percent-encode them): 'http://h/café'"
        );
    }

    #[test]
    fn a_space_inside_a_url_leaves_a_token_without_equals() {
        assert_eq!(
            err("http://h/a b.txt"),
            "urls.txt:7: expected key=value after the URL, got 'b.txt' (write a space in a URL as %20)"
        );
    }

    #[test]
    fn rejects_unknown_fields_and_lists_the_known_ones() {
        assert_eq!(
            err(&format!("http://h/x sah256={HEX64}")),
            "urls.txt:7: unknown field 'sah256=' (expected out=, sha224=, sha256=, sha384=, sha512=)"
        );
        assert_eq!(
            err("http://h/x SHA256=00"),
            "urls.txt:7: unknown field 'SHA256=' (expected out=, sha224=, sha256=, sha384=, sha512=)"
        );
        assert_eq!(
            err("http://h/x =y"),
            "urls.txt:7: unknown field '=' (expected out=, sha224=, sha256=, sha384=, sha512=)"
        );
    }

    #[test]
    fn rejects_repeated_fields() {
        assert_eq!(
            err("http://h/x out=a out=b"),
            "urls.txt:7: repeated field 'out='"
        );
        assert_eq!(
            err(&format!("http://h/x sha256={HEX64} sha256={HEX64}")),
            "urls.txt:7: repeated field 'sha256='"
        );
    }

    #[test]
    fn rejects_two_different_digests_on_one_line() {
        let sha512 = "0".repeat(128);
        assert_eq!(
            err(&format!("http://h/x sha256={HEX64} sha512={sha512}")),
            "urls.txt:7: more than one digest field ('sha256=' and 'sha512=')"
        );
    }

    #[test]
    fn rejects_bad_digests_with_the_digest_error() {
        assert_eq!(
            err("http://h/x sha256=abc"),
            "urls.txt:7: bad sha256= value 'abc': sha256 digest must have 64 hex digits, not 3"
        );
        assert_eq!(
            err("http://h/x sha512=xyz"),
            "urls.txt:7: bad sha512= value 'xyz': digest is not hexadecimal"
        );
        assert_eq!(
            err("http://h/x sha224="),
            "urls.txt:7: bad sha224= value '': sha224 digest must have 56 hex digits, not 0"
        );
    }

    #[test]
    fn rejects_out_names_that_could_leave_the_output_dir() {
        let cases = [
            (
                "out=../x",
                "bad out= value '../x': contains a path separator ('/' or '\\')",
            ),
            (
                "out=/etc/x",
                "bad out= value '/etc/x': absolute path, not a file name",
            ),
            ("out=..", "bad out= value '..': not a file name"),
            ("out=.", "bad out= value '.': not a file name"),
            ("out=", "bad out= value '': empty name"),
            (
                "out=a\\b",
                "bad out= value 'a\\b': contains a path separator ('/' or '\\')",
            ),
            (
                "out=a\u{7}b",
                "bad out= value 'a\\u{7}b': contains a control character",
            ),
        ];
        for (field, reason) in cases {
            assert_eq!(
                err(&format!("http://h/x {field}")),
                format!("urls.txt:7: {reason}")
            );
        }
    }

    #[test]
    fn rejects_a_token_without_equals() {
        assert_eq!(
            err("http://h/x out"),
            "urls.txt:7: expected key=value after the URL, got 'out' (write a space in a URL as %20)"
        );
        assert_eq!(
            err("http://h/x # trailing comment"),
            "urls.txt:7: expected key=value after the URL, got '#' (write a space in a URL as %20)"
        );
    }

    #[test]
    fn quotes_long_tokens_shortened_on_one_line() {
        let long = format!("ftp://{}", "x".repeat(500));
        let msg = err(&long);
        assert!(msg.ends_with("…'"), "{msg}");
        assert!(msg.len() < 250, "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn a_url_derived_traversal_name_is_sanitized_not_rejected() {
        assert_eq!(ok("http://h/%2e%2e%2f").name, ".._");
        assert_eq!(ok("http://h/..%2Fx").name, ".._x");
        assert_eq!(ok("http://h/a/%2e%2e").name, "index.html");
    }

    fn collect(input: &[u8]) -> Vec<Result<JobSpec, Error>> {
        parse(input, "list.txt".into()).collect()
    }

    /// `Ok(line, name)` or `Err(message)` per item, for compact comparisons.
    fn summary(items: Vec<Result<JobSpec, Error>>) -> Vec<Result<(usize, String), String>> {
        items
            .into_iter()
            .map(|r| {
                r.map(|s| (s.origin.line, s.name))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn streams_items_with_one_based_line_numbers() {
        let input = b"# list\n\nhttp://h/a\r\n  \r\nhttp://h/b out=c\nftp://x\nhttp://h/d";
        assert_eq!(
            summary(collect(input)),
            [
                Ok((3, "a".to_string())),
                Ok((5, "c".to_string())),
                Err("list.txt:6: not an http(s) URL: 'ftp://x'".to_string()),
                Ok((7, "d".to_string())),
            ]
        );
    }

    #[test]
    fn crlf_line_endings_leave_no_carriage_return() {
        let items = collect(b"http://h/a\r\nhttp://h/b out=x.txt\r\n");
        let specs: Vec<_> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(specs[0].url, "http://h/a");
        assert_eq!(specs[1].name, "x.txt");
    }

    #[test]
    fn a_non_utf8_line_is_an_input_error_and_reading_goes_on() {
        let items = collect(b"http://h/a\nhttp://h/\xff\nhttp://h/b\n");
        assert_eq!(
            summary(items),
            [
                Ok((1, "a".to_string())),
                Err("list.txt:2: line is not valid UTF-8".to_string()),
                Ok((3, "b".to_string())),
            ]
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_ignored() {
        let items = collect(b"\xEF\xBB\xBFhttp://h/a\n\xEF\xBB\xBFhttp://h/b\n");
        assert_eq!(
            summary(items),
            [
                Ok((1, "a".to_string())),
                Err("list.txt:2: not an http(s) URL: '\u{feff}http://h/b'".to_string()),
            ]
        );
    }

    #[test]
    fn an_overlong_line_is_an_error_and_the_next_line_still_counts() {
        let mut input = b"http://h/".to_vec();
        input.extend(std::iter::repeat_n(b'a', 3 * MAX_LINE_BYTES));
        input.extend(b"\nhttp://h/b\n");
        assert_eq!(
            summary(collect(&input)),
            [
                Err("list.txt:1: line is longer than 65536 bytes".to_string()),
                Ok((2, "b".to_string())),
            ]
        );
        // Exactly at the limit is still fine.
        let mut input = b"http://h/".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES - 9));
        assert_eq!(collect(&input).len(), 1);
        assert!(collect(&input)[0].is_ok());
    }

    /// Yields `good` then fails every read after it.
    struct FailAfter<'a> {
        good: &'a [u8],
    }

    impl Read for FailAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.good.read(buf)?;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_is_reported_once_and_ends_the_stream() {
        let reader = io::BufReader::new(FailAfter {
            good: b"http://h/a\n",
        });
        let items: Vec<_> = parse(reader, "list.txt".into()).collect();
        assert_eq!(
            summary(items),
            [
                Ok((1, "a".to_string())),
                Err("list.txt: cannot read: disk on fire".to_string()),
            ]
        );
    }

    /// Counts how many bytes were asked for, to prove the parser does not read ahead.
    struct Endless {
        lines_served: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let line = format!("http://h/f{}\n", self.lines_served);
            assert!(buf.len() >= line.len());
            self.lines_served += 1;
            buf[..line.len()].copy_from_slice(line.as_bytes());
            Ok(line.len())
        }
    }

    #[test]
    fn parsing_is_lazy_and_works_on_endless_input() {
        let mut reader = io::BufReader::new(Endless { lines_served: 0 });
        let names: Vec<String> = parse(&mut reader, "-".into())
            .take(3)
            .map(|r| r.unwrap().name)
            .collect();
        assert_eq!(names, ["f0", "f1", "f2"]);
        assert_eq!(reader.get_ref().lines_served, 3);
    }

    #[test]
    fn duplicate_names_are_left_to_the_caller() {
        let items = collect(b"http://h/a\nhttp://h/x/a\n");
        assert!(items.iter().all(Result::is_ok));
    }

    /// Fixtures use `{base}` for the test server's address.
    fn fixture(name: &str) -> Vec<Result<(usize, String), String>> {
        let path = format!("{}/fixtures/lists/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("{base}", "http://127.0.0.1:9/");
        summary(parse(text.as_bytes(), name.into()).collect())
    }

    #[test]
    fn the_good_fixture_parses_without_errors() {
        let items = fixture("good.txt");
        assert!(items.iter().all(Result::is_ok), "{items:?}");
        assert!(items.len() >= 5, "{items:?}");
    }

    #[test]
    fn the_unknown_field_fixture_names_its_bad_line() {
        let errors: Vec<String> = fixture("malformed-unknown-field.txt")
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert_eq!(
            errors,
            [
                "malformed-unknown-field.txt:5: unknown field 'sah256=' (expected out=, sha224=, sha256=, sha384=, sha512=)"
            ]
        );
    }

    #[test]
    fn the_traversal_fixtures_reject_out_and_sanitize_urls() {
        let out = fixture("traversal-out.txt");
        assert!(!out.is_empty() && out.iter().all(Result::is_err), "{out:?}");
        let names: Vec<String> = fixture("traversal-url.txt")
            .into_iter()
            .map(|item| item.unwrap().1)
            .collect();
        assert_eq!(
            names,
            [
                ".._",
                ".._x",
                "index.html",
                "__etc_passwd",
                ".._win.ini",
                "_x",
                "index.html"
            ]
        );
    }

    #[test]
    fn the_duplicate_names_fixture_trips_claims() {
        let mut claims = names::Claims::default();
        let text = std::fs::read_to_string(format!(
            "{}/fixtures/lists/duplicate-names.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .replace("{base}", "http://127.0.0.1:9/");
        let mut clashes = Vec::new();
        for spec in parse(text.as_bytes(), "duplicate-names.txt".into()) {
            let spec = spec.unwrap();
            if let Err(first) = claims.claim(&spec.name, &spec.origin) {
                clashes.push(format!("{} clashes with {first}", spec.origin));
            }
        }
        assert_eq!(
            clashes,
            [
                "duplicate-names.txt:4 clashes with duplicate-names.txt:3",
                "duplicate-names.txt:5 clashes with duplicate-names.txt:3",
                "duplicate-names.txt:7 clashes with duplicate-names.txt:6",
                "duplicate-names.txt:9 clashes with duplicate-names.txt:8",
            ]
        );
    }

    #[test]
    fn format_line_round_trips_through_parse_line() {
        let origin = || Origin {
            source: std::sync::Arc::from("t"),
            line: 1,
        };
        for line in [
            "http://h/a.bin",
            "https://h/dir/ out=index-2.html",
            &format!("http://h/x.tar.gz sha512={}", "ab".repeat(64)),
            &format!("http://h/p?q=1 out=renamed sha256={}", "0f".repeat(32)),
        ] {
            let job = parse_line(line, origin()).unwrap().unwrap();
            assert_eq!(format_line(&job), line);
            assert_eq!(
                parse_line(&format_line(&job), origin()).unwrap().unwrap(),
                job
            );
        }
    }
}
