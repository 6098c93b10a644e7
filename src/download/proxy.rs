//! Which proxy a URL goes through, by curl's rules (`--proxy`, `http_proxy`, `https_proxy`,
//! `all_proxy`, `no_proxy`, `--noproxy`), and the ureq connector that takes it there:
//! CONNECT tunnels for https, absolute-form requests for plain http through an HTTP proxy
//! (which proxies that refuse CONNECT to port 80 accept), SOCKS4/5 for both.
//! The rules are pure (the environment is passed in); the connector knows no settings.

use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use ureq::config::Config;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use crate::url::Url;

/// A proxy's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    /// `http://`: CONNECT for https targets, absolute-form requests for http ones.
    Http,
    /// `https://`: as `Http`, over TLS to the proxy.
    Https,
    /// `socks4://`: the target's name is resolved here.
    Socks4,
    /// `socks4a://`: the proxy resolves the name.
    Socks4a,
    /// `socks5://`: the target's name is resolved here.
    Socks5,
    /// `socks5h://`: the proxy resolves the name.
    Socks5h,
}

impl ProxyKind {
    fn from_scheme(scheme: &str) -> Option<ProxyKind> {
        Some(match scheme {
            "http" => ProxyKind::Http,
            "https" => ProxyKind::Https,
            "socks4" => ProxyKind::Socks4,
            "socks4a" => ProxyKind::Socks4a,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            _ => return None,
        })
    }

    fn is_http(self) -> bool {
        matches!(self, ProxyKind::Http | ProxyKind::Https)
    }

    /// The target's name is looked up here, not by the proxy.
    fn resolves_locally(self) -> bool {
        matches!(self, ProxyKind::Socks4 | ProxyKind::Socks5)
    }
}

/// One proxy, parsed. Debug and Display never show its credentials.
pub(crate) struct ProxySpec {
    pub kind: ProxyKind,
    url: Url,
    /// Where it came from: `--proxy` or the environment variable's name.
    pub source: &'static str,
    ureq: ureq::Proxy,
}

impl ProxySpec {
    /// Parses a proxy URL as curl does: no scheme means `http://`; no port means 1080
    /// (443 for `https://`).
    pub(crate) fn parse(raw: &str, source: &'static str) -> Result<ProxySpec, String> {
        let raw = raw.trim();
        let text = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let shown = Url::parse(&text).map_or_else(|| "(unparsable)".into(), |u| u.redacted());
        let url = Url::parse(&text).ok_or_else(|| {
            format!("{source}: '{shown}' is not a proxy URL (scheme://host:port)")
        })?;
        let kind = ProxyKind::from_scheme(url.scheme()).ok_or_else(|| {
            format!(
                "{source}: unsupported proxy scheme '{}' in '{shown}' (use http, https, \
                 socks4, socks4a, socks5 or socks5h)",
                url.scheme()
            )
        })?;
        let port = match kind {
            _ if url.has_port() => url.port(),
            ProxyKind::Https => 443,
            _ => 1080,
        };
        let userinfo = url.userinfo().map(|u| format!("{u}@")).unwrap_or_default();
        let host_port = crate::url::Origin {
            port,
            ..url.origin()
        }
        .host_port();
        let canonical = format!("{}://{userinfo}{host_port}", url.scheme());
        let ureq = ureq::Proxy::new(&canonical)
            .map_err(|_| format!("{source}: '{shown}' is not a proxy URL (scheme://host:port)"))?;
        let url = Url::parse(&canonical).expect("built from a parsed URL");
        Ok(ProxySpec {
            kind,
            url,
            source,
            ureq,
        })
    }

    /// `Proxy-Authorization` for the credentials in the proxy URL, if any.
    fn authorization(&self) -> Option<String> {
        let (user, password) = self.url.credentials()?;
        let login = crate::download::netrc::Login {
            login: user,
            password: password.unwrap_or_default(),
        };
        Some(login.basic_auth())
    }
}

impl fmt::Display for ProxySpec {
    /// `http://host:port`, never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url.root())
    }
}

impl fmt::Debug for ProxySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxySpec({} from {})", self, self.source)
    }
}

/// Hosts that are reached directly: `no_proxy` / `--noproxy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    /// `*`: no proxy for any host.
    all: bool,
    /// Lower-cased names without a leading dot: each matches itself and its subdomains.
    names: Vec<String>,
    /// IP addresses and CIDR ranges (an address is a range of its full length).
    nets: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    /// Parses a comma- (or space-) separated list, as curl does: `*` alone matches every
    /// host; `example.org` and `.example.org` match it and every name under it; an IP
    /// address or a CIDR range (`10.0.0.0/8`, `::1`, `[::1]`) matches hosts written as IP
    /// literals in that range (names are not resolved to match). Entries that fit none of
    /// these are ignored, as curl ignores them.
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut no = NoProxy::default();
        for entry in list.split([',', ' ', '\t']).map(str::trim) {
            if entry == "*" {
                no.all = true;
                continue;
            }
            let entry = entry.trim_start_matches('.').trim_end_matches('.');
            // `[::1]`, `[fe80::]/10`: the brackets go.
            let unbracketed;
            let entry = match entry.strip_prefix('[').and_then(|e| e.split_once(']')) {
                Some((ip, rest)) => {
                    unbracketed = format!("{ip}{rest}");
                    unbracketed.as_str()
                }
                None => entry,
            };
            if entry.is_empty() {
                continue;
            }
            if let Some((ip, bits)) = entry.split_once('/') {
                if let (Ok(ip), Ok(bits)) = (ip.parse::<IpAddr>(), bits.parse::<u8>())
                    && bits <= max_bits(ip)
                {
                    no.nets.push((ip, bits));
                }
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                no.nets.push((ip, max_bits(ip)));
            } else {
                no.names.push(entry.to_ascii_lowercase());
            }
        }
        no
    }

    /// True when `host` (lower-case, IPv6 without brackets) is to be reached directly.
    pub(crate) fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_end_matches('.');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits));
        }
        self.names.iter().any(|name| {
            host == name
                || host
                    .strip_suffix(name.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

fn max_bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= 128 || (ip >> shift) == (net >> shift)
}

/// Which proxy each URL goes through.
#[derive(Debug, Default)]
pub(crate) struct ProxyRules {
    http: Option<Arc<ProxySpec>>,
    https: Option<Arc<ProxySpec>>,
    no_proxy: NoProxy,
}

impl ProxyRules {
    /// The rules of curl:
    /// - `--proxy URL` is the proxy of every URL (`--proxy ''`: none, whatever the
    ///   environment says); else
    /// - `http://` URLs use `http_proxy` (lower case only: a CGI program gets a request's
    ///   `Proxy:` header as `HTTP_PROXY`, "httpoxy"), `https://` URLs use `https_proxy`,
    ///   else `HTTPS_PROXY`; either falls back to `all_proxy`, else `ALL_PROXY`.
    /// - Hosts matching `--noproxy LIST`, else `no_proxy`, else `NO_PROXY`, are reached
    ///   directly (with `--proxy` too).
    ///
    /// Empty variables count as unset. `env` reads a variable.
    pub(crate) fn from_sources(
        option: Option<&str>,
        noproxy_option: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProxyRules, String> {
        let var = |name: &'static str| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        };
        let parse = |found: Option<(&'static str, String)>| {
            found
                .map(|(name, v)| ProxySpec::parse(&v, name).map(Arc::new))
                .transpose()
        };
        let (http, https) = match option {
            Some(p) if p.trim().is_empty() => (None, None),
            Some(p) => {
                let one = Some(Arc::new(ProxySpec::parse(p, "--proxy")?));
                (one.clone(), one)
            }
            None => {
                let all = parse(var("all_proxy").or_else(|| var("ALL_PROXY")))?;
                let http = parse(var("http_proxy"))?.or_else(|| all.clone());
                let https = parse(var("https_proxy").or_else(|| var("HTTPS_PROXY")))?
                    .or_else(|| all.clone());
                (http, https)
            }
        };
        let no_proxy = match noproxy_option {
            Some(list) => NoProxy::parse(list),
            None => var("no_proxy")
                .or_else(|| var("NO_PROXY"))
                .map_or_else(NoProxy::default, |(_, v)| NoProxy::parse(&v)),
        };
        Ok(ProxyRules {
            http,
            https,
            no_proxy,
        })
    }

    /// The proxy for a URL of `scheme` on `host` (lower-case, IPv6 without brackets), or
    /// `None` to connect directly.
    pub(crate) fn route(&self, scheme: &str, host: &str) -> Option<&Arc<ProxySpec>> {
        let proxy = match scheme {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        (!self.no_proxy.matches(host)).then_some(proxy)
    }

    /// For -v: `http: http://p:3128 (http_proxy), https: direct; no_proxy: 3 entries`.
    pub(crate) fn describe(&self) -> String {
        let one = |p: &Option<Arc<ProxySpec>>| match p {
            Some(p) => format!("{p} ({})", p.source),
            None => "direct".to_string(),
        };
        let no = &self.no_proxy;
        let direct = match no.all {
            true => "every host direct (no_proxy *)".to_string(),
            false => format!("{} no_proxy entries", no.names.len() + no.nets.len()),
        };
        format!(
            "http: {}, https: {}; {direct}",
            one(&self.http),
            one(&self.https)
        )
    }

    /// The proxy for `url`, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Arc<ProxySpec>> {
        self.route(url.scheme(), url.host())
    }

    fn proxies(&self) -> impl Iterator<Item = &Arc<ProxySpec>> {
        self.http.iter().chain(
            self.https
                .iter()
                .filter(|p| !self.http.as_ref().is_some_and(|h| Arc::ptr_eq(h, p))),
        )
    }
}

/// ureq's `ConnectionDetails::run_connector`: connects a `ConnectionDetails` anew.
type RunConnector =
    dyn Fn(&ConnectionDetails) -> Result<Box<dyn Transport>, ureq::Error> + Send + Sync;

/// The rules for an `http::Uri` (what ureq's connector and resolver see).
fn route_uri<'r>(rules: &'r ProxyRules, uri: &ureq::http::Uri) -> Option<&'r Arc<ProxySpec>> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_ascii_lowercase();
    rules.route(uri.scheme_str()?, &host)
}

/// The agent's connector: each connection goes directly, through a CONNECT tunnel,
/// through SOCKS, or (plain http through an HTTP proxy) as absolute-form requests, by the
/// rules. The agent's config has no proxy, so ureq's pool keys connections by target:
/// one target always takes one route, so pooled connections are never mixed.
pub(crate) struct RouteConnector {
    rules: Arc<ProxyRules>,
    /// ureq's own chain (SOCKS, CONNECT, TCP, rustls), driven by the config it is given.
    inner: Arc<DefaultConnector>,
    /// Per proxy: the agent's config with that proxy set, for the SOCKS and CONNECT steps.
    configs: Vec<(Arc<ProxySpec>, Config)>,
    /// Resolves proxy host names (the agent's resolver answers for targets only).
    plain: DefaultResolver,
}

impl fmt::Debug for RouteConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteConnector")
            .field("rules", &self.rules)
            .finish()
    }
}

impl RouteConnector {
    /// `config_with` builds the agent's config with the given proxy set.
    pub(crate) fn new(
        rules: Arc<ProxyRules>,
        config_with: impl Fn(ureq::Proxy) -> Config,
    ) -> RouteConnector {
        let configs = rules
            .proxies()
            .map(|p| (Arc::clone(p), config_with(p.ureq.clone())))
            .collect();
        RouteConnector {
            rules,
            inner: Arc::new(DefaultConnector::new()),
            configs,
            plain: DefaultResolver::default(),
        }
    }

    /// Connects to the proxy itself (TCP, plus TLS for an `https://` proxy) and sends
    /// each request's target in absolute form (RFC 9112 §3.2.2).
    fn absolute_form(
        &self,
        details: &ConnectionDetails,
        proxy: &ProxySpec,
    ) -> Result<Box<dyn Transport>, ureq::Error> {
        let proxy_uri = proxy.ureq.uri();
        let addrs = self
            .plain
            .resolve(proxy_uri, details.config, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: proxy_uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: &self.plain,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let transport = self
            .inner
            .connect(&to_proxy, None)?
            .ok_or(ureq::Error::ConnectionFailed)?;
        let authority = details
            .uri
            .authority()
            .map(|a| a.as_str())
            .unwrap_or_default();
        // The userinfo never goes on the wire as part of the target.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        Ok(Box::new(AbsoluteForm {
            inner: transport,
            root: format!("http://{authority}"),
            authorization: proxy.authorization(),
            at_head: true,
            reusable: true,
        }))
    }
}

impl Connector<()> for RouteConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        // ureq's pool asks for a connection only when it has none to reuse: one line per
        // connection, so -v shows how many a run opened (and -vv, against its requests,
        // which reused one). No userinfo in it.
        crate::report::verbose(1, || {
            let authority = details.uri.authority().map_or("", |a| a.as_str());
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("new connection to {host}")
        });
        let Some(proxy) = route_uri(&self.rules, details.uri) else {
            return self.inner.connect(details, chained);
        };
        if proxy.kind.is_http() && details.uri.scheme_str() == Some("http") {
            return self.absolute_form(details, proxy).map(Some);
        }
        let config = self
            .configs
            .iter()
            .find(|(p, _)| Arc::ptr_eq(p, proxy))
            .map(|(_, c)| c)
            .ok_or(ureq::Error::ConnectionFailed)?;
        // The CONNECT step reaches the proxy through this, not through the agent's
        // connector (which would route the proxy's own URL by the rules again).
        let inner = Arc::clone(&self.inner);
        let run_connector: Arc<RunConnector> = Arc::new(move |d: &ConnectionDetails| {
            inner.connect(d, None)?.ok_or(ureq::Error::ConnectionFailed)
        });
        let routed = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config,
            request_level: details.request_level,
            resolver: &self.plain,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector,
            register_shutdown: details.register_shutdown.clone(),
        };
        self.inner.connect(&routed, chained)
    }
}

/// The agent's resolver: a target reached through a proxy that resolves names itself
/// (HTTP, socks4a, socks5h) is not looked up here, so names only the proxy knows work.
#[derive(Debug)]
pub(crate) struct RouteResolver {
    rules: Arc<ProxyRules>,
    plain: DefaultResolver,
}

impl RouteResolver {
    pub(crate) fn new(rules: Arc<ProxyRules>) -> RouteResolver {
        RouteResolver {
            rules,
            plain: DefaultResolver::default(),
        }
    }
}

impl Resolver for RouteResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match route_uri(&self.rules, uri) {
            Some(proxy) if !proxy.kind.resolves_locally() => Ok(self.empty()),
            _ => self.plain.resolve(uri, config, timeout),
        }
    }
}

/// A connection to an HTTP proxy that rewrites each request line from origin-form
/// (`GET /path HTTP/1.1`) to absolute-form (`GET http://host:port/path HTTP/1.1`) and adds
/// the proxy's credentials. fetchpool sends no request bodies; a request with one ends
/// the connection's reuse, so the next head is always recognised.
#[derive(Debug)]
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host:port` of the target.
    root: String,
    /// `Basic ...` for `Proxy-Authorization`.
    authorization: Option<String>,
    /// The next bytes sent start a request head.
    at_head: bool,
    /// False once a request carried a body: the connection is not pooled again.
    reusable: bool,
}

impl AbsoluteForm {
    /// The head with the absolute target and `Proxy-Authorization`; `None` when `out` is
    /// not the start of an origin-form request head.
    fn rewrite(&self, out: &[u8]) -> Option<(Vec<u8>, bool)> {
        let line_end = out.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&out[..line_end]).ok()?;
        let (method, rest) = line.split_once(' ')?;
        let (target, version) = rest.rsplit_once(' ')?;
        if !target.starts_with('/') || !version.starts_with("HTTP/") {
            return None;
        }
        let mut head = Vec::with_capacity(out.len() + self.root.len() + 64);
        let _ = write!(head, "{method} {}{target} {version}\r\n", self.root);
        if let Some(auth) = &self.authorization {
            let _ = write!(head, "Proxy-Authorization: {auth}\r\n");
        }
        let rest = &out[line_end + 2..];
        head.extend_from_slice(rest);
        let headers = String::from_utf8_lossy(rest).to_ascii_lowercase();
        let has_body = headers.lines().any(|l| {
            l.starts_with("transfer-encoding:")
                || l.strip_prefix("content-length:")
                    .is_some_and(|v| v.trim() != "0")
        });
        Some((head, has_body))
    }
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if !self.at_head {
            return self.inner.transmit_output(amount, timeout);
        }
        let out = self.inner.buffers().output()[..amount].to_vec();
        let Some((head, has_body)) = self.rewrite(&out) else {
            return self.inner.transmit_output(amount, timeout);
        };
        let complete = out.ends_with(b"\r\n\r\n");
        self.at_head = complete && !has_body;
        self.reusable &= complete && !has_body;
        // The output buffer is a staging area: send the longer head through it in pieces.
        let mut rest = head.as_slice();
        while !rest.is_empty() {
            let buf = self.inner.buffers().output();
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.inner.transmit_output(n, timeout)?;
            rest = &rest[n..];
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.reusable && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rules(vars: &[(&str, &str)], option: Option<&str>, noproxy: Option<&str>) -> ProxyRules {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyRules::from_sources(option, noproxy, &|name| env.get(name).cloned()).unwrap()
    }

    fn via(r: &ProxyRules, url: &str) -> Option<String> {
        r.for_url(&Url::parse(url).unwrap())
            .map(|p| format!("{p} ({})", p.source))
    }

    #[test]
    fn each_scheme_takes_its_own_variable_and_all_proxy_is_the_fallback() {
        let r = rules(
            &[
                ("http_proxy", "h:1"),
                ("https_proxy", "https://s:2"),
                ("all_proxy", "socks5://a:3"),
            ],
            None,
            None,
        );
        assert_eq!(via(&r, "http://x/").unwrap(), "http://h:1 (http_proxy)");
        assert_eq!(via(&r, "https://x/").unwrap(), "https://s:2 (https_proxy)");
        let r = rules(
            &[("https_proxy", "s:2"), ("ALL_PROXY", "socks5h://a:3")],
            None,
            None,
        );
        assert_eq!(via(&r, "http://x/").unwrap(), "socks5h://a:3 (ALL_PROXY)");
        let r = rules(&[("HTTPS_PROXY", "s:2")], None, None);
        assert_eq!(via(&r, "https://x/").unwrap(), "http://s:2 (HTTPS_PROXY)");
        assert_eq!(
            via(&r, "http://x/"),
            None,
            "https_proxy is not for http URLs"
        );
    }

    #[test]
    fn upper_case_http_proxy_is_ignored_as_curl_does() {
        let r = rules(&[("HTTP_PROXY", "h:1")], None, None);
        assert_eq!(via(&r, "http://x/"), None);
    }

    #[test]
    fn the_option_overrides_every_variable_and_an_empty_one_means_none() {
        let env = [
            ("http_proxy", "h:1"),
            ("https_proxy", "s:2"),
            ("all_proxy", "a:3"),
        ];
        let r = rules(&env, Some("socks5://o:4"), None);
        assert_eq!(via(&r, "http://x/").unwrap(), "socks5://o:4 (--proxy)");
        assert_eq!(via(&r, "https://x/").unwrap(), "socks5://o:4 (--proxy)");
        let r = rules(&env, Some(""), None);
        assert_eq!((via(&r, "http://x/"), via(&r, "https://x/")), (None, None));
    }

    #[test]
    fn lower_case_wins_and_empty_variables_are_unset() {
        let r = rules(&[("https_proxy", ""), ("HTTPS_PROXY", "up:1")], None, None);
        assert_eq!(via(&r, "https://x/").unwrap(), "http://up:1 (HTTPS_PROXY)");
        let r = rules(
            &[("https_proxy", "low:1"), ("HTTPS_PROXY", "up:1")],
            None,
            None,
        );
        assert_eq!(via(&r, "https://x/").unwrap(), "http://low:1 (https_proxy)");
    }

    #[test]
    fn no_proxy_matches_suffixes_ips_cidr_and_star() {
        let env = [
            ("all_proxy", "p:1"),
            (
                "no_proxy",
                "example.org, .internal,10.0.0.0/8,::1,[fe80::]/10",
            ),
        ];
        let r = rules(&env, None, None);
        for direct in [
            "http://example.org/",
            "https://www.example.org/",
            "http://internal/",
            "http://a.b.internal:8080/",
            "http://10.1.2.3/",
            "http://[::1]:9/",
            "http://[fe80::1]/",
        ] {
            assert_eq!(via(&r, direct), None, "{direct}");
        }
        for proxied in [
            "http://notexample.org/",
            "http://example.org.evil/",
            "http://11.0.0.1/",
            "http://[::2]/",
        ] {
            assert!(via(&r, proxied).is_some(), "{proxied}");
        }
        let star = rules(&[("all_proxy", "p:1"), ("NO_PROXY", "*")], None, None);
        assert_eq!(via(&star, "http://anything/"), None);
    }

    #[test]
    fn noproxy_option_replaces_the_variables_and_applies_to_the_option_proxy() {
        let env = [("no_proxy", "a.test")];
        let r = rules(&env, Some("p:1"), Some("b.test"));
        assert!(via(&r, "http://a.test/").is_some());
        assert_eq!(via(&r, "http://b.test/"), None);
        let r = rules(&env, Some("p:1"), None);
        assert_eq!(via(&r, "http://a.test/"), None);
        let r = rules(&env, Some("p:1"), Some(""));
        assert!(via(&r, "http://a.test/").is_some());
    }

    #[test]
    fn proxy_urls_parse_as_curl_reads_them_and_errors_hide_credentials() {
        let p = ProxySpec::parse("user:pw@proxy", "--proxy").unwrap();
        assert_eq!(
            (p.kind, p.to_string()),
            (ProxyKind::Http, "http://proxy:1080".into())
        );
        assert_eq!(p.authorization().as_deref(), Some("Basic dXNlcjpwdw=="));
        assert!(!format!("{p:?}").contains("pw"));
        let p = ProxySpec::parse("https://[::1]", "x").unwrap();
        assert_eq!(p.to_string(), "https://[::1]:443");
        assert_eq!(
            ProxySpec::parse("socks5h://h:9", "x").unwrap().kind,
            ProxyKind::Socks5h
        );
        let e = ProxySpec::parse("ftp://u:secret@h:21", "http_proxy").unwrap_err();
        assert!(
            e.starts_with("http_proxy: unsupported proxy scheme 'ftp'"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        assert!(ProxySpec::parse("http://", "x").is_err());
    }

    #[test]
    fn a_bad_variable_is_an_error_naming_it() {
        let env: HashMap<String, String> =
            [("https_proxy".to_string(), "gopher://x".to_string())].into();
        let e = ProxyRules::from_sources(None, None, &|n| env.get(n).cloned()).unwrap_err();
        assert!(e.starts_with("https_proxy:"), "{e}");
    }

    #[test]
    fn request_heads_are_rewritten_to_absolute_form_with_credentials() {
        let t = AbsoluteForm {
            inner: Box::new(NullTransport),
            root: "http://files.test:80".into(),
            authorization: Some("Basic eA==".into()),
            at_head: true,
            reusable: true,
        };
        let (head, body) = t
            .rewrite(b"GET /a/b?c HTTP/1.1\r\nHost: files.test\r\n\r\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET http://files.test:80/a/b?c HTTP/1.1\r\nProxy-Authorization: Basic eA==\r\n\
             Host: files.test\r\n\r\n"
        );
        assert!(!body);
        assert!(t.rewrite(b"\x16\x03binary").is_none());
        let (_, body) = t
            .rewrite(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
        assert!(body);
    }

    #[derive(Debug)]
    struct NullTransport;

    impl Transport for NullTransport {
        fn buffers(&mut self) -> &mut dyn Buffers {
            unreachable!()
        }
        fn transmit_output(&mut self, _: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            unreachable!()
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            unreachable!()
        }
        fn is_open(&mut self) -> bool {
            false
        }
    }
}
