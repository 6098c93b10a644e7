//! A CONNECT proxy on 127.0.0.1:0 for proxy tests: it records each CONNECT target and
//! tunnels every one of them to a single upstream address (the test server). Std only.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct ConnectProxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// Tunnels every CONNECT to `upstream`, whatever host it names.
    pub fn start(upstream: SocketAddr) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&targets);
        // Accepts for the life of the test binary; each tunnel ends when either side closes
        // or stays idle for 10 s.
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || tunnel(client, upstream, &seen));
            }
        });
        ConnectProxy { addr, targets }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `host:port` of every CONNECT so far.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

fn tunnel(client: TcpStream, upstream: SocketAddr, seen: &Mutex<Vec<String>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let target = line.split(' ').nth(1).unwrap_or("").to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    seen.lock().unwrap().push(target);
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(Duration::from_secs(10)));
    let mut client_w = client.try_clone().unwrap();
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
