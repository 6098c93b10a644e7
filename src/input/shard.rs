//! `--shard K/N`: which jobs this run takes when N runs split one list between them.
//! Pure: knows job numbers, not URLs or disks.
//!
//! A job belongs to shard `K` when its index in the plan (0-based, counting jobs, not
//! blank or comment lines) is `K-1` modulo `N`: round-robin. Chosen over a hash of the
//! URL because it splits exactly (shard sizes differ by at most one, where a hash leaves
//! a few percent of imbalance, and the slowest shard sets the batch's end), it needs no
//! hash function that every machine and version must agree on, and appending to the
//! list never moves a job that was already assigned. The price: inserting or deleting a
//! line in the middle reassigns the jobs after it, so edit a list only between whole
//! batches (files already present are skipped, so a rerun still moves ~0 bytes when the
//! shards write to one shared directory).

use std::fmt;
use std::num::NonZeroU64;

/// Shard `index + 1` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based (the command line says 1-based `K`).
    index: u64,
    count: NonZeroU64,
}

impl Shard {
    /// Parses `K/N` with `1 <= K <= N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not K/N (e.g. 3/8: the third of eight shards)"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{s}' is not K/N: '{part}' is not a whole number"))
        };
        let (k, n) = (number(k)?, number(n)?);
        let count = NonZeroU64::new(n).ok_or_else(|| format!("'{s}': N must be at least 1"))?;
        if k == 0 || k > n {
            return Err(format!("'{s}': K must be from 1 to N ({n})"));
        }
        Ok(Shard {
            index: k - 1,
            count,
        })
    }

    /// True when job number `job` (0-based, in plan order) is this shard's.
    pub fn takes(&self, job: u64) -> bool {
        job % self.count.get() == self.index
    }

    /// How many of the jobs `0..total` are this shard's.
    pub fn jobs_in(&self, total: u64) -> u64 {
        (total + self.count.get() - 1 - self.index) / self.count.get()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_refuses_what_is_not_a_shard() {
        let s = Shard::parse("3/8").unwrap();
        assert_eq!(s.to_string(), "3/8");
        assert_eq!(Shard::parse(" 1 / 1 ").unwrap().to_string(), "1/1");
        for bad in ["", "3", "0/4", "5/4", "1/0", "a/4", "1/b", "-1/4", "1/4/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_shards_of_a_list_cover_it_exactly_once_and_evenly() {
        for n in 1..=7u64 {
            for total in 0..=30u64 {
                let shards: Vec<Shard> = (1..=n)
                    .map(|k| Shard::parse(&format!("{k}/{n}")).unwrap())
                    .collect();
                for job in 0..total {
                    let owners = shards.iter().filter(|s| s.takes(job)).count();
                    assert_eq!(owners, 1, "job {job} of {total} in {n} shards");
                }
                let sizes: Vec<u64> = shards.iter().map(|s| s.jobs_in(total)).collect();
                for (s, size) in shards.iter().zip(&sizes) {
                    assert_eq!(*size, (0..total).filter(|&j| s.takes(j)).count() as u64);
                }
                let (min, max) = (sizes.iter().min(), sizes.iter().max());
                assert!(max.unwrap() - min.unwrap() <= 1, "{sizes:?}");
            }
        }
    }
}
