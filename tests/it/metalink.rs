//! Metalink 4 (RFC 5854) as input: `-i FILE.meta4` (recognised by content) or `-i URL`;
//! each `<file>` is one job, fetched from its highest-priority URL and verified against
//! its `<hash>`; names with directories stay inside `-d`, and a bad entry is refused with
//! its file and line before anything is fetched.

use std::fs;

use crate::support::server::{Route, Server};
use crate::support::{Pat, fetchpool, list_dir, payload, sha256_hex, temp_dir, write_file};

const NS: &str = "urn:ietf:params:xml:ns:metalink";

fn file_entry(name: &str, body: &[u8], urls: &[(u32, String)]) -> String {
    let mut xml = format!(
        "  <file name=\"{name}\">\n    <size>{}</size>\n    <hash type=\"sha-256\">{}</hash>\n",
        body.len(),
        sha256_hex(body)
    );
    for (priority, url) in urls {
        xml += &format!("    <url priority=\"{priority}\">{url}</url>\n");
    }
    xml + "  </file>\n"
}

fn document(files: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"{NS}\">\n{}</metalink>\n",
        files.concat()
    )
}

#[test]
fn a_metalink_file_downloads_each_file_from_its_first_priority_url_and_verifies_it() {
    let srv = Server::start();
    let iso = payload(41, 300_000);
    let notes = b"release notes\n".to_vec();
    srv.route("/a/rel.iso", Route::file(&iso));
    srv.route("/b/rel.iso", Route::file(&iso));
    srv.route("/a/docs/notes.txt", Route::file(&notes));
    let dir = temp_dir();
    // Listed low priority first: order in the document does not matter, priority does.
    let meta = document(&[
        file_entry(
            "rel.iso",
            &iso,
            &[(2, srv.url("/b/rel.iso")), (1, srv.url("/a/rel.iso"))],
        ),
        file_entry(
            "docs/notes.txt",
            &notes,
            &[(1, srv.url("/a/docs/notes.txt"))],
        ),
    ]);
    // No .meta4 suffix: recognised by content.
    let list = write_file(dir.path(), "release.xml", meta.as_bytes());
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "--progress", "plain", "-i"])
        .arg(&list)
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                "rel.iso (292.97 KiB, sha256 verified)",
                "docs/notes.txt (14 B, sha256 verified)",
                "2 ok, 0 failed; 2 verified",
            ]),
        );
    assert_eq!(list_dir(&out), ["docs", "rel.iso"]);
    assert_eq!(fs::read(out.join("docs/notes.txt")).unwrap(), notes);
    assert_eq!(srv.requests("/a/rel.iso"), 1);
    assert_eq!(srv.requests("/b/rel.iso"), 0);
}

#[test]
fn a_metalink_by_url_is_fetched_then_followed() {
    let srv = Server::start();
    let body = payload(42, 10_000);
    srv.route("/f.bin", Route::file(&body));
    let meta = document(&[file_entry("f.bin", &body, &[(1, srv.url("/f.bin"))])]);
    srv.route("/rel.meta4", Route::file(meta.as_bytes()));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-i", &srv.url("/rel.meta4"), "-d"])
        .arg(dir.path())
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["f.bin (9.77 KiB, sha256 verified)"]),
        );
    assert_eq!(list_dir(dir.path()), ["f.bin"]);
}

#[test]
fn a_metalink_name_that_climbs_out_of_the_directory_is_rejected_before_any_download() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    srv.route("/evil", Route::file(b"evil"));
    let dir = temp_dir();
    let meta = document(&[
        file_entry("ok", b"ok", &[(1, srv.url("/ok"))]),
        file_entry("sub/../../evil", b"evil", &[(1, srv.url("/evil"))]),
    ]);
    let list = write_file(dir.path(), "x.meta4", meta.as_bytes());
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "-i"])
        .arg(&list)
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq(format!(
                "fetchpool: {}:8: file name 'sub/../../evil': '..' path component\n",
                list.display()
            )),
        );
    assert!(!out.exists() || list_dir(&out).is_empty());
    assert!(!dir.path().join("evil").exists());
    assert_eq!(srv.requests("/ok") + srv.requests("/evil"), 0);
}

#[test]
fn a_metalink_hash_that_does_not_match_fails_the_file_with_exit_3() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"served"));
    let dir = temp_dir();
    let meta = document(&[file_entry("f", b"expected", &[(1, srv.url("/f"))])]);
    let list = write_file(dir.path(), "m.meta4", meta.as_bytes());
    fetchpool()
        .args(["get", "-i"])
        .arg(&list)
        .arg("-d")
        .arg(dir.path().join("out"))
        .run()
        .assert(3, Pat::empty(), Pat::has(&["f: checksum mismatch"]));
    assert!(list_dir(&dir.path().join("out")).is_empty());
}
