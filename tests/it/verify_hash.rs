//! `fetchpool hash` and `fetchpool verify` against GNU coreutils on the same files: same
//! bytes out, same exit statuses (where fetchpool documents its own, those), worker deaths
//! through the FETCHPOOL_TEST_WORKER_ABORT hook, and a closed stdout.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Every run ends within this, or the test fails (and the process is killed).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What a run left behind: all three checked together by `assert_run`.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `program` in `dir` with a bounded runtime. (The lead's harness replaces this.)
fn run_in(dir: &Path, program: &OsStr, args: &[&OsStr], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .env_remove("FETCHPOOL_TEST_WORKER_ABORT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = read_all(child.stdout.take().unwrap());
    let err = read_all(child.stderr.take().unwrap());
    let status = wait_bounded(&mut child, RUN_LIMIT);
    feeder.join().unwrap();
    Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

fn fetchpool(dir: &Path, args: &[&OsStr]) -> Run {
    fetchpool_with(dir, args, &[], b"")
}

fn fetchpool_with(dir: &Path, args: &[&OsStr], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    run_in(
        dir,
        OsStr::new(env!("CARGO_BIN_EXE_fetchpool")),
        args,
        env,
        stdin,
    )
}

fn coreutils(dir: &Path, program: &str, args: &[&OsStr]) -> Run {
    run_in(dir, OsStr::new(program), args, &[], b"")
}

fn read_all(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).unwrap();
        bytes
    })
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[track_caller]
fn assert_run(run: &Run, code: i32, stdout: &[u8], stderr: &str) {
    if run.code != Some(code) || run.stdout != stdout || run.stderr != stderr {
        panic!(
            "\n want: status {code}\n  stdout: {:?}\n  stderr: {stderr:?}\n got: status {:?}\n  stdout: {:?}\n  stderr: {:?}\n",
            String::from_utf8_lossy(stdout),
            run.code,
            String::from_utf8_lossy(&run.stdout),
            run.stderr,
        );
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
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

fn as_args(names: &[OsString]) -> Vec<&OsStr> {
    names.iter().map(OsString::as_os_str).collect()
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
    let dir = tempfile::tempdir().unwrap();
    let mut names = awkward_files(dir.path());
    names.push(bytes_name(b"missing file"));
    names.push(bytes_name(b"."));
    let args = as_args(&names);
    let want = coreutils(dir.path(), "sha256sum", &args);
    assert_eq!(want.code, Some(1));
    let mut ours = vec![os("hash")];
    ours.extend(&args);
    assert_run(
        &fetchpool(dir.path(), &ours),
        1,
        &want.stdout,
        &our_voice(&want.stderr, "sha256sum"),
    );
}

#[test]
fn hash_matches_every_sha2_sum_tool_with_and_without_tag() {
    let dir = tempfile::tempdir().unwrap();
    let names = awkward_files(dir.path());
    let args = as_args(&names);
    for (algo, program) in [
        ("sha224", "sha224sum"),
        ("sha256", "sha256sum"),
        ("sha384", "sha384sum"),
        ("sha512", "sha512sum"),
    ] {
        for tag in [false, true] {
            let mut theirs = args.clone();
            let mut ours = vec![os("hash"), os("--algo"), os(algo)];
            if tag {
                theirs.insert(0, os("--tag"));
                ours.push(os("--tag"));
            }
            ours.extend(&args);
            let want = coreutils(dir.path(), program, &theirs);
            assert_run(&fetchpool(dir.path(), &ours), 0, &want.stdout, "");
        }
    }
}

#[test]
fn hash_keeps_argument_order_over_many_files_of_mixed_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<OsString> = (0..300)
        .map(|i| {
            let name = OsString::from(format!("f{i:03}"));
            // Every 50th file is 2 MiB, so replies come back out of order.
            let len = if i % 50 == 7 { 2 << 20 } else { i * 13 };
            std::fs::write(dir.path().join(&name), vec![i as u8; len]).unwrap();
            name
        })
        .collect();
    let args = as_args(&names);
    let want = coreutils(dir.path(), "sha256sum", &args);
    let mut ours = vec![os("hash"), os("--hash-workers"), os("3")];
    ours.extend(&args);
    assert_run(&fetchpool(dir.path(), &ours), 0, &want.stdout, "");
}

#[test]
fn hash_reads_names_from_stdin_after_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let names = awkward_files(dir.path());
    let listable: Vec<&OsString> = names
        .iter()
        .filter(|n| !n.as_bytes().contains(&b'\n'))
        .collect();
    let mut stdin = Vec::new();
    for name in &listable[1..] {
        stdin.extend_from_slice(name.as_bytes());
        stdin.push(b'\n');
    }
    let theirs: Vec<&OsStr> = listable.iter().map(|n| n.as_os_str()).collect();
    let want = coreutils(dir.path(), "sha256sum", &theirs);
    let run = fetchpool_with(dir.path(), &[os("hash"), listable[0], os("-")], &[], &stdin);
    assert_run(&run, 0, &want.stdout, "");
}

#[test]
fn hash_json_has_one_object_per_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &[]);
    let run = fetchpool(
        dir.path(),
        &[os("hash"), os("--json"), os("abc.bin"), os("nope")],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    let objects: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(objects[0]["path"], "abc.bin");
    assert_eq!(
        objects[0]["digest"],
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(objects[1]["status"], "failed");
    assert_eq!(objects[1]["error"], "No such file or directory");
}

#[test]
fn verify_prints_what_sha256sum_c_prints_for_awkward_names() {
    let dir = tempfile::tempdir().unwrap();
    let names = awkward_files(dir.path());
    let made = coreutils(dir.path(), "sha256sum", &as_args(&names));
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
    let want = coreutils(dir.path(), "sha256sum", &[os("-c"), os("SUMS")]);
    assert_eq!(want.code, Some(1), "{want:?}");
    // Same lines; fetchpool exits 3 where coreutils says 1 (a mismatch wins).
    assert_run(
        &fetchpool(dir.path(), &[os("verify"), os("SUMS")]),
        3,
        &want.stdout,
        &our_voice(&want.stderr, "sha256sum"),
    );
}

#[test]
fn verify_accepts_gnu_bsd_and_commented_crlf_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = [
        "roundtrip-gnu.sha256",
        "roundtrip-bsd-tag.txt",
        "comments-blank-crlf.txt",
    ];
    copy_fixtures(dir.path(), &manifests);
    let run = fetchpool(
        dir.path(),
        &[
            os("verify"),
            os(manifests[0]),
            os(manifests[1]),
            os(manifests[2]),
        ],
    );
    let want = "abc.bin: OK\nempty.bin: OK\nhello.txt: OK\nwith space.txt: OK\nbytes.bin: OK\n\
                abc.bin: OK\nhello.txt: OK\nbytes.bin: OK\nwith space.txt: OK\n\
                hello.txt: OK\nabc.bin: OK\nempty.bin: OK\n";
    assert_run(&run, 0, want.as_bytes(), "");
}

#[test]
fn verify_mixed_manifest_checks_each_line_with_its_own_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &["roundtrip-mixed.txt"]);
    // The last two lines name files that are not payloads: escaped names, reported escaped.
    let run = fetchpool(dir.path(), &[os("verify"), os("roundtrip-mixed.txt")]);
    assert_run(
        &run,
        1,
        b"hello.txt: OK\nabc.bin: OK\nempty.bin: OK\nwith space.txt: OK\n\
          \\new\\nline\\\\back.txt: FAILED open or read\ncr\rname: FAILED open or read\n",
        "fetchpool: 'new'$'\\n''line\\back.txt': No such file or directory\n\
         fetchpool: 'cr'$'\\r''name': No such file or directory\n\
         fetchpool: WARNING: 2 listed files could not be read\n",
    );
}

#[test]
fn verify_exits_3_when_a_digest_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    let run = fetchpool(dir.path(), &[os("verify"), os("mismatch-abc.sha256")]);
    assert_run(
        &run,
        3,
        b"hello.txt: OK\nabc.bin: FAILED\n",
        "fetchpool: WARNING: 1 computed checksum did NOT match\n",
    );
}

#[test]
fn verify_exits_1_when_a_file_is_missing_and_3_when_one_also_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    std::fs::remove_file(dir.path().join("hello.txt")).unwrap();
    let run = fetchpool(dir.path(), &[os("verify"), os("mismatch-abc.sha256")]);
    assert_run(
        &run,
        3,
        b"hello.txt: FAILED open or read\nabc.bin: FAILED\n",
        "fetchpool: hello.txt: No such file or directory\n\
         fetchpool: WARNING: 1 listed file could not be read\n\
         fetchpool: WARNING: 1 computed checksum did NOT match\n",
    );
    std::fs::write(
        dir.path().join("one.sha256"),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  hello.txt\n",
    )
    .unwrap();
    let run = fetchpool(dir.path(), &[os("verify"), os("one.sha256")]);
    assert_run(
        &run,
        1,
        b"hello.txt: FAILED open or read\n",
        "fetchpool: hello.txt: No such file or directory\n\
         fetchpool: WARNING: 1 listed file could not be read\n",
    );
}

#[test]
fn verify_exits_2_on_a_malformed_line_before_hashing_anything() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(
        dir.path(),
        &[
            "roundtrip-gnu.sha256",
            "bad-md5-line-3.txt",
            "bad-short-digest-line-2.sha256",
        ],
    );
    // The good manifest comes first: nothing of it may be printed.
    let run = fetchpool(
        dir.path(),
        &[
            os("verify"),
            os("roundtrip-gnu.sha256"),
            os("bad-md5-line-3.txt"),
        ],
    );
    assert_run(
        &run,
        2,
        b"",
        "fetchpool: bad-md5-line-3.txt:3: unsupported algorithm 'MD5' \
         (expected SHA224, SHA256, SHA384 or SHA512)\n",
    );
    let run = fetchpool(
        dir.path(),
        &[os("verify"), os("bad-short-digest-line-2.sha256")],
    );
    assert_run(
        &run,
        2,
        b"",
        "fetchpool: bad-short-digest-line-2.sha256:2: no SHA-2 digest has 63 hex digits \
         (expected 56, 64, 96 or 128)\n",
    );
    let run = fetchpool_with(
        dir.path(),
        &[os("verify"), os("-")],
        &[],
        b"# only a comment\n",
    );
    assert_run(
        &run,
        2,
        b"",
        "fetchpool: 'standard input': no properly formatted checksum lines found\n",
    );
}

#[test]
fn verify_ignore_missing_skips_absent_files_but_not_an_empty_check() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &["roundtrip-gnu.sha256"]);
    std::fs::remove_file(dir.path().join("abc.bin")).unwrap();
    let run = fetchpool(
        dir.path(),
        &[
            os("verify"),
            os("--ignore-missing"),
            os("roundtrip-gnu.sha256"),
        ],
    );
    assert_run(
        &run,
        0,
        b"empty.bin: OK\nhello.txt: OK\nwith space.txt: OK\nbytes.bin: OK\n",
        "",
    );
    let gone = b"0000000000000000000000000000000000000000000000000000000000000000  gone\n";
    let run = fetchpool_with(
        dir.path(),
        &[os("verify"), os("--ignore-missing"), os("-")],
        &[],
        gone,
    );
    assert_run(
        &run,
        1,
        b"",
        "fetchpool: 'standard input': no file was verified\n",
    );
}

#[test]
fn verify_quiet_prints_only_failures_and_status_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    let run = fetchpool(
        dir.path(),
        &[os("verify"), os("--quiet"), os("mismatch-abc.sha256")],
    );
    assert_run(
        &run,
        3,
        b"abc.bin: FAILED\n",
        "fetchpool: WARNING: 1 computed checksum did NOT match\n",
    );
    let run = fetchpool(
        dir.path(),
        &[os("verify"), os("--status"), os("mismatch-abc.sha256")],
    );
    assert_run(&run, 3, b"", "");
}

#[test]
fn verify_resolves_names_against_the_manifest_directory_and_refuses_escapes() {
    let dir = tempfile::tempdir().unwrap();
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
    let run = fetchpool(dir.path(), &[os("verify"), os("sums/escape.sha256")]);
    assert_run(
        &run,
        1,
        b"abc.bin: OK\nempty.bin: OK\nhello.txt: OK\nwith space.txt: OK\nbytes.bin: OK\n\
          ../outside: FAILED open or read\n/etc/hostname: FAILED open or read\n",
        "fetchpool: ../outside: refusing a name with a '..' component in a manifest\n\
         fetchpool: /etc/hostname: refusing an absolute name in a manifest\n\
         fetchpool: WARNING: 2 listed files could not be read\n",
    );
}

#[test]
fn verify_json_reports_each_file_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixtures(dir.path(), &["mismatch-abc.sha256"]);
    let run = fetchpool(
        dir.path(),
        &[os("verify"), os("--json"), os("mismatch-abc.sha256")],
    );
    assert_eq!((run.code, run.stderr.as_str()), (Some(3), ""));
    let objects: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
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
        objects[2]["summary"],
        serde_json::json!({"ok": 1, "mismatch": 1, "failed": 0, "ignored_missing": 0})
    );
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
    let dir = tempfile::tempdir().unwrap();
    let names = abc_files(dir.path());
    let want = coreutils(dir.path(), "sha256sum", &as_args(&names));
    std::fs::write(dir.path().join("SUMS"), &want.stdout).unwrap();
    let hook = [("FETCHPOOL_TEST_WORKER_ABORT", "once:b.bin")];
    let mut args = vec![os("hash"), os("--hash-workers"), os("2")];
    args.extend(as_args(&names));
    assert_run(
        &fetchpool_with(dir.path(), &args, &hook, b""),
        0,
        &want.stdout,
        "",
    );
    let run = fetchpool_with(dir.path(), &[os("verify"), os("SUMS")], &hook, b"");
    assert_run(&run, 0, b"a.bin: OK\nb.bin: OK\nc.bin: OK\n", "");
}

#[test]
fn a_worker_that_always_dies_fails_only_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let names = abc_files(dir.path());
    let want = coreutils(dir.path(), "sha256sum", &[os("a.bin"), os("c.bin")]);
    let hook = [("FETCHPOOL_TEST_WORKER_ABORT", "always:b.bin")];
    let mut args = vec![os("hash")];
    args.extend(as_args(&names));
    assert_run(
        &fetchpool_with(dir.path(), &args, &hook, b""),
        1,
        &want.stdout,
        "fetchpool: b.bin: hash worker died twice on this file: killed by signal 6 (status 134)\n",
    );
}

/// `fetchpool hash * | head -1`: read one line, close the pipe, expect a quiet end.
fn ends_quietly_when_stdout_closes(args: &[&OsStr], dir: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fetchpool"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = read_all(child.stderr.take().unwrap());
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.ends_with('\n'), "{first:?}");
    drop(out);
    let status = wait_bounded(&mut child, RUN_LIMIT);
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
}

#[test]
fn hash_and_verify_end_quietly_when_stdout_closes() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<OsString> = (0..3000)
        .map(|i| {
            let name = OsString::from(format!("f{i}"));
            std::fs::write(dir.path().join(&name), format!("{i}\n")).unwrap();
            name
        })
        .collect();
    let mut args = vec![os("hash")];
    args.extend(as_args(&names));
    ends_quietly_when_stdout_closes(&args, dir.path());

    let sums = fetchpool(dir.path(), &args);
    std::fs::write(dir.path().join("SUMS"), &sums.stdout).unwrap();
    ends_quietly_when_stdout_closes(&[os("verify"), os("SUMS")], dir.path());
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
    let mut args = vec![os("hash"), os("-a"), os("sha512")];
    args.extend(names.iter().map(|n| os(n)));
    let run = fetchpool(&payloads, &args);
    assert_eq!(run.code, Some(0), "{run:?}");
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        assert!(readme.contains(line), "README lacks {line:?}");
    }
}
