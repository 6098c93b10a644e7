//! OpenPGP (RFC 9580) signatures of a manifest, by the `pgp` crate (rPGP): detached
//! signatures (armored `.asc` or binary `.gpg`/`.sig`/`.sign`) and clearsigned manifests.
//!
//! A signature counts only when it is a document signature (binary or text) made by a
//! signing-capable primary key or subkey of a given certificate that carries a valid
//! self-signature (a valid binding with back-signature, for a subkey), is not revoked, and
//! has not expired; nor may the signature itself have expired. That is what `gpgv` and
//! apt accept.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey,
};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, PublicKeyTrait, Tag};

use super::{BadKey, Reason};

/// One OpenPGP certificate (a public key with its user IDs and subkeys).
#[derive(Debug, Clone)]
pub(super) struct Cert {
    key: SignedPublicKey,
}

impl fmt::Display for Cert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenPGP {:X}", self.key.fingerprint())
    }
}

impl Cert {
    /// Every certificate in a key file or keyring, armored or binary.
    pub(super) fn parse_many(bytes: &[u8]) -> Result<Vec<Cert>, BadKey> {
        let bad = |e: &dyn fmt::Display| {
            BadKey(format!(
                "not a minisign, signify or OpenPGP public key ({e})"
            ))
        };
        let (certs, _) = SignedPublicKey::from_reader_many(bytes).map_err(|e| bad(&e))?;
        let certs = certs
            .map(|c| c.map(|key| Cert { key }))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        if certs.is_empty() {
            return Err(bad(&"no public key in it"));
        }
        Ok(certs)
    }
}

/// Whether `bytes` is a clearsigned message (RFC 9580 §7).
pub(super) fn is_clearsigned(bytes: &[u8]) -> bool {
    bytes.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----")
}

/// Checks a clearsigned manifest; gives the signed text (with CRLF line ends, as signed)
/// and the signer.
pub(super) fn check_clearsigned(bytes: &[u8], certs: &[Cert]) -> Result<(Vec<u8>, String), Reason> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Reason::plain("malformed clearsigned manifest (not UTF-8)"))?;
    let (message, _) = CleartextSignedMessage::from_string(text)
        .map_err(|e| Reason::plain(&format!("malformed clearsigned manifest: {e}")))?;
    let signed = message.signed_text();
    let key = check_any(message.signatures(), signed.as_bytes(), certs)?;
    Ok((signed.into_bytes(), key))
}

/// Checks a detached signature (armored or binary; several signatures: any may do).
pub(super) fn check_detached(sig: &[u8], message: &[u8], certs: &[Cert]) -> Result<String, Reason> {
    let malformed =
        |e: &dyn fmt::Display| Reason::plain(&format!("malformed or unknown signature ({e})"));
    let (sigs, _) = DetachedSignature::from_reader_many(sig).map_err(|e| malformed(&e))?;
    let sigs = sigs
        .map(|s| s.map(|s| s.signature))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(&e))?;
    if sigs.is_empty() {
        return Err(malformed(&"no signature packet"));
    }
    check_any(&sigs, message, certs)
}

/// The first signature that a valid key made over `message`; else the most telling
/// reason: a bad signature by a known key beats an unknown key.
fn check_any(sigs: &[Signature], message: &[u8], certs: &[Cert]) -> Result<String, Reason> {
    let mut worst: Option<(u8, Reason)> = None;
    for sig in sigs {
        let (rank, reason) = match check_one(sig, message, certs) {
            Ok(key) => return Ok(key),
            Err(e) => e,
        };
        if worst.as_ref().is_none_or(|(r, _)| rank > *r) {
            worst = Some((rank, reason));
        }
    }
    Err(worst.map_or_else(|| Reason::plain("no signature"), |(_, r)| r))
}

/// How telling a failure is, to choose which one to report (higher: more).
const UNKNOWN: u8 = 1;
const KEY_UNUSABLE: u8 = 2;
const BAD: u8 = 3;

fn check_one(sig: &Signature, message: &[u8], certs: &[Cert]) -> Result<String, (u8, Reason)> {
    let issuer = issuer_name(sig);
    if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
        return Err((
            BAD,
            Reason::by(&issuer, "not a document signature (wrong signature type)"),
        ));
    }
    if certs.is_empty() {
        return Err((
            UNKNOWN,
            Reason::by(
                &issuer,
                "an OpenPGP signature, but no OpenPGP key was given",
            ),
        ));
    }
    let now = unix_now();
    for cert in certs {
        let primary = &cert.key.primary_key;
        if issued_by(sig, primary) {
            let name = cert.to_string();
            usable_primary(&cert.key, now).map_err(|why| (KEY_UNUSABLE, Reason::by(&name, why)))?;
            return verify(sig, primary, message, now, &name);
        }
        for sub in &cert.key.public_subkeys {
            if issued_by(sig, &sub.key) {
                let name = format!("{cert} (subkey {:X})", sub.key.fingerprint());
                usable_primary(&cert.key, now)
                    .and_then(|()| usable_subkey(&cert.key, sub, now))
                    .map_err(|why| (KEY_UNUSABLE, Reason::by(&name, why)))?;
                return verify(sig, sub, message, now, &name);
            }
        }
    }
    Err((UNKNOWN, Reason::by(&issuer, "signed by an unknown key")))
}

fn verify(
    sig: &Signature,
    key: &impl PublicKeyTrait,
    message: &[u8],
    now: i64,
    name: &str,
) -> Result<String, (u8, Reason)> {
    sig.verify(key, message)
        .map_err(|_| (BAD, Reason::by(name, "BAD signature")))?;
    let created = sig.created().map(|t| t.timestamp());
    if let (Some(created), Some(valid_for)) = (created, sig.signature_expiration_time()) {
        let secs = valid_for.num_seconds();
        if secs > 0 && created.saturating_add(secs) <= now {
            return Err((BAD, Reason::by(name, "the signature has expired")));
        }
    }
    if created.is_some_and(|c| c < key.created_at().timestamp()) {
        return Err((BAD, Reason::by(name, "the signature predates its key")));
    }
    Ok(name.to_string())
}

/// Whether the signature names this key as its issuer (fingerprint or key ID).
fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let fpr = key.fingerprint();
    let id = key.key_id();
    sig.issuer_fingerprint().into_iter().any(|f| *f == fpr)
        || sig.issuer().into_iter().any(|i| *i == id)
}

/// The issuer as a signature names it: fingerprint if it has one, else key ID.
fn issuer_name(sig: &Signature) -> String {
    if let Some(fpr) = sig.issuer_fingerprint().first() {
        return format!("OpenPGP {fpr:X}");
    }
    match sig.issuer().first() {
        Some(id) => {
            let hex: String = id.as_ref().iter().map(|b| format!("{b:02X}")).collect();
            format!("OpenPGP key ID {hex}")
        }
        None => "OpenPGP (the signature names no issuer)".to_string(),
    }
}

/// A primary key may sign when it has a valid self-signature, is not revoked and has not
/// expired (expiry from its newest valid self-signature).
fn usable_primary(cert: &SignedPublicKey, now: i64) -> Result<(), &'static str> {
    let primary = &cert.primary_key;
    if cert
        .details
        .revocation_signatures
        .iter()
        .any(|s| s.verify_key(primary).is_ok())
    {
        return Err("the key is revoked");
    }
    let certifications = cert.details.users.iter().flat_map(|user| {
        user.signatures
            .iter()
            .filter(|s| issued_by(s, primary))
            .filter(move |s| {
                s.verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
            })
    });
    let direct = cert
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.verify_key(primary).is_ok());
    let newest = certifications
        .chain(direct)
        .max_by_key(|s| s.created().map(|t| t.timestamp()))
        .ok_or("the key has no valid self-signature")?;
    if expired(primary.created_at().timestamp(), newest, now) {
        return Err("the key has expired");
    }
    Ok(())
}

/// A subkey may sign when its newest valid binding says so (with a valid back-signature),
/// it is not revoked and has not expired.
fn usable_subkey(
    cert: &SignedPublicKey,
    sub: &SignedPublicSubKey,
    now: i64,
) -> Result<(), &'static str> {
    let primary = &cert.primary_key;
    let valid = |s: &&Signature| s.verify_subkey_binding(primary, &sub.key).is_ok();
    if sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
        .any(|s| valid(&s))
    {
        return Err("the subkey is revoked");
    }
    let newest = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(valid)
        .max_by_key(|s| s.created().map(|t| t.timestamp()))
        .ok_or("the subkey has no valid binding signature")?;
    if !newest.key_flags().sign() {
        return Err("the subkey is not for signing");
    }
    let backsig_ok = newest
        .embedded_signature()
        .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok());
    if !backsig_ok {
        return Err("the signing subkey has no valid back-signature");
    }
    if expired(sub.key.created_at().timestamp(), newest, now) {
        return Err("the subkey has expired");
    }
    Ok(())
}

/// A key created at `created` whose self-signature `sig` gives it a lifetime, past `now`.
fn expired(created: i64, sig: &Signature, now: i64) -> bool {
    sig.key_expiration_time()
        .map(|d| d.num_seconds())
        .is_some_and(|secs| secs > 0 && created.saturating_add(secs) <= now)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
