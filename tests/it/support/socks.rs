//! A SOCKS5 proxy (RFC 1928) on 127.0.0.1:0 for proxy tests: no authentication, or
//! user/password (RFC 1929); it records every target (a name for socks5h, an address for
//! socks5) and every login. Every CONNECT goes to one upstream (the test server). Std only.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(10);

/// What a SOCKS5 client asked to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksTarget {
    /// A name the proxy was to resolve (socks5h).
    Name(String, u16),
    /// An address the client resolved itself (socks5).
    Ip(SocketAddr),
}

/// A SOCKS5 proxy (RFC 1928) on 127.0.0.1:0: no authentication, or user/password
/// (RFC 1929) when started with a login. Every CONNECT goes to `upstream`.
pub struct Socks5Proxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<SocksTarget>>>,
    /// Logins presented (user, password), right or wrong.
    logins: Arc<Mutex<Vec<(String, String)>>>,
}

impl Socks5Proxy {
    pub fn start(upstream: SocketAddr, login: Option<(&str, &str)>) -> Socks5Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let logins = Arc::new(Mutex::new(Vec::new()));
        let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
        let (t, l) = (Arc::clone(&targets), Arc::clone(&logins));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (t, l, login) = (Arc::clone(&t), Arc::clone(&l), login.clone());
                std::thread::spawn(move || {
                    let _ = socks5(client, upstream, login.as_ref(), &t, &l);
                });
            }
        });
        Socks5Proxy {
            addr,
            targets,
            logins,
        }
    }

    /// `SCHEME://127.0.0.1:PORT` (socks5 or socks5h).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    pub fn targets(&self) -> Vec<SocksTarget> {
        self.targets.lock().unwrap().clone()
    }

    pub fn logins(&self) -> Vec<(String, String)> {
        self.logins.lock().unwrap().clone()
    }
}

fn socks5(
    mut client: TcpStream,
    upstream: SocketAddr,
    login: Option<&(String, String)>,
    targets: &Mutex<Vec<SocksTarget>>,
    logins: &Mutex<Vec<(String, String)>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(IDLE))?;
    let mut head = [0u8; 2];
    client.read_exact(&mut head)?;
    let mut methods = vec![0u8; head[1] as usize];
    client.read_exact(&mut methods)?;
    let wanted = if login.is_some() { 2 } else { 0 };
    if head[0] != 5 || !methods.contains(&wanted) {
        client.write_all(&[5, 0xff])?;
        return Ok(());
    }
    client.write_all(&[5, wanted])?;
    if let Some((user, password)) = login {
        let mut ver_len = [0u8; 2];
        client.read_exact(&mut ver_len)?;
        let mut u = vec![0u8; ver_len[1] as usize];
        client.read_exact(&mut u)?;
        let mut plen = [0u8; 1];
        client.read_exact(&mut plen)?;
        let mut p = vec![0u8; plen[0] as usize];
        client.read_exact(&mut p)?;
        let given = (
            String::from_utf8_lossy(&u).into_owned(),
            String::from_utf8_lossy(&p).into_owned(),
        );
        let ok = given == (user.clone(), password.clone());
        logins.lock().unwrap().push(given);
        client.write_all(&[1, if ok { 0 } else { 1 }])?;
        if !ok {
            return Ok(());
        }
    }
    let mut req = [0u8; 4];
    client.read_exact(&mut req)?;
    let target = match req[3] {
        1 => {
            let mut ip = [0u8; 6];
            client.read_exact(&mut ip)?;
            let port = u16::from_be_bytes([ip[4], ip[5]]);
            SocksTarget::Ip(SocketAddr::from(([ip[0], ip[1], ip[2], ip[3]], port)))
        }
        4 => {
            let mut ip = [0u8; 18];
            client.read_exact(&mut ip)?;
            let octets: [u8; 16] = ip[..16].try_into().unwrap();
            let port = u16::from_be_bytes([ip[16], ip[17]]);
            SocksTarget::Ip(SocketAddr::from((octets, port)))
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; len[0] as usize + 2];
            client.read_exact(&mut name)?;
            let port = u16::from_be_bytes([name[len[0] as usize], name[len[0] as usize + 1]]);
            name.truncate(len[0] as usize);
            SocksTarget::Name(String::from_utf8_lossy(&name).into_owned(), port)
        }
        _ => return Ok(()),
    };
    targets.lock().unwrap().push(target);
    let server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(IDLE))?;
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    let (mut server_r, mut client_w) = (server.try_clone()?, client.try_clone()?);
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut server_w = server;
    let _ = std::io::copy(&mut client, &mut server_w);
    let _ = server_w.shutdown(Shutdown::Write);
    let _ = down.join();
    Ok(())
}
