//! Every signature form, good and bad, against fixtures that the real tools made
//! (fixtures/signed/make.sh: gpg, minisign, signify-openbsd).

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

const MANIFEST: &[u8] = fixture!("SHA256SUMS");

fn keys(files: &[&[u8]]) -> Keyring {
    let mut ring = Keyring::default();
    for bytes in files {
        ring.add(bytes).expect("the fixture key reads");
    }
    ring
}

/// The manifest with one byte changed, as an attacker would (a digest's last hex digit).
fn tampered() -> Vec<u8> {
    let mut bytes = MANIFEST.to_vec();
    let i = bytes.iter().position(|&b| b == b' ').unwrap() - 1;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    bytes
}

#[test]
fn minisign_prehashed_and_legacy_signatures_verify() {
    let ring = keys(&[fixture!("minisign.pub")]);
    for sig in [
        fixture!("SHA256SUMS.minisig"),
        fixture!("SHA256SUMS.legacy.minisig"),
    ] {
        let signed = check_detached(MANIFEST, sig, &ring).unwrap();
        assert_eq!(signed.form, Form::Minisign);
        assert_eq!(signed.text, MANIFEST);
        assert_eq!(signed.key, "minisign/signify 7029865A879DF060");
    }
}

#[test]
fn a_minisign_key_given_as_its_rw_string_works() {
    let pubfile = std::str::from_utf8(fixture!("minisign.pub")).unwrap();
    let line = pubfile.lines().nth(1).unwrap();
    let ring = keys(&[line.as_bytes()]);
    assert!(check_detached(MANIFEST, fixture!("SHA256SUMS.minisig"), &ring).is_ok());
}

#[test]
fn minisign_refuses_a_changed_manifest_the_wrong_key_and_another_files_signature() {
    let ring = keys(&[fixture!("minisign.pub")]);
    let sig = fixture!("SHA256SUMS.minisig");
    let bad = check_detached(&tampered(), sig, &ring).unwrap_err();
    assert_eq!(bad.reason, "BAD signature");
    assert_eq!(bad.key, "minisign/signify 7029865A879DF060");

    let stranger = keys(&[fixture!("minisign-other.pub")]);
    let unknown = check_detached(MANIFEST, sig, &stranger).unwrap_err();
    assert_eq!(unknown.reason, "signed by an unknown key");
    assert_eq!(unknown.key, "minisign/signify 7029865A879DF060");

    let other = check_detached(MANIFEST, fixture!("OTHER.minisig"), &ring).unwrap_err();
    assert_eq!(other.reason, "BAD signature");
}

#[test]
fn signify_detached_and_embedded_signatures_verify() {
    let ring = keys(&[fixture!("signify.pub")]);
    let signed = check_detached(MANIFEST, fixture!("SHA256SUMS.signify"), &ring).unwrap();
    assert_eq!(signed.form, Form::Signify);

    let embedded = fixture!("SHA256SUMS.embedded.sig");
    assert!(is_embedded(embedded));
    let signed = check_embedded(embedded, &ring).unwrap();
    assert_eq!(signed.form, Form::SignifyEmbedded);
    assert_eq!(signed.text, MANIFEST, "only the signed text is kept");
}

#[test]
fn signify_refuses_a_changed_manifest_and_a_minisign_key() {
    let ring = keys(&[fixture!("signify.pub")]);
    let bad = check_detached(&tampered(), fixture!("SHA256SUMS.signify"), &ring).unwrap_err();
    assert_eq!(bad.reason, "BAD signature");

    let mut embedded = fixture!("SHA256SUMS.embedded.sig").to_vec();
    let last = embedded.len() - 2;
    embedded[last] ^= 1;
    assert_eq!(
        check_embedded(&embedded, &ring).unwrap_err().reason,
        "BAD signature"
    );

    let wrong = keys(&[fixture!("minisign.pub")]);
    let unknown = check_detached(MANIFEST, fixture!("SHA256SUMS.signify"), &wrong).unwrap_err();
    assert_eq!(unknown.reason, "signed by an unknown key");
}

#[test]
fn openpgp_detached_armored_and_binary_signatures_verify_by_a_signing_subkey() {
    for key in [fixture!("release.asc"), fixture!("release.gpg")] {
        let ring = keys(&[key]);
        for sig in [fixture!("SHA256SUMS.asc"), fixture!("SHA256SUMS.gpg")] {
            let signed = check_detached(MANIFEST, sig, &ring).unwrap();
            assert_eq!(signed.form, Form::OpenPgp);
            assert!(signed.key.starts_with("OpenPGP "), "{}", signed.key);
            assert!(signed.key.contains("(subkey "), "{}", signed.key);
        }
    }
}

#[test]
fn openpgp_clearsigned_manifest_yields_only_the_signed_text() {
    let ring = keys(&[fixture!("release.asc")]);
    let clear = fixture!("SHA256SUMS.clearsigned");
    assert!(is_embedded(clear));
    let signed = check_embedded(clear, &ring).unwrap();
    assert_eq!(signed.form, Form::OpenPgpClearsigned);
    // As signed (RFC 9580 §7.2): CRLF line ends, and the last line break belongs to the
    // armor, not to the text.
    let text = String::from_utf8(signed.text).unwrap();
    let manifest = std::str::from_utf8(MANIFEST).unwrap();
    assert_eq!(text, manifest.trim_end().replace('\n', "\r\n"));
}

#[test]
fn openpgp_refuses_changes_wrong_keys_expired_keys_and_other_files() {
    let ring = keys(&[fixture!("release.asc")]);
    let sig = fixture!("SHA256SUMS.asc");
    assert_eq!(
        check_detached(&tampered(), sig, &ring).unwrap_err().reason,
        "BAD signature"
    );
    let other = check_detached(MANIFEST, fixture!("OTHER.asc"), &ring).unwrap_err();
    assert_eq!(other.reason, "BAD signature");

    let stranger = keys(&[fixture!("other.asc")]);
    let unknown = check_detached(MANIFEST, sig, &stranger).unwrap_err();
    assert_eq!(unknown.reason, "signed by an unknown key");
    assert!(unknown.key.starts_with("OpenPGP "), "{}", unknown.key);

    let expired = keys(&[fixture!("expired.asc")]);
    let old = check_detached(MANIFEST, fixture!("SHA256SUMS.expired.asc"), &expired).unwrap_err();
    assert_eq!(old.reason, "the key has expired");

    let clear = String::from_utf8(fixture!("SHA256SUMS.clearsigned").to_vec()).unwrap();
    let changed = clear.replacen("alpha.txt", "alpha.tar", 1);
    assert_eq!(
        check_embedded(changed.as_bytes(), &ring)
            .unwrap_err()
            .reason,
        "BAD signature"
    );
}

#[test]
fn any_key_of_several_may_sign() {
    let ring = keys(&[
        fixture!("minisign-other.pub"),
        fixture!("other.asc"),
        fixture!("release.asc"),
    ]);
    assert!(check_detached(MANIFEST, fixture!("SHA256SUMS.asc"), &ring).is_ok());
    assert!(check_detached(MANIFEST, fixture!("SHA256SUMS.other.asc"), &ring).is_ok());
}

#[test]
fn a_signature_of_the_wrong_kind_for_the_keys_says_so() {
    let ring = keys(&[fixture!("release.asc")]);
    let e = check_detached(MANIFEST, fixture!("SHA256SUMS.minisig"), &ring).unwrap_err();
    assert!(
        e.reason.contains("no minisign or signify key"),
        "{}",
        e.reason
    );
    let ring = keys(&[fixture!("minisign.pub")]);
    let e = check_detached(MANIFEST, fixture!("SHA256SUMS.asc"), &ring).unwrap_err();
    assert!(e.reason.contains("no OpenPGP key"), "{}", e.reason);
}

#[test]
fn garbage_keys_and_signatures_are_refused() {
    let mut ring = Keyring::default();
    assert!(ring.add(b"hello").is_err());
    assert!(ring.add(b"untrusted comment: x\nRWnotbase64!!\n").is_err());
    assert!(ring.add(fixture!("SHA256SUMS.minisig")).is_err());
    let ring = keys(&[fixture!("release.asc"), fixture!("minisign.pub")]);
    let e = check_detached(MANIFEST, b"not a signature", &ring).unwrap_err();
    assert!(e.reason.starts_with("malformed"), "{}", e.reason);
    assert!(!is_embedded(MANIFEST));
}
