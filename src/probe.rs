//! One health probe of one URL: a HEAD (or a one-byte GET when HEAD is refused), its final
//! status, its latency to the response headers, and why it is DOWN. Also the set of
//! statuses that count as UP. Knows nothing about rounds, threads or the terminal.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::download::http::{Cause, TlsCause};

/// The statuses that count as UP (`--expect-status 200,204`, `2xx,3xx`, `200-399`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusSet {
    /// Inclusive ranges, in the order given.
    ranges: Vec<(u16, u16)>,
}

impl StatusSet {
    pub(crate) fn contains(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

impl FromStr for StatusSet {
    type Err = String;

    fn from_str(s: &str) -> Result<StatusSet, String> {
        let ranges = s
            .split(',')
            .map(|item| {
                let item = item.trim();
                parse_status_item(item).ok_or_else(|| {
                    format!(
                        "'{item}' is not a status (200), a class (2xx) or a range (200-299) \
                         of statuses 100 to 599"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(StatusSet { ranges })
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match (lo, hi) {
                _ if lo == hi => write!(f, "{lo}")?,
                _ if lo % 100 == 0 && hi == lo + 99 => write!(f, "{}xx", lo / 100)?,
                _ => write!(f, "{lo}-{hi}")?,
            }
        }
        Ok(())
    }
}

/// `200` ─► (200, 200); `2xx` ─► (200, 299); `200-399` ─► (200, 399).
fn parse_status_item(item: &str) -> Option<(u16, u16)> {
    if let Some(class) = item.strip_suffix("xx").or_else(|| item.strip_suffix("XX")) {
        let class = match class.as_bytes() {
            [d @ b'1'..=b'5'] => u16::from(d - b'0'),
            _ => return None,
        };
        return Some((class * 100, class * 100 + 99));
    }
    if let Some((lo, hi)) = item.split_once('-') {
        let (lo, hi) = (status_code(lo)?, status_code(hi)?);
        return (lo <= hi).then_some((lo, hi));
    }
    status_code(item).map(|code| (code, code))
}

/// Three digits, 100 to 599 (RFC 9110 §15: the five classes).
fn status_code(s: &str) -> Option<u16> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|code| (100..=599).contains(code))
}

/// Why a probe is DOWN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The server answered with a status outside `--expect-status`.
    Status(u16),
    /// Nothing listens on the port (or a firewall said so).
    Refused,
    /// No response headers within `--timeout` (DNS, connect, TLS or the server itself).
    Timeout(Duration),
    /// The TLS handshake failed: bad certificate, wrong name, not TLS at all...
    Tls(String),
    /// The host name did not resolve.
    Dns(String),
    /// Any other connection or protocol trouble (reset, malformed response, redirects).
    Other(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Status(status) => write!(f, "unexpected status {status}"),
            Reason::Refused => f.write_str("connection refused"),
            Reason::Timeout(after) => write!(f, "timed out after {} s", after.as_secs_f64()),
            Reason::Tls(msg) => write!(f, "TLS error: {msg}"),
            Reason::Dns(msg) => write!(f, "DNS lookup failed: {msg}"),
            Reason::Other(msg) => f.write_str(msg),
        }
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The final status (after redirects), when the server answered.
    pub(crate) http_status: Option<u16>,
    /// From sending the request that answered to its response headers, connecting
    /// included; `None` when nothing answered.
    pub(crate) latency: Option<Duration>,
    /// `None` when UP.
    pub(crate) down: Option<Reason>,
}

impl Probe {
    pub(crate) fn is_up(&self) -> bool {
        self.down.is_none()
    }

    /// DOWN for a reason that may pass: worth another probe under `--retries` (the
    /// statuses servers use for "later", RFC 9110 §15.5.9 408, RFC 6585 429, §15.6 5xx).
    pub(crate) fn is_transient(&self) -> bool {
        match &self.down {
            Some(Reason::Status(status)) => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Some(Reason::Refused | Reason::Timeout(_) | Reason::Other(_)) => true,
            Some(Reason::Tls(_) | Reason::Dns(_)) | None => false,
        }
    }

    fn failed(reason: Reason) -> Probe {
        Probe {
            http_status: None,
            latency: None,
            down: Some(reason),
        }
    }
}

/// Probes `url` once, sending `headers` (`-H`, a .netrc login). `agent` must bound each
/// request by `timeout` (see `download::http::probe_agent`); the fallback request gets
/// what is left of it.
pub(crate) fn probe(
    agent: &Agent,
    url: &str,
    headers: &[(String, String)],
    timeout: Duration,
    expect: &StatusSet,
) -> Probe {
    let start = Instant::now();
    let mut request = agent.head(url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let head = match request.call() {
        Ok(response) => response.status().as_u16(),
        Err(e) => return Probe::failed(Reason::of(&Cause::of(&e), timeout)),
    };
    let mut answer = (head, start.elapsed());
    let mut ranged = false;
    // General-purpose servers must support HEAD (RFC 9110 §9.1), but some APIs and CDNs
    // answer it 405 or 501: ask for one byte instead of the whole body.
    if matches!(head, 405 | 501) && !expect.contains(head) {
        let Some(left) = timeout
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
        else {
            return Probe::failed(Reason::Timeout(timeout));
        };
        let sent = Instant::now();
        let mut request = agent.get(url);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let get = request
            .header("Range", "bytes=0-0")
            .config()
            .timeout_global(Some(left))
            .build()
            .call();
        // The response is dropped unread: its connection closes, whatever the body's size.
        match get {
            Ok(response) => answer = (response.status().as_u16(), sent.elapsed()),
            Err(e) => return Probe::failed(Reason::of(&Cause::of(&e), timeout)),
        }
        ranged = true;
    }
    let (status, latency) = answer;
    // A 206 is how the resource says 200 to our Range request.
    let judged = if ranged && status == 206 { 200 } else { status };
    Probe {
        http_status: Some(status),
        latency: Some(latency),
        down: (!expect.contains(judged)).then_some(Reason::Status(status)),
    }
}

impl Reason {
    /// Why a request that got no response is DOWN (`timeout` is the probe's).
    fn of(cause: &Cause, timeout: Duration) -> Reason {
        match cause {
            Cause::Stalled | Cause::TimedOut => Reason::Timeout(timeout),
            Cause::Refused => Reason::Refused,
            Cause::Dns(why) => Reason::Dns(why.clone().unwrap_or_else(|| "host not found".into())),
            Cause::Tls(TlsCause::Rustls(e)) => Reason::Tls(e.to_string()),
            Cause::Tls(TlsCause::Text(msg)) => Reason::Tls(msg.to_string()),
            Cause::Trust(why) => Reason::Tls(why.clone()),
            Cause::Reset => Reason::Other("connection reset".into()),
            Cause::ProxyRefused(why) => Reason::Other(format!("CONNECT proxy failed: {why}")),
            Cause::TooManyRedirects => Reason::Other("too many redirects".into()),
            Cause::ConnectionFailed => Reason::Other("connection failed".into()),
            Cause::TooLarge(msg) | Cause::Other(msg) => Reason::Other(msg.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> StatusSet {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn status_sets_take_codes_classes_and_ranges() {
        let s = set("200,204");
        assert!(s.contains(200) && s.contains(204));
        assert!(!s.contains(201) && !s.contains(500));
        let s = set("2xx, 3XX");
        assert!(s.contains(200) && s.contains(299) && s.contains(301) && s.contains(399));
        assert!(!s.contains(199) && !s.contains(400));
        let s = set("200-204,418");
        assert!(s.contains(202) && s.contains(418));
        assert!(!s.contains(205));
    }

    #[test]
    fn status_sets_refuse_what_is_not_a_status() {
        for bad in [
            "", "2xx,", "20", "2000", "099", "600", "6xx", "0xx", "xx", "22xx", "300-200", "2x",
            "abc", "-200", "200-",
        ] {
            assert!(bad.parse::<StatusSet>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn status_sets_print_as_they_parse() {
        for s in ["2xx,3xx", "200,204", "200-399,404"] {
            assert_eq!(set(s).to_string(), s);
            assert_eq!(set(&set(s).to_string()), set(s));
        }
    }

    #[test]
    fn reasons_say_what_operators_look_for() {
        assert_eq!(Reason::Status(500).to_string(), "unexpected status 500");
        assert_eq!(Reason::Refused.to_string(), "connection refused");
        assert_eq!(
            Reason::Timeout(Duration::from_millis(1500)).to_string(),
            "timed out after 1.5 s"
        );
        assert_eq!(
            Reason::Timeout(Duration::from_secs(10)).to_string(),
            "timed out after 10 s"
        );
    }

    #[test]
    fn each_cause_reads_as_check_has_always_said_it() {
        let t = Duration::from_secs(2);
        let reason = |c: Cause| Reason::of(&c, t).to_string();
        assert_eq!(reason(Cause::Refused), "connection refused");
        assert_eq!(reason(Cause::Stalled), "timed out after 2 s");
        assert_eq!(reason(Cause::TimedOut), "timed out after 2 s");
        assert_eq!(
            reason(Cause::Dns(None)),
            "DNS lookup failed: host not found"
        );
        assert_eq!(
            reason(Cause::Dns(Some("Name or service not known".into()))),
            "DNS lookup failed: Name or service not known"
        );
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert_eq!(
            reason(Cause::Tls(TlsCause::Rustls(expired.clone()))),
            format!("TLS error: {expired}")
        );
        assert_eq!(reason(Cause::Reset), "connection reset");
        assert_eq!(reason(Cause::ConnectionFailed), "connection failed");
        assert_eq!(reason(Cause::TooManyRedirects), "too many redirects");
        assert!(!Probe::failed(Reason::of(&Cause::Dns(None), t)).is_transient());
        assert!(Probe::failed(Reason::of(&Cause::Reset, t)).is_transient());
    }
}
