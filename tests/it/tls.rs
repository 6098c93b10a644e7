//! Which certificates a run trusts: the system store (stood in for by SSL_CERT_FILE and
//! SSL_CERT_DIR, as OpenSSL reads them, only once a TLS connection needs them), --cacert
//! and --capath replacing it, -k; and a bad certificate failing its file with exit 1, one
//! line naming host and reason.

use std::fs;
use std::path::Path;

use crate::support::proxy::HttpProxy;
use crate::support::server::{Route, Server};
use crate::support::tls::{Canned, TlsServer};
use crate::support::{Cmd, Pat, fetchpool, list_dir, temp_dir, write_file};

fn get(dir: &Path) -> Cmd {
    fetchpool()
        .env("SSL_CERT_FILE", "")
        .env("SSL_CERT_DIR", "")
        .args(["get", "--retries", "0", "-d"])
        .arg(dir)
}

#[test]
fn an_unknown_issuer_fails_that_file_with_exit_1_and_leaves_nothing() {
    let tls = TlsServer::start(vec![("/secure.bin", Canned::ok(b"over tls"))]);
    let srv = Server::start();
    srv.route("/plain", Route::file(b"plain"));
    let dir = temp_dir();
    get(dir.path())
        .arg(tls.url("/secure.bin"))
        .arg(srv.url("/plain"))
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "TLS error with localhost: certificate signed by an unknown issuer (not in \
                 the system trust store)",
                "1 ok, 1 failed",
            ]),
        );
    assert_eq!(list_dir(dir.path()), ["plain"]);
}

#[test]
fn ssl_cert_file_and_ssl_cert_dir_stand_in_for_the_system_store() {
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"trusted"))]);
    let dir = temp_dir();
    let ca_dir = dir.path().join("cas");
    fs::create_dir(&ca_dir).unwrap();
    let ca = write_file(&ca_dir, "test-ca.pem", tls.ca_pem().as_bytes());
    get(&dir.path().join("file"))
        .env("SSL_CERT_FILE", &ca)
        .arg(tls.url("/s"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    let dirs = format!("/nonexistent/certs:{}", ca_dir.display());
    get(&dir.path().join("dir"))
        .env("SSL_CERT_DIR", &dirs)
        .arg(tls.url("/s"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(fs::read(dir.path().join("dir/s")).unwrap(), b"trusted");
}

/// Certificates are read by the first TLS connection: a run of http URLs reads none, so a
/// bad SSL_CERT_FILE cannot stop it, while each https file of a run fails naming it.
#[test]
fn a_bad_ssl_cert_file_fails_only_the_https_files_and_names_the_variable() {
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"secret"))]);
    let srv = Server::start();
    srv.route("/plain", Route::file(b"plain"));
    let dir = temp_dir();
    get(&dir.path().join("http-only"))
        .env("SSL_CERT_FILE", "/nonexistent/bundle.pem")
        .arg(srv.url("/plain"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    get(&dir.path().join("mixed"))
        .env("SSL_CERT_FILE", "/nonexistent/bundle.pem")
        .arg(tls.url("/s"))
        .arg(srv.url("/plain"))
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "TLS error with localhost: SSL_CERT_FILE=/nonexistent/bundle.pem: cannot read",
                "1 ok, 1 failed",
            ]),
        );
    assert_eq!(list_dir(&dir.path().join("mixed")), ["plain"]);
}

#[test]
fn cacert_and_capath_replace_the_whole_trust_set_as_in_curl() {
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"s"))]);
    let other = TlsServer::start(vec![]);
    let dir = temp_dir();
    let right = write_file(dir.path(), "right.pem", tls.ca_pem().as_bytes());
    let wrong = write_file(dir.path(), "wrong.pem", other.ca_pem().as_bytes());
    get(&dir.path().join("1"))
        .env("SSL_CERT_FILE", &right)
        .arg("--cacert")
        .arg(&wrong)
        .arg(tls.url("/s"))
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["unknown issuer (not in --cacert/--capath)"]),
        );
    get(&dir.path().join("2"))
        .env("SSL_CERT_FILE", &wrong)
        .arg("--cacert")
        .arg(&right)
        .arg(tls.url("/s"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    let ca_dir = dir.path().join("capath");
    fs::create_dir(&ca_dir).unwrap();
    write_file(&ca_dir, "a.pem", tls.ca_pem().as_bytes());
    write_file(&ca_dir, "README", b"not a certificate");
    get(&dir.path().join("3"))
        .arg("--capath")
        .arg(&ca_dir)
        .arg(tls.url("/s"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    get(&dir.path().join("4"))
        .arg("--capath")
        .arg(dir.path().join("empty-or-missing"))
        .arg(tls.url("/s"))
        .run()
        .assert(2, Pat::empty(), Pat::has(&["--capath "]));
}

#[test]
fn a_certificate_for_another_name_or_an_expired_one_is_named_as_such() {
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"s"))]);
    let expired = TlsServer::start_expired(vec![("/s", Canned::ok(b"s"))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    let old_ca = write_file(dir.path(), "old.pem", expired.ca_pem().as_bytes());
    // The proxy takes any name to the server, whose certificate names only localhost.
    let proxy = HttpProxy::start(tls.addr());
    get(&dir.path().join("name"))
        .arg("--cacert")
        .arg(&ca)
        .arg("--proxy")
        .arg(proxy.url())
        .arg("https://files.invalid/s")
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "TLS error with files.invalid: certificate is not valid for the name \
                 files.invalid",
            ]),
        );
    get(&dir.path().join("expired"))
        .arg("--cacert")
        .arg(&old_ca)
        .arg(expired.url("/s"))
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["TLS error with localhost: certificate has expired"]),
        );
    assert!(!dir.path().join("name/s").exists());
    assert!(!dir.path().join("expired/s").exists());
}

#[test]
fn k_is_the_short_form_of_insecure_and_still_warns() {
    let tls = TlsServer::start(vec![("/x", Canned::ok(b"x"))]);
    let dir = temp_dir();
    get(dir.path()).arg("-k").arg(tls.url("/x")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["--insecure: TLS certificates are NOT verified", "1 ok"]),
    );
}
