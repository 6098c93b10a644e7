//! The one integration-test binary (`cargo test --test it`): a module per area of behaviour.
//! Shared machinery (the harness that runs fetchpool, the loopback server) lives in `support/`.

mod batches;
mod check;
mod cli;
mod get;
mod get_verify;
mod man;
mod metalink;
mod mirrors;
mod network;
mod proxy;
mod report;
mod screen;
mod security;
mod segments;
mod selftest;
mod support;
mod tls;
mod trust;
mod verify_hash;
