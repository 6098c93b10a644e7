//! Hashing a stream of items on the pool and getting the results back in input order, with
//! a bounded reorder window (so a huge argument list or manifest never sits in memory).

use std::collections::VecDeque;
use std::iter::Fuse;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};

use super::{HashError, HashPool, Hashed};
use crate::digest::{Algo, Digest};

/// Items in flight or waiting to be yielded, per worker. The queue holds 2 per worker;
/// the rest lets fast files run ahead of one slow file before the pool idles.
const WINDOW_PER_WORKER: usize = 32;

/// What to hash for an item: `None` when the caller already knows its outcome (a refused
/// name, a read error), so it still comes out in its place.
pub(crate) type Request = Option<(PathBuf, Algo)>;

/// The result for an item: `None` exactly when its request was `None`.
pub(crate) type Answer = Option<Result<Digest, HashError>>;

/// Hashes `items` on `pool`, yielding `(tag, answer)` in the order of `items`. Lazy: it
/// pulls at most one window of items ahead of what it has yielded. Dropping it early (a
/// closed stdout) is fine: late replies go nowhere.
pub(crate) fn hash_in_order<T, I>(pool: &HashPool, workers: usize, items: I) -> InOrder<'_, T, I>
where
    I: Iterator<Item = (T, Request)>,
{
    let (sender, receiver) = mpsc::channel();
    InOrder {
        pool,
        items: items.fuse(),
        window: workers.max(1) * WINDOW_PER_WORKER,
        slots: VecDeque::new(),
        first_seq: 0,
        sender,
        receiver,
    }
}

pub(crate) struct InOrder<'p, T, I> {
    pool: &'p HashPool,
    items: Fuse<I>,
    window: usize,
    /// Items from `first_seq` on, in input order; `None` while still hashing.
    slots: VecDeque<(T, Option<Answer>)>,
    first_seq: u64,
    sender: Sender<Hashed>,
    receiver: Receiver<Hashed>,
}

impl<T, I> InOrder<'_, T, I> {
    fn record(&mut self, Hashed { ticket, result }: Hashed) {
        let offset = usize::try_from(ticket - self.first_seq).expect("offset is within the window");
        self.slots[offset].1 = Some(Some(result));
    }
}

impl<T, I> Iterator for InOrder<'_, T, I>
where
    I: Iterator<Item = (T, Request)>,
{
    type Item = (T, Answer);

    fn next(&mut self) -> Option<(T, Answer)> {
        // Top up the window; stop early once the head is ready so output keeps flowing.
        while self.slots.len() < self.window && !matches!(self.slots.front(), Some((_, Some(_)))) {
            let Some((tag, request)) = self.items.next() else {
                break;
            };
            let seq = self.first_seq + self.slots.len() as u64;
            match request {
                None => self.slots.push_back((tag, Some(None))),
                Some((path, algo)) => {
                    self.slots.push_back((tag, None));
                    // May block while the pool's queue is full; replies keep arriving
                    // on the channel meanwhile, so this cannot deadlock.
                    self.pool.submit(path, algo, seq, &self.sender);
                }
            }
            while let Ok(reply) = self.receiver.try_recv() {
                self.record(reply);
            }
        }
        loop {
            match self.slots.front() {
                None => return None,
                Some((_, Some(_))) => {
                    let (tag, answer) = self.slots.pop_front()?;
                    self.first_seq += 1;
                    return Some((tag, answer.expect("checked ready")));
                }
                Some((_, None)) => {
                    // The pool answers every job exactly once, and we hold a sender, so
                    // this returns (the pool's dropping path answers "stopped").
                    let reply = self.receiver.recv().expect("a sender is held");
                    self.record(reply);
                }
            }
        }
    }
}
