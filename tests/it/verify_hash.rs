//! `fetchpool hash` and `fetchpool verify` against GNU coreutils on the same files: same
//! bytes out, same exit statuses (where fetchpool documents its own, those), worker deaths
//! through the FETCHPOOL_TEST_WORKER_ABORT hook, and a closed stdout.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Cmd, Pat, command, fetchpool, fifo, temp_dir};

/// The locale both sides run in: coreutils quotes names in messages by it.
const LOCALE: &str = "C.UTF-8";

/// `fetchpool` run in `dir`, in the locale the coreutils side runs in.
fn fetchpool_in(dir: &Path) -> Cmd {
    fetchpool().current_dir(dir).env("LC_ALL", LOCALE)
}

/// A coreutils tool (`sha256sum`, ...) run in `dir`, to say what fetchpool must print.
fn coreutils_in(dir: &Path, program: &str) -> Cmd {
    command(program).current_dir(dir).env("LC_ALL", LOCALE)
}

fn bytes_name(b: &[u8]) -> OsString {
    OsStr::from_bytes(b).to_owned()
}

/// Files whose names need every kind of care, plus their contents.
fn awkward_files(dir: &Path) -> Vec<OsString> {
    let names: Vec<OsString> = [
        &b"plain.bin"[..],
        b"with space.txt",
        b"new\nline",
        b"back\\slash",
        b"cr\rname",
        b"\xff\xfe not utf-8",
        b"it's (1).txt",
        b"empty",
    ]
    .iter()
    .map(|n| bytes_name(n))
    .collect();
    for (i, name) in names.iter().enumerate() {
        let body: Vec<u8> = (0..i * 1000).map(|b| (b * 7 + i) as u8).collect();
        std::fs::write(dir.join(name), body).unwrap();
    }
    names
}

/// sha256sum's stderr in fetchpool's voice.
fn our_voice(stderr: &str, program: &str) -> String {
    stderr.replace(&format!("{program}:"), "fetchpool:")
}

fn copy_fixtures(dir: &Path, manifests: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for entry in std::fs::read_dir(root.join("payloads")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    for name in manifests {
        std::fs::copy(root.join("manifests").join(name), dir.join(name)).unwrap();
    }
}

#[test]
fn hash_prints_what_sha256sum_prints_for_awkward_names() {
    let dir = temp_dir();
    let mut names = awkward_files(dir.path());
    names.push(bytes_name(b"missing file"));
    names.push(bytes_name(b"."));
    let want = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    assert_eq!(want.code, Some(1), "{want}");
    fetchpool_in(dir.path())
        .arg("hash")
        .args(&names)
        .run()
        .assert(
            1,
            Pat::bytes(want.stdout.clone()),
            Pat::eq(our_voice(&want.stderr_str(), "sha256sum")),
        );
}

#[test]
fn hash_matches_every_sha2_sum_tool_with_and_without_tag() {
    let dir = temp_dir();
    let names = awkward_files(dir.path());
    for (algo, program) in [
        ("sha224", "sha224sum"),
        ("sha256", "sha256sum"),
        ("sha384", "sha384sum"),
        ("sha512", "sha512sum"),
    ] {
        for tag in [false, true] {
            let tag_arg: &[&str] = if tag { &["--tag"] } else { &[] };
            let want = coreutils_in(dir.path(), program)
                .args(tag_arg)
                .args(&names)
                .run();
            fetchpool_in(dir.path())
                .args(["hash", "--algo", algo])
                .args(tag_arg)
                .args(&names)
                .run()
                .assert(0, Pat::bytes(want.stdout), Pat::empty());
        }
    }
}

#[test]
fn hash_keeps_argument_order_over_many_files_of_mixed_sizes() {
    let dir = temp_dir();
    let names: Vec<OsString> = (0..300)
        .map(|i| {
            let name = OsString::from(format!("f{i:03}"));
            // Every 50th file is 2 MiB, so replies come back out of order.
            let len = if i % 50 == 7 { 2 << 20 } else { i * 13 };
            std::fs::write(dir.path().join(&name), vec![i as u8; len]).unwrap();
            name
        })
        .collect();
    let want = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    fetchpool_in(dir.path())
        .args(["hash", "--hash-workers", "3"])
        .args(&names)
        .run()
        .assert(0, Pat::bytes(want.stdout), Pat::empty());
}

#[test]
fn hash_files_from_reads_names_from_stdin_by_line_or_by_nul() {
    let dir = temp_dir();
    let names = awkward_files(dir.path());
    let listable: Vec<&OsString> = names
        .iter()
        .filter(|n| !n.as_bytes().contains(&b'\n'))
        .collect();
    let mut by_line = Vec::new();
    for name in &listable[1..] {
        by_line.extend_from_slice(name.as_bytes());
        by_line.push(b'\n');
    }
    let want = coreutils_in(dir.path(), "sha256sum").args(&listable).run();
    fetchpool_in(dir.path())
        .arg("hash")
        .arg(listable[0])
        .args(["--files-from", "-"])
        .stdin(by_line)
        .run()
        .assert(0, Pat::bytes(want.stdout), Pat::empty());
    // NUL-separated (find -print0), so a name may hold a newline.
    let mut by_nul = Vec::new();
    for name in &names {
        by_nul.extend_from_slice(name.as_bytes());
        by_nul.push(0);
    }
    let want = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    fetchpool_in(dir.path())
        .args(["hash", "-0", "--files-from", "-"])
        .stdin(by_nul.clone())
        .run()
        .assert(0, Pat::bytes(want.stdout), Pat::empty());
    std::fs::write(dir.path().join("list0"), &by_nul).unwrap();
    let want = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    fetchpool_in(dir.path())
        .args(["hash", "--null", "--files-from", "list0"])
        .run()
        .assert(0, Pat::bytes(want.stdout), Pat::empty());
}

#[test]
fn hash_of_standard_input_hashes_its_bytes_as_sha256sum_does() {
    let dir = temp_dir();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.path().join("f"), b"file\n").unwrap();
    for args in [
        &[][..],
        &["-"][..],
        &["f", "-", "f"][..],
        &["--tag", "-"][..],
    ] {
        let want = coreutils_in(dir.path(), "sha256sum")
            .args(args)
            .stdin(bytes.clone())
            .run();
        fetchpool_in(dir.path())
            .arg("hash")
            .args(args)
            .stdin(bytes.clone())
            .run()
            .assert(0, Pat::bytes(want.stdout), Pat::empty());
    }
    fetchpool_in(dir.path())
        .args(["hash", "-", "--files-from", "-"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["standard input can be read only once"]),
        );
}

#[test]
fn hash_zero_binary_and_tag_lines_match_sha256sum_for_awkward_names() {
    let dir = temp_dir();
    let names = awkward_files(dir.path());
    for flags in [
        &["-z"][..],
        &["--zero", "--tag"][..],
        &["-b"][..],
        &["--binary", "-z"][..],
        &["-t"][..],
    ] {
        let want = coreutils_in(dir.path(), "sha256sum")
            .args(flags)
            .args(&names)
            .run();
        assert_eq!(want.code, Some(0), "sha256sum {flags:?}");
        fetchpool_in(dir.path())
            .arg("hash")
            .args(flags)
            .args(&names)
            .run()
            .assert(0, Pat::bytes(want.stdout), Pat::empty());
    }
}

#[test]
fn verify_reads_one_space_tab_and_binary_lines_as_sha256sum_c_does() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &[]);
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let manifests: [(&str, String); 5] = [
        ("one-space", format!("{abc} abc.bin\n{empty} empty.bin\n")),
        ("tab", format!("{abc}\t*abc.bin\n{empty}\t empty.bin\n")),
        (
            "tab-one-space",
            format!("{abc}\tabc.bin\n{empty} empty.bin\n"),
        ),
        (
            "binary",
            format!("{abc} *abc.bin\n{}  empty.bin\n", empty.to_uppercase()),
        ),
        ("escaped", format!("\\{abc} abc.bin\n")),
    ];
    for (name, text) in manifests {
        std::fs::write(dir.path().join(name), text).unwrap();
        let want = coreutils_in(dir.path(), "sha256sum")
            .args(["-c", name])
            .run();
        assert_eq!(want.code, Some(0), "sha256sum -c {name}: {want}");
        fetchpool_in(dir.path())
            .args(["verify", name])
            .run()
            .assert(0, Pat::bytes(want.stdout), Pat::empty());
    }
}

#[test]
fn hash_json_gives_each_file_its_digest_or_error_and_a_summary_last() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &[]);
    let run = fetchpool_in(dir.path())
        .args(["hash", "--json", "abc.bin", "nope"])
        .run();
    run.assert(1, Pat::any(), Pat::empty());
    let objects = json_lines(&run.stdout);
    assert_eq!(objects[0]["path"], "abc.bin");
    assert_eq!(
        objects[0]["digest"],
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(objects[1]["status"], "failed");
    assert_eq!(objects[1]["error"], "No such file or directory");
    assert_eq!(
        objects[2],
        serde_json::json!({"summary": true, "ok": 1, "failed": 1, "exit_code": 1})
    );
}

#[test]
fn verify_prints_what_sha256sum_c_prints_for_awkward_names() {
    let dir = temp_dir();
    let names = awkward_files(dir.path());
    let made = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    let mut manifest = made.stdout.clone();
    // One mismatch and one missing file, so every kind of line shows.
    manifest.extend_from_slice(
        &made.stdout[..made.stdout.iter().position(|&b| b == b'\n').unwrap() + 1],
    );
    manifest.extend_from_slice(
        b"0000000000000000000000000000000000000000000000000000000000000000  with space.txt\n\
          0000000000000000000000000000000000000000000000000000000000000000  gone \\ file\n",
    );
    std::fs::write(dir.path().join("SUMS"), &manifest).unwrap();
    let want = coreutils_in(dir.path(), "sha256sum")
        .args(["-c", "SUMS"])
        .run();
    assert_eq!(want.code, Some(1), "{want}");
    // Same lines; fetchpool exits 3 where coreutils says 1 (a mismatch wins).
    fetchpool_in(dir.path())
        .args(["verify", "SUMS"])
        .run()
        .assert(
            3,
            Pat::bytes(want.stdout.clone()),
            Pat::eq(our_voice(&want.stderr_str(), "sha256sum")),
        );
}

/// sha256sum -c's flags, alone and together, over OK, mismatched and missing files with
/// awkward names: the same bytes on stdout and stderr. The exit status is coreutils' but
/// for a mismatch, which is 3 here (it wins over 1).
#[test]
fn verify_flags_print_what_sha256sum_c_prints_with_the_same_flags() {
    let dir = temp_dir();
    let names = awkward_files(dir.path());
    let made = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    let mut manifest = made.stdout.clone();
    manifest.extend_from_slice(
        b"0000000000000000000000000000000000000000000000000000000000000000  with space.txt\n\
          0000000000000000000000000000000000000000000000000000000000000000  gone \\ file\n",
    );
    std::fs::write(dir.path().join("SUMS"), &manifest).unwrap();
    // Only OK lines and a missing file: what --ignore-missing turns into a pass.
    let mut passing = made.stdout.clone();
    passing.extend_from_slice(
        b"0000000000000000000000000000000000000000000000000000000000000000  gone\n",
    );
    std::fs::write(dir.path().join("PASSING"), &passing).unwrap();
    let flag_sets: &[&[&str]] = &[
        &["--quiet"],
        &["--status"],
        &["--ignore-missing"],
        &["--strict"],
        &["--warn"],
        &["--quiet", "--ignore-missing"],
        &["--status", "--ignore-missing"],
        &["--strict", "--warn", "--quiet"],
    ];
    for manifest in ["SUMS", "PASSING"] {
        for flags in flag_sets {
            let want = coreutils_in(dir.path(), "sha256sum")
                .arg("-c")
                .args(*flags)
                .arg(manifest)
                .run();
            let code = match want.code {
                Some(1) if manifest == "SUMS" => 3,
                code => code.unwrap(),
            };
            fetchpool_in(dir.path())
                .arg("verify")
                .args(*flags)
                .arg(manifest)
                .run()
                .assert(
                    code,
                    Pat::bytes(want.stdout.clone()),
                    Pat::eq(our_voice(&want.stderr_str(), "sha256sum")),
                );
        }
    }
}

#[test]
fn verify_accepts_gnu_bsd_and_commented_crlf_manifests() {
    let dir = temp_dir();
    let manifests = [
        "roundtrip-gnu.sha256",
        "roundtrip-bsd-tag.txt",
        "comments-blank-crlf.txt",
    ];
    copy_fixtures(dir.path(), &manifests);
    let want = "abc.bin: OK\nempty.bin: OK\nhello.txt: OK\nwith space.txt: OK\nbytes.bin: OK\n\
                abc.bin: OK\nhello.txt: OK\nbytes.bin: OK\nwith space.txt: OK\n\
                hello.txt: OK\nabc.bin: OK\nempty.bin: OK\n";
    fetchpool_in(dir.path())
        .arg("verify")
        .args(manifests)
        .run()
        .assert(0, Pat::eq(want), Pat::empty());
}

#[test]
fn verify_mixed_manifest_checks_each_line_with_its_own_algorithm() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &["roundtrip-mixed.txt"]);
    // The last two lines name files that are not payloads: escaped names, reported escaped.
    fetchpool_in(dir.path())
        .args(["verify", "roundtrip-mixed.txt"])
        .run()
        .assert(
            1,
            Pat::eq(
                "hello.txt: OK\nabc.bin: OK\nempty.bin: OK\nwith space.txt: OK\n\
                 \\new\\nline\\\\back.txt: FAILED open or read\ncr\rname: FAILED open or read\n",
            ),
            Pat::eq(
                "fetchpool: 'new'$'\\n''line\\back.txt': No such file or directory\n\
                 fetchpool: 'cr'$'\\r''name': No such file or directory\n\
                 fetchpool: WARNING: 2 listed files could not be read\n",
            ),
        );
}

#[test]
fn verify_exits_3_when_a_digest_mismatches() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    fetchpool_in(dir.path())
        .args(["verify", "mismatch-abc.sha256"])
        .run()
        .assert(
            3,
            Pat::eq("hello.txt: OK\nabc.bin: FAILED\n"),
            Pat::eq("fetchpool: WARNING: 1 computed checksum did NOT match\n"),
        );
}

#[test]
fn verify_exits_1_when_a_file_is_missing_and_3_when_one_also_mismatches() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    std::fs::remove_file(dir.path().join("hello.txt")).unwrap();
    fetchpool_in(dir.path())
        .args(["verify", "mismatch-abc.sha256"])
        .run()
        .assert(
            3,
            Pat::eq("hello.txt: FAILED open or read\nabc.bin: FAILED\n"),
            Pat::eq(
                "fetchpool: hello.txt: No such file or directory\n\
                 fetchpool: WARNING: 1 listed file could not be read\n\
                 fetchpool: WARNING: 1 computed checksum did NOT match\n",
            ),
        );
    std::fs::write(
        dir.path().join("one.sha256"),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  hello.txt\n",
    )
    .unwrap();
    fetchpool_in(dir.path())
        .args(["verify", "one.sha256"])
        .run()
        .assert(
            1,
            Pat::eq("hello.txt: FAILED open or read\n"),
            Pat::eq(
                "fetchpool: hello.txt: No such file or directory\n\
                 fetchpool: WARNING: 1 listed file could not be read\n",
            ),
        );
}

#[test]
fn verify_exits_2_on_a_malformed_line_before_hashing_anything() {
    let dir = temp_dir();
    copy_fixtures(
        dir.path(),
        &[
            "roundtrip-gnu.sha256",
            "bad-md5-line-3.txt",
            "bad-short-digest-line-2.sha256",
        ],
    );
    // The good manifest comes first: nothing of it may be printed.
    fetchpool_in(dir.path())
        .args(["verify", "roundtrip-gnu.sha256", "bad-md5-line-3.txt"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq(
                "fetchpool: bad-md5-line-3.txt:3: unsupported algorithm 'MD5' \
                 (expected SHA224, SHA256, SHA384 or SHA512)\n",
            ),
        );
    fetchpool_in(dir.path())
        .args(["verify", "bad-short-digest-line-2.sha256"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq(
                "fetchpool: bad-short-digest-line-2.sha256:2: no SHA-2 digest has 63 hex digits \
                 (expected 56, 64, 96 or 128)\n",
            ),
        );
    fetchpool_in(dir.path())
        .args(["verify", "-"])
        .stdin("# only a comment\n")
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq("fetchpool: 'standard input': no properly formatted checksum lines found\n"),
        );
}

#[test]
fn verify_ignore_missing_skips_absent_files_but_not_an_empty_check() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &["roundtrip-gnu.sha256"]);
    std::fs::remove_file(dir.path().join("abc.bin")).unwrap();
    fetchpool_in(dir.path())
        .args(["verify", "--ignore-missing", "roundtrip-gnu.sha256"])
        .run()
        .assert(
            0,
            Pat::eq("empty.bin: OK\nhello.txt: OK\nwith space.txt: OK\nbytes.bin: OK\n"),
            Pat::empty(),
        );
    let gone = "0000000000000000000000000000000000000000000000000000000000000000  gone\n";
    fetchpool_in(dir.path())
        .args(["verify", "--ignore-missing", "-"])
        .stdin(gone)
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::eq("fetchpool: 'standard input': no file was verified\n"),
        );
}

#[test]
fn verify_quiet_prints_only_failures_and_status_prints_nothing() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    fetchpool_in(dir.path())
        .args(["verify", "--quiet", "mismatch-abc.sha256"])
        .run()
        .assert(
            3,
            Pat::eq("abc.bin: FAILED\n"),
            Pat::eq("fetchpool: WARNING: 1 computed checksum did NOT match\n"),
        );
    fetchpool_in(dir.path())
        .args(["verify", "--status", "mismatch-abc.sha256"])
        .run()
        .assert(3, Pat::empty(), Pat::empty());
}

#[test]
fn verify_resolves_names_against_the_current_directory_or_dash_c_and_refuses_escapes() {
    let dir = temp_dir();
    let sub = dir.path().join("sums");
    std::fs::create_dir(&sub).unwrap();
    copy_fixtures(&sub, &["roundtrip-gnu.sha256"]);
    std::fs::write(dir.path().join("outside"), "hello\n").unwrap();
    let mut manifest = std::fs::read(sub.join("roundtrip-gnu.sha256")).unwrap();
    manifest.extend_from_slice(
        b"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  ../outside\n\
          5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  /etc/hostname\n",
    );
    std::fs::write(sub.join("escape.sha256"), manifest).unwrap();
    let checked = "abc.bin: OK\nempty.bin: OK\nhello.txt: OK\nwith space.txt: OK\nbytes.bin: OK\n\
                   ../outside: FAILED open or read\n/etc/hostname: FAILED open or read\n";
    let refused = "fetchpool: ../outside: refusing a name with a '..' component in a manifest\n\
                   fetchpool: /etc/hostname: refusing an absolute name in a manifest\n\
                   fetchpool: WARNING: 2 listed files could not be read\n";
    // As sha256sum -c: from where the files are, however the manifest is named.
    fetchpool_in(&sub)
        .args(["verify", "escape.sha256"])
        .run()
        .assert(1, Pat::eq(checked), Pat::eq(refused));
    // From elsewhere, -C says where the files are.
    fetchpool_in(dir.path())
        .args(["verify", "-C", "sums", "sums/escape.sha256"])
        .run()
        .assert(1, Pat::eq(checked), Pat::eq(refused));
    // Without -C, the names are looked for here (where they are not), as sha256sum would.
    let run = fetchpool_in(dir.path())
        .args(["verify", "sums/roundtrip-gnu.sha256"])
        .run();
    let want = coreutils_in(dir.path(), "sha256sum")
        .args(["-c", "sums/roundtrip-gnu.sha256"])
        .run();
    run.assert(
        1,
        Pat::bytes(want.stdout),
        Pat::eq(our_voice(
            &String::from_utf8_lossy(&want.stderr),
            "sha256sum",
        )),
    );
    fetchpool_in(dir.path())
        .args(["verify", "-C", "nowhere", "sums/roundtrip-gnu.sha256"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq("fetchpool: -C nowhere: not a directory\n"),
        );
}

/// A file too big to ride in a batch with the next one (so its line comes out on its own);
/// returns its sha256.
fn big_file(dir: &Path) -> String {
    let body: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("big"), &body).unwrap();
    let run = command("sha256sum").arg(dir.join("big")).run();
    String::from_utf8_lossy(&run.stdout)[..64].to_string()
}

#[test]
fn verify_interrupted_stops_the_pool_prints_the_summary_and_exits_130_or_143() {
    let dir = temp_dir();
    let big = big_file(dir.path());
    fifo(dir.path(), "stuck");
    std::fs::write(
        dir.path().join("m"),
        format!("{big}  big\n{big}  stuck\n{big}  big\n"),
    )
    .unwrap();
    for (sig, json, code) in [(2, false, 130), (15, true, 143)] {
        let mut cmd = fetchpool_in(dir.path()).args(["verify", "--hash-workers", "2", "m"]);
        if json {
            cmd = cmd.arg("--json");
        }
        let running = cmd.spawn();
        let first = if json { "\"ok\"" } else { "big: OK" };
        crate::support::wait_until(Duration::from_secs(20), "the first file's line", || {
            running.stdout_so_far().contains(first)
        });
        running.signal(sig);
        let run = running.wait();
        if json {
            let objects = json_lines(&run.stdout);
            let summary = objects.last().unwrap();
            assert_eq!(summary["summary"], true, "{run}");
            assert_eq!(summary["ok"], 1, "{run}");
            assert_eq!(summary["exit_code"], code, "{run}");
            run.assert(code, Pat::any(), Pat::empty());
        } else {
            run.assert(code, Pat::eq("big: OK\n"), Pat::empty());
        }
    }
}

#[test]
fn hash_interrupted_stops_the_pool_and_exits_130() {
    let dir = temp_dir();
    big_file(dir.path());
    fifo(dir.path(), "stuck");
    let running = fetchpool_in(dir.path())
        .args(["hash", "--json", "big", "stuck", "big"])
        .spawn();
    crate::support::wait_until(Duration::from_secs(20), "the first file's line", || {
        running.stdout_so_far().contains("big")
    });
    running.signal(2);
    let run = running.wait();
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 2, "{run}");
    assert_eq!(objects[1]["summary"], true, "{run}");
    assert_eq!(objects[1]["ok"], 1, "{run}");
    assert_eq!(objects[1]["exit_code"], 130, "{run}");
    run.assert(130, Pat::any(), Pat::empty());
}

#[test]
fn verify_json_reports_each_file_and_a_summary() {
    let dir = temp_dir();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    let run = fetchpool_in(dir.path())
        .args(["verify", "--json", "mismatch-abc.sha256"])
        .run();
    run.assert(3, Pat::any(), Pat::empty());
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[0]["path"], "hello.txt");
    assert_eq!(objects[0]["status"], "ok");
    assert_eq!(objects[1]["status"], "mismatch");
    assert_eq!(
        objects[1]["digest"],
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(objects[1]["error"], serde_json::Value::Null);
    assert_eq!(
        objects[2],
        serde_json::json!({"summary": true, "ok": 1, "mismatch": 1, "failed": 0,
                           "ignored_missing": 0, "exit_code": 3})
    );
}

/// One JSON value per line of `stdout`.
fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(stdout)
        .expect("JSON output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn abc_files(dir: &Path) -> Vec<OsString> {
    ["a.bin", "b.bin", "c.bin"]
        .iter()
        .map(|name| {
            std::fs::write(dir.join(name), name.repeat(1000)).unwrap();
            OsString::from(name)
        })
        .collect()
}

#[test]
fn a_worker_killed_once_is_replaced_and_the_file_retried() {
    let dir = temp_dir();
    let names = abc_files(dir.path());
    let want = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    std::fs::write(dir.path().join("SUMS"), &want.stdout).unwrap();
    let hook = ("FETCHPOOL_TEST_WORKER_ABORT", "once:b.bin");
    fetchpool_in(dir.path())
        .env(hook.0, hook.1)
        .args(["hash", "--hash-workers", "2"])
        .args(&names)
        .run()
        .assert(0, Pat::bytes(want.stdout), Pat::empty());
    fetchpool_in(dir.path())
        .env(hook.0, hook.1)
        .args(["verify", "SUMS"])
        .run()
        .assert(
            0,
            Pat::eq("a.bin: OK\nb.bin: OK\nc.bin: OK\n"),
            Pat::empty(),
        );
}

#[test]
fn a_worker_that_always_dies_fails_only_that_file() {
    let dir = temp_dir();
    let names = abc_files(dir.path());
    let want = coreutils_in(dir.path(), "sha256sum")
        .args(["a.bin", "c.bin"])
        .run();
    fetchpool_in(dir.path())
        .env("FETCHPOOL_TEST_WORKER_ABORT", "always:b.bin")
        .arg("hash")
        .args(&names)
        .run()
        .assert(
            1,
            Pat::bytes(want.stdout),
            Pat::eq(
                "fetchpool: b.bin: hash worker died twice on this file: killed by signal 6 \
                 (status 134)\n",
            ),
        );
}

#[test]
fn hash_and_verify_end_quietly_when_stdout_closes() {
    let dir = temp_dir();
    let names: Vec<OsString> = (0..3000)
        .map(|i| {
            let name = OsString::from(format!("f{i}"));
            std::fs::write(dir.path().join(&name), format!("{i}\n")).unwrap();
            name
        })
        .collect();
    let sums = fetchpool_in(dir.path()).arg("hash").args(&names).run();
    sums.assert(0, Pat::any(), Pat::empty());
    std::fs::write(dir.path().join("SUMS"), &sums.stdout).unwrap();
    let first_sum = sums.stdout_str().lines().next().unwrap().to_owned() + "\n";

    // `fetchpool hash * | head -1`: one line read, the pipe closed, a quiet end.
    fetchpool_in(dir.path())
        .arg("hash")
        .args(&names)
        .close_stdout_after(1)
        .run()
        .assert(0, Pat::eq(first_sum), Pat::empty());
    fetchpool_in(dir.path())
        .args(["verify", "SUMS"])
        .close_stdout_after(1)
        .run()
        .assert(0, Pat::eq("f0: OK\n"), Pat::empty());
}

/// Where the fixtures say a digest is, the tools agree.
#[test]
fn fixture_payload_digests_are_the_ones_in_the_readme() {
    let payloads: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/payloads");
    let readme = std::fs::read_to_string(payloads.join("README")).unwrap();
    let names = [
        "abc.bin",
        "bytes.bin",
        "empty.bin",
        "hello.txt",
        "with space.txt",
    ];
    let run = fetchpool_in(&payloads)
        .args(["hash", "-a", "sha512"])
        .args(names)
        .run();
    run.assert(0, Pat::any(), Pat::empty());
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        assert!(readme.contains(line), "README lacks {line:?}");
    }
}

#[test]
fn a_worker_dying_inside_a_batch_of_small_files_costs_only_that_file() {
    let dir = temp_dir();
    let names: Vec<String> = (0..200).map(|i| format!("s{i:03}.bin")).collect();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(dir.path().join(name), vec![i as u8; 1000 + i]).unwrap();
    }
    let want = coreutils_in(dir.path(), "sha256sum").args(&names).run();
    std::fs::write(dir.path().join("SUMS"), &want.stdout).unwrap();
    // Small files travel to the workers in batches; these deaths land mid-batch.
    fetchpool_in(dir.path())
        .env("FETCHPOOL_TEST_WORKER_ABORT", "once:s123.bin")
        .args(["verify", "--quiet", "--hash-workers", "2", "SUMS"])
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    fetchpool_in(dir.path())
        .env("FETCHPOOL_TEST_WORKER_ABORT", "always:s123.bin")
        .args(["verify", "--quiet", "--hash-workers", "2", "SUMS"])
        .run()
        .assert(
            1,
            Pat::eq("s123.bin: FAILED open or read\n"),
            Pat::has(&["s123.bin", "hash worker died twice"]),
        );
}
