//! Which signature vouches for a manifest: the one inside it (clearsigned, signify
//! embedded), the one given with `--signature`, or the first found beside it. Reading a
//! path or a URL is the caller's (`Fetch`); this file only decides what to read and in
//! which order, and hands the bytes to the checks.

use super::{Keyring, Refusal, Signed};

/// Suffixes tried beside a manifest, in this order (documented in README and --help):
/// minisign's own first, then signify/OpenPGP binary `.sig`, OpenPGP armored `.asc`, and
/// the binary `.gpg` and `.sign` that Debian and Ubuntu use.
pub(crate) const BESIDE: [&str; 5] = [".minisig", ".sig", ".asc", ".gpg", ".sign"];

/// Reads a path or URL: `Ok(None)` when it does not exist (no such file, HTTP 404 or
/// 410), `Err` for any other trouble (which is not the same as "missing").
pub(crate) type Fetch<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// A manifest whose signature checked, and where that signature was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vouched {
    pub signed: Signed,
    /// The signature's path or URL; the manifest's own name when it was embedded.
    pub signature: String,
}

/// Why a manifest is not believed, naming the signature looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unvouched {
    /// The signature's path or URL, or every place looked at when none was found.
    pub signature: String,
    pub refusal: Refusal,
}

/// Checks the manifest `bytes` read from `manifest` (a path or URL): with `given`, against
/// that signature; else its embedded one; else the first of `BESIDE` that exists.
pub(crate) fn vouch(
    manifest: &str,
    bytes: &[u8],
    given: Option<&str>,
    keys: &Keyring,
    fetch: &Fetch<'_>,
) -> Result<Vouched, Unvouched> {
    let read = |at: &str| -> Result<Option<Vec<u8>>, Unvouched> {
        fetch(at).map_err(|why| Unvouched {
            signature: at.to_string(),
            refusal: Refusal {
                key: keys.describe(),
                reason: format!("cannot read the signature: {why}"),
            },
        })
    };
    let detached = |at: &str, sig: &[u8]| {
        super::check_detached(bytes, sig, keys)
            .map(|signed| Vouched {
                signed,
                signature: at.to_string(),
            })
            .map_err(|refusal| Unvouched {
                signature: at.to_string(),
                refusal,
            })
    };
    if let Some(at) = given {
        return match read(at)? {
            Some(sig) => detached(at, &sig),
            None => Err(missing(at, keys)),
        };
    }
    if super::is_embedded(bytes) {
        return super::check_embedded(bytes, keys)
            .map(|signed| Vouched {
                signed,
                signature: manifest.to_string(),
            })
            .map_err(|refusal| Unvouched {
                signature: manifest.to_string(),
                refusal,
            });
    }
    let candidates = beside(manifest, keys);
    for at in &candidates {
        if let Some(sig) = read(at)? {
            return detached(at, &sig);
        }
    }
    Err(missing(&candidates.join(", "), keys))
}

fn missing(looked_at: &str, keys: &Keyring) -> Unvouched {
    Unvouched {
        signature: looked_at.to_string(),
        refusal: Refusal {
            key: keys.describe(),
            reason: "no signature found".to_string(),
        },
    }
}

/// The signature names to try beside `manifest`, for the kinds of key given: `.minisig`
/// only with a minisign/signify key, `.asc`, `.gpg` and `.sign` only with an OpenPGP key.
/// For a URL the suffix goes on the path (before any `?query` or `#fragment`).
pub(crate) fn beside(manifest: &str, keys: &Keyring) -> Vec<String> {
    let (path, rest) = match manifest.find(['?', '#']) {
        Some(i) if manifest.contains("://") => manifest.split_at(i),
        _ => (manifest, ""),
    };
    BESIDE
        .iter()
        .filter(|suffix| match **suffix {
            ".minisig" => keys.has_ed25519(),
            ".sig" => true,
            _ => keys.has_openpgp(),
        })
        .map(|suffix| format!("{path}{suffix}{rest}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/signed/",
                $name
            ))
            .as_slice()
        };
    }

    fn ring(key: &[u8]) -> Keyring {
        let mut ring = Keyring::default();
        ring.add(key).unwrap();
        ring
    }

    /// A fetch over a fixed set of names; records what was asked.
    fn files<'a>(
        have: &'a HashMap<&'a str, &'a [u8]>,
        asked: &'a std::cell::RefCell<Vec<String>>,
    ) -> impl Fn(&str) -> Result<Option<Vec<u8>>, String> + 'a {
        move |at: &str| {
            asked.borrow_mut().push(at.to_string());
            Ok(have.get(at).map(|b| b.to_vec()))
        }
    }

    #[test]
    fn tries_the_documented_suffixes_in_order_for_the_keys_given() {
        let both = {
            let mut r = ring(fixture!("minisign.pub"));
            r.add(fixture!("release.asc")).unwrap();
            r
        };
        assert_eq!(
            beside("https://h/rel/SHA256SUMS?x=1", &both),
            [
                "https://h/rel/SHA256SUMS.minisig?x=1",
                "https://h/rel/SHA256SUMS.sig?x=1",
                "https://h/rel/SHA256SUMS.asc?x=1",
                "https://h/rel/SHA256SUMS.gpg?x=1",
                "https://h/rel/SHA256SUMS.sign?x=1",
            ]
        );
        assert_eq!(
            beside("SUMS", &ring(fixture!("minisign.pub"))),
            ["SUMS.minisig", "SUMS.sig"]
        );
        assert_eq!(
            beside("SUMS", &ring(fixture!("release.asc"))),
            ["SUMS.sig", "SUMS.asc", "SUMS.gpg", "SUMS.sign"]
        );
    }

    #[test]
    fn finds_the_first_signature_beside_and_stops_there() {
        let have = HashMap::from([("S.gpg", fixture!("SHA256SUMS.gpg"))]);
        let asked = Default::default();
        let keys = ring(fixture!("release.asc"));
        let got = vouch(
            "S",
            fixture!("SHA256SUMS"),
            None,
            &keys,
            &files(&have, &asked),
        )
        .unwrap();
        assert_eq!(got.signature, "S.gpg");
        assert_eq!(asked.take(), ["S.sig", "S.asc", "S.gpg"]);
    }

    #[test]
    fn a_missing_signature_names_every_place_looked_at() {
        let have = HashMap::new();
        let asked = Default::default();
        let keys = ring(fixture!("minisign.pub"));
        let e = vouch("S", b"x", None, &keys, &files(&have, &asked)).unwrap_err();
        assert_eq!(e.signature, "S.minisig, S.sig");
        assert_eq!(e.refusal.reason, "no signature found");
        assert_eq!(e.refusal.key, "minisign/signify 7029865A879DF060");
    }

    #[test]
    fn an_embedded_signature_needs_no_file_and_a_given_one_wins() {
        let have = HashMap::from([("given.minisig", fixture!("SHA256SUMS.minisig"))]);
        let asked = Default::default();
        let keys = ring(fixture!("signify.pub"));
        let got = vouch(
            "SHA256.sig",
            fixture!("SHA256SUMS.embedded.sig"),
            None,
            &keys,
            &files(&have, &asked),
        )
        .unwrap();
        assert_eq!(got.signed.text, fixture!("SHA256SUMS"));
        assert!(asked.borrow().is_empty());

        let keys = ring(fixture!("minisign.pub"));
        let got = vouch(
            "SHA256SUMS",
            fixture!("SHA256SUMS"),
            Some("given.minisig"),
            &keys,
            &files(&have, &asked),
        )
        .unwrap();
        assert_eq!(got.signature, "given.minisig");
    }

    #[test]
    fn trouble_reading_a_signature_is_not_taken_for_its_absence() {
        let keys = ring(fixture!("minisign.pub"));
        let fetch = |_: &str| -> Result<Option<Vec<u8>>, String> { Err("HTTP 500".into()) };
        let e = vouch("S", b"x", None, &keys, &fetch).unwrap_err();
        assert_eq!(e.signature, "S.minisig");
        assert!(e.refusal.reason.contains("HTTP 500"));
    }
}
