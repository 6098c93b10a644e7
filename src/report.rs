//! TODO
pub(crate) fn fatal(e: &crate::error::Error) {
    eprintln!("fetchpool: {e}");
}
