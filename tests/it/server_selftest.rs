//! Self-tests of the test machinery: the harness that runs fetchpool, and the loopback server.

use crate::support::{Pat, fetchpool};

#[test]
fn version_prints_the_name_on_stdout_and_nothing_on_stderr() {
    fetchpool()
        .arg("--version")
        .run()
        .assert(0, Pat::has(&["fetchpool"]), Pat::empty());
}
