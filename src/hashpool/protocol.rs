//! Binary-safe frames between the pool and a worker: paths are arbitrary bytes.
//! Pure encode/decode over `Read`/`Write`; knows nothing about processes.
//!
//! Request: `u8` algorithm code, `u32` BE path length, the path's bytes (Unix `OsStr`).
//! Reply: `u8` tag, `u32` BE payload length, payload. Tag 0: the digest bytes. Tag 1: an
//! I/O error as `i32` BE errno (-1 when there is none) followed by its UTF-8 message.
//! One request is in flight per worker, so neither side ever needs to look ahead.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::digest::{Algo, Digest};

/// Longest path a request may carry. Linux refuses paths over 4096 bytes anyway; the cap
/// keeps a confused peer from making the worker allocate gigabytes.
pub(crate) const MAX_PATH_BYTES: usize = 64 * 1024;

/// Longest reply payload (an error message; a digest is at most 64 bytes).
const MAX_REPLY_BYTES: usize = 64 * 1024;

const TAG_DIGEST: u8 = 0;
const TAG_IO_ERROR: u8 = 1;

/// What a worker answers for one file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Digest(Digest),
    /// The file could not be opened or read. `errno` is the OS error number, when known.
    Io {
        errno: Option<i32>,
        message: String,
    },
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The stream failed or ended inside a frame (`UnexpectedEof`: a short frame).
    Io(io::Error),
    /// The bytes arrived but make no sense.
    Malformed(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("stream ended inside a frame")
            }
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Malformed(why) => write!(f, "malformed frame: {why}"),
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> FrameError {
        FrameError::Io(e)
    }
}

/// Writes one request. The caller flushes.
pub(crate) fn write_request(w: &mut impl Write, algo: Algo, path: &Path) -> io::Result<()> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > MAX_PATH_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path too long for a hash request",
        ));
    }
    w.write_all(&[algo.code()])?;
    write_len(w, bytes.len())?;
    w.write_all(bytes)
}

/// Reads one request; `Ok(None)` when the stream ends cleanly between frames.
pub(crate) fn read_request(r: &mut impl Read) -> Result<Option<(Algo, PathBuf)>, FrameError> {
    let Some(code) = read_first_byte(r)? else {
        return Ok(None);
    };
    let algo = Algo::from_code(code)
        .ok_or_else(|| FrameError::Malformed(format!("unknown algorithm code {code}")))?;
    let len = read_len(r, MAX_PATH_BYTES)?;
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    Ok(Some((algo, PathBuf::from(OsStr::from_bytes(&bytes)))))
}

/// Writes one reply for the outcome of hashing a file. The caller flushes.
pub(crate) fn write_reply(w: &mut impl Write, result: &io::Result<Digest>) -> io::Result<()> {
    match result {
        Ok(digest) => {
            w.write_all(&[TAG_DIGEST])?;
            write_len(w, digest.as_bytes().len())?;
            w.write_all(digest.as_bytes())
        }
        Err(e) => {
            let message = crate::error::plain_io(e);
            // Cut long messages on a char boundary so the frame stays under the cap.
            let mut end = message.len().min(MAX_REPLY_BYTES - 4);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            let errno = e.raw_os_error().unwrap_or(-1);
            w.write_all(&[TAG_IO_ERROR])?;
            write_len(w, 4 + end)?;
            w.write_all(&errno.to_be_bytes())?;
            w.write_all(&message.as_bytes()[..end])
        }
    }
}

/// Reads the reply to a request for `algo`. A digest of the wrong length is malformed.
pub(crate) fn read_reply(r: &mut impl Read, algo: Algo) -> Result<Reply, FrameError> {
    let Some(tag) = read_first_byte(r)? else {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
    };
    let len = read_len(r, MAX_REPLY_BYTES)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    match tag {
        TAG_DIGEST => Digest::new(algo, payload)
            .map(Reply::Digest)
            .ok_or_else(|| {
                FrameError::Malformed(format!(
                    "{len}-byte digest for {algo} (want {})",
                    algo.len_bytes()
                ))
            }),
        TAG_IO_ERROR => {
            let Some((errno, message)) = payload.split_first_chunk::<4>() else {
                return Err(FrameError::Malformed("error reply without errno".into()));
            };
            let errno = i32::from_be_bytes(*errno);
            Ok(Reply::Io {
                errno: (errno >= 0).then_some(errno),
                message: String::from_utf8_lossy(message).into_owned(),
            })
        }
        _ => Err(FrameError::Malformed(format!("unknown reply tag {tag}"))),
    }
}

fn write_len(w: &mut impl Write, len: usize) -> io::Result<()> {
    let len = u32::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    w.write_all(&len.to_be_bytes())
}

fn read_len(r: &mut impl Read, max: usize) -> Result<usize, FrameError> {
    let mut be = [0u8; 4];
    r.read_exact(&mut be)?;
    let len = u32::from_be_bytes(be) as usize;
    if len > max {
        return Err(FrameError::Malformed(format!(
            "length {len} over the limit of {max}"
        )));
    }
    Ok(len)
}

/// The first byte of a frame, or `None` at a clean end of stream.
fn read_first_byte(r: &mut impl Read) -> io::Result<Option<u8>> {
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_request(path: &Path) -> (Algo, PathBuf) {
        let mut wire = Vec::new();
        write_request(&mut wire, Algo::Sha384, path).unwrap();
        let mut r = &wire[..];
        let got = read_request(&mut r).unwrap().unwrap();
        assert!(
            read_request(&mut r).unwrap().is_none(),
            "one frame, then a clean end"
        );
        got
    }

    #[test]
    fn requests_carry_paths_with_newlines_and_non_utf8_bytes() {
        for raw in [
            &b"plain.bin"[..],
            b"with\nnewline",
            b"back\\slash and space",
            b"\xff\xfe not utf-8\r",
            b"",
        ] {
            let path = PathBuf::from(OsStr::from_bytes(raw));
            assert_eq!(round_trip_request(&path), (Algo::Sha384, path));
        }
    }

    #[test]
    fn digest_replies_round_trip() {
        let digest = crate::digest::hash_reader(Algo::Sha512, &b"abc"[..]).unwrap();
        let mut wire = Vec::new();
        write_reply(&mut wire, &Ok(digest.clone())).unwrap();
        assert_eq!(
            read_reply(&mut &wire[..], Algo::Sha512).unwrap(),
            Reply::Digest(digest)
        );
    }

    #[test]
    fn error_replies_keep_the_errno_and_the_message() {
        let mut wire = Vec::new();
        write_reply(&mut wire, &Err(io::Error::from_raw_os_error(2))).unwrap();
        assert_eq!(
            read_reply(&mut &wire[..], Algo::Sha256).unwrap(),
            Reply::Io {
                errno: Some(2),
                message: "No such file or directory".into()
            }
        );
        let mut wire = Vec::new();
        write_reply(&mut wire, &Err(io::Error::other("odd"))).unwrap();
        assert_eq!(
            read_reply(&mut &wire[..], Algo::Sha256).unwrap(),
            Reply::Io {
                errno: None,
                message: "odd".into()
            }
        );
    }

    #[test]
    fn a_short_frame_is_an_unexpected_eof() {
        let digest = crate::digest::hash_reader(Algo::Sha256, &b""[..]).unwrap();
        let mut wire = Vec::new();
        write_reply(&mut wire, &Ok(digest)).unwrap();
        for cut in 0..wire.len() {
            match read_reply(&mut &wire[..cut], Algo::Sha256) {
                Err(FrameError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let mut request = Vec::new();
        write_request(&mut request, Algo::Sha256, Path::new("abc")).unwrap();
        assert!(matches!(
            read_request(&mut &request[..3]),
            Err(FrameError::Io(_))
        ));
    }

    #[test]
    fn a_digest_of_the_wrong_length_is_malformed() {
        let digest = crate::digest::hash_reader(Algo::Sha256, &b""[..]).unwrap();
        let mut wire = Vec::new();
        write_reply(&mut wire, &Ok(digest)).unwrap();
        assert!(matches!(
            read_reply(&mut &wire[..], Algo::Sha512),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_lengths_and_unknown_codes_are_malformed() {
        let mut wire = vec![Algo::Sha256.code()];
        wire.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            read_request(&mut &wire[..]),
            Err(FrameError::Malformed(_))
        ));
        let wire = [9u8, 0, 0, 0, 0];
        assert!(matches!(
            read_request(&mut &wire[..]),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            read_reply(&mut &wire[..], Algo::Sha256),
            Err(FrameError::Malformed(_))
        ));
    }
}
