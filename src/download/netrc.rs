//! `.netrc` credentials (the format curl, wget and ftp read): `machine HOST login USER
//! password PASS`, a `default` entry, quoted tokens and `#` comments as curl 7.84+ reads
//! them, `macdef` blocks skipped. Pure: parse text, look up a
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
    /// Parses the text as curl 7.84+ does: tokens separated by white space (line breaks
    /// included), a token may be in double quotes with `\"`, `\\`, `\n`, `\r` and `\t`
    /// escapes (so a password can hold spaces or `#`), a `#` that starts a token comments
    /// out the rest of its line. Unknown tokens are an error (`Err(reason)`), so a typo
    /// does not silently send no credentials.
    pub(crate) fn parse(text: &str) -> Result<Netrc, String> {
        let mut netrc = Netrc::default();
        let mut tokens = Tokens { text, pos: 0 };
        // (entry being filled, its machine name or None for default)
        let mut current: Option<(Option<String>, Login)> = None;
        let finish = |netrc: &mut Netrc, current: Option<(Option<String>, Login)>| match current {
            Some((Some(host), login)) => netrc.machines.push((host, login)),
            Some((None, login)) => netrc.default = Some(login),
            None => {}
        };
        while let Some((token, quoted)) = tokens.next()? {
            let keyword = if quoted { "" } else { token.as_str() };
            match keyword {
                "machine" => {
                    let (host, _) = tokens.next()?.ok_or("'machine' without a host name")?;
                    finish(&mut netrc, current.take());
                    current = Some((Some(host.to_ascii_lowercase()), Login::default()));
                }
                "default" => {
                    finish(&mut netrc, current.take());
                    current = Some((None, Login::default()));
                }
                "login" | "password" | "account" => {
                    let (value, _) = tokens
                        .next()?
                        .ok_or_else(|| format!("'{keyword}' without a value"))?;
                    let entry = &mut current
                        .as_mut()
                        .ok_or_else(|| format!("'{keyword}' before any 'machine'"))?
                        .1;
                    match keyword {
                        "login" => entry.login = value,
                        "password" => entry.password = value,
                        _ => {}
                    }
                }
                // A macro runs to the next empty line; it is for ftp, not us.
                "macdef" => tokens.skip_macro(),
                _ => return Err(format!("unknown token '{token}'")),
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

/// The tokens of a `.netrc`, with whether each was quoted (a quoted `machine` is a value,
/// not a keyword).
struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

impl Tokens<'_> {
    fn next(&mut self) -> Result<Option<(String, bool)>, String> {
        loop {
            let rest = &self.text[self.pos..];
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.is_empty() {
                return Ok(None);
            }
            if trimmed.starts_with('#') {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
                continue;
            }
            if let Some(quoted) = trimmed.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            self.pos += 1 + i + 1;
                            return Ok(Some((value, true)));
                        }
                        '\n' => break,
                        '\\' => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, 'r')) => value.push('\r'),
                            Some((_, 't')) => value.push('\t'),
                            Some((_, other)) => value.push(other),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
                return Err("a quoted token has no closing '\"' on its line".into());
            }
            let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
            self.pos += end;
            return Ok(Some((trimmed[..end].to_string(), false)));
        }
    }

    /// Skips the rest of the line and every line up to the next empty one.
    fn skip_macro(&mut self) {
        let rest = &self.text[self.pos..];
        let mut offset = rest.find('\n').map_or(rest.len(), |i| i + 1);
        for line in rest[offset..].split_inclusive('\n') {
            offset += line.len();
            if line.trim().is_empty() {
                break;
            }
        }
        self.pos += offset;
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
    fn quoted_tokens_hold_spaces_hashes_and_escapes_as_curl_reads_them() {
        let netrc = Netrc::parse(
            "machine h login \"al ice\" password \"p#ss \\\"w\\\\d\"  # real comment\n\
             machine \"quoted.host\" login \"machine\" password x\n",
        )
        .unwrap();
        let l = netrc.lookup("h").unwrap();
        assert_eq!(
            (l.login.as_str(), l.password.as_str()),
            ("al ice", "p#ss \"w\\d")
        );
        assert_eq!(netrc.lookup("quoted.host").unwrap().login, "machine");
        assert!(Netrc::parse("machine h password \"open\n").is_err());
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
