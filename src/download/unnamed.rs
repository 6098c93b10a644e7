//! Unnamed files (`O_TMPFILE`): a body that could never be resumed is written to a file
//! with no name in the output directory and linked under its final name once complete.
//! That is one directory operation per file where `NAME.part` + rename is three (create,
//! then rename's remove and add), each under the directory's lock; at thousands of small
//! files a second that lock is the bottleneck. A killed run leaves nothing behind, and the
//! link fails if the final name exists, so the file is never clobbered.
//! Linux only; elsewhere, or where the filesystem or /proc says no, `probe` finds no way
//! and every body goes through `NAME.part`.

use std::fs::File;
use std::io;
use std::path::Path;

/// How this process can give an unnamed file a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linker {
    /// `linkat(fd, "", …, AT_EMPTY_PATH)`: needs CAP_DAC_READ_SEARCH.
    EmptyPath,
    /// `linkat(AT_FDCWD, "/proc/self/fd/N", …, AT_SYMLINK_FOLLOW)`: needs /proc.
    ProcFd,
}

/// Finds how (if at all) unnamed files in `dir` can be linked, by linking one to `probe`
/// and removing it again. `Ok(None)`: no way here (the caller uses `.part` files).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn probe(dir: &Path, probe: &Path) -> io::Result<Option<Linker>> {
    let Ok(file) = open_in(dir) else {
        return Ok(None);
    };
    for linker in [Linker::EmptyPath, Linker::ProcFd] {
        if link(&file, probe, linker).is_ok() {
            std::fs::remove_file(probe)?;
            return Ok(Some(linker));
        }
    }
    Ok(None)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn probe(_dir: &Path, _probe: &Path) -> io::Result<Option<Linker>> {
    Ok(None)
}

/// Opens a new unnamed file for writing in `dir` (mode 0666 less the umask, as `.part`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn open_in(dir: &Path) -> io::Result<File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    let fd = openat(CWD, dir, flags, Mode::from_raw_mode(0o666))?;
    Ok(File::from(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn open_in(_dir: &Path) -> io::Result<File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Gives `file` the name `to`; fails with `AlreadyExists` rather than replace anything.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn link(file: &File, to: &Path, linker: Linker) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, linkat};
    use std::os::fd::AsRawFd;
    match linker {
        Linker::EmptyPath => linkat(file, "", CWD, to, AtFlags::EMPTY_PATH)?,
        Linker::ProcFd => {
            let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
            linkat(CWD, proc_path.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW)?;
        }
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn link(_file: &File, _to: &Path, _linker: Linker) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_unnamed_file_gets_its_name_once_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let Some(linker) = probe(dir.path(), &dir.path().join(".probe")).unwrap() else {
            return; // No O_TMPFILE here (e.g. an old kernel or an odd filesystem).
        };
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "probe cleaned up"
        );
        let mut file = open_in(dir.path()).unwrap();
        file.write_all(b"body").unwrap();
        let to = dir.path().join("x");
        std::fs::write(&to, b"first").unwrap();
        let e = link(&file, &to, linker).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&to).unwrap(), b"first");
        std::fs::remove_file(&to).unwrap();
        link(&file, &to, linker).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"body");
    }
}
