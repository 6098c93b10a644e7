//! Which certificates a run trusts, as curl and OpenSSL decide it, and how a certificate
//! error reads. Loads PEM files and directories; knows nothing about requests.
//!
//! The trust set is exactly one of, first match wins:
//! 1. `--cacert FILE` and/or `--capath DIR`: those certificates only;
//! 2. `SSL_CERT_FILE` and/or `SSL_CERT_DIR` (a `:`-separated list): those only;
//! 3. the system store (found as OpenSSL finds it: `/etc/ssl/certs/ca-certificates.crt`,
//!    `/etc/pki/tls/certs/ca-bundle.crt`, ... and `/etc/ssl/certs`);
//! 4. a system without any of these: the Mozilla roots built into the binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Loads the trust set by the rules above. `env` reads a variable (empty counts as
/// unset). An option or variable that names no readable certificate is an error naming
/// it: a run must not quietly trust something other than what it was told to.
pub(crate) fn load(
    cacert: Option<&Path>,
    capath: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Trust, String> {
    if cacert.is_some() || capath.is_some() {
        let mut roots = Vec::new();
        if let Some(file) = cacert {
            let found = from_file(file).map_err(|e| format!("--cacert {}: {e}", file.display()))?;
            roots.extend(found);
        }
        if let Some(dir) = capath {
            let found = from_dir(dir).map_err(|e| format!("--capath {}: {e}", dir.display()))?;
            roots.extend(found);
        }
        return Ok(trust(roots, TrustSource::Options));
    }
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
    if file.is_some() || !dirs.is_empty() {
        let mut roots = Vec::new();
        if let Some(file) = &file {
            let found =
                from_file(file).map_err(|e| format!("SSL_CERT_FILE={}: {e}", file.display()))?;
            roots.extend(found);
        }
        for dir in &dirs {
            match from_dir(dir) {
                Ok(found) => roots.extend(found),
                // As OpenSSL does: a directory of the list may be missing or empty.
                Err(_) => continue,
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "SSL_CERT_DIR={}: no certificate in any of these directories",
                std::env::join_paths(&dirs)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
        }
        return Ok(trust(roots, TrustSource::Environment));
    }
    Ok(system())
}

/// The system store, else the built-in roots. Never fails.
pub(crate) fn system() -> Trust {
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
        let e = load(Some(Path::new("/nonexistent/opt.pem")), None, &env).unwrap_err();
        assert!(e.starts_with("--cacert /nonexistent/opt.pem:"), "{e}");
        let e = load(None, None, &env).unwrap_err();
        assert!(e.starts_with("SSL_CERT_FILE=/nonexistent/env.pem:"), "{e}");
    }

    #[test]
    fn without_options_or_variables_the_system_store_or_the_built_in_roots_are_used() {
        let t = load(None, None, &|_| None).unwrap();
        assert!(matches!(
            t.source,
            TrustSource::System | TrustSource::BuiltIn
        ));
        assert!(!t.roots.is_empty());
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
