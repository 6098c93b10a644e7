//! Signed manifests end to end: `get -c URL --signed-by KEY` fetches the manifest and its
//! signature from a loopback server, believes it only once the signature checks, and
//! writes nothing at all otherwise; `verify --signed-by` does the same for files on disk.
//! Fixtures were made by the real tools (fixtures/signed/make.sh); where gpg, minisign or
//! signify are installed, tests also sign afresh with them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::server::{Reply, Route, Server};
use crate::support::{Cmd, Pat, command, fetchpool, list_dir, temp_dir, write_file};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/signed")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    fs::read(fixture(name)).unwrap()
}

const MINISIGN_KEY_ID: &str = "minisign/signify 7029865A879DF060";

/// A release directory on the server: the two payloads and the manifest at /rel/.
fn release(srv: &Server) {
    srv.route("/rel/alpha.txt", Route::file(read("alpha.txt")));
    srv.route("/rel/bravo.txt", Route::file(read("bravo.txt")));
    srv.route("/rel/SHA256SUMS", Route::file(read("SHA256SUMS")));
}

/// `get -c URL/rel/SHA256SUMS --signed-by minisign.pub -d out`: the release by its signed
/// manifest, with plain progress lines.
fn get_signed_release(srv: &Server, out: &Path) -> Cmd {
    fetchpool()
        .args([
            "get",
            "--progress",
            "plain",
            "-c",
            &srv.url("/rel/SHA256SUMS"),
        ])
        .arg("--signed-by")
        .arg(fixture("minisign.pub"))
        .arg("-d")
        .arg(out)
}

/// The manifest with one byte of a digest changed.
fn tampered() -> Vec<u8> {
    let mut bytes = read("SHA256SUMS");
    let i = bytes.iter().position(|&b| b == b' ').unwrap() - 1;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    bytes
}

#[test]
fn a_minisigned_manifest_by_url_downloads_the_whole_release() {
    let srv = Server::start();
    release(&srv);
    srv.route(
        "/rel/SHA256SUMS.minisig",
        Route::file(read("SHA256SUMS.minisig")),
    );
    let dir = temp_dir();
    let out = dir.path().join("out");
    get_signed_release(&srv, &out).run().assert(
        0,
        Pat::empty(),
        Pat::has(&[
            format!("good minisign signature by {MINISIGN_KEY_ID}").as_str(),
            srv.url("/rel/SHA256SUMS.minisig").as_str(),
            "alpha.txt (6 B, sha256 verified)",
            "bravo.txt (12 B, sha256 verified)",
            "2 ok, 0 failed; 2 verified",
        ]),
    );
    assert_eq!(list_dir(&out), ["alpha.txt", "bravo.txt"]);
    assert_eq!(fs::read(out.join("bravo.txt")).unwrap(), read("bravo.txt"));
}

#[test]
fn a_debian_style_gpg_signature_is_found_after_trying_sig_and_asc() {
    let srv = Server::start();
    release(&srv);
    srv.route("/rel/SHA256SUMS.gpg", Route::file(read("SHA256SUMS.gpg")));
    let dir = temp_dir();
    let run = fetchpool()
        .args(["get", "--json", "-c", &srv.url("/rel/SHA256SUMS")])
        .arg("--signed-by")
        .arg(fixture("release.gpg"))
        .arg("-d")
        .arg(dir.path())
        .run();
    run.assert(
        0,
        Pat::has(&[
            r#"{"signature":{"form":"OpenPGP","key":"OpenPGP "#,
            r#""status":"good""#,
            "SHA256SUMS.gpg",
        ]),
        Pat::has(&["good OpenPGP signature by OpenPGP ", "(subkey "]),
    );
    let first = run.stdout_str().lines().next().unwrap().to_string();
    assert!(first.starts_with(r#"{"signature""#), "{first}");
    for (suffix, asked) in [
        (".minisig", 0),
        (".sig", 1),
        (".asc", 1),
        (".gpg", 1),
        (".sign", 0),
    ] {
        assert_eq!(
            srv.requests(&format!("/rel/SHA256SUMS{suffix}")),
            asked,
            "{suffix}"
        );
    }
    assert_eq!(list_dir(dir.path()), ["alpha.txt", "bravo.txt"]);
}

#[test]
fn a_clearsigned_manifest_and_a_signify_embedded_one_carry_their_own_signature() {
    for (manifest, key, form) in [
        (
            "SHA256SUMS.clearsigned",
            "release.asc",
            "OpenPGP (clearsigned)",
        ),
        (
            "SHA256SUMS.embedded.sig",
            "signify.pub",
            "signify (embedded)",
        ),
    ] {
        let srv = Server::start();
        release(&srv);
        srv.route("/rel/sums", Route::file(read(manifest)));
        let dir = temp_dir();
        fetchpool()
            .args(["get", "-c", &srv.url("/rel/sums"), "--signed-by"])
            .arg(fixture(key))
            .arg("-d")
            .arg(dir.path())
            .run()
            .assert(
                0,
                Pat::empty(),
                Pat::has(&[
                    format!("good {form} signature").as_str(),
                    "2 ok, 0 failed; 2 verified",
                ]),
            );
        assert_eq!(
            list_dir(dir.path()),
            ["alpha.txt", "bravo.txt"],
            "{manifest}"
        );
        assert_eq!(
            srv.requests("/rel/sums.sig"),
            0,
            "no signature file is looked for"
        );
    }
}

/// Runs `get` on a manifest that must not be believed, and checks that it exits 3 with one
/// line naming manifest, signature and key, having fetched no payload and written nothing.
fn refused(srv: &Server, key: &Path, extra: &[&str], want: &[&str]) {
    let dir = temp_dir();
    let out = dir.path().join("out");
    let manifest = srv.url("/rel/SHA256SUMS");
    let mut expected = vec![format!("fetchpool: {manifest}: not trusted: ")];
    expected.extend(want.iter().map(|s| s.to_string()));
    fetchpool()
        .args(["get", "-c", &manifest, "--signed-by"])
        .arg(key)
        .args(extra)
        .arg("-d")
        .arg(&out)
        .run()
        .assert(3, Pat::empty(), Pat::has(&expected));
    assert!(!out.exists(), "the output directory was created");
    assert_eq!(srv.requests("/rel/alpha.txt"), 0);
    assert_eq!(srv.requests("/rel/bravo.txt"), 0);
}

#[test]
fn a_manifest_changed_by_one_byte_after_signing_is_refused_and_nothing_is_written() {
    let srv = Server::start();
    release(&srv);
    srv.route("/rel/SHA256SUMS", Route::file(tampered()));
    srv.route(
        "/rel/SHA256SUMS.minisig",
        Route::file(read("SHA256SUMS.minisig")),
    );
    refused(
        &srv,
        &fixture("minisign.pub"),
        &[],
        &[
            "BAD signature",
            &format!("signature {}", srv.url("/rel/SHA256SUMS.minisig")),
            &format!("key {MINISIGN_KEY_ID}"),
        ],
    );
    srv.route("/rel/SHA256SUMS.asc", Route::file(read("SHA256SUMS.asc")));
    srv.route(
        "/rel/SHA256SUMS.minisig",
        Route::script(vec![Reply::status(404)]),
    );
    refused(
        &srv,
        &fixture("release.asc"),
        &[],
        &["BAD signature", "key OpenPGP "],
    );
}

#[test]
fn a_signature_by_the_wrong_key_or_for_another_file_is_refused() {
    let srv = Server::start();
    release(&srv);
    srv.route(
        "/rel/SHA256SUMS.minisig",
        Route::file(read("SHA256SUMS.minisig")),
    );
    refused(
        &srv,
        &fixture("minisign-other.pub"),
        &[],
        &[
            "signed by an unknown key",
            &format!("key {MINISIGN_KEY_ID}"),
        ],
    );
    srv.route("/rel/OTHER.minisig", Route::file(read("OTHER.minisig")));
    refused(
        &srv,
        &fixture("minisign.pub"),
        &["--signature", &srv.url("/rel/OTHER.minisig")],
        &["BAD signature", "OTHER.minisig"],
    );
}

#[test]
fn an_expired_openpgp_key_is_refused() {
    let srv = Server::start();
    release(&srv);
    srv.route(
        "/rel/SHA256SUMS.asc",
        Route::file(read("SHA256SUMS.expired.asc")),
    );
    refused(&srv, &fixture("expired.asc"), &[], &["the key has expired"]);
}

#[test]
fn a_missing_signature_beside_a_url_manifest_is_refused_naming_where_it_looked() {
    let srv = Server::start();
    release(&srv);
    let base = srv.url("/rel/SHA256SUMS");
    refused(
        &srv,
        &fixture("minisign.pub"),
        &[],
        &[
            "no signature found",
            &format!("signature {base}.minisig, {base}.sig;"),
        ],
    );
}

#[test]
fn an_existing_output_directory_stays_empty_when_the_signature_is_bad() {
    let srv = Server::start();
    release(&srv);
    srv.route("/rel/SHA256SUMS", Route::file(tampered()));
    srv.route(
        "/rel/SHA256SUMS.sig",
        Route::file(read("SHA256SUMS.signify")),
    );
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-c", &srv.url("/rel/SHA256SUMS"), "--signed-by"])
        .arg(fixture("signify.pub"))
        .arg("-d")
        .arg(dir.path())
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::has(&["BAD signature", "SHA256SUMS.sig"]),
        );
    assert!(
        list_dir(dir.path()).is_empty(),
        "{:?}",
        list_dir(dir.path())
    );
}

#[test]
fn a_local_manifest_with_a_url_list_is_checked_too() {
    let srv = Server::start();
    release(&srv);
    let dir = temp_dir();
    let sums = write_file(dir.path(), "SHA256SUMS", &read("SHA256SUMS"));
    write_file(dir.path(), "SHA256SUMS.asc", &read("SHA256SUMS.asc"));
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "-c"])
        .arg(&sums)
        .arg("--signed-by")
        .arg(fixture("release.asc"))
        .arg(srv.url("/rel/alpha.txt"))
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["good OpenPGP signature", "alpha.txt (6 B, sha256 verified)"]),
        );
    assert_eq!(list_dir(&out), ["alpha.txt"]);
}

#[test]
fn verify_signed_by_checks_the_signature_before_any_file() {
    let dir = temp_dir();
    for name in ["alpha.txt", "bravo.txt", "SHA256SUMS", "SHA256SUMS.minisig"] {
        write_file(dir.path(), name, &read(name));
    }
    fetchpool()
        .args(["verify", "SHA256SUMS", "--signed-by"])
        .arg(fixture("minisign.pub"))
        .current_dir(dir.path())
        .run()
        .assert(
            0,
            Pat::eq("alpha.txt: OK\nbravo.txt: OK\n"),
            Pat::has(&[&format!(
                "fetchpool: SHA256SUMS: good minisign signature by {MINISIGN_KEY_ID} (SHA256SUMS.minisig)"
            )]),
        );
    write_file(dir.path(), "SHA256SUMS", &tampered());
    fetchpool()
        .args(["verify", "SHA256SUMS", "--signed-by"])
        .arg(fixture("minisign.pub"))
        .current_dir(dir.path())
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::eq(format!(
                "fetchpool: SHA256SUMS: not trusted: BAD signature (signature SHA256SUMS.minisig; key {MINISIGN_KEY_ID})\n"
            )),
        );
}

#[test]
fn verify_refuses_text_smuggled_after_a_clearsigned_manifests_signature() {
    let dir = temp_dir();
    for name in ["alpha.txt", "bravo.txt"] {
        write_file(dir.path(), name, &read(name));
    }
    write_file(
        dir.path(),
        "sha256sums.asc",
        &read("SHA256SUMS.clearsigned"),
    );
    let verify = || {
        fetchpool()
            .args(["verify", "sha256sums.asc", "--signed-by"])
            .arg(fixture("release.asc"))
            .current_dir(dir.path())
            .run()
    };
    verify().assert(
        0,
        Pat::eq("alpha.txt: OK\nbravo.txt: OK\n"),
        Pat::has(&["good OpenPGP (clearsigned) signature"]),
    );
    // Text after the signature block is not signed: never read as entries.
    let mut clear = read("SHA256SUMS.clearsigned");
    clear.extend_from_slice(format!("{}  evil.txt\n", "0".repeat(64)).as_bytes());
    write_file(dir.path(), "sha256sums.asc", &clear);
    verify().assert(
        3,
        Pat::empty(),
        Pat::has(&["sha256sums.asc: not trusted: malformed clearsigned manifest"]),
    );
}

/// Whether a tool is installed; if not, says so (the cross-check is optional).
fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()));
    if !found {
        eprintln!("note: {tool} is not installed; skipping its cross-check");
    }
    found
}

/// Signs `SHA256SUMS` in a fresh directory with the real tool (`sign` makes the key and the
/// signature there, and gives the public key file), then checks that verify believes it
/// and refuses it once the manifest changed.
fn cross_check(sign: impl FnOnce(&Path) -> PathBuf) {
    let dir = temp_dir();
    for name in ["alpha.txt", "bravo.txt", "SHA256SUMS"] {
        write_file(dir.path(), name, &read(name));
    }
    let key = sign(dir.path());
    fetchpool()
        .args(["verify", "SHA256SUMS", "--signed-by"])
        .arg(&key)
        .current_dir(dir.path())
        .run()
        .assert(
            0,
            Pat::eq("alpha.txt: OK\nbravo.txt: OK\n"),
            Pat::has(&["good "]),
        );
    write_file(dir.path(), "SHA256SUMS", &tampered());
    fetchpool()
        .args(["verify", "SHA256SUMS", "--signed-by"])
        .arg(&key)
        .current_dir(dir.path())
        .run()
        .assert(3, Pat::empty(), Pat::has(&["not trusted: BAD signature"]));
}

#[test]
fn signatures_made_now_by_minisign_verify_and_fail_once_tampered() {
    if !have("minisign") {
        return;
    }
    cross_check(|dir| {
        command("minisign")
            .args(["-G", "-W", "-p", "k.pub", "-s", "k.key"])
            .current_dir(dir)
            .run()
            .assert(0, Pat::any(), Pat::any());
        command("minisign")
            .args(["-S", "-s", "k.key", "-m", "SHA256SUMS"])
            .current_dir(dir)
            .run()
            .assert(0, Pat::any(), Pat::any());
        dir.join("k.pub")
    });
}

#[test]
fn signatures_made_now_by_signify_verify_and_fail_once_tampered() {
    if !have("signify-openbsd") {
        return;
    }
    cross_check(|dir| {
        command("signify-openbsd")
            .args(["-G", "-n", "-p", "k.pub", "-s", "k.sec"])
            .current_dir(dir)
            .run()
            .assert(0, Pat::any(), Pat::any());
        command("signify-openbsd")
            .args([
                "-S",
                "-s",
                "k.sec",
                "-m",
                "SHA256SUMS",
                "-x",
                "SHA256SUMS.sig",
            ])
            .current_dir(dir)
            .run()
            .assert(0, Pat::any(), Pat::any());
        dir.join("k.pub")
    });
}

#[test]
fn signatures_made_now_by_gpg_verify_and_fail_once_tampered() {
    if !have("gpg") {
        return;
    }
    cross_check(|dir| {
        let home = dir.join("gnupg");
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let gpg = |args: &[&str]| {
            command("gpg")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .current_dir(dir)
                .run()
                .assert(0, Pat::any(), Pat::any());
        };
        gpg(&[
            "--quick-gen-key",
            "Cross Check <x@example.org>",
            "rsa2048",
            "sign",
            "1y",
        ]);
        gpg(&["--armor", "--export", "-o", "k.asc", "x@example.org"]);
        gpg(&["--detach-sign", "-o", "SHA256SUMS.sig", "SHA256SUMS"]);
        dir.join("k.asc")
    });
}

#[test]
fn require_digest_fails_a_file_no_manifest_lists_and_never_fetches_it() {
    let srv = Server::start();
    release(&srv);
    srv.route("/rel/extra.bin", Route::file(b"unlisted"));
    let dir = temp_dir();
    let sums = write_file(dir.path(), "SHA256SUMS", &read("SHA256SUMS"));
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "--require-digest", "-c"])
        .arg(&sums)
        .args([srv.url("/rel/alpha.txt"), srv.url("/rel/extra.bin")])
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::has(&[
                "alpha.txt (6 B, sha256 verified)",
                "extra.bin: no known digest (not in a -c manifest; --require-digest): not downloaded",
            ]),
        );
    assert_eq!(list_dir(&out), ["alpha.txt"]);
    assert_eq!(srv.requests("/rel/extra.bin"), 0);
}

#[test]
fn signed_by_turns_require_digest_on() {
    let srv = Server::start();
    release(&srv);
    srv.route("/rel/extra.bin", Route::file(b"unlisted"));
    let dir = temp_dir();
    let sums = write_file(dir.path(), "SHA256SUMS", &read("SHA256SUMS"));
    write_file(
        dir.path(),
        "SHA256SUMS.minisig",
        &read("SHA256SUMS.minisig"),
    );
    fetchpool()
        .args(["get", "--json", "-c"])
        .arg(&sums)
        .arg("--signed-by")
        .arg(fixture("minisign.pub"))
        .arg(srv.url("/rel/extra.bin"))
        .arg("-d")
        .arg(dir.path().join("out"))
        .run()
        .assert(
            3,
            Pat::has(&[
                r#""status":"failed""#,
                "no known digest",
                r#""exit_code":3"#,
            ]),
            Pat::any(),
        );
    assert_eq!(srv.requests("/rel/extra.bin"), 0);
}

#[test]
fn a_file_the_manifest_does_not_list_is_said_to_be_unverified_on_its_line_and_in_json() {
    let srv = Server::start();
    release(&srv);
    srv.route("/rel/extra.bin", Route::file(b"unlisted"));
    let dir = temp_dir();
    let sums = write_file(dir.path(), "SHA256SUMS", &read("SHA256SUMS"));
    let get = |flag: &str, out: &str| {
        fetchpool()
            .args(["get", flag, "-c"])
            .arg(&sums)
            .args([srv.url("/rel/alpha.txt"), srv.url("/rel/extra.bin")])
            .arg("-d")
            .arg(dir.path().join(out))
            .run()
    };
    get("--progress=plain", "plain").assert(
        0,
        Pat::empty(),
        Pat::has(&[
            "alpha.txt (6 B, sha256 verified)",
            "extra.bin (8 B, not in manifest, not verified)",
        ]),
    );
    let run = get("--json", "json");
    run.assert(0, Pat::any(), Pat::any());
    let lines: Vec<String> = run.stdout_str().lines().map(str::to_string).collect();
    let of = |name: &str| lines.iter().find(|l| l.contains(name)).unwrap().clone();
    assert!(
        of("extra.bin").contains(r#""not_in_manifest":true"#),
        "{lines:?}"
    );
    assert!(
        of("alpha.txt").contains(r#""not_in_manifest":false"#),
        "{lines:?}"
    );
}

#[test]
fn a_manifest_and_its_signature_by_url_that_answer_503_twice_are_retried_and_used() {
    let srv = Server::start();
    release(&srv);
    let flaky = |bytes: Vec<u8>| {
        Route::script(vec![
            Reply::status(503).header("Retry-After", "1"),
            Reply::status(503),
            Reply::file(bytes),
        ])
        .expect(3)
    };
    srv.route("/rel/SHA256SUMS", flaky(read("SHA256SUMS")));
    srv.route("/rel/SHA256SUMS.minisig", flaky(read("SHA256SUMS.minisig")));
    let dir = temp_dir();
    let out = dir.path().join("out");
    get_signed_release(&srv, &out)
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                format!(
                    "RETRY {}: HTTP 503 Service Unavailable; attempt 3 in",
                    srv.url("/rel/SHA256SUMS")
                )
                .as_str(),
                format!(
                    "RETRY {}: HTTP 503 Service Unavailable; attempt 3 in",
                    srv.url("/rel/SHA256SUMS.minisig")
                )
                .as_str(),
                "good minisign signature",
                "2 ok, 0 failed; 2 verified",
            ]),
        );
    assert_eq!(srv.requests("/rel/SHA256SUMS"), 3);
    assert_eq!(srv.requests("/rel/SHA256SUMS.minisig"), 3);
    assert_eq!(list_dir(&out), ["alpha.txt", "bravo.txt"]);
}

#[test]
fn a_signature_url_that_keeps_failing_is_exit_3_after_its_retries_and_nothing_is_written() {
    let srv = Server::start();
    release(&srv);
    srv.route(
        "/rel/SHA256SUMS.minisig",
        Route::script(vec![Reply::status(503)]).expect(2),
    );
    let dir = temp_dir();
    let out = dir.path().join("out");
    let manifest = srv.url("/rel/SHA256SUMS");
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .args([
            "get",
            "-q",
            "--retries",
            "1",
            "-c",
            &manifest,
            "--signed-by",
        ])
        .arg(fixture("minisign.pub"))
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::eq(format!(
                "fetchpool: {manifest}: not trusted: cannot read the signature: HTTP 503 \
                 Service Unavailable (signature {manifest}.minisig; key {MINISIGN_KEY_ID})\n"
            )),
        );
    assert_eq!(srv.requests("/rel/SHA256SUMS.minisig"), 2, "one retry");
    assert_eq!(
        srv.requests("/rel/SHA256SUMS.sig"),
        0,
        "failing is not missing"
    );
    assert!(!out.exists(), "the output directory was created");
    assert_eq!(srv.requests("/rel/alpha.txt"), 0);
}
