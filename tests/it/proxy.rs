//! Proxies by curl's rules: which variable each scheme reads, what overrides what,
//! no_proxy forms, HTTP proxies (absolute-form for http, CONNECT for https), SOCKS5 with
//! and without a login, and proxy credentials kept out of every output.

use std::fs;
use std::path::Path;

use crate::support::proxy::{Asked, HttpProxy, base64};
use crate::support::server::{Route, Server};
use crate::support::socks::{Socks5Proxy, SocksTarget};
use crate::support::tls::{Canned, TlsFront, TlsServer};
use crate::support::{Cmd, Pat, fetchpool, temp_dir, write_file};

/// `get` into `dir`, with every proxy variable of the test process cleared.
fn get(dir: &Path) -> Cmd {
    let mut cmd = fetchpool().env("FETCHPOOL_TEST_BACKOFF_MS", "20");
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd = cmd.env(var, "");
    }
    cmd.args(["get", "--retries", "0", "-d"]).arg(dir)
}

#[test]
fn plain_http_goes_through_an_http_proxy_in_absolute_form_where_connect_to_80_is_refused() {
    let srv = Server::start();
    srv.route("/a.txt", Route::file(b"first"));
    srv.route("/b.txt", Route::file(b"second"));
    let proxy = HttpProxy::connect_443_only(srv.addr());
    let dir = temp_dir();
    get(dir.path())
        .args(["-j", "1", "--proxy"])
        .arg(proxy.url())
        .args(["http://files.invalid/a.txt", "http://files.invalid/b.txt"])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"first");
    assert_eq!(fs::read(dir.path().join("b.txt")).unwrap(), b"second");
    assert_eq!(proxy.count(Asked::Connect), 0);
    assert_eq!(proxy.count(Asked::Absolute), 2);
    let log = srv.log();
    assert_eq!(log[0].path, "/a.txt", "the proxy forwards in origin form");
    assert_eq!(log[0].header("Host"), Some("files.invalid"));
    assert_eq!(
        srv.connections_opened(),
        1,
        "both requests shared one kept-alive proxy connection"
    );
}

#[test]
fn each_scheme_reads_its_own_variable_and_uppercase_http_proxy_is_ignored() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"f"));
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"secure"))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    let http_p = HttpProxy::start(srv.addr());
    let https_p = HttpProxy::start(tls.addr());

    // http_proxy for http URLs, https_proxy for https ones, neither for the other.
    get(&dir.path().join("1"))
        .env("http_proxy", http_p.url())
        .env("https_proxy", https_p.url())
        .env("SSL_CERT_FILE", &ca)
        .args(["http://plain.invalid/f", "https://localhost:1/s"])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    assert_eq!(http_p.count(Asked::Absolute), 1);
    assert_eq!(http_p.count(Asked::Connect), 0);
    let tunnels = https_p.requests();
    assert_eq!(tunnels.len(), 1);
    assert_eq!(
        (&tunnels[0].asked, tunnels[0].target.as_str()),
        (&Asked::Connect, "localhost:1")
    );

    // HTTPS_PROXY (upper case) serves https; HTTP_PROXY (upper case, httpoxy) is ignored,
    // so the http URL goes direct.
    get(&dir.path().join("2"))
        .env("HTTP_PROXY", "http://127.0.0.1:1")
        .env("HTTPS_PROXY", https_p.url())
        .env("SSL_CERT_FILE", &ca)
        .args([srv.url("/f"), "https://localhost:1/s".to_string()])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    assert_eq!(https_p.count(Asked::Connect), 2);
    assert_eq!(srv.requests("/f"), 2);
}

#[test]
fn all_proxy_is_the_fallback_and_the_option_overrides_every_variable() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"f"));
    let dir = temp_dir();
    let fallback = HttpProxy::start(srv.addr());
    get(&dir.path().join("lower"))
        .env("all_proxy", fallback.url())
        .arg("http://a.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    get(&dir.path().join("upper"))
        .env("ALL_PROXY", fallback.url())
        .arg("http://b.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(fallback.count(Asked::Absolute), 2);

    let chosen = HttpProxy::start(srv.addr());
    get(&dir.path().join("option"))
        .env("http_proxy", fallback.url())
        .env("all_proxy", fallback.url())
        .arg("--proxy")
        .arg(chosen.url())
        .arg("http://c.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(chosen.count(Asked::Absolute), 1);
    assert_eq!(
        fallback.count(Asked::Absolute),
        2,
        "the variables were not used"
    );

    // --proxy '' means no proxy at all.
    get(&dir.path().join("none"))
        .env("http_proxy", fallback.url())
        .args(["--proxy", ""])
        .arg(srv.url("/f"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(fallback.count(Asked::Absolute), 2);
}

#[test]
fn no_proxy_names_suffixes_addresses_ranges_and_star_go_direct() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"f"));
    let proxy = HttpProxy::start(srv.addr());
    let dir = temp_dir();
    let mut run = 0;
    let mut direct = |no_proxy: &str, url: &str, var: &str| {
        run += 1;
        get(&dir.path().join(run.to_string()))
            .env("http_proxy", proxy.url())
            .env(var, no_proxy)
            .arg(url)
            .run()
    };
    // Names only the proxy can reach: going direct shows as a DNS failure.
    for (list, url) in [
        ("files.invalid", "http://files.invalid/f"),
        ("invalid", "http://deep.files.invalid/f"),
        (".invalid", "http://files.invalid/f"),
        ("*", "http://files.invalid/f"),
    ] {
        direct(list, url, "no_proxy").assert(
            1,
            Pat::empty(),
            Pat::has(&["DNS lookup failed for "]),
        );
    }
    direct("files.invalid", "http://files.invalid/f", "NO_PROXY").assert(
        1,
        Pat::empty(),
        Pat::has(&["DNS lookup failed for files.invalid"]),
    );
    assert_eq!(proxy.requests().len(), 0);
    for (list, url) in [
        ("127.0.0.1", srv.url("/f")),
        ("127.0.0.0/8", srv.url("/f")),
        ("10.0.0.0/8, 127.0.0.1/32", srv.url("/f")),
    ] {
        direct(list, &url, "no_proxy").assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    }
    assert_eq!(proxy.requests().len(), 0);
    // Not a match: a name that merely ends the same, another range.
    direct("les.invalid", "http://files.invalid/f", "no_proxy").assert(
        0,
        Pat::empty(),
        Pat::has(&["1 ok"]),
    );
    direct("10.0.0.0/8", &srv.url("/f"), "no_proxy").assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(proxy.count(Asked::Absolute), 2);
}

#[test]
fn noproxy_option_replaces_no_proxy_and_applies_to_the_proxy_option() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"f"));
    let proxy = HttpProxy::start(srv.addr());
    let dir = temp_dir();
    get(&dir.path().join("1"))
        .env("no_proxy", "*")
        .args(["--noproxy", "other.invalid", "--proxy"])
        .arg(proxy.url())
        .arg("http://files.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(proxy.count(Asked::Absolute), 1, "no_proxy=* was replaced");
    get(&dir.path().join("2"))
        .args(["--noproxy", "127.0.0.1", "--proxy"])
        .arg(proxy.url())
        .arg(srv.url("/f"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        proxy.count(Asked::Absolute),
        1,
        "--noproxy holds for --proxy too"
    );
}

#[test]
fn socks5h_lets_the_proxy_resolve_and_socks5_resolves_here() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"over socks"));
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"tls over socks"))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    let socks = Socks5Proxy::start(srv.addr(), None);
    // ALL_PROXY=socks5h:// used to be bypassed silently; now it carries the request.
    get(&dir.path().join("h"))
        .env("ALL_PROXY", socks.url("socks5h"))
        .arg("http://files.invalid:8080/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(fs::read(dir.path().join("h/f")).unwrap(), b"over socks");
    get(&dir.path().join("5"))
        .arg("--proxy")
        .arg(socks.url("socks5"))
        .arg(format!("http://localhost:{}/f", srv.addr().port()))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        socks.targets(),
        [
            SocksTarget::Name("files.invalid".into(), 8080),
            SocksTarget::Ip(srv.addr()),
        ]
    );
    let tls_socks = Socks5Proxy::start(tls.addr(), None);
    get(&dir.path().join("tls"))
        .env("SSL_CERT_FILE", &ca)
        .arg("--proxy")
        .arg(tls_socks.url("socks5h"))
        .arg("https://localhost:1/s")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        tls_socks.targets(),
        [SocksTarget::Name("localhost".into(), 1)]
    );
}

#[test]
fn proxy_credentials_go_to_the_proxy_only_and_never_into_any_output() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"f"));
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"s"))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    let secret = "pr0xy-s3cret";
    let expected = format!("Basic {}", base64(format!("puser:{secret}").as_bytes()));

    let http_p = HttpProxy::with_login(srv.addr(), "puser", secret);
    get(&dir.path().join("http"))
        .arg("--json")
        .arg("--proxy")
        .arg(http_p.url_with("puser", secret))
        .arg("http://files.invalid/f")
        .run()
        .assert(
            0,
            Pat::has(&["\"status\":\"ok\""]).and_not(&[secret, "puser"]),
            Pat::has(&["1 ok"]).and_not(&[secret, "puser"]),
        );
    assert_eq!(
        http_p.requests()[0].authorization.as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(srv.log()[0].header("Proxy-Authorization"), None);
    assert_eq!(srv.log()[0].header("Authorization"), None);

    let tunnel = HttpProxy::with_login(tls.addr(), "puser", secret);
    get(&dir.path().join("https"))
        .env("SSL_CERT_FILE", &ca)
        .env("https_proxy", tunnel.url_with("puser", secret))
        .arg("https://localhost:1/s")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]).and_not(&[secret]));
    assert_eq!(
        tunnel.requests()[0].authorization.as_deref(),
        Some(expected.as_str())
    );

    // A wrong password: the proxy's refusal is named, the password is not.
    let failed = dir.path().join("failed.txt");
    get(&dir.path().join("wrong"))
        .arg("--json")
        .arg("--failed")
        .arg(&failed)
        .arg("--proxy")
        .arg(http_p.url_with("puser", "wr0ng-pw"))
        .arg("http://files.invalid/f")
        .run()
        .assert(
            1,
            Pat::has(&["407"]).and_not(&["wr0ng-pw"]),
            Pat::has(&["HTTP 407 Proxy Authentication Required"]).and_not(&["wr0ng-pw"]),
        );
    get(&dir.path().join("wrong-tls"))
        .env("SSL_CERT_FILE", &ca)
        .arg("--proxy")
        .arg(tunnel.url_with("puser", "wr0ng-pw"))
        .arg("https://localhost:1/s")
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["would not connect to localhost", "407"]).and_not(&["wr0ng-pw"]),
        );

    let socks = Socks5Proxy::start(srv.addr(), Some(("suser", secret)));
    get(&dir.path().join("socks"))
        .arg("--proxy")
        .arg(
            socks
                .url("socks5h")
                .replace("//", &format!("//suser:{secret}@")),
        )
        .arg("http://files.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]).and_not(&[secret]));
    assert_eq!(socks.logins(), [("suser".to_string(), secret.to_string())]);
}

#[test]
fn a_proxy_setting_that_cannot_work_stops_the_run_naming_it_without_its_password() {
    fetchpool()
        .env("https_proxy", "ftp://u:hunter2@proxy.invalid:21")
        .args(["get", "https://h.invalid/x"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["https_proxy: unsupported proxy scheme 'ftp'"]).and_not(&["hunter2"]),
        );
    fetchpool()
        .args(["get", "--proxy", "gopher://p", "http://h.invalid/x"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["--proxy: unsupported proxy scheme"]),
        );
}

#[test]
fn an_unreachable_proxy_is_named_in_one_line() {
    let dir = temp_dir();
    get(dir.path())
        .args(["--proxy", "http://127.0.0.1:1", "http://files.invalid/f"])
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["connection refused by proxy http://127.0.0.1:1"]),
        );
    assert!(!dir.path().join("f").exists());
}

#[test]
fn an_https_proxy_is_reached_over_tls_for_http_and_https_urls() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"plain via tls proxy"));
    let tls = TlsServer::start(vec![("/s", Canned::ok(b"tls in tls"))]);
    let dir = temp_dir();
    let to_plain = TlsFront::start(HttpProxy::start(srv.addr()).addr());
    let tunnel = HttpProxy::start(tls.addr());
    let to_tls = TlsFront::start(tunnel.addr());
    // One bundle trusting both the proxies' CAs and the server's.
    let cas = [to_plain.ca_pem(), to_tls.ca_pem(), tls.ca_pem()].concat();
    let ca = write_file(dir.path(), "cas.pem", cas.as_bytes());
    get(&dir.path().join("http"))
        .arg("--cacert")
        .arg(&ca)
        .arg("--proxy")
        .arg(to_plain.url())
        .arg("http://files.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(srv.log()[0].path, "/f");
    get(&dir.path().join("https"))
        .arg("--cacert")
        .arg(&ca)
        .arg("--proxy")
        .arg(to_tls.url())
        .arg("https://localhost:1/s")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(tunnel.count(Asked::Connect), 1);
    assert_eq!(fs::read(dir.path().join("https/s")).unwrap(), b"tls in tls");
}

/// Plain http through a plain proxy needs no TLS, so no certificate is read (a bad
/// SSL_CERT_FILE does not matter); an https proxy does, and names the bad variable.
#[test]
fn only_a_connection_that_needs_tls_reads_the_trust_set() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"plain"));
    let proxy = HttpProxy::start(srv.addr());
    let over_tls = TlsFront::start(HttpProxy::start(srv.addr()).addr());
    let dir = temp_dir();
    get(&dir.path().join("plain"))
        .env("SSL_CERT_FILE", "/nonexistent/bundle.pem")
        .arg("--proxy")
        .arg(proxy.url())
        .arg("http://files.invalid/f")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    get(&dir.path().join("tls"))
        .env("SSL_CERT_FILE", "/nonexistent/bundle.pem")
        .arg("--proxy")
        .arg(over_tls.url())
        .arg("http://files.invalid/f")
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["SSL_CERT_FILE=/nonexistent/bundle.pem: cannot read"]),
        );
    assert_eq!(srv.requests("/f"), 1);
}

#[test]
fn check_follows_the_same_proxy_rules() {
    let srv = Server::start();
    srv.route("/health", Route::file(b"ok"));
    let proxy = HttpProxy::connect_443_only(srv.addr());
    fetchpool()
        .env("http_proxy", proxy.url())
        .args(["check", "http://files.invalid/health"])
        .run()
        .assert(0, Pat::has(&["UP"]), Pat::any());
    assert_eq!(proxy.count(Asked::Absolute), 1);
    assert_eq!(proxy.count(Asked::Connect), 0);
}
