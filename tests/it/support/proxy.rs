//! An HTTP proxy on 127.0.0.1:0 for proxy tests: CONNECT tunnels and absolute-form
//! requests (`GET http://host/path`), optional Basic auth, a switch that refuses CONNECT to
//! any port but 443 (as squid does by default), and a log of what it was asked. Every
//! target is served by one upstream address (the test server), whatever host it names.
//! Std only; a thread per connection; idle connections close after 10 s. (SOCKS5 is in
//! `socks.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(10);

/// How a request reached the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// `CONNECT host:port`.
    Connect,
    /// `METHOD http://host:port/path`.
    Absolute,
    /// An origin-form request (`GET /path`), which a proxy cannot serve: answered 400.
    Origin,
}

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub asked: Asked,
    /// `host:port` for CONNECT, the absolute URL otherwise.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub authorization: Option<String>,
    /// Every header, as received.
    pub headers: Vec<(String, String)>,
    /// The status the proxy answered with (200 for a tunnel it opened).
    pub status: u16,
}

#[derive(Clone, Default)]
struct Options {
    /// `Basic base64(user:pass)` that must be presented.
    login: Option<String>,
    /// Refuse CONNECT to every port but 443 (403).
    connect_443_only: bool,
}

pub struct HttpProxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<ProxyRequest>>>,
}

impl HttpProxy {
    /// A proxy that serves every request from `upstream`.
    pub fn start(upstream: SocketAddr) -> HttpProxy {
        HttpProxy::launch(upstream, Options::default())
    }

    /// Like `start`, but every request must carry these credentials (else 407).
    pub fn with_login(upstream: SocketAddr, user: &str, password: &str) -> HttpProxy {
        let login = Some(format!(
            "Basic {}",
            base64(format!("{user}:{password}").as_bytes())
        ));
        HttpProxy::launch(
            upstream,
            Options {
                login,
                ..Options::default()
            },
        )
    }

    /// Like `start`, but CONNECT to any port other than 443 is refused (403), as squid's
    /// default `http_access deny CONNECT !SSL_ports` does.
    pub fn connect_443_only(upstream: SocketAddr) -> HttpProxy {
        HttpProxy::launch(
            upstream,
            Options {
                connect_443_only: true,
                ..Options::default()
            },
        )
    }

    fn launch(upstream: SocketAddr, options: Options) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        // Accepts for the life of the test binary; each connection ends when either side
        // closes or stays idle for IDLE.
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                let options = options.clone();
                std::thread::spawn(move || serve(client, upstream, &options, &seen));
            }
        });
        HttpProxy { addr, log }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests of this kind arrived.
    pub fn count(&self, asked: Asked) -> usize {
        self.requests().iter().filter(|r| r.asked == asked).count()
    }
}

/// Reads one request head: (request line, headers); `None` at EOF or on garbage.
fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Some((line.trim_end().to_string(), headers))
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    options: &Options,
    log: &Mutex<Vec<ProxyRequest>>,
) {
    let _ = client.set_read_timeout(Some(IDLE));
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    // One upstream connection per client connection, for absolute-form keep-alive.
    let mut origin: Option<BufReader<TcpStream>> = None;
    while let Some((line, headers)) = read_head(&mut reader) {
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let authorization = header(&headers, "Proxy-Authorization").map(str::to_string);
        let asked = if method == "CONNECT" {
            Asked::Connect
        } else if target.starts_with("http://") {
            Asked::Absolute
        } else {
            Asked::Origin
        };
        let status = if options.login.is_some() && authorization != options.login {
            407
        } else if asked == Asked::Origin {
            400
        } else if asked == Asked::Connect && options.connect_443_only && !target.ends_with(":443") {
            403
        } else {
            200
        };
        log.lock().unwrap().push(ProxyRequest {
            asked: asked.clone(),
            target: target.to_string(),
            authorization,
            headers: headers.clone(),
            status,
        });
        if status != 200 {
            let extra = if status == 407 {
                "Proxy-Authenticate: Basic realm=\"test\"\r\n"
            } else {
                ""
            };
            let _ = write!(
                writer,
                "HTTP/1.1 {status} Refused\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        if asked == Asked::Connect {
            return tunnel(reader, writer, upstream);
        }
        // Absolute form: forward in origin form, relay the answer.
        let path = target["http://".len()..]
            .find('/')
            .map_or("/".to_string(), |i| {
                target["http://".len() + i..].to_string()
            });
        if origin.is_none() {
            let Ok(stream) = TcpStream::connect(upstream) else {
                return;
            };
            let _ = stream.set_read_timeout(Some(IDLE));
            origin = Some(BufReader::new(stream));
        }
        let up = origin.as_mut().unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        for (n, v) in &headers {
            if !n.eq_ignore_ascii_case("Proxy-Authorization")
                && !n.eq_ignore_ascii_case("Proxy-Connection")
            {
                head += &format!("{n}: {v}\r\n");
            }
        }
        head += "\r\n";
        if up.get_mut().write_all(head.as_bytes()).is_err() {
            return;
        }
        if !relay_response(up, &mut writer, method == "HEAD") {
            return;
        }
    }
}

/// Relays one response from `up` to `client`; false when the connection must end (no
/// Content-Length, or an error).
fn relay_response(up: &mut BufReader<TcpStream>, client: &mut TcpStream, is_head: bool) -> bool {
    let Some((status_line, headers)) = read_head(up) else {
        return false;
    };
    let mut head = format!("{status_line}\r\n");
    for (n, v) in &headers {
        head += &format!("{n}: {v}\r\n");
    }
    head += "\r\n";
    if client.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let no_body = is_head || status_line.contains(" 304 ") || status_line.contains(" 204 ");
    if no_body {
        return true;
    }
    match header(&headers, "Content-Length").and_then(|v| v.parse::<u64>().ok()) {
        Some(len) => {
            let copied = std::io::copy(&mut up.by_ref().take(len), client).unwrap_or(0);
            copied == len
        }
        None => {
            let _ = std::io::copy(up, client);
            let _ = client.shutdown(Shutdown::Write);
            false
        }
    }
}

/// Answers 200 and copies bytes both ways until either side closes.
fn tunnel(reader: BufReader<TcpStream>, mut client_w: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(IDLE));
    if client_w
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let mut server_r = server.try_clone().unwrap();
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut server_w = server;
    // Bytes the client sent after the CONNECT head may already sit in the reader's buffer.
    let _ = server_w.write_all(reader.buffer());
    let mut client_r = reader.into_inner();
    let _ = std::io::copy(&mut client_r, &mut server_w);
    let _ = server_w.shutdown(Shutdown::Write);
    let _ = down.join();
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
