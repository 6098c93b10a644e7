//! A pool of hash worker processes (children of this executable running the hidden
//! `hash-worker` subcommand). Owns the children, their pipes and their reaping.

pub mod protocol;
pub mod worker;

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::digest::{Algo, Digest};
use crate::error::Error;

/// How to start the pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The executable to run as `EXE hash-worker` (default: `current_exe()`).
    pub exe: PathBuf,
    pub workers: NonZeroUsize,
    /// Test hook (`FETCHPOOL_TEST_WORKER_ABORT`): `once:NAME` makes the first children
    /// abort when asked for a file named NAME (respawned children do not), `always:NAME`
    /// makes every child abort on it.
    pub abort_on: Option<OsString>,
}

/// Why a file has no digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The worker could not open or read the file.
    Io {
        kind: std::io::ErrorKind,
        message: String,
    },
    /// The worker died on this file twice (or the pool is shutting down).
    WorkerDied(String),
}

/// Called once with the result of a submitted file, on a pool thread.
pub type Reply = Box<dyn FnOnce(Result<Digest, HashError>) + Send>;

pub struct HashPool {}

impl HashPool {
    pub fn spawn(config: PoolConfig) -> Result<HashPool, Error> {
        let _ = config;
        todo!("helper: hashpool")
    }

    /// Queues `path` for hashing; `reply` is called when done. Blocks while the queue is
    /// full (bounded), so a fast producer cannot grow memory.
    pub fn submit(&self, path: PathBuf, algo: Algo, reply: Reply) {
        let _ = (path, algo, reply);
        todo!("helper: hashpool")
    }

    /// Hashes one file and waits for the result.
    pub fn hash(&self, path: PathBuf, algo: Algo) -> Result<Digest, HashError> {
        let _ = (path, algo);
        todo!("helper: hashpool")
    }

    /// Finishes queued work, then closes the children's stdin and reaps them all.
    pub fn shutdown(self) {}
}
