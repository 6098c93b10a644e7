//! `.netrc` credentials (the format curl, wget and ftp read): `machine HOST login USER
//! password PASS`, a `default` entry, `macdef` blocks skipped. Pure: parse text, look up a
//! host, build a Basic `Authorization` value.

/// Parsed `.netrc`: entries in file order, and the `default` one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Netrc {
    machines: Vec<(String, Login)>,
    default: Option<Login>,
}

/// One entry's credentials. Debug output hides the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Login {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Login {{ login: {:?}, password: <redacted> }}",
            self.login
        )
    }
}

impl Netrc {
    /// Parses the text. Unknown tokens are an error (`Err(reason)`), so a typo does not
    /// silently send no credentials.
    pub(crate) fn parse(text: &str) -> Result<Netrc, String> {
        let mut netrc = Netrc::default();
        let mut lines = text.lines();
        // (entry being filled, its machine name or None for default)
        let mut current: Option<(Option<String>, Login)> = None;
        let finish = |netrc: &mut Netrc, current: Option<(Option<String>, Login)>| match current {
            Some((Some(host), login)) => netrc.machines.push((host, login)),
            Some((None, login)) => netrc.default = Some(login),
            None => {}
        };
        while let Some(line) = lines.next() {
            let mut tokens = line.split_whitespace();
            while let Some(token) = tokens.next() {
                if token.starts_with('#') {
                    break;
                }
                match token {
                    "machine" => {
                        let host = tokens.next().ok_or("'machine' without a host name")?;
                        finish(&mut netrc, current.take());
                        current = Some((Some(host.to_ascii_lowercase()), Login::default()));
                    }
                    "default" => {
                        finish(&mut netrc, current.take());
                        current = Some((None, Login::default()));
                    }
                    "login" | "password" | "account" => {
                        let value = tokens
                            .next()
                            .ok_or_else(|| format!("'{token}' without a value"))?;
                        let entry = &mut current
                            .as_mut()
                            .ok_or_else(|| format!("'{token}' before any 'machine'"))?
                            .1;
                        match token {
                            "login" => entry.login = value.to_string(),
                            "password" => entry.password = value.to_string(),
                            _ => {}
                        }
                    }
                    "macdef" => {
                        // A macro runs to the next empty line; it is for ftp, not us.
                        for body in lines.by_ref() {
                            if body.trim().is_empty() {
                                break;
                            }
                        }
                        break;
                    }
                    other => return Err(format!("unknown token '{other}'")),
                }
            }
        }
        finish(&mut netrc, current);
        Ok(netrc)
    }

    /// The credentials for `host` (the first matching `machine`, else `default`).
    pub(crate) fn lookup(&self, host: &str) -> Option<&Login> {
        let host = host.to_ascii_lowercase();
        self.machines
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, l)| l)
            .or(self.default.as_ref())
    }
}

impl Login {
    /// `Basic base64(login:password)` (RFC 7617).
    pub(crate) fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            base64(format!("{}:{}", self.login, self.password).as_bytes())
        )
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn finds_machines_case_insensitively_and_falls_back_to_default() {
        let netrc = Netrc::parse(
            "# creds\nmachine Example.org login alice password s3cret\n\
             machine other login bob\n  password pw # trailing comment\n\
             macdef init\ncd /pub\n\ndefault login anon password guest\n",
        )
        .unwrap();
        assert_eq!(netrc.lookup("example.ORG").unwrap().login, "alice");
        assert_eq!(netrc.lookup("other").unwrap().password, "pw");
        assert_eq!(netrc.lookup("elsewhere").unwrap().login, "anon");
        assert_eq!(
            netrc.lookup("example.org").unwrap().basic_auth(),
            "Basic YWxpY2U6czNjcmV0"
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        assert!(Netrc::parse("machine").is_err());
        assert!(Netrc::parse("login x").is_err());
        assert!(Netrc::parse("machine h logn x").is_err());
        assert_eq!(Netrc::parse("").unwrap().lookup("h"), None);
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let l = Login {
            login: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
