//! A tiny HTTPS server on 127.0.0.1:0 for TLS tests: a CA and a `localhost` certificate made
//! by rcgen at start (valid, or expired), rustls on the server side, fixed routes; and
//! `TlsFront`, TLS in front of a plain service (an https:// proxy). Std threads only.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// One canned answer: status, extra headers, body.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    pub fn ok(body: &[u8]) -> Canned {
        Canned {
            status: 200,
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    pub fn redirect(location: &str) -> Canned {
        Canned {
            status: 302,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

pub struct TlsServer {
    port: u16,
    ca_pem: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    pub fn start(routes: Vec<(&str, Canned)>) -> TlsServer {
        TlsServer::launch(routes, false)
    }

    /// Like `start`, but the server's certificate expired in 2000.
    pub fn start_expired(routes: Vec<(&str, Canned)>) -> TlsServer {
        TlsServer::launch(routes, true)
    }

    fn launch(routes: Vec<(&str, Canned)>, expired: bool) -> TlsServer {
        let (ca_pem, config) = make_ca_and_config(expired);
        let routes: Arc<HashMap<String, Canned>> = Arc::new(
            routes
                .into_iter()
                .map(|(p, c)| (p.to_string(), c))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let config = Arc::clone(&config);
                let routes = Arc::clone(&routes);
                std::thread::spawn(move || serve(stream, config, &routes));
            }
        });
        TlsServer {
            port,
            ca_pem,
            stop,
            thread: Some(thread),
        }
    }

    /// `https://localhost:PORT/path` (the certificate names localhost and 127.0.0.1).
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// 127.0.0.1:PORT, for proxies that must reach it.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// A CA of its own (PEM) and a server config whose `localhost`/`127.0.0.1` certificate
/// it signed (valid, or expired in 2000).
fn make_ca_and_config(expired: bool) -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own: verifiers find a certificate's issuer by name, so two test
    // CAs with one name would look like a bad signature, not an unknown issuer.
    static CAS: AtomicUsize = AtomicUsize::new(0);
    let n = CAS.fetch_add(1, Ordering::Relaxed);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("fetchpool test CA {} {n}", std::process::id()),
    );
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    if expired {
        leaf_params.not_before = rcgen::date_time_ymd(1999, 1, 1);
        leaf_params.not_after = rcgen::date_time_ymd(2000, 1, 1);
    }
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

/// TLS in front of a plain TCP service (an `https://` proxy made of `HttpProxy`): each
/// connection's TLS is ended here and its bytes relayed to `backend`.
pub struct TlsFront {
    port: u16,
    ca_pem: String,
}

impl TlsFront {
    pub fn start(backend: std::net::SocketAddr) -> TlsFront {
        let (ca_pem, config) = make_ca_and_config(false);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts for the life of the test binary; each relay ends when a side closes or
        // both stay silent for 10 s.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = Arc::clone(&config);
                std::thread::spawn(move || relay(stream, config, backend));
            }
        });
        TlsFront { port, ca_pem }
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// Copies bytes both ways between a TLS client and `backend`, in one thread: a rustls
/// stream cannot be split, so each side is polled with a short read timeout.
fn relay(stream: TcpStream, config: Arc<rustls::ServerConfig>, backend: std::net::SocketAddr) {
    use std::io::Read;
    let Ok(mut plain) = TcpStream::connect(backend) else {
        return;
    };
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let poll = Duration::from_millis(5);
    let _ = stream.set_read_timeout(Some(poll));
    let _ = plain.set_read_timeout(Some(poll));
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut buf = vec![0u8; 64 * 1024];
    let mut idle = std::time::Instant::now();
    let quiet = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    while idle.elapsed() < Duration::from_secs(10) {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                idle = std::time::Instant::now();
                if plain.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if quiet(&e) => {}
            Err(_) => return,
        }
        match plain.read(&mut buf) {
            Ok(0) => {
                let _ = tls.flush();
                return;
            }
            Ok(n) => {
                idle = std::time::Instant::now();
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    return;
                }
            }
            Err(e) if quiet(&e) => {}
            Err(_) => return,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers requests on one connection until it closes (handshake failures just end it).
fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, routes: &HashMap<String, Canned>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    loop {
        let mut reader = BufReader::new(&mut tls);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        let canned = routes.get(&path).cloned().unwrap_or(Canned {
            status: 404,
            headers: Vec::new(),
            body: Vec::new(),
        });
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            canned.status,
            canned.body.len()
        );
        for (n, v) in &canned.headers {
            head += &format!("{n}: {v}\r\n");
        }
        head += "\r\n";
        if tls.write_all(head.as_bytes()).is_err()
            || tls.write_all(&canned.body).is_err()
            || tls.flush().is_err()
        {
            return;
        }
    }
}
