//! Micro-benchmarks of the CPU-bound stages, std-only (`harness = false`): hashing
//! throughput per algorithm (what one hash worker can do), URL-list parsing and the
//! duplicate-name check (what bounds `get`'s validation pass on long lists).
//!
//!   cargo bench --bench micro            # all
//!   cargo bench --bench micro -- hash    # only names containing "hash"
//!
//! Each line is the median of several timed runs after one warm-up. Not part of the
//! test suite; the end-to-end comparison with other tools is benches/compare.sh.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fetchpool::digest::{Algo, hash_reader};
use fetchpool::input::{names, url_list};

const RUNS: usize = 7;

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f));

    let data = pseudo_random(256 * 1024 * 1024);
    for algo in [Algo::Sha256, Algo::Sha512] {
        let name = format!("hash {} 256 MiB", algo.name());
        if wanted(&name) {
            let t = median(|| {
                black_box(hash_reader(algo, Cursor::new(&data[..])).unwrap());
            });
            report(&name, t, data.len() as f64 / 1e6, "MB");
        }
    }
    if wanted("hash sha256 16 KiB") {
        // Per-file overhead at small sizes: 16,384 hashes of 16 KiB.
        let t = median(|| {
            for chunk in data[..256 * 1024 * 1024].chunks(16 * 1024) {
                black_box(hash_reader(Algo::Sha256, chunk).unwrap());
            }
        });
        report("hash sha256 16 KiB x 16384", t, 16384.0, "files");
    }
    drop(data);

    let lines = 1_000_000;
    let list = url_list_text(lines);
    if wanted("parse url list") {
        let t = median(|| {
            let source: Arc<str> = Arc::from("bench.txt");
            let n = url_list::parse(Cursor::new(list.as_bytes()), source)
                .filter(|job| job.is_ok())
                .count();
            assert_eq!(n, lines);
        });
        report("parse url list 1M lines", t, lines as f64, "lines");
    }
    if wanted("taken names") {
        let names_1m: Vec<String> = (0..lines).map(|i| format!("file-{i:07}.bin")).collect();
        let t = median(|| {
            let mut taken = names::TakenNames::default();
            for name in &names_1m {
                taken.insert(name);
            }
            assert!(black_box(taken.into_clashes()).is_none());
        });
        report("taken names 1M (insert + sort)", t, lines as f64, "names");
    }
}

/// A list like a real one: URLs with paths and, on every tenth line, an `out=` and a
/// `sha256=` field.
fn url_list_text(lines: usize) -> String {
    let mut s = String::with_capacity(lines * 90);
    for i in 0..lines {
        s += &format!("https://mirror.example.org/pub/data/2024/part-{i:07}.tar.gz");
        if i % 10 == 0 {
            s += &format!(" out=p{i}.tgz sha256={:064x}", i);
        }
        s.push('\n');
    }
    s
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn median(mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn report(name: &str, t: Duration, units: f64, unit: &str) {
    println!(
        "{name:<34} {:>9.1} ms  {:>12.0} {unit}/s",
        t.as_secs_f64() * 1e3,
        units / t.as_secs_f64()
    );
}
