//! minisign and signify: both use Ed25519 keys written the same way (base64 of `Ed`, an
//! 8-byte key number and the 32-byte key), so one key serves both. minisign signatures are
//! checked by `minisign-verify`; signify signatures (plain Ed25519 over the message, which
//! `minisign-verify` cannot read: they lack the trusted comment) by `ed25519-dalek`.
//!
//! Formats: signify(1) and minisign's SIGNATURE_FORMAT (two lines of key or signature,
//! four for a minisign signature).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Reason;

const COMMENT: &[u8] = b"untrusted comment: ";
/// `Ed` + key number + public key.
const KEY_LEN: usize = 2 + 8 + 32;
/// `Ed` (or minisign's prehashed `ED`) + key number + signature.
const SIG_LEN: usize = 2 + 8 + 64;

/// A minisign or signify public key.
#[derive(Debug, Clone)]
pub(super) struct Key {
    keynum: [u8; 8],
    public: [u8; 32],
    /// The base64 line, as minisign-verify reads it.
    base64: String,
}

impl fmt::Display for Key {
    /// minisign's key ID: the key number as a little-endian u64 in upper-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "minisign/signify ")?;
        write_key_id(f, &self.keynum)
    }
}

fn write_key_id(f: &mut impl fmt::Write, keynum: &[u8; 8]) -> fmt::Result {
    for b in keynum.iter().rev() {
        write!(f, "{b:02X}")?;
    }
    Ok(())
}

fn key_id(keynum: &[u8; 8]) -> String {
    let mut s = String::from("minisign/signify ");
    let _ = write_key_id(&mut s, keynum);
    s
}

impl Key {
    /// A key file (`untrusted comment:` line, then the base64 line) or the bare base64
    /// string. `Ok(None)`: not this kind of key (try OpenPGP).
    pub(super) fn parse(bytes: &[u8]) -> Result<Option<Key>, super::BadKey> {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.trim(),
            Err(_) => return Ok(None),
        };
        let line = match text.strip_prefix("untrusted comment:") {
            Some(rest) => rest.lines().nth(1).unwrap_or("").trim(),
            None if !text.contains('\n') && text.starts_with("RW") => text,
            None => return Ok(None),
        };
        let bad = |why: &str| super::BadKey(format!("not a minisign or signify public key: {why}"));
        let raw = STANDARD
            .decode(line)
            .map_err(|_| bad("the key line is not base64"))?;
        if raw.len() != KEY_LEN {
            return Err(bad(if raw.len() == SIG_LEN {
                "this is a signature, not a key"
            } else {
                "wrong length"
            }));
        }
        if &raw[..2] != b"Ed" {
            return Err(bad("not an Ed25519 key"));
        }
        Ok(Some(Key {
            keynum: raw[2..10].try_into().expect("8 bytes"),
            public: raw[10..].try_into().expect("32 bytes"),
            base64: line.to_string(),
        }))
    }
}

/// Splits a signify signature block (comment line, base64 line of a signature) from what
/// follows it: the signed text of the embedded form. `None`: not a signify block.
pub(super) fn embedded_split(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = bytes.strip_prefix(COMMENT)?;
    let first = rest.iter().position(|&b| b == b'\n')? + 1;
    let second = rest[first..].iter().position(|&b| b == b'\n')? + first + 1;
    let line = &rest[first..second - 1];
    let raw = STANDARD.decode(line).ok()?;
    if raw.len() != SIG_LEN || &raw[..2] != b"Ed" {
        return None;
    }
    // minisign's four-line form is not signify, embedded or not.
    if rest[second..].starts_with(b"trusted comment: ") {
        return None;
    }
    let split = COMMENT.len() + second;
    Some((&bytes[..split], &bytes[split..]))
}

/// A minisign signature: comment, signature, trusted comment, global signature.
pub(super) fn is_minisign(bytes: &[u8]) -> bool {
    bytes.starts_with(COMMENT)
        && bytes
            .split(|&b| b == b'\n')
            .nth(2)
            .is_some_and(|line| line.starts_with(b"trusted comment: "))
}

/// Checks a minisign signature of `message`; gives the key that made it.
pub(super) fn check_minisign(sig: &[u8], message: &[u8], keys: &[Key]) -> Result<String, Reason> {
    let text = std::str::from_utf8(sig)
        .map_err(|_| Reason::plain("malformed minisign signature (not text)"))?;
    let signature = minisign_verify::Signature::decode(text)
        .map_err(|e| Reason::plain(&format!("malformed minisign signature: {e}")))?;
    let keynum = sig_keynum(text.lines().nth(1).unwrap_or(""))
        .ok_or_else(|| Reason::plain("malformed minisign signature"))?;
    let key = find(keys, &keynum)?;
    let public = minisign_verify::PublicKey::from_base64(&key.base64)
        .map_err(|e| Reason::by(key, format!("unusable key: {e}")))?;
    // Legacy (non-prehashed) signatures are still made by older minisign and by
    // signify-compatible tools; minisign itself accepts them.
    public
        .verify(message, &signature, true)
        .map_err(|_| Reason::by(key, "BAD signature"))?;
    Ok(key.to_string())
}

/// Checks a signify signature block (see `embedded_split`) of `message`.
pub(super) fn check_signify(block: &[u8], message: &[u8], keys: &[Key]) -> Result<String, Reason> {
    let line = block
        .split(|&b| b == b'\n')
        .nth(1)
        .ok_or_else(|| Reason::plain("malformed signify signature"))?;
    let raw = STANDARD
        .decode(line)
        .map_err(|_| Reason::plain("malformed signify signature"))?;
    let keynum: [u8; 8] = raw[2..10].try_into().expect("checked length");
    let key = find(keys, &keynum)?;
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key.public)
        .map_err(|_| Reason::by(key, "unusable key: not a valid Ed25519 point"))?;
    let signature = ed25519_dalek::Signature::from_bytes(&raw[10..].try_into().expect("64"));
    public
        .verify_strict(message, &signature)
        .map_err(|_| Reason::by(key, "BAD signature"))?;
    Ok(key.to_string())
}

fn sig_keynum(line: &str) -> Option<[u8; 8]> {
    let raw = STANDARD.decode(line.trim()).ok()?;
    (raw.len() == SIG_LEN).then(|| raw[2..10].try_into().expect("8 bytes"))
}

/// The key with this key number, or why there is none.
fn find<'k>(keys: &'k [Key], keynum: &[u8; 8]) -> Result<&'k Key, Reason> {
    if keys.is_empty() {
        return Err(Reason::by(
            key_id(keynum),
            "a minisign/signify signature, but no minisign or signify key was given",
        ));
    }
    keys.iter()
        .find(|k| &k.keynum == keynum)
        .ok_or_else(|| Reason::by(key_id(keynum), "signed by an unknown key"))
}
