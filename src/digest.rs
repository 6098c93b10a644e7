//! Hash algorithms and digests: parsing hex, naming, and streaming a `Read` through sha2.
//! Pure: knows nothing about processes, files on disk or HTTP.

use std::fmt;
use std::io::{self, Read};

use sha2::Digest as _;

/// Read buffer for hashing: big enough that syscalls are noise next to the compression.
pub(crate) const HASH_BUF_BYTES: usize = 256 * 1024;

/// A SHA-2 algorithm (all of them are served by the `sha2` crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algo {
    pub const ALL: [Algo; 4] = [Algo::Sha224, Algo::Sha256, Algo::Sha384, Algo::Sha512];

    /// Lower-case name used in URL-list fields and JSON (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha224 => "sha224",
            Algo::Sha256 => "sha256",
            Algo::Sha384 => "sha384",
            Algo::Sha512 => "sha512",
        }
    }

    /// Upper-case tag used by BSD-style manifests (`SHA256 (name) = hex`).
    pub fn tag(self) -> &'static str {
        match self {
            Algo::Sha224 => "SHA224",
            Algo::Sha256 => "SHA256",
            Algo::Sha384 => "SHA384",
            Algo::Sha512 => "SHA512",
        }
    }

    /// Digest length in bytes.
    pub fn len_bytes(self) -> usize {
        match self {
            Algo::Sha224 => 28,
            Algo::Sha256 => 32,
            Algo::Sha384 => 48,
            Algo::Sha512 => 64,
        }
    }

    /// The algorithm whose hex digest has this many characters, as `sha256sum -c`-style
    /// tools guess it from an untagged line.
    pub fn from_hex_len(len: usize) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.len_bytes() * 2 == len)
    }

    /// Parses `sha256` / `SHA256` (either case).
    pub fn from_name(name: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Wire code used by the hash-worker protocol.
    pub(crate) fn code(self) -> u8 {
        match self {
            Algo::Sha224 => 1,
            Algo::Sha256 => 2,
            Algo::Sha384 => 3,
            Algo::Sha512 => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.code() == code)
    }
}

impl fmt::Display for Algo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest value together with the algorithm that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algo: Algo,
    bytes: Vec<u8>,
}

/// Why a hex string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestParseError {
    NotHex,
    WrongLength { algo: Algo, want: usize, got: usize },
    UnknownLength(usize),
}

impl fmt::Display for DigestParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestParseError::NotHex => f.write_str("digest is not hexadecimal"),
            DigestParseError::WrongLength { algo, want, got } => {
                write!(f, "{algo} digest must have {want} hex digits, not {got}")
            }
            DigestParseError::UnknownLength(len) => write!(
                f,
                "no SHA-2 digest has {len} hex digits (expected 56, 64, 96 or 128)"
            ),
        }
    }
}

impl Digest {
    pub fn new(algo: Algo, bytes: Vec<u8>) -> Option<Digest> {
        (bytes.len() == algo.len_bytes()).then_some(Digest { algo, bytes })
    }

    /// Parses hex (either case) for a known algorithm.
    pub fn from_hex(algo: Algo, hex: &str) -> Result<Digest, DigestParseError> {
        let want = algo.len_bytes() * 2;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestParseError::NotHex);
        }
        if hex.len() != want {
            return Err(DigestParseError::WrongLength {
                algo,
                want,
                got: hex.len(),
            });
        }
        let bytes = hex
            .as_bytes()
            .chunks_exact(2)
            .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
            .collect();
        Ok(Digest { algo, bytes })
    }

    /// Parses hex whose algorithm is implied by its length.
    pub fn from_hex_guess(hex: &str) -> Result<Digest, DigestParseError> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestParseError::NotHex);
        }
        let algo =
            Algo::from_hex_len(hex.len()).ok_or(DigestParseError::UnknownLength(hex.len()))?;
        Digest::from_hex(algo, hex)
    }

    pub fn algo(&self) -> Algo {
        self.algo
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lower-case hex, as sha256sum prints it.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(self.bytes.len() * 2);
        for b in &self.bytes {
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 0xf)] as char);
        }
        out
    }
}

/// `algo:hex`, the form used in JSON and in mismatch messages.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_hex())
    }
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// An incremental hasher for any of the algorithms, so a download can hash while it writes.
pub(crate) enum Hasher {
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub(crate) fn new(algo: Algo) -> Hasher {
        match algo {
            Algo::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            Algo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algo::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Digest {
        let (algo, bytes) = match self {
            Hasher::Sha224(h) => (Algo::Sha224, h.finalize().to_vec()),
            Hasher::Sha256(h) => (Algo::Sha256, h.finalize().to_vec()),
            Hasher::Sha384(h) => (Algo::Sha384, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algo::Sha512, h.finalize().to_vec()),
        };
        Digest { algo, bytes }
    }
}

/// Streams `reader` to its end through `algo`, with one reused buffer.
pub fn hash_reader(algo: Algo, mut reader: impl Read) -> io::Result<Digest> {
    let mut hasher = Hasher::new(algo);
    let mut buf = vec![0u8; HASH_BUF_BYTES];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_the_empty_input_like_sha256sum() {
        let d = hash_reader(Algo::Sha256, &b""[..]).unwrap();
        assert_eq!(
            d.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_round_trips_in_either_case() {
        let hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let d = Digest::from_hex_guess(hex).unwrap();
        assert_eq!(d.algo(), Algo::Sha256);
        assert_eq!(d.to_hex(), hex.to_ascii_lowercase());
    }

    #[test]
    fn guesses_the_algorithm_from_the_hex_length() {
        for algo in Algo::ALL {
            let hex = "a".repeat(algo.len_bytes() * 2);
            assert_eq!(Digest::from_hex_guess(&hex).unwrap().algo(), algo);
        }
        assert_eq!(
            Digest::from_hex_guess("abc"),
            Err(DigestParseError::UnknownLength(3))
        );
        assert_eq!(
            Digest::from_hex_guess(&"g".repeat(64)),
            Err(DigestParseError::NotHex)
        );
    }

    #[test]
    fn sha512_of_abc_matches_the_standard_vector() {
        let d = hash_reader(Algo::Sha512, &b"abc"[..]).unwrap();
        assert!(d.to_hex().starts_with("ddaf35a193617aba"));
    }
}
