//! `fetchpool check`: wiring only. Reads the URL lists once to check every line (a bad line
//! stops the run before any request), then streams them again for each round of probes on
//! a bounded pool (standard input is probed as round one reads it, and copied for the
//! later rounds), hands the results back in input order to `report::check`, and decides
//! the exit status. Memory stays bounded however long the list: URLs are never held, only
//! a few bytes of counts per URL when a summary needs them.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use threadpool::ThreadPool;
use ureq::Agent;

use crate::cli::CheckArgs;
use crate::download::http::{first_request_headers, probe_agent};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::input::expected::Expected;
use crate::input::plan::Plan;
use crate::input::source::{ListInput, tempfile_in_tmp};
use crate::probe::{self, Probe, StatusSet};
use crate::report;
use crate::settings::{Http, ListSource};
use crate::signals;
use crate::url::redact_url;

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
    // Set on a signal, when stdout closes, or by a bad line of a stream: start no more
    // probes or rounds, and read standard input no further.
    let stop = Arc::new(AtomicBool::new(false));
    let plans = read_plans(&check, &stop)?;
    // Every URL but a stream's is checked before the first request; a stream's lines are
    // checked as round one reads them.
    let known = count_urls(&plans.checked)?;
    if known == 0 && !plans.streaming {
        return Err(no_urls());
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    // First SIGINT/SIGTERM: start no more probes (running ones end within --timeout),
    // print the summary, exit 130 (143 for SIGTERM).
    let interrupt = signals::on_interrupt(&interrupted, &[&stop]);

    let agent = probe_agent(&check.http, check.timeout);
    let (jobs, pool) = spawn_probers(&check, agent);
    let mut out = report::check::Out::new(check.json, check.quiet);
    // Per-URL figures only when a summary shows them.
    let per_url = check.json || (check.rounds.get() > 1 && !check.quiet);
    let mut table = report::check::StatsTable::new(if per_url { known } else { 0 });
    let mut totals = report::check::Stats::default();
    let mut rounds_run = 0;
    // How many URLs the plan holds: known from the start without a stream, else once
    // round one has read it to its end (or as far as it got).
    let mut urls = known;
    let mut late_error = None;
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
        let plan = match round {
            1 => &plans.first,
            _ => &plans.again,
        };
        let fed = run_round(plan, &jobs, &stop, |index, shown, probe| {
            totals.count(&probe);
            if per_url {
                if round == 1 {
                    table.cover(index + 1);
                }
                table.record(index, &probe);
            }
            if !out.probe(round, &shown, &probe) {
                stop.store(true, Ordering::Relaxed);
            }
        });
        match fed {
            Ok(fed) if round == 1 && plans.streaming => urls = fed,
            Ok(_) => {}
            Err((fed, e)) => {
                urls = urls.max(fed);
                late_error = Some(e);
                break;
            }
        }
        if round == 1 && urls == 0 && !stop.load(Ordering::Relaxed) {
            return Err(no_urls());
        }
    }
    drop(jobs);
    pool.join();

    let mut tally = exit::Tally::items(u64::from(totals.probes - totals.up), 0);
    tally.interrupt = interrupt.signal();
    if let Some(e) = &late_error {
        report::fatal(e);
        tally.error(e);
    }
    let status = exit::status(&tally);
    let shown = || -> Box<dyn Iterator<Item = String>> {
        Box::new(
            plans
                .again
                .jobs()
                .take(urls)
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

/// The URL sources, read once per round.
struct Plans {
    /// Round one's: standard input streamed, and copied as it is read.
    first: Plan,
    /// Later rounds' and the summary's: standard input read from that copy.
    again: Plan,
    /// Everything but standard input: checked before the first request.
    checked: Plan,
    /// Standard input is in the plan.
    streaming: bool,
}

fn read_plans(check: &Check, stop: &Arc<AtomicBool>) -> Result<Plans, Error> {
    let plan = |lists| Plan {
        args: check.urls.clone(),
        lists,
        from_manifest: None,
        expected: Arc::new(Expected::default()),
    };
    let (mut first, mut again, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    for list in &check.lists {
        match list {
            ListSource::File(path) => {
                first.push(ListInput::File(path.clone()));
                again.push(ListInput::File(path.clone()));
                checked.push(ListInput::File(path.clone()));
            }
            ListSource::Stdin => {
                let copy = Arc::new(tempfile_in_tmp().map_err(|io_error| Error::ReadInput {
                    path: PathBuf::from("-"),
                    io_error,
                })?);
                first.push(ListInput::Tee(Arc::clone(&copy), Arc::clone(stop)));
                again.push(ListInput::Spool(copy));
            }
        }
    }
    Ok(Plans {
        streaming: check.lists.contains(&ListSource::Stdin),
        first: plan(first),
        again: plan(again),
        checked: plan(checked),
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
    Ok(urls)
}

fn no_urls() -> Error {
    Error::Usage("nothing to check: the lists hold no URLs".into())
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

/// The feeder's way into the pool and back: taken away when the round ends.
type Feed = Option<(SyncSender<ProbeJob>, Sender<(usize, String, Probe)>)>;

/// Probes every URL of the plan once and calls `on_result` in input order, each as soon
/// as it and every one before it are in. A feeder thread streams the plan to the pool,
/// at most `AHEAD` URLs past the first result not yet shown. Returns how many URLs it
/// fed, or, when a bad line ended the round, that many and the error.
///
/// The feeder holds the pool's sender only while handing on a URL: one waiting for the
/// next line of standard input when `stop` is set is left behind (it reads no more), and
/// the round ends with the probes already running.
fn run_round(
    plan: &Plan,
    jobs: &SyncSender<ProbeJob>,
    stop: &Arc<AtomicBool>,
    mut on_result: impl FnMut(usize, String, Probe),
) -> Result<usize, (usize, Error)> {
    let (results, rx) = channel();
    let feed: Arc<Mutex<Feed>> = Arc::new(Mutex::new(Some((jobs.clone(), results))));
    let shown_upto = Arc::new(AtomicUsize::new(0));
    let fed = Arc::new(AtomicUsize::new(0));
    let error = Arc::new(Mutex::new(None));
    thread::spawn({
        let (feed, shown_upto, fed) =
            (Arc::clone(&feed), Arc::clone(&shown_upto), Arc::clone(&fed));
        let (error, stop) = (Arc::clone(&error), Arc::clone(stop));
        let plan_jobs = plan.jobs();
        move || {
            for (index, job) in plan_jobs.enumerate() {
                let job = match job {
                    Ok(job) => job,
                    Err(e) => {
                        // A line of a stream, or of a list that changed since it was
                        // checked: the round ends here, and so does the run.
                        *lock(&error) = Some(e);
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                };
                while index >= shown_upto.load(Ordering::Relaxed) + AHEAD {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Some((jobs, results)) = lock(&feed).clone() else {
                    break;
                };
                let job = ProbeJob {
                    index,
                    url: job.url,
                    results,
                };
                if jobs.send(job).is_err() {
                    break;
                }
                fed.store(index + 1, Ordering::Relaxed);
            }
            lock(&feed).take();
        }
    });
    // Ends when the feeder is done (or `stop` took its senders away) and every probe it
    // sent has answered or dropped its sender.
    let mut early = BTreeMap::new();
    let mut next = 0;
    loop {
        let (index, shown, probe) = match rx.recv_timeout(STOP_POLL) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) {
                    lock(&feed).take();
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
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
    let fed = fed.load(Ordering::Relaxed);
    match lock(&error).take() {
        Some(e) => Err((fed, e)),
        None => Ok(fed),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
