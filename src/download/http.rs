//! The one shared `ureq::Agent` of a run, and how its errors become `Failure`s.

use std::io;
use std::time::Duration;

use ureq::Agent;

use crate::error::Failure;
use crate::settings::Http;

/// Builds the agent every download thread shares, so keep-alive connections are reused.
pub(crate) fn agent(http: &Http) -> Agent {
    Agent::config_builder()
        // Statuses are answers, not errors: a 404 is classified by us, per file.
        .http_status_as_error(false)
        .max_redirects(http.max_redirects)
        .max_idle_connections_per_host(http.max_idle_per_host)
        .max_idle_connections(http.max_idle_per_host.saturating_mul(2).max(16))
        // The bytes on disk are the bytes the server holds: no transparent gzip, so Range
        // offsets and digests refer to the stored representation.
        .accept_encoding("identity")
        .user_agent(http.user_agent.as_str())
        .timeout_connect(Some(http.connect_timeout))
        // A stall timeout: ureq restarts this for every transport read.
        .timeout_per_read(Some(http.stall_timeout))
        // Requests are small; the response side keeps ureq's 128 KiB default.
        .output_buffer_size(16 * 1024)
        .build()
        .into()
}

/// The agent of `check`: like `agent`, but `timeout` bounds each request end to end (DNS,
/// connect, TLS, response headers; redirects included), and no connection is kept: each
/// probe connects anew, so every round measures connecting and a pooled connection never
/// hides a listener that went away.
pub(crate) fn probe_agent(http: &Http, timeout: Duration) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(http.max_redirects)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .accept_encoding("identity")
        .user_agent(http.user_agent.as_str())
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Classifies a ureq error into a per-file failure.
pub(crate) fn failure(e: ureq::Error, http: &Http) -> Failure {
    use ureq::Error as E;
    match e {
        E::Timeout(ureq::Timeout::PerRead) => Failure::Stalled {
            after: http.stall_timeout,
        },
        E::Timeout(_) => Failure::Timeout,
        E::Io(io) => io_failure(&io, http),
        E::HostNotFound => Failure::Transport("host not found".into()),
        E::TooManyRedirects => Failure::Redirect(format!(
            "too many redirects (more than {})",
            http.max_redirects
        )),
        E::ConnectionFailed => Failure::Transport("connection failed".into()),
        other => Failure::Transport(other.to_string()),
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
