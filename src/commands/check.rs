//! `fetchpool check`: wiring only. Reads the URL list once to check every line (a bad line
//! stops the run before any request), then streams it again for each round of probes on
//! a bounded pool, hands the results back in input order to `report::check`, and decides
//! the exit status. Memory stays bounded however long the list: URLs are never held, only
//! a few bytes of counts per URL when a summary needs them.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use threadpool::ThreadPool;
use ureq::Agent;

use crate::cli::CheckArgs;
use crate::download::http::{first_request_headers, probe_agent, redact_url};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::input::expected::Expected;
use crate::input::plan::Plan;
use crate::input::source::{ListInput, spool_stdin};
use crate::probe::{self, Probe, StatusSet};
use crate::report;
use crate::settings::{Http, ListSource};
use crate::signals;

/// Time between round starts when --count is given without --interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// How often a wait between rounds looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// How far the probes may run ahead of the first result not yet shown: results wait in
/// memory to be shown in input order, so this bounds them.
const AHEAD: usize = 4096;

/// Everything `check` needs, validated. (Kept beside its only user; `settings.rs` holds
/// the shared pieces it is built from.)
#[derive(Debug, Clone)]
pub(crate) struct Check {
    urls: Vec<String>,
    lists: Vec<ListSource>,
    jobs: NonZeroUsize,
    timeout: Duration,
    expect: StatusSet,
    rounds: NonZeroU32,
    /// From the start of one round to the start of the next.
    interval: Duration,
    json: bool,
    quiet: bool,
    http: Http,
}

impl Check {
    pub(crate) fn from_args(args: CheckArgs) -> Result<Check, Error> {
        let lists = crate::settings::list_sources(&args.inputs)?;
        if args.urls.is_empty() && lists.is_empty() {
            return Err(Error::Usage(
                "nothing to check: give URLs or -i FILE (see 'fetchpool check --help')".into(),
            ));
        }
        Ok(Check {
            urls: args.urls,
            lists,
            jobs: args.jobs,
            timeout: args.net.stall_timeout,
            expect: args.expect_status,
            rounds: args.count.unwrap_or(NonZeroU32::MIN),
            interval: args.interval.unwrap_or(DEFAULT_INTERVAL),
            json: args.json,
            quiet: args.quiet,
            http: Http::from_args(&args.net)?.with_jobs(args.jobs),
        })
    }
}

/// One probe to run: the reply goes to `results`, tagged with the URL's place in the input.
struct ProbeJob {
    index: usize,
    url: String,
    results: Sender<(usize, String, Probe)>,
}

pub(crate) fn run(check: Check) -> Result<Exit, Error> {
    let plan = read_plan(&check)?;
    let urls = count_urls(&plan)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    // Set on a signal or when stdout closes: start no more probes or rounds.
    let stop = Arc::new(AtomicBool::new(false));
    // First SIGINT/SIGTERM: start no more probes (running ones end within --timeout),
    // print the summary, exit 130 (143 for SIGTERM).
    let interrupt = signals::on_interrupt(&interrupted, &[&stop]);

    let agent = probe_agent(&check.http, check.timeout);
    let (jobs, pool) = spawn_probers(&check, agent);
    let mut out = report::check::Out::new(check.json, check.quiet);
    // Per-URL figures only when a summary shows them.
    let per_url = check.json || (check.rounds.get() > 1 && !check.quiet);
    let mut table = report::check::StatsTable::new(if per_url { urls } else { 0 });
    let mut totals = report::check::Stats::default();
    let mut rounds_run = 0;
    let first_start = Instant::now();
    for round in 1..=check.rounds.get() {
        if round > 1 {
            let next_start = first_start + check.interval * (round - 1);
            sleep_until(next_start, &stop);
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        rounds_run = round;
        run_round(&plan, &jobs, &stop, |index, shown, probe| {
            totals.count(&probe);
            if per_url {
                table.record(index, &probe);
            }
            if !out.probe(round, &shown, &probe) {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    drop(jobs);
    pool.join();

    let mut tally = exit::Tally::items(u64::from(totals.probes - totals.up), 0);
    tally.interrupt = interrupt.signal();
    let status = exit::status(&tally);
    let shown = || -> Box<dyn Iterator<Item = String>> {
        Box::new(
            plan.jobs()
                .map(|job| job.map(|j| redact_url(&j.url)).unwrap_or_default()),
        )
    };
    out.summary(
        check.rounds.get(),
        rounds_run,
        &totals,
        per_url.then_some((&table, &shown as report::check::UrlList)),
        status,
    );
    Ok(status)
}

/// The URL sources as a plan that can be read once per round (standard input is spooled
/// to an unnamed file first).
fn read_plan(check: &Check) -> Result<Plan, Error> {
    let mut lists = Vec::new();
    for list in &check.lists {
        lists.push(match list {
            ListSource::File(path) => ListInput::File(path.clone()),
            ListSource::Stdin => ListInput::Spool(Arc::new(spool_stdin()?)),
        });
    }
    Ok(Plan {
        args: check.urls.clone(),
        lists,
        from_manifest: None,
        expected: Arc::new(Expected::default()),
    })
}

/// Every URL of the arguments, then of each list in order: any bad line is an error
/// here, before a single request is made. Holds nothing; returns how many there are.
fn count_urls(plan: &Plan) -> Result<usize, Error> {
    let mut urls = 0;
    for job in plan.jobs() {
        job?;
        urls += 1;
    }
    if urls == 0 {
        return Err(Error::Usage(
            "nothing to check: the lists hold no URLs".into(),
        ));
    }
    Ok(urls)
}

/// `--jobs` probe threads on the same bounded feeding as the download pool. A probe DOWN
/// for a reason that may pass is tried again up to `--retries` times, after the same
/// backoff as a download's retry.
fn spawn_probers(check: &Check, agent: Agent) -> (SyncSender<ProbeJob>, ThreadPool) {
    let (http, timeout, expect) = (check.http.clone(), check.timeout, check.expect.clone());
    bounded_workers("probe", check.jobs, move |job: ProbeJob| {
        let headers = first_request_headers(&http, &job.url);
        let mut attempt = 0;
        let probe = loop {
            let probe = probe::probe(&agent, &job.url, &headers, timeout, &expect);
            if probe.is_up() || !probe.is_transient() || attempt >= http.backoff.retries {
                break probe;
            }
            attempt += 1;
            thread::sleep(http.backoff.delay(attempt, None, 0.5));
        };
        let _ = job.results.send((job.index, redact_url(&job.url), probe));
    })
}

/// Probes every URL of the plan once and calls `on_result` in input order, each as soon
/// as it and every one before it are in. A feeder thread streams the plan to the pool,
/// at most `AHEAD` URLs past the first result not yet shown.
fn run_round(
    plan: &Plan,
    jobs: &SyncSender<ProbeJob>,
    stop: &AtomicBool,
    mut on_result: impl FnMut(usize, String, Probe),
) {
    let (results, rx) = channel();
    let shown_upto = AtomicUsize::new(0);
    thread::scope(|scope| {
        let shown_upto = &shown_upto;
        scope.spawn(move || {
            for (index, job) in plan.jobs().enumerate() {
                // Checked before the run: a list that changed since just ends the round.
                let Ok(job) = job else { break };
                while index >= shown_upto.load(Ordering::Relaxed) + AHEAD {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let job = ProbeJob {
                    index,
                    url: job.url,
                    results: results.clone(),
                };
                if jobs.send(job).is_err() {
                    break;
                }
            }
        });
        // Ends when the feeder and every job it sent have dropped their senders.
        let mut early = BTreeMap::new();
        let mut next = 0;
        for (index, shown, probe) in rx {
            early.insert(index, (shown, probe));
            while let Some((shown, probe)) = early.remove(&next) {
                on_result(next, shown, probe);
                next += 1;
                shown_upto.store(next, Ordering::Relaxed);
            }
        }
        // Stopped mid-round: what did come back is still shown, in order.
        for (index, (shown, probe)) in early {
            on_result(index, shown, probe);
        }
    });
}

fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::sleep((deadline - now).min(STOP_POLL));
    }
}

/// `threads` threads (a threadpool) taking jobs from a bounded channel: however long the
/// input, at most `2 × threads` jobs wait in memory. Drop the sender to let them finish.
fn bounded_workers<J: Send + 'static>(
    name: &str,
    threads: NonZeroUsize,
    work: impl Fn(J) + Send + Sync + 'static,
) -> (SyncSender<J>, ThreadPool) {
    let (tx, rx) = sync_channel::<J>(threads.get() * 2);
    let rx = Arc::new(Mutex::new(rx));
    let work = Arc::new(work);
    let pool = ThreadPool::with_name(name.into(), threads.get());
    for _ in 0..threads.get() {
        let rx = Arc::clone(&rx);
        let work = Arc::clone(&work);
        pool.execute(move || {
            loop {
                // The lock is held only while waiting for the next job, never during one.
                let next = rx.lock().map(|r| r.recv());
                let Ok(Ok(job)) = next else { break };
                work(job);
            }
        });
    }
    (tx, pool)
}
