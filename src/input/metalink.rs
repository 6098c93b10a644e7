//! Metalink 4 (RFC 5854) documents as download jobs: each `<file name>` becomes one job
//! whose URLs (by `priority`, 1 first) are its mirrors and whose `<hash>` (sha-256, else
//! sha-512, sha-384, sha-224) is its known digest. Knows nothing about HTTP or disks.
//!
//! Parsed with roxmltree: a read-only DOM that keeps node positions (for `FILE:LINE:`
//! errors) and refuses DTDs, so no entity can expand (no "billion laughs").

use std::sync::Arc;

use crate::digest::{Algo, Digest};
use crate::error::Error;
use crate::input::names;
use crate::job::{JobSpec, Origin};

/// The Metalink 4 namespace (RFC 5854 §4).
const NS: &str = "urn:ietf:params:xml:ns:metalink";

/// Largest Metalink document read (it is held in memory to be parsed).
pub const MAX_BYTES: u64 = 64 << 20;

/// Whether `head` (the first bytes of an input) looks like a Metalink 4 document: XML
/// whose root is `<metalink` (after any BOM, XML declaration and comments). A URL list
/// never starts with `<`.
pub fn sniff(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    text.starts_with("<?xml") || text.starts_with("<metalink") || text.starts_with("<!--")
}

/// Every `<file>` of the document, in document order.
pub fn parse(text: &str, source: Arc<str>) -> Result<Vec<JobSpec>, Error> {
    let err = |line: usize, reason: String| Error::Input {
        source: source.clone(),
        line,
        reason,
    };
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        err(
            pos.row as usize,
            format!("not a valid Metalink document: {e}"),
        )
    })?;
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    let root = doc.root_element();
    if root.tag_name().name() != "metalink" || root.tag_name().namespace() != Some(NS) {
        return Err(err(
            line_of(root),
            format!("not a Metalink 4 document (the root must be <metalink xmlns=\"{NS}\">)"),
        ));
    }
    let mut jobs = Vec::new();
    for file in root.children().filter(|n| is(n, "file")) {
        let line = line_of(file);
        let origin = Origin {
            source: source.clone(),
            line,
        };
        jobs.push(file_job(file, origin).map_err(|reason| err(line, reason))?);
    }
    if jobs.is_empty() {
        return Err(err(
            line_of(root),
            "no <file> in the Metalink document".into(),
        ));
    }
    Ok(jobs)
}

fn is(node: &roxmltree::Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(NS)
}

/// One `<file>` ─► one job (or why not).
fn file_job(file: roxmltree::Node, origin: Origin) -> Result<JobSpec, String> {
    let raw_name = file
        .attribute("name")
        .ok_or("<file> has no name attribute")?;
    let name = check_name(raw_name).map_err(|why| format!("file name '{raw_name}': {why}"))?;
    if let Some(size) = file.children().find(|n| is(n, "size")) {
        let text = size.text().unwrap_or("").trim();
        text.parse::<u64>()
            .map_err(|_| format!("'{name}': <size> is not a number of bytes: '{text}'"))?;
    }
    let expect = best_hash(file).map_err(|why| format!("'{name}': {why}"))?;
    // RFC 5854 §4.2.16.2: priority 1 is the most preferred, up to 999999; a URL without
    // one comes after those that have one. Equal priorities keep document order.
    let mut urls: Vec<(u32, String)> = Vec::new();
    for url in file.children().filter(|n| is(n, "url")) {
        let text = url.text().unwrap_or("").trim();
        let priority = match url.attribute("priority") {
            Some(p) => match p.trim().parse::<u32>() {
                Ok(p @ 1..=999_999) => p,
                _ => return Err(format!("'{name}': priority '{p}' is not 1 to 999999")),
            },
            None => 1_000_000,
        };
        // ftp:, magnet: and the like are allowed by the format; fetchpool speaks HTTP only.
        if text.starts_with("http://") || text.starts_with("https://") {
            urls.push((priority, text.to_string()));
        }
    }
    urls.sort_by_key(|(priority, _)| *priority);
    let mut urls = urls.into_iter().map(|(_, url)| url);
    let url = urls
        .next()
        .ok_or_else(|| format!("'{name}': no http or https <url>"))?;
    Ok(JobSpec {
        origin,
        url,
        name,
        expect,
        mirrors: urls.collect(),
    })
}

/// The strongest hash fetchpool can check: sha-256 first (what most publishers give and
/// what manifests use), then sha-512, sha-384, sha-224. md5 and sha-1 are ignored.
fn best_hash(file: roxmltree::Node) -> Result<Option<Digest>, String> {
    let mut best: Option<(usize, Digest)> = None;
    for hash in file.children().filter(|n| is(n, "hash")) {
        let Some(kind) = hash.attribute("type") else {
            return Err("<hash> has no type attribute".into());
        };
        // IANA hash function textual names (RFC 5854 §4.2.4): "sha-256".
        let rank = ["sha-256", "sha-512", "sha-384", "sha-224"]
            .iter()
            .position(|t| t.eq_ignore_ascii_case(kind.trim()));
        let Some(rank) = rank else { continue };
        let algo = Algo::from_name(&kind.trim().replace('-', "")).expect("a known algorithm");
        let hex = hash.text().unwrap_or("").trim();
        let digest =
            Digest::from_hex(algo, hex).map_err(|e| format!("<hash type=\"{kind}\">: {e}"))?;
        match &best {
            Some((r, d)) if *r == rank && *d != digest => {
                return Err(format!("two different {kind} hashes"));
            }
            Some((r, _)) if *r <= rank => {}
            _ => best = Some((rank, digest)),
        }
    }
    Ok(best.map(|(_, d)| d))
}

/// A Metalink name: a relative path (RFC 5854 §4.1.2.1 allows directories) whose every
/// component is a name `out=` would accept: never absolute, never `.` or `..`, so it
/// stays inside the output directory.
pub fn check_name(name: &str) -> Result<String, String> {
    if name.starts_with('/') || name.starts_with('\\') {
        return Err("absolute path".into());
    }
    if name.contains('\\') {
        return Err("contains '\\'".into());
    }
    for part in name.split('/') {
        match part {
            "" => return Err("empty path component".into()),
            "." | ".." => return Err(format!("'{part}' path component")),
            _ => {
                names::validate_out_name(part)?;
            }
        }
    }
    if name.len() > 4096 - names::PART_SUFFIX.len() {
        return Err("path too long".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(xml: &str) -> Result<Vec<JobSpec>, String> {
        parse(xml, Arc::from("x.meta4")).map_err(|e| e.to_string())
    }

    const TWO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <published>2024-01-01T00:00:00Z</published>
  <file name="a.iso">
    <size>3</size>
    <hash type="md5">900150983cd24fb0d6963f7d28e17f72</hash>
    <hash type="sha-256">ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad</hash>
    <url priority="2">https://second.example/a.iso</url>
    <url location="de" priority="1">http://first.example/a.iso</url>
    <url>http://last.example/a.iso</url>
    <url priority="1">ftp://ftp.example/a.iso</url>
    <metaurl mediatype="torrent" priority="1">https://t.example/a.torrent</metaurl>
  </file>
  <file name="sub/dir/b.txt">
    <url>https://h.example/b.txt</url>
  </file>
</metalink>"#;

    #[test]
    fn files_become_jobs_with_mirrors_by_priority_and_the_sha256() {
        let jobs = jobs(TWO).unwrap();
        assert_eq!(jobs.len(), 2);
        let a = &jobs[0];
        assert_eq!(a.name, "a.iso");
        assert_eq!(a.url, "http://first.example/a.iso");
        assert_eq!(
            a.mirrors,
            ["https://second.example/a.iso", "http://last.example/a.iso"]
        );
        assert_eq!(a.expect.as_ref().unwrap().algo(), Algo::Sha256);
        assert_eq!(a.origin.line, 4);
        let b = &jobs[1];
        assert_eq!(b.name, "sub/dir/b.txt");
        assert_eq!(b.expect, None);
        assert!(b.mirrors.is_empty());
        assert_eq!(b.origin.line, 14);
    }

    #[test]
    fn names_that_leave_the_directory_are_rejected_with_file_and_line() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "a\\b",
        ] {
            let xml = format!(
                "<metalink xmlns=\"{NS}\">\n<file name=\"ok\"><url>http://h/ok</url></file>\n\
                 <file name=\"{bad}\"><url>http://h/x</url></file></metalink>"
            );
            let e = jobs(&xml).unwrap_err();
            assert!(e.starts_with("x.meta4:3: file name"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_entries_are_rejected_with_the_reason() {
        let file = |body: &str| {
            format!("<metalink xmlns=\"{NS}\"><file name=\"f\">{body}</file></metalink>")
        };
        let cases = [
            (file("<url>ftp://h/f</url>"), "no http or https <url>"),
            (file("<url priority=\"0\">http://h/f</url>"), "priority '0'"),
            (
                file("<size>big</size><url>http://h/f</url>"),
                "<size> is not a number",
            ),
            (
                file("<hash type=\"sha-256\">abc</hash><url>http://h/f</url>"),
                "<hash type=\"sha-256\">",
            ),
            (format!("<metalink xmlns=\"{NS}\"></metalink>"), "no <file>"),
            (
                "<metalink><file name=\"f\"/></metalink>".into(),
                "not a Metalink 4",
            ),
            ("<metalink".into(), "not a valid Metalink document"),
        ];
        for (xml, want) in cases {
            let e = jobs(&xml).unwrap_err();
            assert!(e.contains(want), "{xml}: {e}");
        }
    }

    #[test]
    fn a_dtd_is_refused_so_no_entity_expands() {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE m [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;\">]>\n\
             <metalink xmlns=\"{NS}\"><file name=\"&b;\"><url>http://h/f</url></file></metalink>"
        );
        assert!(
            jobs(&xml)
                .unwrap_err()
                .contains("not a valid Metalink document")
        );
    }

    #[test]
    fn sniffs_xml_but_not_url_lists() {
        assert!(sniff(b"\xef\xbb\xbf<?xml version=\"1.0\"?>"));
        assert!(sniff(b"  \n<metalink xmlns"));
        assert!(!sniff(b"https://h/x out=y\n"));
        assert!(!sniff(b"# comment\n"));
    }

    #[test]
    fn sha512_is_used_when_there_is_no_sha256() {
        let hex = "ab".repeat(64);
        let xml = format!(
            "<metalink xmlns=\"{NS}\"><file name=\"f\"><hash type=\"sha-512\">{hex}</hash>\
             <hash type=\"sha-1\">zz</hash><url>http://h/f</url></file></metalink>"
        );
        assert_eq!(
            jobs(&xml).unwrap()[0].expect.as_ref().unwrap().algo(),
            Algo::Sha512
        );
    }
}
