//! Signature checks of a checksum manifest before any digest in it is believed: minisign,
//! signify (detached and embedded) and OpenPGP (detached, armored or binary, and
//! clearsigned). Pure: bytes in, the signed text and the signer out. The crates do the
//! cryptography (`minisign-verify`, `ed25519-dalek`, `pgp`); nothing here reads files or
//! talks HTTP.

mod ed25519;
pub(crate) mod locate;
mod openpgp;

use std::fmt;

/// The keys given with `--signed-by`: any one of them may sign.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    ed25519: Vec<ed25519::Key>,
    openpgp: Vec<openpgp::Cert>,
}

/// A key that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadKey(pub String);

impl Keyring {
    /// Reads one `--signed-by` value: the bytes of a key file (minisign or signify public
    /// key, OpenPGP public key or keyring, armored or binary), or a minisign `RW…` string.
    pub(crate) fn add(&mut self, bytes: &[u8]) -> Result<(), BadKey> {
        if let Some(key) = ed25519::Key::parse(bytes)? {
            self.ed25519.push(key);
            return Ok(());
        }
        let certs = openpgp::Cert::parse_many(bytes)?;
        self.openpgp.extend(certs);
        Ok(())
    }

    /// Whether some key is a minisign/signify key.
    pub(crate) fn has_ed25519(&self) -> bool {
        !self.ed25519.is_empty()
    }

    /// Whether some key is an OpenPGP key.
    pub(crate) fn has_openpgp(&self) -> bool {
        !self.openpgp.is_empty()
    }

    /// The keys, as messages name them when no signature settles which one was meant.
    pub(crate) fn describe(&self) -> String {
        let names: Vec<String> = self
            .ed25519
            .iter()
            .map(|k| k.to_string())
            .chain(self.openpgp.iter().map(|c| c.to_string()))
            .collect();
        names.join(", ")
    }
}

/// The kind of signature that vouched for a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Minisign,
    Signify,
    /// signify's embedded form (`signify -S -e`): signature lines, then the signed text.
    SignifyEmbedded,
    OpenPgp,
    OpenPgpClearsigned,
}

impl Form {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Form::Minisign => "minisign",
            Form::Signify => "signify",
            Form::SignifyEmbedded => "signify (embedded)",
            Form::OpenPgp => "OpenPGP",
            Form::OpenPgpClearsigned => "OpenPGP (clearsigned)",
        }
    }
}

/// A manifest whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    /// Exactly the text the signature covers: the manifest to parse.
    pub text: Vec<u8>,
    pub form: Form,
    /// The key that signed, as people name it (`minisign key ABCD…`, `OpenPGP key FPR`).
    pub key: String,
}

/// Why a manifest is not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The key concerned (the signature's issuer, or the keys tried).
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (key {})", self.reason, self.key)
    }
}

/// Whether the manifest carries its own signature (clearsigned or signify-embedded), so
/// no signature file is looked for beside it.
pub(crate) fn is_embedded(manifest: &[u8]) -> bool {
    openpgp::is_clearsigned(manifest) || ed25519::embedded_split(manifest).is_some()
}

/// Checks a manifest whose signature is inside it (see `is_embedded`).
pub(crate) fn check_embedded(manifest: &[u8], keys: &Keyring) -> Result<Signed, Refusal> {
    if openpgp::is_clearsigned(manifest) {
        let (text, key) = openpgp::check_clearsigned(manifest, &keys.openpgp)
            .map_err(|reason| refusal(reason, keys))?;
        return Ok(Signed {
            text,
            form: Form::OpenPgpClearsigned,
            key,
        });
    }
    let Some((sig, text)) = ed25519::embedded_split(manifest) else {
        return Err(refusal(Reason::plain("no embedded signature"), keys));
    };
    let key =
        ed25519::check_signify(sig, text, &keys.ed25519).map_err(|reason| refusal(reason, keys))?;
    Ok(Signed {
        text: text.to_vec(),
        form: Form::SignifyEmbedded,
        key,
    })
}

/// Checks a manifest against a detached signature, whatever its form (recognised by
/// content: minisign, signify, OpenPGP armored or binary).
pub(crate) fn check_detached(
    manifest: &[u8],
    signature: &[u8],
    keys: &Keyring,
) -> Result<Signed, Refusal> {
    let (form, key) = if ed25519::is_minisign(signature) {
        let key = ed25519::check_minisign(signature, manifest, &keys.ed25519)
            .map_err(|r| refusal(r, keys))?;
        (Form::Minisign, key)
    } else if let Some((sig, rest)) = ed25519::embedded_split(signature) {
        if !rest.iter().all(u8::is_ascii_whitespace) {
            return Err(refusal(
                Reason::plain("signify signature file has text after the signature"),
                keys,
            ));
        }
        let key =
            ed25519::check_signify(sig, manifest, &keys.ed25519).map_err(|r| refusal(r, keys))?;
        (Form::Signify, key)
    } else {
        let key = openpgp::check_detached(signature, manifest, &keys.openpgp)
            .map_err(|r| refusal(r, keys))?;
        (Form::OpenPgp, key)
    };
    Ok(Signed {
        text: manifest.to_vec(),
        form,
        key,
    })
}

/// Why a check failed, from the module that checked; `key` names the signature's issuer
/// when the signature named one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reason {
    key: Option<String>,
    text: String,
}

impl Reason {
    fn plain(text: &str) -> Reason {
        Reason {
            key: None,
            text: text.to_string(),
        }
    }

    fn by(key: impl fmt::Display, text: impl Into<String>) -> Reason {
        Reason {
            key: Some(key.to_string()),
            text: text.into(),
        }
    }
}

/// A refusal naming the issuer when the signature named one, else every key tried.
fn refusal(reason: Reason, keys: &Keyring) -> Refusal {
    Refusal {
        key: reason.key.unwrap_or_else(|| keys.describe()),
        reason: reason.text,
    }
}

#[cfg(test)]
mod tests;
