//! Output names: derived from a URL or an `out=` field, always one safe path component,
//! and claimed once per run (two jobs with one output name are an input error).
//! Pure string work: never touches the disk.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::job::Origin;

/// Longest output name in bytes. Most filesystems allow 255 (NAME_MAX); we need room for
/// our `.part` suffix (5) and keep a little margin.
pub const MAX_NAME_BYTES: usize = 240;

/// Name used when a URL has no usable last segment (`http://h/`, `http://h/dir/`, `/..`).
/// This is wget's choice; naming the file after the directory would be a guess about
/// what the server sends for it.
pub const FALLBACK_NAME: &str = "index.html";

/// Suffix of the temp file a download writes before its atomic rename to the final name.
pub const PART_SUFFIX: &str = ".part";

/// Longest extension (with its dot) that `from_url` keeps when it shortens a long name.
const MAX_KEPT_EXT_BYTES: usize = 16;

/// The file name for a URL: its last path segment (query and fragment ignored),
/// percent-decoded (invalid UTF-8 replaced by U+FFFD) and sanitized into one safe name.
///
/// The URL is split into segments *before* decoding, so `..%2Fx` is one segment whose
/// decoded `/` is then replaced (`.._x`): an encoded separator never becomes a directory.
pub fn from_url(url: &str) -> String {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    // Query and fragment are not part of the path (RFC 3986 §3.4, §3.5).
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let hier = &after_scheme[..end];
    // No '/' after the authority (`http://h`) means an empty path: no segment.
    let segment = hier.rfind('/').map_or("", |i| &hier[i + 1..]);
    sanitize(&String::from_utf8_lossy(&percent_decode(segment)))
}

/// Decodes `%XX` escapes into bytes; a `%` not followed by two hex digits stays literal,
/// as browsers and wget do. `+` stays too: it means a space only in form-encoded queries.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Turns any decoded segment into one safe name: separators and control characters become
/// `_`, surrounding whitespace goes, the length is capped, and `.`, `..` or nothing left
/// becomes `FALLBACK_NAME`. The `.`/`..` check comes last so that ` .. ` cannot slip by.
fn sanitize(decoded: &str) -> String {
    let replaced: String = decoded
        .chars()
        .map(|c| {
            if is_separator(c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let name = cap_len(replaced.trim());
    match &*name {
        "" | "." | ".." => FALLBACK_NAME.to_string(),
        _ => name.into_owned(),
    }
}

/// `\` counts too: it separates paths on Windows, and a name holding one is a trap for
/// whoever copies the file there later.
fn is_separator(c: char) -> bool {
    c == '/' || c == '\\'
}

/// Shortens `name` to at most `MAX_NAME_BYTES` on a char boundary, keeping a short
/// extension (all of `.tar.gz`, if it fits in `MAX_KEPT_EXT_BYTES`) so that the file
/// still opens with the right program.
fn cap_len(name: &str) -> Cow<'_, str> {
    if name.len() <= MAX_NAME_BYTES {
        return name.into();
    }
    let mut window = name.len() - MAX_KEPT_EXT_BYTES;
    while !name.is_char_boundary(window) {
        window += 1;
    }
    let ext = name[window..].find('.').map_or("", |i| &name[window + i..]);
    let stem = floor_char_boundary(name, MAX_NAME_BYTES - ext.len());
    // The cut may land just after a space; a name never ends in whitespace.
    format!("{}{ext}", stem.trim_end()).into()
}

/// The longest prefix of `s` that has at most `max` bytes and ends on a char boundary.
fn floor_char_boundary(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Checks an `out=` value: `Err(reason)` unless it is one plain file name. Unlike
/// `from_url`, nothing is rewritten: the user chose this name and should hear that it is
/// wrong rather than find a different file. The reason does not repeat the value (the
/// caller quotes it, escaped).
pub fn validate_out_name(value: &str) -> Result<String, String> {
    let reason = if value.is_empty() {
        "empty name".to_string()
    } else if value.starts_with(is_separator) {
        "absolute path, not a file name".to_string()
    } else if value.contains(is_separator) {
        "contains a path separator ('/' or '\\')".to_string()
    } else if value == "." || value == ".." {
        "not a file name".to_string()
    } else if value.contains(char::is_control) {
        "contains a control character".to_string()
    } else if value.len() > MAX_NAME_BYTES {
        format!("{} bytes long (at most {MAX_NAME_BYTES})", value.len())
    } else {
        return Ok(value.to_string());
    };
    Err(reason)
}

/// Remembers which names are taken, compactly: a 64-bit hash of the name, not the name.
///
/// Memory: 16 bytes per entry (hash key + packed origin) plus hashbrown's control byte, in
/// a table at most half empty right after it grows: 1,000,000 names take about 36 MiB.
///
/// `NAME` and `NAME.part` collide, because the temp file for `NAME` is `NAME.part`: every
/// trailing `.part` is stripped before hashing, so `x`, `x.part` and `x.part.part` share
/// one key. That also flags `x` against `x.part.part`, which would not really clash; such
/// a list is odd enough that an error is the better answer.
///
/// Two different names whose 64-bit hashes are equal are reported as a duplicate (about
/// 3 in 10^8 for a million names). That errs on the safe side: an error, never a shared
/// file. The hash is keyed per run (`RandomState`), so such a pair cannot be crafted.
///
/// Names are compared byte for byte: `A` and `a` are different names, as on Linux.
#[derive(Default)]
pub struct Claims {
    keys: RandomState,
    by_key: HashMap<u64, Slot, BuildHasherDefault<PassThrough>>,
    /// Sources seen so far; a `Slot` holds an index into this.
    sources: Vec<Arc<str>>,
}

/// The first claimant's origin packed into 8 bytes: source index and line.
#[derive(Clone, Copy)]
struct Slot(u64);

/// Lines up to 2^40 (a trillion) and 2^24 sources: past any list that fits on a disk.
const LINE_BITS: u32 = 40;
const LINE_MASK: u64 = (1 << LINE_BITS) - 1;

impl Slot {
    fn new(source: usize, line: usize) -> Slot {
        let source = (source as u64).min((1 << (64 - LINE_BITS)) - 1);
        let line = (line as u64).min(LINE_MASK);
        Slot((source << LINE_BITS) | line)
    }

    fn source(self) -> usize {
        (self.0 >> LINE_BITS) as usize
    }

    fn line(self) -> usize {
        (self.0 & LINE_MASK) as usize
    }
}

impl Claims {
    /// Claims `name` for `origin`; `Err(first)` names the origin that took it first.
    pub fn claim(&mut self, name: &str, origin: &Origin) -> Result<(), Origin> {
        let key = self.key(name);
        if let Some(first) = self.by_key.get(&key) {
            return Err(Origin {
                source: Arc::clone(&self.sources[first.source()]),
                line: first.line(),
            });
        }
        let source = self.source_index(&origin.source);
        self.by_key.insert(key, Slot::new(source, origin.line));
        Ok(())
    }

    fn key(&self, name: &str) -> u64 {
        claim_key(&self.keys, name)
    }

    /// Inputs are read one after another, so the last source is nearly always the one.
    fn source_index(&mut self, source: &Arc<str>) -> usize {
        if let Some(i) = self.sources.iter().rposition(|s| s == source) {
            return i;
        }
        self.sources.push(Arc::clone(source));
        self.sources.len() - 1
    }
}

/// A name's key: its keyed hash once every trailing `.part` is stripped (see `Claims`).
fn claim_key(keys: &RandomState, name: &str) -> u64 {
    let mut base = name;
    while let Some(stripped) = base.strip_suffix(PART_SUFFIX) {
        base = stripped;
    }
    keys.hash_one(base)
}

/// `Claims` in two passes and half the memory, for lists of millions of lines: the first
/// pass keeps 8 bytes a name (its key, as `Claims` computes it) in one vector, sorted once
/// at the end to find keys taken twice (1,000,000 names: 8 MiB, against about 36 MiB, and
/// twice that while a hash table grows). Only when there is a clash does a second pass
/// replay the names through `Clashes`, which remembers the first origin of clashing keys
/// alone, to say which line took the name first.
#[derive(Default)]
pub struct TakenNames {
    keys: RandomState,
    taken: Vec<u64>,
}

impl TakenNames {
    pub fn insert(&mut self, name: &str) {
        self.taken.push(claim_key(&self.keys, name));
    }

    /// Names inserted so far.
    pub fn len(&self) -> usize {
        self.taken.len()
    }

    pub fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }

    /// `None` when every name was inserted once; else what a second pass needs to name
    /// the clash.
    pub fn into_clashes(mut self) -> Option<Clashes> {
        self.taken.sort_unstable();
        let mut twice: Vec<u64> = self
            .taken
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        twice.dedup();
        drop(self.taken);
        (!twice.is_empty()).then(|| Clashes {
            keys: self.keys,
            twice,
            first: HashMap::new(),
        })
    }
}

/// The second pass of `TakenNames`: replay the same names in the same order.
pub struct Clashes {
    keys: RandomState,
    /// Sorted keys that were taken more than once.
    twice: Vec<u64>,
    /// Where each of them was first seen in this pass.
    first: HashMap<u64, Origin>,
}

impl Clashes {
    /// As `Claims::claim`: `Err(first)` when `name` was taken before, by `first`.
    pub fn claim(&mut self, name: &str, origin: &Origin) -> Result<(), Origin> {
        let key = claim_key(&self.keys, name);
        if self.twice.binary_search(&key).is_err() {
            return Ok(());
        }
        match self.first.get(&key) {
            Some(first) => Err(first.clone()),
            None => {
                self.first.insert(key, origin.clone());
                Ok(())
            }
        }
    }
}

/// The keys are already SipHash outputs, so the table uses them as they are instead of
/// hashing them a second time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the key type is u64); fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(source: &str, line: usize) -> Origin {
        Origin {
            source: source.into(),
            line,
        }
    }

    #[test]
    fn takes_the_last_segment_and_ignores_query_and_fragment() {
        assert_eq!(from_url("http://h/a/b.tar.gz?x=1#f"), "b.tar.gz");
        assert_eq!(from_url("https://h:8080/a/b.txt#frag/x"), "b.txt");
        assert_eq!(from_url("http://h/a?next=/etc/passwd"), "a");
    }

    #[test]
    fn falls_back_to_index_html_when_there_is_no_last_segment() {
        assert_eq!(from_url("http://h/"), "index.html");
        assert_eq!(from_url("http://h"), "index.html");
        assert_eq!(from_url("http://h?x=/y"), "index.html");
        // wget's choice: a directory URL is the server's index page, not a file named
        // after the directory.
        assert_eq!(from_url("http://h/dir/"), "index.html");
        assert_eq!(from_url("http://h/dir/?q"), "index.html");
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(from_url("http://h/a%20b"), "a b");
        assert_eq!(from_url("http://h/caf%C3%A9.txt"), "café.txt");
        assert_eq!(from_url("http://h/a+b"), "a+b");
    }

    #[test]
    fn keeps_malformed_percent_escapes_literally() {
        assert_eq!(from_url("http://h/100%"), "100%");
        assert_eq!(from_url("http://h/a%2"), "a%2");
        assert_eq!(from_url("http://h/a%zzb"), "a%zzb");
        assert_eq!(from_url("http://h/%%41"), "%A");
    }

    #[test]
    fn replaces_invalid_utf8_with_the_replacement_character() {
        assert_eq!(from_url("http://h/a%FFb"), "a\u{FFFD}b");
    }

    #[test]
    fn never_yields_a_separator_or_a_dot_dot_from_encoded_traversal() {
        for url in [
            "http://h/%2e%2e%2f",
            "http://h/%2E%2E%2F",
            "http://h/..%2Fx",
            "http://h/..%5Cx",
            "http://h/%2e%2e",
            "http://h/..",
            "http://h/.",
            "http://h/a/%2e%2e/",
            "http://h/%2F%2Fetc%2Fpasswd",
            "http://h/%20..%20",
        ] {
            let name = from_url(url);
            assert!(!name.contains(['/', '\\']), "{url} -> {name}");
            assert!(
                name != ".." && name != "." && !name.is_empty(),
                "{url} -> {name}"
            );
        }
        assert_eq!(from_url("http://h/%2e%2e%2f"), ".._");
        assert_eq!(from_url("http://h/..%2Fx"), ".._x");
        assert_eq!(from_url("http://h/..%5Cx"), ".._x");
        assert_eq!(from_url("http://h/%2e%2e"), "index.html");
        assert_eq!(from_url("http://h/%20..%20"), "index.html");
        assert_eq!(from_url("http://h/%2F%2Fetc%2Fpasswd"), "__etc_passwd");
    }

    #[test]
    fn replaces_nul_and_control_characters() {
        assert_eq!(from_url("http://h/%00x"), "_x");
        assert_eq!(from_url("http://h/a%1B[31mb"), "a_[31mb");
        assert_eq!(from_url("http://h/a%7Fb%C2%85c"), "a_b_c");
        assert_eq!(from_url("http://h/a%0Ab"), "a_b");
    }

    #[test]
    fn strips_surrounding_whitespace() {
        assert_eq!(from_url("http://h/%20%20a%20b%20"), "a b");
        assert_eq!(from_url("http://h/%20"), "index.html");
    }

    #[test]
    fn caps_long_names_at_240_bytes_and_keeps_the_extension() {
        let long = format!("http://h/{}.tar.gz", "a".repeat(300));
        let name = from_url(&long);
        assert_eq!(name.len(), MAX_NAME_BYTES);
        assert!(name.ends_with("aaa.tar.gz"), "{name}");

        let no_ext = format!("http://h/{}", "b".repeat(300));
        assert_eq!(from_url(&no_ext), "b".repeat(MAX_NAME_BYTES));

        // An "extension" longer than 16 bytes is just part of the name.
        let long_ext = format!("http://h/x.{}", "c".repeat(300));
        assert_eq!(from_url(&long_ext).len(), MAX_NAME_BYTES);
        assert!(from_url(&long_ext).starts_with("x.c"));
    }

    #[test]
    fn cuts_long_names_on_a_char_boundary() {
        // "x" then 121 two-byte 'é's: 243 bytes, and byte 240 falls inside an 'é'.
        let url = format!("http://h/x{}", "%C3%A9".repeat(121));
        let name = from_url(&url);
        assert!(name.len() <= MAX_NAME_BYTES);
        assert_eq!(name.len(), 239);
        assert!(name.starts_with('x'));
    }

    #[test]
    fn accepts_plain_out_names() {
        assert_eq!(validate_out_name("a.txt"), Ok("a.txt".to_string()));
        assert_eq!(validate_out_name(".hidden"), Ok(".hidden".to_string()));
        assert_eq!(validate_out_name("..."), Ok("...".to_string()));
        assert_eq!(
            validate_out_name("café résumé.pdf"),
            Ok("café résumé.pdf".to_string())
        );
        let max = "n".repeat(MAX_NAME_BYTES);
        assert_eq!(validate_out_name(&max), Ok(max.clone()));
    }

    #[test]
    fn rejects_out_names_that_are_not_one_plain_name() {
        let cases = [
            ("", "empty name"),
            (".", "not a file name"),
            ("..", "not a file name"),
            ("/etc/x", "absolute path, not a file name"),
            ("\\x", "absolute path, not a file name"),
            ("../x", "contains a path separator ('/' or '\\')"),
            ("a/b", "contains a path separator ('/' or '\\')"),
            ("a\\b", "contains a path separator ('/' or '\\')"),
            ("a/", "contains a path separator ('/' or '\\')"),
            ("a\0b", "contains a control character"),
            ("a\u{1b}[2Jb", "contains a control character"),
            ("a\u{85}b", "contains a control character"),
        ];
        for (value, reason) in cases {
            assert_eq!(
                validate_out_name(value),
                Err(reason.to_string()),
                "{value:?}"
            );
        }
        assert_eq!(
            validate_out_name(&"n".repeat(241)),
            Err("241 bytes long (at most 240)".to_string())
        );
    }

    #[test]
    fn a_second_claim_of_a_name_reports_the_first_origin() {
        let mut claims = Claims::default();
        assert_eq!(claims.claim("a.txt", &origin("list.txt", 3)), Ok(()));
        assert_eq!(claims.claim("b.txt", &origin("list.txt", 4)), Ok(()));
        assert_eq!(
            claims.claim("a.txt", &origin("other.txt", 9)),
            Err(origin("list.txt", 3))
        );
    }

    #[test]
    fn a_name_and_its_part_file_collide_both_ways() {
        let mut claims = Claims::default();
        claims.claim("x", &origin("l", 1)).unwrap();
        assert_eq!(claims.claim("x.part", &origin("l", 2)), Err(origin("l", 1)));

        let mut claims = Claims::default();
        claims.claim("y.part", &origin("l", 1)).unwrap();
        assert_eq!(claims.claim("y", &origin("l", 2)), Err(origin("l", 1)));
        assert_eq!(
            claims.claim("y.part.part", &origin("l", 3)),
            Err(origin("l", 1))
        );
    }

    #[test]
    fn names_are_compared_exactly_otherwise() {
        let mut claims = Claims::default();
        claims.claim("a", &origin("l", 1)).unwrap();
        assert_eq!(claims.claim("A", &origin("l", 2)), Ok(()));
        assert_eq!(claims.claim("a.par", &origin("l", 3)), Ok(()));
        assert_eq!(claims.claim("part", &origin("l", 4)), Ok(()));
        assert_eq!(claims.claim("a ", &origin("l", 5)), Ok(()));
    }

    #[test]
    fn claims_remember_each_source_separately() {
        let mut claims = Claims::default();
        let a: Arc<str> = "a.txt".into();
        let b: Arc<str> = "b.txt".into();
        for line in 1..=3 {
            claims
                .claim(
                    &format!("a{line}"),
                    &Origin {
                        source: a.clone(),
                        line,
                    },
                )
                .unwrap();
            claims
                .claim(
                    &format!("b{line}"),
                    &Origin {
                        source: b.clone(),
                        line,
                    },
                )
                .unwrap();
        }
        assert_eq!(claims.sources.len(), 2);
        assert_eq!(claims.claim("b2", &origin("c", 1)), Err(origin("b.txt", 2)));
        assert_eq!(claims.claim("a3", &origin("c", 1)), Err(origin("a.txt", 3)));
    }

    #[test]
    fn huge_line_numbers_survive_packing() {
        let mut claims = Claims::default();
        let line = (1 << 39) + 12345;
        claims.claim("n", &origin("l", line)).unwrap();
        assert_eq!(claims.claim("n", &origin("l", 1)), Err(origin("l", line)));
    }

    #[test]
    fn taken_names_find_the_same_clashes_as_claims_in_two_passes() {
        let names = ["a", "b", "a.part", "c", "b", "d", "a"];
        let mut claims = Claims::default();
        let want: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| claims.claim(n, &origin("l", i + 1)))
            .collect();
        let mut taken = TakenNames::default();
        names.iter().for_each(|n| taken.insert(n));
        assert_eq!(taken.len(), names.len());
        let mut clashes = taken.into_clashes().expect("there are clashes");
        let got: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| clashes.claim(n, &origin("l", i + 1)))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got[2], Err(origin("l", 1)), "a.part clashes with a");

        let mut distinct = TakenNames::default();
        ["x", "y", "X", "x.par"]
            .iter()
            .for_each(|n| distinct.insert(n));
        assert!(distinct.into_clashes().is_none());
        assert!(TakenNames::default().into_clashes().is_none());
    }

    #[test]
    fn a_million_names_fit_in_well_under_64_mib() {
        assert_eq!(size_of::<(u64, Slot)>(), 16);
        let mut claims = Claims::default();
        let src: Arc<str> = "big.txt".into();
        let mut name = String::new();
        for line in 1..=1_000_000 {
            name.clear();
            std::fmt::Write::write_fmt(&mut name, format_args!("file-{line}.bin")).unwrap();
            let o = Origin {
                source: src.clone(),
                line,
            };
            claims.claim(&name, &o).unwrap();
        }
        // hashbrown keeps buckets = capacity * 8 / 7 (a power of two) and one control
        // byte per bucket next to each 16-byte entry.
        let buckets = (claims.by_key.capacity() * 8 / 7).next_power_of_two();
        let bytes = buckets * (size_of::<(u64, Slot)>() + 1);
        assert!(bytes < 40 << 20, "{bytes} bytes");
    }
}
