//! The one shared `ureq::Agent` of a run, and how its errors become `Failure`s.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::config::{Config, ConfigBuilder};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

use crate::download::proxy::{RouteConnector, RouteResolver};
use crate::download::tls;
use crate::error::Failure;
use crate::settings::Http;
use crate::url::Url;

/// Builds the agent every download thread shares, so keep-alive connections are reused.
/// Redirects are followed by `get` below, not by ureq, so that a downgrade to http, a loop
/// and where credentials may go are decided here.
pub(crate) fn agent(http: &Http) -> Agent {
    build(http, |config| {
        config
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_connections_per_host(http.max_idle_per_host)
            .max_idle_connections(http.max_idle_per_host.saturating_mul(2).max(16))
            .timeout_connect(Some(http.connect_timeout))
            // A stall timeout: ureq restarts this for every transport read.
            .timeout_per_read(Some(http.stall_timeout))
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
    build(http, |config| {
        config
            .max_redirects(http.max_redirects)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(timeout))
    })
}

/// An agent whose config is the shared one plus `specific`, with our connector and
/// resolver: proxies by `http.proxies`, TLS by `http.trust`.
fn build(
    http: &Http,
    specific: impl Fn(ConfigBuilder<AgentScope>) -> ConfigBuilder<AgentScope>,
) -> Agent {
    let tls = tls_config(http);
    let config_with = |proxy: Option<ureq::Proxy>| -> Config {
        specific(base_config(http, tls.clone()))
            .proxy(proxy)
            .build()
    };
    let rules = Arc::clone(&http.proxies);
    let connector = RouteConnector::new(Arc::clone(&rules), |p| config_with(Some(p)));
    Agent::with_parts(config_with(None), connector, RouteResolver::new(rules))
}

/// Verification against the run's trust set (or none with --insecure), with ring as the
/// crypto provider.
fn tls_config(http: &Http) -> TlsConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = TlsConfig::builder()
        .unversioned_rustls_crypto_provider(provider)
        .disable_verification(http.insecure);
    crate::report::verbose(1, || format!("proxy: {}", http.proxies.describe()));
    if http.insecure {
        crate::report::verbose(1, || "TLS: certificates NOT verified (--insecure)".into());
        return builder.build();
    }
    let trust = http.trust.clone().unwrap_or_else(tls::system);
    crate::report::verbose(1, || {
        format!(
            "TLS: {} trusted certificates from {}",
            trust.roots.len(),
            trust.source.describe()
        )
    });
    builder
        .root_certs(RootCerts::Specific(Arc::clone(&trust.roots)))
        .build()
}

/// What every agent of a run shares: status codes as answers, identity encoding, the user
/// agent and TLS. Proxies are chosen per URL by our connector, not by ureq's config.
fn base_config(http: &Http, tls: TlsConfig) -> ConfigBuilder<AgentScope> {
    Agent::config_builder()
        // Statuses are answers, not errors: a 404 is classified by us, per file.
        .http_status_as_error(false)
        // The bytes on disk are the bytes the server holds: no transparent gzip, so Range
        // offsets and digests refer to the stored representation.
        .accept_encoding("identity")
        .user_agent(http.user_agent.as_str())
        .tls_config(tls)
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
    let first = Url::parse(url).map(|u| u.origin());
    let mut current = url.to_string();
    let mut seen = vec![current.clone()];
    // After an allowed https ─► http redirect no credential goes out in the clear.
    let mut downgraded = false;
    loop {
        let mut request = agent.get(&current);
        let here = Url::parse(&current);
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
        let mut response = request.call().map_err(|e| failure(e, http, &current))?;
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
        let next = resolve(&current, &location).ok_or_else(|| {
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
        current = next;
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

/// (scheme, `host:port`) of an absolute URL, lower-cased, userinfo dropped, default ports
/// made explicit so `https://h` and `https://h:443` are one origin. A thin wrapper of
/// `url::Url::origin` for callers outside `download/`.
pub(crate) fn origin(url: &str) -> Option<(String, String)> {
    let origin = Url::parse(url)?.origin();
    let host_port = origin.host_port();
    Some((origin.scheme, host_port))
}

/// Resolves a `Location` against the URL it came from (RFC 3986 §5.2, for the forms
/// servers send: absolute, scheme-relative, absolute-path and relative-path references).
pub(crate) fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    let (scheme, rest) = base.split_once("://")?;
    if let Some((s, _)) = location.split_once("://")
        && !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        let s = s.to_ascii_lowercase();
        return (s == "http" || s == "https").then(|| location.to_string());
    }
    if let Some(net) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{net}"));
    }
    let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..path_start];
    let root = format!("{scheme}://{authority}");
    if location.starts_with('/') {
        return Some(format!("{root}{}", remove_dot_segments(location)));
    }
    let base_path = &rest[path_start..];
    let base_path = &base_path[..base_path.find(['?', '#']).unwrap_or(base_path.len())];
    if location.starts_with('?') {
        let path = if base_path.is_empty() { "/" } else { base_path };
        return Some(format!("{root}{path}{location}"));
    }
    let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Some(format!(
        "{root}{}",
        remove_dot_segments(&format!("{dir}{location}"))
    ))
}

/// RFC 3986 §5.2.4 on the path part (the query and fragment are kept as they are).
fn remove_dot_segments(reference: &str) -> String {
    let split = reference.find(['?', '#']).unwrap_or(reference.len());
    let (path, tail) = reference.split_at(split);
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut joined = out.join("/");
    if !joined.starts_with('/') {
        joined.insert(0, '/');
    }
    joined + tail
}

/// Classifies a ureq error from a request to `url` into a per-file failure, in one line
/// that names the host (and the proxy, when one was in the way).
pub(crate) fn failure(e: ureq::Error, http: &Http, url: &str) -> Failure {
    use ureq::Error as E;
    let target = Url::parse(url);
    let host = target
        .as_ref()
        .map_or_else(|| redact_url(url), |u| u.host().to_string());
    let proxy = target.as_ref().and_then(|u| http.proxies.for_url(u));
    let via = |what: String| match proxy {
        Some(p) => format!("{what} (proxy {p})"),
        None => what,
    };
    let source = http
        .trust
        .as_ref()
        .map_or(tls::TrustSource::System, |t| t.source.clone());
    match e {
        E::Timeout(ureq::Timeout::PerRead) => Failure::Stalled {
            after: http.stall_timeout,
        },
        E::Timeout(_) => Failure::Timeout,
        E::Io(io) => {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Failure::Tls(tls::describe_error(tls, &host, &source));
            }
            // std's getaddrinfo error has no kind of its own, only this text.
            let text = io.to_string();
            if let Some(why) = text.strip_prefix("failed to lookup address information") {
                let why = why.trim_start_matches(':').trim();
                return Failure::Transport(match proxy {
                    Some(p) => format!("DNS lookup failed for {host} or proxy {p}: {why}"),
                    None => format!("DNS lookup failed for {host}: {why}"),
                });
            }
            match io.kind() {
                io::ErrorKind::ConnectionRefused => Failure::Transport(match proxy {
                    Some(p) => format!("connection refused by proxy {p}"),
                    None => format!("connection refused by {host}"),
                }),
                _ => match io_failure(&io, http) {
                    Failure::Transport(msg) => Failure::Transport(via(msg)),
                    other => other,
                },
            }
        }
        E::Rustls(tls) => Failure::Tls(tls::describe_error(&tls, &host, &source)),
        E::Tls(msg) => Failure::Tls(format!("TLS error with {host}: {msg}")),
        E::HostNotFound => Failure::Transport(match proxy {
            Some(p) => format!("DNS lookup failed for {host} or proxy {p}"),
            None => format!("DNS lookup failed for {host}"),
        }),
        E::ConnectProxyFailed(reason) => Failure::Transport(format!(
            "proxy {} would not connect to {host}: {reason}",
            proxy.map_or_else(|| "(unknown)".to_string(), |p| p.to_string())
        )),
        E::TooManyRedirects => Failure::Redirect(format!(
            "too many redirects (more than {})",
            http.max_redirects
        )),
        E::ConnectionFailed => Failure::Transport(via(format!("cannot connect to {host}"))),
        other => Failure::Transport(via(other.to_string())),
    }
}

/// Classifies an error from reading a body (ureq wraps its own errors in io::Error).
pub(crate) fn io_failure(e: &io::Error, http: &Http) -> Failure {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return match inner {
            ureq::Error::Timeout(ureq::Timeout::PerRead) => Failure::Stalled {
                after: http.stall_timeout,
            },
            ureq::Error::Timeout(_) => Failure::Timeout,
            other => Failure::Transport(other.to_string()),
        };
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Stalled {
            after: http.stall_timeout,
        },
        io::ErrorKind::ConnectionRefused => Failure::Transport("connection refused".into()),
        io::ErrorKind::ConnectionReset => Failure::Transport("connection reset".into()),
        _ => Failure::Transport(crate::error::plain_io(e)),
    }
}

/// The URL with any `user:password@` removed: secrets never reach logs or JSON.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations_like_a_browser() {
        let base = "http://h:8/a/b/c?q=1";
        for (loc, want) in [
            ("https://x/y", "https://x/y"),
            ("//x/y", "http://x/y"),
            ("/p?z", "http://h:8/p?z"),
            ("d", "http://h:8/a/b/d"),
            ("../d", "http://h:8/a/d"),
            ("../../../d", "http://h:8/d"),
            ("./", "http://h:8/a/b/"),
            ("?x=2", "http://h:8/a/b/c?x=2"),
        ] {
            assert_eq!(resolve(base, loc).as_deref(), Some(want), "{loc}");
        }
        assert_eq!(resolve("http://h", "x").as_deref(), Some("http://h/x"));
        assert_eq!(resolve(base, "ftp://x/y"), None);
        assert_eq!(resolve(base, ""), None);
    }

    #[test]
    fn origins_ignore_userinfo_case_and_default_ports() {
        assert_eq!(origin("https://u:p@Host/x"), origin("https://host:443/y"));
        assert_ne!(origin("http://host/x"), origin("https://host/x"));
        assert_ne!(origin("http://host:8080/"), origin("http://host/"));
        assert_eq!(
            origin("http://[::1]:8/"),
            Some(("http".into(), "[::1]:8".into()))
        );
        assert_eq!(
            origin("http://[::1]/"),
            Some(("http".into(), "[::1]:80".into()))
        );
    }

    #[test]
    fn redacts_userinfo_and_nothing_else() {
        assert_eq!(
            redact_url("https://user:secret@host:8080/a@b?x=@#y"),
            "https://host:8080/a@b?x=@#y"
        );
        assert_eq!(redact_url("http://host/p@q"), "http://host/p@q");
        assert_eq!(redact_url("http://u@host"), "http://host");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
