//! Binary-safe frames between the pool and a worker: paths are arbitrary bytes.
