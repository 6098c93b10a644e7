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
