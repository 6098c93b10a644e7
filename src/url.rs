//! The URL and origin types: an absolute URL whose authority (userinfo, host, port) is
//! parsed once. Per-host limits, redirects (`resolve`), credential stripping
//! (`redact_url`), proxies and `.netrc` all ask it instead of cutting strings themselves.
//! Pure: no I/O, no DNS.

use std::fmt;

/// An absolute URL (`scheme://[userinfo@]host[:port][/path][?query][#fragment]`), kept as
/// given, with the positions of its parts.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Url {
    text: String,
    /// Lower-cased.
    scheme: String,
    /// Lower-cased; an IPv6 literal without its brackets.
    host: String,
    /// The explicit port, else the scheme's default (0 for a scheme without one).
    port: u16,
    /// The URL names its port.
    port_given: bool,
    /// `user[:password]` as written (percent-encoded), when there is one.
    userinfo: Option<(usize, usize)>,
}

/// Where a request goes: scheme, host and port, compared without userinfo or case, and
/// with default ports made explicit (`https://h` and `https://H:443` are one origin).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub scheme: String,
    /// Lower-cased; an IPv6 literal without brackets.
    pub host: String,
    pub port: u16,
}

impl Url {
    /// Parses an absolute URL; `None` when it has no `scheme://`, no host, or a port that is
    /// not a number below 65536.
    pub(crate) fn parse(text: &str) -> Option<Url> {
        let (scheme, rest) = text.split_once("://")?;
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid_scheme {
            return None;
        }
        let start = scheme.len() + 3;
        let authority = &rest[..authority_len(rest)];
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some((start, start + at)), &authority[at + 1..]),
            None => (None, authority),
        };
        let scheme = scheme.to_ascii_lowercase();
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            host.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (host, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port_given = port.is_some_and(|p| !p.is_empty());
        let port = match port {
            None | Some("") => default_port(&scheme),
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
        };
        Some(Url {
            text: text.to_string(),
            host: host.to_ascii_lowercase(),
            scheme,
            port,
            port_given,
            userinfo,
        })
    }

    pub(crate) fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lower-cased, an IPv6 literal without brackets (`::1`).
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, else the scheme's default.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The URL names its port (else `port()` is the scheme's default).
    pub(crate) fn has_port(&self) -> bool {
        self.port_given
    }

    /// `user[:password]` as written (percent-encoded).
    pub(crate) fn userinfo(&self) -> Option<&str> {
        self.userinfo.map(|(a, b)| &self.text[a..b])
    }

    pub(crate) fn origin(&self) -> Origin {
        Origin {
            scheme: self.scheme.clone(),
            host: self.host.clone(),
            port: self.port,
        }
    }

    pub(crate) fn has_userinfo(&self) -> bool {
        self.userinfo.is_some()
    }

    /// (user, password) from the userinfo, percent-decoded.
    pub(crate) fn credentials(&self) -> Option<(String, Option<String>)> {
        let info = self.userinfo()?;
        Some(match info.split_once(':') {
            Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
            None => (percent_decode(info), None),
        })
    }

    /// The URL without its `user:password@`: what logs, the terminal and JSON may show.
    pub(crate) fn redacted(&self) -> String {
        match self.userinfo {
            Some((a, b)) => format!("{}{}", &self.text[..a], &self.text[b + 1..]),
            None => self.text.clone(),
        }
    }

    /// `scheme://host:port` (IPv6 in brackets), without userinfo or path.
    pub(crate) fn root(&self) -> String {
        format!("{}://{}", self.scheme, self.origin().host_port())
    }
}

impl fmt::Debug for Url {
    /// Never shows a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({:?})", self.redacted())
    }
}

impl Origin {
    /// `host:port`, an IPv6 literal in brackets: `[::1]:8080`.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Where the authority after `scheme://` ends: at the first `/`, `?` or `#` (RFC 3986 §3.2).
fn authority_len(after_scheme: &str) -> usize {
    after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len())
}

/// `url` without any `user:password@`: what logs, the terminal and JSON may show. Text
/// that does not parse as a URL still loses whatever stands before an `@` in its
/// authority: secrets never reach the output, even in a line that names a bad URL. The
/// userinfo is found as `Url::parse` finds it (the last `@` of the authority), without
/// parsing the rest: every file's line and event asks for this.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    match rest[..authority_len(rest)].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Resolves a `Location` against the URL it came from (RFC 3986 §5.2, for the forms
/// servers send: absolute, scheme-relative, absolute-path and relative-path references).
/// `None` for an empty one, a scheme other than http(s), or a base that is no URL.
pub(crate) fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    if let Some((s, _)) = location.split_once("://")
        && !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        let s = s.to_ascii_lowercase();
        return (s == "http" || s == "https").then(|| location.to_string());
    }
    let base = Url::parse(base)?;
    // The base's scheme and authority as written (userinfo included: a relative
    // redirect stays with the same login, as browsers and curl keep it).
    let (scheme, rest) = base.text.split_once("://")?;
    if let Some(net) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{net}"));
    }
    let path_start = authority_len(rest);
    let root = &base.text[..scheme.len() + 3 + path_start];
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

/// The port a scheme implies when the URL names none (0: the scheme has no default).
pub(crate) fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" => 80,
        "https" => 443,
        "socks4" | "socks4a" | "socks5" | "socks5h" => 1080,
        _ => 0,
    }
}

/// `%XX` ─► byte; anything malformed stays as written. Invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_authority_once_with_defaults_and_ipv6() {
        let u = Url::parse("HTTPS://Alice:s%3Acret@Example.ORG/a/b?q#f").unwrap();
        assert_eq!(
            (u.scheme(), u.host(), u.port()),
            ("https", "example.org", 443)
        );
        assert_eq!(
            u.credentials(),
            Some(("Alice".to_string(), Some("s:cret".to_string())))
        );
        assert_eq!(u.redacted(), "HTTPS://Example.ORG/a/b?q#f");
        assert_eq!(u.root(), "https://example.org:443");

        let v6 = Url::parse("http://[::1]:8080/x").unwrap();
        assert_eq!((v6.host(), v6.port()), ("::1", 8080));
        assert_eq!(v6.origin().host_port(), "[::1]:8080");
        assert_eq!(Url::parse("http://[::1]/").unwrap().port(), 80);
        assert_eq!(Url::parse("socks5h://p").unwrap().port(), 1080);
    }

    #[test]
    fn origins_ignore_userinfo_case_and_default_ports() {
        let o = |s| Url::parse(s).unwrap().origin();
        assert_eq!(o("https://u:p@Host/x"), o("https://host:443/y"));
        assert_ne!(o("http://host/x"), o("https://host/x"));
        assert_ne!(o("http://host:8080/"), o("http://host/"));
    }

    #[test]
    fn refuses_what_is_not_an_absolute_url() {
        for bad in [
            "host/x",
            "http://",
            "http:///x",
            "http://h:port/",
            "http://h:99999/",
            "http://[::1/",
            "http://[nope]/",
            "1http://h/",
        ] {
            assert!(Url::parse(bad).is_none(), "{bad:?} was accepted");
        }
    }

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
        assert_eq!(resolve("not a url", "/x"), None);
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
        // Not a URL (the port is no number), but the password still goes.
        assert_eq!(redact_url("http://u:pw@h:x/p"), "http://h:x/p");
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let u = Url::parse("http://u:hunter2@h/").unwrap();
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}
