//! Which certificates a run trusts, as curl and OpenSSL decide it, and how a certificate
//! error reads. Loads PEM files and directories, once and only when asked (the first TLS
//! connection asks): an http-only run reads no certificate. Knows nothing about requests.
//!
//! The trust set is exactly one of, first match wins:
//! 1. `--cacert FILE` and/or `--capath DIR`: those certificates only;
//! 2. `SSL_CERT_FILE` and/or `SSL_CERT_DIR` (a `:`-separated list): those only;
//! 3. the system store (found as OpenSSL finds it: `/etc/ssl/certs/ca-certificates.crt`,
//!    `/etc/pki/tls/certs/ca-bundle.crt`, ... and `/etc/ssl/certs`);
//! 4. a system without any of these: the Mozilla roots built into the binary.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ureq::tls::Certificate;

/// The certificates to trust and where they came from.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    pub roots: Arc<Vec<Certificate<'static>>>,
    pub source: TrustSource,
}

/// Where the trusted certificates came from (named in certificate errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrustSource {
    /// `--cacert` / `--capath`.
    Options,
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`.
    Environment,
    /// The operating system's store.
    System,
    /// No system store was found: the roots built into fetchpool.
    BuiltIn,
}

impl TrustSource {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            TrustSource::Options => "--cacert/--capath",
            TrustSource::Environment => "SSL_CERT_FILE/SSL_CERT_DIR",
            TrustSource::System => "the system trust store",
            TrustSource::BuiltIn => "the built-in Mozilla roots (no system trust store found)",
        }
    }
}

/// The trust set of a run, chosen by the rules above when the run starts (the options and
/// variables are read then) and loaded on first use, once, for every thread and agent.
#[derive(Debug)]
pub(crate) struct LazyTrust {
    spec: Spec,
    loaded: OnceLock<Result<Trust, String>>,
}

/// Which rule applies, with what it names.
#[derive(Debug, Clone)]
enum Spec {
    Options {
        cacert: Option<PathBuf>,
        capath: Option<PathBuf>,
    },
    Environment {
        file: Option<PathBuf>,
        dirs: Vec<PathBuf>,
    },
    System,
}

impl LazyTrust {
    /// The rule `cacert`, `capath` and the variables (`env` reads one; empty counts as
    /// unset) call for. Reads no certificate.
    pub(crate) fn new(
        cacert: Option<&Path>,
        capath: Option<&Path>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> LazyTrust {
        let spec = if cacert.is_some() || capath.is_some() {
            Spec::Options {
                cacert: cacert.map(Path::to_path_buf),
                capath: capath.map(Path::to_path_buf),
            }
        } else {
            let file = env("SSL_CERT_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
            let dirs: Vec<PathBuf> = env("SSL_CERT_DIR")
                .filter(|v| !v.is_empty())
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default();
            match file.is_some() || !dirs.is_empty() {
                true => Spec::Environment { file, dirs },
                false => Spec::System,
            }
        };
        LazyTrust {
            spec,
            loaded: OnceLock::new(),
        }
    }

    /// The system store (or the built-in roots), whatever the environment says.
    pub(crate) fn system() -> LazyTrust {
        LazyTrust {
            spec: Spec::System,
            loaded: OnceLock::new(),
        }
    }

    /// The rule names files on the command line (`--cacert`/`--capath`): a bad one is a
    /// usage error, found by loading them before any work starts.
    pub(crate) fn is_from_options(&self) -> bool {
        matches!(self.spec, Spec::Options { .. })
    }

    /// Where the certificates come (or will come) from, without loading them: for `-v`.
    /// The system store may still turn out to be missing (then: the built-in roots).
    pub(crate) fn intended_source(&self) -> TrustSource {
        match self.spec {
            Spec::Options { .. } => TrustSource::Options,
            Spec::Environment { .. } => TrustSource::Environment,
            Spec::System => TrustSource::System,
        }
    }

    /// Where the loaded certificates came from; `None` until something loaded them.
    pub(crate) fn loaded_source(&self) -> Option<&TrustSource> {
        match self.loaded.get() {
            Some(Ok(trust)) => Some(&trust.source),
            _ => None,
        }
    }

    /// The certificates, loaded on the first call. An option or variable that names no
    /// readable certificate is an error naming it (every later call gets it again): a run
    /// must not quietly trust something other than what it was told to.
    pub(crate) fn get(&self) -> Result<&Trust, &str> {
        self.loaded
            .get_or_init(|| self.spec.load())
            .as_ref()
            .map_err(String::as_str)
    }
}

impl Spec {
    fn load(&self) -> Result<Trust, String> {
        match self {
            Spec::Options { cacert, capath } => {
                let mut roots = Vec::new();
                if let Some(file) = cacert {
                    let found =
                        from_file(file).map_err(|e| format!("--cacert {}: {e}", file.display()))?;
                    roots.extend(found);
                }
                if let Some(dir) = capath {
                    let found =
                        from_dir(dir).map_err(|e| format!("--capath {}: {e}", dir.display()))?;
                    roots.extend(found);
                }
                Ok(trust(roots, TrustSource::Options))
            }
            Spec::Environment { file, dirs } => {
                let mut roots = Vec::new();
                if let Some(file) = file {
                    let found = from_file(file)
                        .map_err(|e| format!("SSL_CERT_FILE={}: {e}", file.display()))?;
                    roots.extend(found);
                }
                for dir in dirs {
                    // As OpenSSL does: a directory of the list may be missing or empty.
                    if let Ok(found) = from_dir(dir) {
                        roots.extend(found);
                    }
                }
                if roots.is_empty() {
                    return Err(format!(
                        "SSL_CERT_DIR={}: no certificate in any of these directories",
                        std::env::join_paths(dirs)
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ));
                }
                Ok(trust(roots, TrustSource::Environment))
            }
            Spec::System => Ok(system()),
        }
    }
}

/// The error a connection fails with when the trust set cannot be loaded (carried inside
/// an `io::Error`, so that the error classifier can name it).
#[derive(Debug)]
pub(crate) struct Unloadable(pub String);

impl fmt::Display for Unloadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unloadable {}

/// The system store, else the built-in roots. Never fails.
fn system() -> Trust {
    // Where OpenSSL looks (openssl-probe): the bundle file and the hashed directories,
    // both, as curl built against OpenSSL uses CAfile and CApath; a CA dropped into the
    // directory without rebuilding the bundle is trusted too.
    let probe = openssl_probe::probe();
    let mut roots = Vec::new();
    if let Some(file) = &probe.cert_file {
        roots.extend(from_file(file).unwrap_or_default());
    }
    for dir in &probe.cert_dir {
        roots.extend(from_dir(dir).unwrap_or_default());
    }
    if roots.is_empty() {
        let built_in = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        return trust(built_in, TrustSource::BuiltIn);
    }
    trust(roots, TrustSource::System)
}

fn trust(mut roots: Vec<Certificate<'static>>, source: TrustSource) -> Trust {
    roots.sort_by(|a, b| a.der().cmp(b.der()));
    roots.dedup_by(|a, b| a.der() == b.der());
    Trust {
        roots: Arc::new(roots),
        source,
    }
}

/// Every certificate in a PEM file; an error when it cannot be read or holds none.
fn from_file(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read: {}", crate::error::plain_io(&e)))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => out.push(cert),
            Ok(_) => {}
            Err(e) => return Err(format!("not a PEM file: {e}")),
        }
    }
    if out.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(out)
}

/// Every certificate in the PEM files of a directory (OpenSSL's hashed `c_rehash`
/// directories, or any directory of `.pem`/`.crt` files); files that are not PEM
/// certificates are skipped. An error when it cannot be read or holds none.
fn from_dir(dir: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let result = rustls_native_certs::load_certs_from_paths(None, Some(dir));
    let certs: Vec<Certificate<'static>> = result
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        return Err(match std::fs::read_dir(dir) {
            Err(e) => format!("cannot read: {}", crate::error::plain_io(&e)),
            Ok(_) => "no PEM certificate in the directory".into(),
        });
    }
    Ok(certs)
}

/// One line for a TLS failure: what is wrong with the certificate of `host`, in words,
/// and which trust set said so.
pub(crate) fn describe_error(error: &rustls::Error, host: &str, source: &TrustSource) -> String {
    use rustls::CertificateError as C;
    let why = match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::Expired | C::ExpiredContext { .. } => "certificate has expired".to_string(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "certificate is not valid yet".to_string()
            }
            C::UnknownIssuer => format!(
                "certificate signed by an unknown issuer (not in {})",
                source.describe()
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("certificate is not valid for the name {host}")
            }
            C::Revoked => "certificate was revoked".to_string(),
            C::BadSignature => "certificate has a bad signature".to_string(),
            other => format!("invalid certificate ({other:?})"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the server refused the handshake ({alert:?})")
        }
        other => other.to_string(),
    };
    format!("TLS error with {host}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_win_over_the_environment_and_name_a_bad_file() {
        let env =
            |name: &str| (name == "SSL_CERT_FILE").then(|| OsString::from("/nonexistent/env.pem"));
        let opt = LazyTrust::new(Some(Path::new("/nonexistent/opt.pem")), None, &env);
        assert!(opt.is_from_options());
        let e = opt.get().unwrap_err();
        assert!(e.starts_with("--cacert /nonexistent/opt.pem:"), "{e}");
        let e = LazyTrust::new(None, None, &env)
            .get()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SSL_CERT_FILE=/nonexistent/env.pem:"), "{e}");
    }

    #[test]
    fn nothing_is_read_until_asked_and_then_once() {
        let env = |name: &str| (name == "SSL_CERT_FILE").then(|| OsString::from("/nonexistent/x"));
        let lazy = LazyTrust::new(None, None, &env);
        assert_eq!(lazy.intended_source(), TrustSource::Environment);
        assert_eq!(
            (lazy.loaded.get().is_none(), lazy.loaded_source()),
            (true, None)
        );
        assert!(lazy.get().is_err());
        assert!(lazy.loaded.get().is_some());
    }

    #[test]
    fn without_options_or_variables_the_system_store_or_the_built_in_roots_are_used() {
        let lazy = LazyTrust::new(None, None, &|_| None);
        let t = lazy.get().unwrap();
        assert!(matches!(
            t.source,
            TrustSource::System | TrustSource::BuiltIn
        ));
        assert!(!t.roots.is_empty());
        assert_eq!(lazy.loaded_source(), Some(&t.source));
    }

    #[test]
    fn certificate_errors_read_as_one_line_naming_the_host() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            describe_error(&e, "h.test", &TrustSource::System),
            "TLS error with h.test: certificate signed by an unknown issuer (not in the \
             system trust store)"
        );
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(describe_error(&e, "h", &TrustSource::System).ends_with("has expired"));
    }
}
