//! What `check` prints: UP/DOWN lines, per-URL summaries over rounds, and the JSON objects
//! (the summary streamed, so a million URLs never sit in memory as one value). Human lines
//! go to stdout, or to stderr when stdout carries JSON. Also the per-URL counts the
//! summary is made of, in a few bytes a URL. Runs no probe.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Closed, Stdout, stderr_line};
use crate::error::plain_io;
use crate::exit::Exit;
use crate::probe::Probe;

/// One URL's probes over all rounds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) probes: u32,
    pub(crate) up: u32,
    /// Of every probe that got an answer, UP or not, in arrival order.
    pub(crate) latencies: Vec<Duration>,
}

impl Stats {
    #[cfg(test)]
    pub(crate) fn record(&mut self, probe: &Probe) {
        self.count(probe);
        self.latencies.extend(probe.latency);
    }

    /// Counts the probe without keeping its latency (for totals over every URL).
    pub(crate) fn count(&mut self, probe: &Probe) {
        self.probes += 1;
        self.up += u32::from(probe.is_up());
    }

    /// (min, median, max), when any probe got an answer. An even count's median is
    /// the mean of the middle two.
    pub(crate) fn spread(&self) -> Option<(Duration, Duration, Duration)> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let mid = sorted.len() / 2;
        let median = match sorted.len() % 2 {
            1 => sorted[mid],
            _ => (sorted[mid - 1] + sorted[mid]) / 2,
        };
        Some((min, median, max))
    }
}

/// Every URL's probes over the rounds, in 8 bytes a URL plus 4 a probe (latency in
/// microseconds), where a `Stats` per URL costs a heap allocation each.
#[derive(Debug, Default)]
pub(crate) struct StatsTable {
    /// (probes, up) per URL.
    counts: Vec<[u32; 2]>,
    /// Round-major: the k-th probe of URL i at `k * urls + i`; 0 when nothing answered,
    /// else microseconds + 1.
    latencies: Vec<u32>,
}

impl StatsTable {
    pub(crate) fn new(urls: usize) -> StatsTable {
        StatsTable {
            counts: vec![[0, 0]; urls],
            latencies: Vec::new(),
        }
    }

    /// Makes room for `urls` URLs: for a list counted as its first round reads it (standard
    /// input). Only before any URL's second probe, which is placed by the count.
    pub(crate) fn cover(&mut self, urls: usize) {
        // Past the first round, the latencies run beyond one row.
        debug_assert!(self.latencies.len() <= self.counts.len());
        if urls > self.counts.len() {
            self.counts.resize(urls, [0, 0]);
        }
    }

    pub(crate) fn record(&mut self, index: usize, probe: &Probe) {
        let urls = self.counts.len();
        let Some([probes, up]) = self.counts.get_mut(index) else {
            return;
        };
        let at = *probes as usize * urls + index;
        if self.latencies.len() <= at {
            self.latencies.resize(at - index + urls, 0);
        }
        self.latencies[at] = probe.latency.map_or(0, |d| {
            u32::try_from(d.as_micros())
                .unwrap_or(u32::MAX - 1)
                .saturating_add(1)
        });
        *probes += 1;
        *up += u32::from(probe.is_up());
    }

    /// URL `index`'s figures.
    pub(crate) fn get(&self, index: usize) -> Stats {
        let urls = self.counts.len();
        let [probes, up] = self.counts.get(index).copied().unwrap_or_default();
        let latencies = (0..probes as usize)
            .filter_map(|k| self.latencies.get(k * urls + index))
            .filter(|us| **us > 0)
            .map(|us| Duration::from_micros(u64::from(us - 1)))
            .collect();
        Stats {
            probes,
            up,
            latencies,
        }
    }
}

/// Lists the URLs, as shown, in input order (anew for each pass).
pub(crate) type UrlList<'a> = &'a dyn Fn() -> Box<dyn Iterator<Item = String>>;

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

pub(crate) struct Out {
    json: bool,
    quiet: bool,
    stdout: Stdout,
}

impl Out {
    pub(crate) fn new(json: bool, quiet: bool) -> Out {
        Out {
            json,
            quiet,
            stdout: Stdout::new(),
        }
    }

    /// Shows one probe. False once stdout is closed: the run should stop.
    pub(crate) fn probe(&mut self, round: u32, url: &str, probe: &Probe) -> bool {
        if self.json {
            self.write(Stream::Stdout, &probe_json(round, url, probe).to_string());
        }
        if !(self.quiet && probe.is_up()) {
            self.human(&probe_line(url, probe));
        }
        self.stdout.is_open()
    }

    /// The end of the run: a line per URL when there were rounds (unless -q), and the
    /// JSON summary object (its `urls` streamed). `per_url` holds each URL's figures and
    /// a way to list the URLs (as shown) in input order, when they were kept.
    pub(crate) fn summary(
        &mut self,
        rounds: u32,
        rounds_run: u32,
        totals: &Stats,
        per_url: Option<(&StatsTable, UrlList<'_>)>,
        exit: Exit,
    ) {
        if rounds > 1
            && !self.quiet
            && let Some((table, urls)) = per_url
        {
            self.human(&format!("summary of {rounds_run} rounds:"));
            for (i, url) in urls().enumerate() {
                self.human(&summary_line(&url, &table.get(i)));
            }
        }
        if self.json {
            let head = summary_json(rounds_run, totals, exit).to_string();
            let Some(open) = head.strip_suffix('}') else {
                return;
            };
            let mut text = format!("{open},\"urls\":[");
            if let Some((table, urls)) = per_url {
                for (i, url) in urls().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text += &url_summary_json(&url, &table.get(i)).to_string();
                    if text.len() >= 64 * 1024 && self.stdout.write(text.as_bytes()).is_err() {
                        return;
                    }
                    if text.len() >= 64 * 1024 {
                        text.clear();
                    }
                }
            }
            text += "]}";
            self.write(Stream::Stdout, &text);
        }
    }

    /// Human lines go to stdout, or to stderr when stdout carries JSON.
    fn human(&mut self, text: &str) {
        let stream = match self.json {
            true => Stream::Stderr,
            false => Stream::Stdout,
        };
        self.write(stream, text);
    }

    /// The one place that writes. A closed stdout (`| head`) ends output there quietly;
    /// any other write error on it is said once on stderr.
    fn write(&mut self, stream: Stream, text: &str) {
        match stream {
            Stream::Stderr => stderr_line(text),
            Stream::Stdout => {
                if let Err(Closed::Failed(e)) = self.stdout.line(text) {
                    stderr_line(&format!(
                        "fetchpool: cannot write to standard output: {}",
                        plain_io(&e)
                    ));
                }
            }
        }
    }
}

/// `UP    200     12 ms  URL`, `DOWN  -        -     URL  (connection refused)`.
pub(crate) fn probe_line(url: &str, probe: &Probe) -> String {
    let word = if probe.is_up() { "UP" } else { "DOWN" };
    let status = probe
        .http_status
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    let latency = match probe.latency {
        Some(d) => format!("{:>6} ms", millis(d)),
        None => format!("{:>6}   ", "-"),
    };
    let mut line = format!("{word:<6}{status:<4}{latency}  {url}");
    if let Some(reason) = &probe.down {
        line += &format!("  ({reason})");
    }
    line
}

/// `  3/3 up  min 0.4 ms  median 0.5 ms  max 1.2 ms  URL`.
pub(crate) fn summary_line(url: &str, s: &Stats) -> String {
    let spread = match s.spread() {
        Some((min, median, max)) => format!(
            "min {} ms  median {} ms  max {} ms",
            millis(min),
            millis(median),
            millis(max)
        ),
        None => "no answers".to_string(),
    };
    format!(
        "  {:>7} up  {spread}  {url}",
        format!("{}/{}", s.up, s.probes)
    )
}

pub(crate) fn probe_json(round: u32, url: &str, probe: &Probe) -> Value {
    json!({
        "url": url,
        "status": if probe.is_up() { "up" } else { "down" },
        "http_status": probe.http_status,
        "latency_ms": probe.latency.map(json_millis),
        "error": probe.down.as_ref().map(ToString::to_string),
        "round": round,
    })
}

/// The JSON summary without its `urls` (which `Out::summary` streams after it).
pub(crate) fn summary_json(rounds_run: u32, totals: &Stats, exit: Exit) -> Value {
    json!({
        "summary": true,
        "rounds": rounds_run,
        "probes": totals.probes,
        "up": totals.up,
        "down": totals.probes - totals.up,
        "exit_code": exit.code(),
    })
}

/// One URL's entry in the JSON summary's `urls`.
pub(crate) fn url_summary_json(url: &str, s: &Stats) -> Value {
    let spread = s.spread();
    json!({
        "url": url,
        "probes": s.probes,
        "up": s.up,
        "up_ratio": if s.probes == 0 { None } else { Some(f64::from(s.up) / f64::from(s.probes)) },
        "min_ms": spread.map(|(d, _, _)| json_millis(d)),
        "median_ms": spread.map(|(_, d, _)| json_millis(d)),
        "max_ms": spread.map(|(_, _, d)| json_millis(d)),
    })
}

/// Whole milliseconds from 10 ms up; one decimal below, where loopback and LAN live.
fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// Milliseconds to 0.1 ms, for JSON.
fn json_millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Reason;

    fn up(status: u16, ms: u64) -> Probe {
        Probe {
            http_status: Some(status),
            latency: Some(Duration::from_millis(ms)),
            down: None,
        }
    }

    #[test]
    fn probe_lines_line_up_in_columns() {
        let refused = Probe {
            http_status: None,
            latency: None,
            down: Some(Reason::Refused),
        };
        let bad = Probe {
            down: Some(Reason::Status(500)),
            ..up(500, 3)
        };
        assert_eq!(
            probe_line("http://a/", &up(200, 12)),
            "UP    200     12 ms  http://a/"
        );
        assert_eq!(
            probe_line("http://b/", &bad),
            "DOWN  500    3.0 ms  http://b/  (unexpected status 500)"
        );
        assert_eq!(
            probe_line("http://c/", &refused),
            "DOWN  -        -     http://c/  (connection refused)"
        );
    }

    #[test]
    fn spread_is_min_median_max_of_answered_probes() {
        let mut s = Stats::default();
        assert_eq!(s.spread(), None);
        for ms in [30, 10, 20] {
            s.record(&up(200, ms));
        }
        s.record(&Probe {
            http_status: None,
            latency: None,
            down: Some(Reason::Refused),
        });
        let ms = Duration::from_millis;
        assert_eq!(s.spread(), Some((ms(10), ms(20), ms(30))));
        assert_eq!((s.up, s.probes), (3, 4));
        s.record(&up(200, 40));
        assert_eq!(s.spread(), Some((ms(10), ms(25), ms(40))));
    }

    #[test]
    fn summary_lines_show_ratio_and_spread() {
        let mut s = Stats::default();
        s.record(&up(200, 12));
        s.record(&Probe {
            http_status: None,
            latency: None,
            down: Some(Reason::Refused),
        });
        assert_eq!(
            summary_line("http://a/", &s),
            "      1/2 up  min 12 ms  median 12 ms  max 12 ms  http://a/"
        );
        assert_eq!(
            summary_line("http://a/", &Stats::default()),
            "      0/0 up  no answers  http://a/"
        );
    }

    #[test]
    fn json_objects_carry_the_documented_fields() {
        let v = probe_json(2, "http://a/", &up(204, 5));
        assert_eq!(
            v,
            json!({"url": "http://a/", "status": "up", "http_status": 204,
                   "latency_ms": 5.0, "error": null, "round": 2})
        );
        let mut s = Stats::default();
        s.record(&up(200, 5));
        let v = summary_json(1, &s, Exit::Ok);
        assert_eq!(
            v,
            json!({"summary": true, "rounds": 1, "probes": 1, "up": 1, "down": 0,
                   "exit_code": 0})
        );
        let v = url_summary_json("http://a/", &s);
        assert_eq!(
            v,
            json!({"url": "http://a/", "probes": 1, "up": 1, "up_ratio": 1.0,
                   "min_ms": 5.0, "median_ms": 5.0, "max_ms": 5.0})
        );
    }

    #[test]
    fn the_table_keeps_each_urls_probes_in_a_few_bytes() {
        let down = Probe {
            http_status: None,
            latency: None,
            down: Some(Reason::Refused),
        };
        let mut t = StatsTable::new(3);
        for round in 0..3u64 {
            t.record(0, &up(200, 10 + round));
            t.record(1, &down);
            t.record(2, &up(200, 30));
        }
        t.record(7, &down);
        let ms = Duration::from_millis;
        assert_eq!(
            t.get(0),
            Stats {
                probes: 3,
                up: 3,
                latencies: vec![ms(10), ms(11), ms(12)]
            }
        );
        assert_eq!(
            (t.get(1).probes, t.get(1).up, t.get(1).spread()),
            (3, 0, None)
        );
        assert_eq!(t.get(2).spread(), Some((ms(30), ms(30), ms(30))));
        assert_eq!(t.latencies.len(), 9, "4 bytes a probe");
    }

    #[test]
    fn a_table_grown_during_the_first_round_places_later_rounds_by_the_final_count() {
        let mut t = StatsTable::new(1);
        t.record(0, &up(200, 1));
        for index in 1..3 {
            t.cover(index + 1);
            t.record(index, &up(200, 1 + index as u64));
        }
        for index in 0..3 {
            t.record(index, &up(200, 10 * (1 + index as u64)));
        }
        let ms = Duration::from_millis;
        assert_eq!(t.get(0).latencies, [ms(1), ms(10)]);
        assert_eq!(t.get(1).latencies, [ms(2), ms(20)]);
        assert_eq!(t.get(2).latencies, [ms(3), ms(30)]);
        assert_eq!(t.latencies.len(), 6);
    }
}
