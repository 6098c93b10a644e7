//! TLS (standard roots, --cacert, --insecure), redirects that would downgrade or leak
//! credentials, headers and .netrc, and secrets kept out of every output.

use std::fs;

use crate::support::server::{Reply, Route, Server};
use crate::support::tls::{Canned, TlsServer};
use crate::support::{Pat, fetchpool, temp_dir, write_file};

#[test]
fn https_with_an_unknown_ca_fails_and_cacert_makes_it_trusted() {
    let tls = TlsServer::start(vec![("/secure.bin", Canned::ok(b"over tls"))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    fetchpool()
        .args(["get", "--retries", "0", "-d"])
        .arg(dir.path().join("untrusted"))
        .arg(tls.url("/secure.bin"))
        .run()
        .assert(1, Pat::empty(), Pat::has(&["FAILED   ", "secure.bin"]));
    fetchpool()
        .args(["get", "--cacert"])
        .arg(&ca)
        .arg("-d")
        .arg(dir.path().join("trusted"))
        .arg(tls.url("/secure.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        fs::read(dir.path().join("trusted/secure.bin")).unwrap(),
        b"over tls"
    );
}

#[test]
fn insecure_skips_verification_and_says_so_loudly() {
    let tls = TlsServer::start(vec![("/x", Canned::ok(b"x"))]);
    let dir = temp_dir();
    fetchpool()
        .args(["get", "--insecure", "-d"])
        .arg(dir.path())
        .arg(tls.url("/x"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["--insecure: TLS certificates are NOT verified", "1 ok"]),
        );
}

#[test]
fn a_redirect_from_https_to_http_is_refused_unless_allowed() {
    let plain = Server::start();
    plain.route("/file", Route::file(b"plain"));
    let tls = TlsServer::start(vec![("/down", Canned::redirect(&plain.url("/file")))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    let get = || {
        fetchpool()
            .args(["get", "--cacert"])
            .arg(&ca)
            .arg("-d")
            .arg(dir.path().join("out"))
            .arg(tls.url("/down"))
    };
    get().run().assert(
        1,
        Pat::empty(),
        Pat::has(&["refused redirect from https to http"]),
    );
    assert_eq!(plain.requests("/file"), 0);
    get()
        .arg("--allow-insecure-redirect")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
}

#[test]
fn credentials_go_only_to_the_host_they_were_given_for() {
    let other = Server::start();
    other.route("/data", Route::file(b"elsewhere"));
    let first = Server::start();
    first.route(
        "/start",
        Route::script(vec![Reply::redirect(302, &other.url("/data"))]),
    );
    let dir = temp_dir();
    fetchpool()
        .args([
            "get",
            "-H",
            "Authorization: Bearer s3cret-token",
            "-H",
            "X-Trace: 42",
            "--user-agent",
            "batch-job/7",
            "-d",
        ])
        .arg(dir.path())
        .arg(first.url("/start"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]).and_not(&["s3cret"]));
    let asked = &first.log()[0];
    assert_eq!(asked.header("Authorization"), Some("Bearer s3cret-token"));
    assert_eq!(asked.header("X-Trace"), Some("42"));
    assert_eq!(asked.header("User-Agent"), Some("batch-job/7"));
    assert_eq!(asked.header("Accept-Encoding"), Some("identity"));
    let redirected = &other.log()[0];
    assert_eq!(
        redirected.header("Authorization"),
        None,
        "not sent to another host"
    );
    assert_eq!(redirected.header("X-Trace"), Some("42"));
}

#[test]
fn netrc_logins_become_basic_auth_for_their_host() {
    let srv = Server::start();
    srv.route("/private", Route::file(b"mine"));
    let dir = temp_dir();
    let netrc = write_file(
        dir.path(),
        "netrc",
        b"machine 127.0.0.1 login alice password wonderland\n",
    );
    fetchpool()
        .args(["get", "--netrc-file"])
        .arg(&netrc)
        .arg("-d")
        .arg(dir.path().join("out"))
        .arg(srv.url("/private"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["1 ok"]).and_not(&["wonderland"]),
        );
    assert_eq!(
        srv.log()[0].header("Authorization"),
        Some("Basic YWxpY2U6d29uZGVybGFuZA==")
    );
}

#[test]
fn url_passwords_never_appear_in_output_or_json() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    let url = srv.url("/ok").replace("http://", "http://bob:hunter2@");
    let missing = srv
        .url("/missing")
        .replace("http://", "http://bob:hunter2@");
    let dir = temp_dir();
    let run = fetchpool()
        .args(["get", "--json", "-d"])
        .arg(dir.path())
        .args([&url, &missing])
        .run();
    run.assert(
        1,
        Pat::has(&["\"status\":\"ok\""]).and_not(&["hunter2", "bob:"]),
        Pat::has(&["HTTP 404"]).and_not(&["hunter2", "bob:"]),
    );
    assert_eq!(
        srv.log()[0].header("Authorization"),
        Some("Basic Ym9iOmh1bnRlcjI=")
    );
}

#[test]
fn bad_headers_and_unreadable_cacert_are_usage_errors() {
    fetchpool()
        .args(["get", "-H", "no colon here", "http://127.0.0.1:9/x"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["-H 'no colon here': expected 'Name: value'"]),
        );
    fetchpool()
        .args([
            "get",
            "--cacert",
            "/nonexistent/ca.pem",
            "http://127.0.0.1:9/x",
        ])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["/nonexistent/ca.pem: cannot read"]),
        );
}
