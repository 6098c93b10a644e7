//! The one integration-test binary (`cargo test --test it`): a module per area of behaviour.
//! Shared machinery (the harness that runs fetchpool, the loopback server) lives in `support/`.

mod batches;
mod check;
mod cli;
mod get;
mod get_verify;
mod man;
mod network;
mod proxy;
mod screen;
mod security;
mod selftest;
mod support;
mod tls;
mod verify_hash;
