//! Reading what the user asks for: URL lists and checksum manifests, with line-numbered
//! errors, and safe output names. Knows nothing about HTTP or the pool.

pub(crate) mod expected;
pub mod manifest;
pub mod metalink;
pub mod names;
pub(crate) mod plan;
pub mod shard;
pub(crate) mod source;
pub mod url_list;
