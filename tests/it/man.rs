//! Generated files stay fresh: the committed man pages are exactly what the current CLI
//! definition renders, and completions can be generated for every supported shell.

use std::fs;
use std::path::Path;

use crate::support::{Pat, fetchpool, list_dir, temp_dir};

#[test]
fn committed_man_pages_match_the_cli_definition() {
    let dir = temp_dir();
    fetchpool()
        .args(["generate", "man"])
        .arg(dir.path())
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let fresh = list_dir(dir.path());
    assert_eq!(
        list_dir(&committed),
        fresh,
        "man/ is stale: run `cargo run -- generate man man/`"
    );
    for name in fresh {
        assert!(
            fs::read(dir.path().join(&name)).unwrap() == fs::read(committed.join(&name)).unwrap(),
            "man/{name} is stale: run `cargo run -- generate man man/`"
        );
    }
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let dir = temp_dir();
    fetchpool()
        .args(["generate", "completions"])
        .arg(dir.path())
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    assert_eq!(
        list_dir(dir.path()),
        ["_fetchpool", "fetchpool.bash", "fetchpool.fish"]
    );
}

#[test]
fn man_subcommand_prints_the_committed_page() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    for (args, file) in [
        (&["man"][..], "fetchpool.1"),
        (&["man", "get"][..], "fetchpool-get.1"),
        (&["man", "verify"][..], "fetchpool-verify.1"),
    ] {
        let page = fs::read_to_string(committed.join(file)).unwrap();
        fetchpool()
            .args(args)
            .run()
            .assert(0, Pat::eq(page.as_str()), Pat::empty());
    }
    fetchpool().args(["man", "hash-worker"]).run().assert(
        2,
        Pat::empty(),
        Pat::has(&["invalid value 'hash-worker'"]),
    );
}

#[test]
fn man_pages_have_an_exit_status_section_and_value_names_in_the_synopsis() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let get = fs::read_to_string(committed.join("fetchpool-get.1")).unwrap();
    assert!(get.contains(".SH \"EXIT STATUS\""), "{get}");
    assert!(get.contains(".SH \"EXAMPLES\""), "{get}");
    assert!(!get.contains(".SH EXTRA"), "{get}");
    assert!(get.contains("\\fB\\-\\-jobs\\fR\\ \\fIN\\fR"), "{get}");
    for file in list_dir(&committed) {
        let page = fs::read_to_string(committed.join(&file)).unwrap();
        assert!(
            page.contains(".SH \"EXIT STATUS\""),
            "{file} has no EXIT STATUS"
        );
    }
}

#[test]
fn completions_print_a_script_on_stdout_for_every_shell_without_hidden_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef fetchpool"),
        ("fish", "complete -c fetchpool"),
        ("elvish", "edit:completion:arg-completer"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let dir = temp_dir();
        let run = fetchpool()
            .args(["completions", shell])
            .current_dir(dir.path())
            .run();
        run.assert(0, Pat::has(&[marker]), Pat::empty());
        let script = String::from_utf8_lossy(&run.stdout).into_owned();
        // Every public subcommand and get's options are there; internal ones are not.
        for word in ["get", "verify", "hash", "check", "demo", "write-checksums"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
        let words: Vec<&str> = script
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .collect();
        for hidden in ["hash-worker", "hash__worker", "generate"] {
            assert!(!words.contains(&hidden), "{shell} offers {hidden}");
        }
        // Nothing is created in the current directory (it once made ./bash).
        assert!(list_dir(dir.path()).is_empty(), "{shell} wrote files");
    }
}

#[test]
fn generate_refuses_a_directory_that_does_not_exist() {
    let dir = temp_dir();
    fetchpool()
        .args(["generate", "completions", "bash"])
        .current_dir(dir.path())
        .run()
        .assert(1, Pat::empty(), Pat::has(&["bash: cannot write"]));
    assert!(list_dir(dir.path()).is_empty());
}
