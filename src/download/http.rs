//! The one shared `ureq::Agent` of a run (routed by `proxy.rs`'s connector, trusting
//! `tls.rs`'s set once a TLS connection needs it), redirects and where credentials may go,
//! and the one classifier of ureq errors (`Cause`), worded here as `Failure`s that name the
//! host (and by `probe.rs` as `check`'s reasons).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::config::ConfigBuilder;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

use crate::download::proxy::{self, ConfigFor, RouteConnector, RouteResolver};
use crate::download::tls::{self, LazyTrust};
use crate::error::Failure;
use crate::settings::Http;
use crate::url::{self, Url, redact_url};

/// Builds the agent every download thread shares, so keep-alive connections are reused.
/// Redirects are followed by `get` below, not by ureq, so that a downgrade to http, a loop
/// and where credentials may go are decided here.
pub(crate) fn agent(http: &Http) -> Agent {
    let (max_idle_per_host, connect_timeout, stall_timeout) = (
        http.max_idle_per_host,
        http.connect_timeout,
        http.stall_timeout,
    );
    build(http, move |config| {
        config
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_connections_per_host(max_idle_per_host)
            .max_idle_connections(max_idle_per_host.saturating_mul(2).max(16))
            .timeout_connect(Some(connect_timeout))
            // A stall timeout: ureq restarts this for every transport read.
            .timeout_per_read(Some(stall_timeout))
            // Requests are small. Responses: each socket read fills at most this buffer,
            // and 512 KiB (ureq's default is 128) cut CPU on 256 MiB bodies by a fifth
            // (fewer, larger recv and write calls); -j 8 connections hold 4 MiB of it at
            // most.
            .output_buffer_size(16 * 1024)
            .input_buffer_size(512 * 1024)
    })
}

/// The agent of `check`: like `agent`, but `timeout` bounds each request end to end (DNS,
/// connect, TLS, response headers; redirects included), and no connection is kept: each
/// probe connects anew, so every round measures connecting and a pooled connection never
/// hides a listener that went away.
pub(crate) fn probe_agent(http: &Http, timeout: Duration) -> Agent {
    let max_redirects = http.max_redirects;
    build(http, move |config| {
        config
            .max_redirects(max_redirects)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(timeout))
    })
}

/// An agent whose config is the shared one plus `specific`, with our connector and
/// resolver: proxies by `http.proxies`; TLS by `http.trust`, which the connector loads
/// on the first connection that needs it (an http-only run reads no certificate).
fn build(
    http: &Http,
    specific: impl Fn(ConfigBuilder<AgentScope>) -> ConfigBuilder<AgentScope> + Send + Sync + 'static,
) -> Agent {
    crate::report::verbose(1, || format!("proxy: {}", http.proxies.describe()));
    crate::report::verbose(1, || match http.insecure {
        true => "TLS: certificates NOT verified (--insecure)".into(),
        false => format!(
            "TLS: trusted certificates from {}, read at the first TLS connection",
            http.trust.intended_source().describe()
        ),
    });
    let user_agent = http.user_agent.clone();
    let config_for: Arc<ConfigFor> =
        Arc::new(move |proxy, tls| specific(base_config(&user_agent, tls)).proxy(proxy).build());
    let (trust, insecure) = (Arc::clone(&http.trust), http.insecure);
    let rules = Arc::clone(&http.proxies);
    let connector = RouteConnector::new(
        Arc::clone(&rules),
        Arc::clone(&config_for),
        trusting_nothing(),
        move || tls_config(&trust, insecure),
    );
    Agent::with_parts(
        config_for(None, trusting_nothing()),
        connector,
        RouteResolver::new(rules),
    )
}

/// Ring as the crypto provider, verification on unless `insecure`.
fn tls_builder(insecure: bool) -> ureq::tls::TlsConfigBuilder {
    TlsConfig::builder()
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .disable_verification(insecure)
}

/// The TLS config of the agent and of connections without TLS; the connector gives every
/// TLS connection the run's trust instead. Should one ever get past it, it trusts no
/// certificate rather than some.
fn trusting_nothing() -> TlsConfig {
    tls_builder(false)
        .root_certs(RootCerts::Specific(Arc::new(Vec::new())))
        .build()
}

/// Verification against the run's trust set (loaded now, if nothing loaded it yet), or
/// none with --insecure. An error names the option or variable whose files are bad.
fn tls_config(trust: &LazyTrust, insecure: bool) -> Result<TlsConfig, String> {
    if insecure {
        return Ok(tls_builder(true).build());
    }
    let trust = trust.get().map_err(str::to_string)?;
    crate::report::verbose(1, || {
        format!(
            "TLS: {} trusted certificates from {}",
            trust.roots.len(),
            trust.source.describe()
        )
    });
    Ok(tls_builder(false)
        .root_certs(RootCerts::Specific(Arc::clone(&trust.roots)))
        .build())
}

/// What every agent of a run shares: status codes as answers, identity encoding, the user
/// agent and TLS. Proxies are chosen per URL by our connector, not by ureq's config.
fn base_config(user_agent: &str, tls: TlsConfig) -> ConfigBuilder<AgentScope> {
    Agent::config_builder()
        // Statuses are answers, not errors: a 404 is classified by us, per file.
        .http_status_as_error(false)
        // The bytes on disk are the bytes the server holds: no transparent gzip, so Range
        // offsets and digests refer to the stored representation.
        .accept_encoding("identity")
        .user_agent(user_agent)
        .tls_config(tls)
}

/// The headers the first request to `url` carries: `-H` headers, and a .netrc login
/// when neither the URL nor `-H` brings credentials (for `check`, whose probes follow
/// redirects inside ureq, which drops Authorization and Cookie on every redirect).
pub(crate) fn first_request_headers(http: &Http, url: &str) -> Vec<(String, String)> {
    let mut headers = http.headers.clone();
    let has_auth = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
    if let Some(netrc) = &http.netrc
        && !has_auth
        && let Some(url) = Url::parse(url)
        && !url.has_userinfo()
        && let Some(login) = netrc.lookup(url.host())
    {
        headers.push(("Authorization".into(), login.basic_auth()));
    }
    headers
}

/// GETs `url` with `extra` headers, following redirects (at most `max_redirects`):
/// a loop or an https ─► http downgrade (unless allowed) fails with a clear reason, and
/// `-H` credentials and .netrc logins go only to the hosts they belong to.
pub(crate) fn get(
    agent: &Agent,
    http: &Http,
    url: &str,
    extra: &[(&str, &str)],
) -> Result<ureq::http::Response<ureq::Body>, Failure> {
    // Each URL of the chain is parsed once, when it becomes the one asked for.
    let mut here = Url::parse(url);
    let first = here.as_ref().map(Url::origin);
    let mut current = url.to_string();
    let mut seen = vec![current.clone()];
    // After an allowed https ─► http redirect no credential goes out in the clear.
    let mut downgraded = false;
    loop {
        let mut request = agent.get(&current);
        let same_origin = here.as_ref().map(Url::origin) == first;
        for (name, value) in &http.headers {
            // A credential given with -H belongs to the origin the user named.
            if is_credential(name) && !same_origin {
                continue;
            }
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(netrc) = &http.netrc
            && let Some(here) = &here
            && !here.has_userinfo()
            && !downgraded
            && !http
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            && let Some(login) = netrc.lookup(here.host())
        {
            request = request.header("Authorization", login.basic_auth());
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        // Whether this request opens a connection or reuses a pooled one: our connector
        // marks every new connection on this thread (ureq runs the request here).
        proxy::take_new_connection();
        let mut response = request.call().map_err(|e| failure(e, http, &current))?;
        crate::report::verbose(1, || {
            connection_line(proxy::take_new_connection(), &current, here.as_ref(), http)
        });
        let status = response.status().as_u16();
        crate::report::verbose(2, || format!("GET {} -> {status}", redact_url(&current)));
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
        else {
            return Ok(response);
        };
        let next = url::resolve(&current, &location).ok_or_else(|| {
            Failure::Redirect(format!("redirect to an unusable Location '{location}'"))
        })?;
        crate::report::verbose(1, || {
            format!(
                "redirect: {} -> {} ({status})",
                redact_url(&current),
                redact_url(&next)
            )
        });
        if is_https(&current) && !is_https(&next) {
            if !http.allow_downgrade {
                return Err(Failure::Redirect(format!(
                    "refused redirect from https to http ({}); --allow-insecure-redirect \
                     allows it",
                    redact_url(&next)
                )));
            }
            downgraded = true;
        }
        if seen.contains(&next) {
            return Err(Failure::Redirect(format!(
                "redirect loop: {} redirects back to {}",
                redact_url(&current),
                redact_url(&next)
            )));
        }
        if seen.len() > http.max_redirects as usize {
            return Err(Failure::Redirect(format!(
                "too many redirects (more than {})",
                http.max_redirects
            )));
        }
        // Drain a small body so the connection can be reused; a big one is not worth it.
        let _ = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec();
        seen.push(next.clone());
        here = Url::parse(&next);
        current = next;
    }
}

/// A response header's value as text; `None` when absent or not visible ASCII.
pub(crate) fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The failure of an answer with a status we do not accept: the status, and the wait a
/// `Retry-After` asks for.
pub(crate) fn status_failure(response: &ureq::http::Response<ureq::Body>) -> Failure {
    Failure::Http {
        status: response.status().as_u16(),
        retry_after: header(response, "retry-after").and_then(|v| {
            crate::download::retry::parse_retry_after(&v, std::time::SystemTime::now())
        }),
    }
}

/// For -v: `connected to HOST:PORT` or `reusing connection to HOST:PORT`, and the proxy
/// in the way; never a credential.
fn connection_line(new: bool, current: &str, here: Option<&Url>, http: &Http) -> String {
    let verb = match new {
        true => "connected to",
        false => "reusing connection to",
    };
    let Some(here) = here else {
        return format!("{verb} {}", redact_url(current));
    };
    let target = here.origin().host_port();
    match http.proxies.for_url(here) {
        Some(p) => format!("{verb} {target} through proxy {p}"),
        None => format!("{verb} {target}"),
    }
}

fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

fn is_credential(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("cookie")
        || name.eq_ignore_ascii_case("proxy-authorization")
}

/// Why a request, or a read of its body, failed: the one classification of ureq's and the
/// socket's errors. `failure` words it for `get`, `probe::Reason` for `check`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cause {
    /// No byte within the stall timeout (ureq's per-read timeout, or the socket's).
    Stalled,
    /// Another deadline passed: connecting, or `check`'s whole-request timeout.
    TimedOut,
    /// The name did not resolve; getaddrinfo's words when it gave some.
    Dns(Option<String>),
    /// Nothing listens there (or a firewall said so).
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The TLS handshake failed: a certificate, an alert, a peer that speaks no TLS.
    Tls(TlsCause),
    /// The run's trust set could not be loaded; the text names the option or variable.
    Trust(String),
    /// An HTTP proxy would not open the tunnel; its answer.
    ProxyRefused(String),
    /// More redirects than allowed (ureq's own limit, for `check`).
    TooManyRedirects,
    /// No connection could be made, for no more precise reason.
    ConnectionFailed,
    /// A response head or body over a limit, in ureq's words.
    TooLarge(String),
    /// Anything else, in ureq's or the system's words.
    Other(String),
}

/// A TLS failure: rustls's typed error, or ureq's words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TlsCause {
    Rustls(rustls::Error),
    Text(&'static str),
}

impl Cause {
    /// Classifies an error of a request (`call()`).
    pub(crate) fn of(e: &ureq::Error) -> Cause {
        use ureq::Error as E;
        match e {
            E::Timeout(ureq::Timeout::PerRead) | E::BodyStalled => Cause::Stalled,
            E::Timeout(_) => Cause::TimedOut,
            E::Io(io) => Cause::of_io(io),
            E::Rustls(tls) => Cause::Tls(TlsCause::Rustls(tls.clone())),
            E::Tls(msg) => Cause::Tls(TlsCause::Text(msg)),
            E::HostNotFound => Cause::Dns(None),
            E::ConnectProxyFailed(reason) => Cause::ProxyRefused(reason.clone()),
            E::TooManyRedirects => Cause::TooManyRedirects,
            E::ConnectionFailed => Cause::ConnectionFailed,
            E::BodyExceedsLimit(_) | E::LargeResponseHeader(..) => Cause::TooLarge(e.to_string()),
            other => Cause::Other(other.to_string()),
        }
    }

    /// Classifies an I/O error: of a connection (inside `ureq::Error::Io`), or of reading
    /// a body (which wraps ureq's own errors in an `io::Error`).
    pub(crate) fn of_io(e: &io::Error) -> Cause {
        if let Some(inner) = e.get_ref() {
            if let Some(ureq) = inner.downcast_ref::<ureq::Error>() {
                return Cause::of(ureq);
            }
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Cause::Tls(TlsCause::Rustls(tls.clone()));
            }
            if let Some(tls::Unloadable(why)) = inner.downcast_ref::<tls::Unloadable>() {
                return Cause::Trust(why.clone());
            }
        }
        // std reports a failed getaddrinfo as an uncategorized error with this message
        // (library/std/src/sys/net/connection/socket.rs), so the message is all there is.
        let message = crate::error::plain_io(e);
        if let Some(why) = message.strip_prefix("failed to lookup address information") {
            return Cause::Dns(Some(why.trim_start_matches(':').trim().to_string()));
        }
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Cause::Stalled,
            io::ErrorKind::ConnectionRefused => Cause::Refused,
            io::ErrorKind::ConnectionReset => Cause::Reset,
            _ => Cause::Other(message),
        }
    }
}

/// A ureq error from a request to `url` as a per-file failure, in one line that names the
/// host (and the proxy, when one was in the way).
pub(crate) fn failure(e: ureq::Error, http: &Http, url: &str) -> Failure {
    let target = Url::parse(url);
    let host = target
        .as_ref()
        .map_or_else(|| redact_url(url), |u| u.host().to_string());
    let proxy = target.as_ref().and_then(|u| http.proxies.for_url(u));
    let via = |what: String| match proxy {
        Some(p) => format!("{what} (proxy {p})"),
        None => what,
    };
    match Cause::of(&e) {
        Cause::Tls(TlsCause::Rustls(tls)) => {
            let source = http
                .trust
                .loaded_source()
                .cloned()
                .unwrap_or(tls::TrustSource::System);
            Failure::Tls(tls::describe_error(&tls, &host, &source))
        }
        Cause::Tls(TlsCause::Text(msg)) => Failure::Tls(format!("TLS error with {host}: {msg}")),
        Cause::Trust(why) => Failure::Tls(via(format!("TLS error with {host}: {why}"))),
        Cause::Dns(why) => {
            let why = why.map(|w| format!(": {w}")).unwrap_or_default();
            Failure::Transport(match proxy {
                Some(p) => format!("DNS lookup failed for {host} or proxy {p}{why}"),
                None => format!("DNS lookup failed for {host}{why}"),
            })
        }
        Cause::Refused => Failure::Transport(match proxy {
            Some(p) => format!("connection refused by proxy {p}"),
            None => format!("connection refused by {host}"),
        }),
        Cause::ProxyRefused(reason) => Failure::Transport(format!(
            "proxy {} would not connect to {host}: {reason}",
            proxy.map_or_else(|| "(unknown)".to_string(), |p| p.to_string())
        )),
        Cause::ConnectionFailed => Failure::Transport(via(format!("cannot connect to {host}"))),
        cause => match worded(cause, http) {
            Failure::Transport(msg) => Failure::Transport(via(msg)),
            other => other,
        },
    }
}

/// An error from reading a body (ureq wraps its own errors in io::Error), as a failure.
pub(crate) fn io_failure(e: &io::Error, http: &Http) -> Failure {
    worded(Cause::of_io(e), http)
}

/// The words of a cause that need no host: `failure` adds it where it knows more.
fn worded(cause: Cause, http: &Http) -> Failure {
    match cause {
        Cause::Stalled => Failure::Stalled {
            after: http.stall_timeout,
        },
        Cause::TimedOut => Failure::Timeout,
        Cause::Refused => Failure::Transport("connection refused".into()),
        Cause::Reset => Failure::Transport("connection reset".into()),
        Cause::ConnectionFailed => Failure::Transport("cannot connect".into()),
        Cause::Dns(why) => Failure::Transport(match why {
            Some(why) => format!("DNS lookup failed: {why}"),
            None => "DNS lookup failed".into(),
        }),
        Cause::Tls(TlsCause::Rustls(tls)) => Failure::Tls(format!("TLS error: {tls}")),
        Cause::Tls(TlsCause::Text(msg)) => Failure::Tls(format!("TLS error: {msg}")),
        Cause::Trust(why) => Failure::Tls(why),
        Cause::ProxyRefused(reason) => {
            Failure::Transport(format!("the proxy would not connect: {reason}"))
        }
        Cause::TooManyRedirects => Failure::Redirect(format!(
            "too many redirects (more than {})",
            http.max_redirects
        )),
        Cause::TooLarge(msg) | Cause::Other(msg) => Failure::Transport(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_cause_wherever_ureq_puts_them() {
        let io = |kind| ureq::Error::Io(io::Error::from(kind));
        assert_eq!(
            Cause::of(&io(io::ErrorKind::ConnectionRefused)),
            Cause::Refused
        );
        assert_eq!(Cause::of(&io(io::ErrorKind::ConnectionReset)), Cause::Reset);
        assert_eq!(
            Cause::of(&ureq::Error::Timeout(ureq::Timeout::PerRead)),
            Cause::Stalled
        );
        assert_eq!(
            Cause::of(&ureq::Error::Timeout(ureq::Timeout::Connect)),
            Cause::TimedOut
        );
        assert_eq!(Cause::of(&ureq::Error::HostNotFound), Cause::Dns(None));
        let lookup =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(
            Cause::of(&ureq::Error::Io(lookup)),
            Cause::Dns(Some("Name or service not known".into()))
        );
        // rustls reports a handshake failure as InvalidData wrapping its error.
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, bad_cert.clone());
        assert_eq!(
            Cause::of(&ureq::Error::Io(wrapped)),
            Cause::Tls(TlsCause::Rustls(bad_cert))
        );
        // A body read wraps ureq's error in an io::Error.
        let body = io::Error::other(ureq::Error::Timeout(ureq::Timeout::PerRead));
        assert_eq!(Cause::of_io(&body), Cause::Stalled);
        let unloadable = io::Error::other(tls::Unloadable("SSL_CERT_FILE=/x: gone".into()));
        assert_eq!(
            Cause::of_io(&unloadable),
            Cause::Trust("SSL_CERT_FILE=/x: gone".into())
        );
        assert!(matches!(
            Cause::of(&ureq::Error::LargeResponseHeader(70000, 65536)),
            Cause::TooLarge(_)
        ));
    }

    #[test]
    fn get_words_a_cause_with_the_host() {
        let http = Http {
            proxies: Arc::new(proxy::ProxyRules::default()),
            ..Http::for_jobs(std::num::NonZeroUsize::MIN)
        };
        let url = "http://u:pw@files.test:8/x";
        let e = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            failure(e, &http, url).to_string(),
            "connection refused by files.test"
        );
        assert_eq!(
            failure(ureq::Error::HostNotFound, &http, url).to_string(),
            "DNS lookup failed for files.test"
        );
        assert_eq!(
            failure(ureq::Error::ConnectionFailed, &http, url).to_string(),
            "cannot connect to files.test"
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(io_failure(&reset, &http).to_string(), "connection reset");
    }
}
