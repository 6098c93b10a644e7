//! The live frame on a terminal: one line per active file (as many as fit) and a total
//! line, each cut to the terminal's width as it is now (read every frame, so a resize is
//! followed) so that no line ever wraps and a redraw always knows how many rows to erase.
//! Lines printed above the frame stay; the frame itself is erased at the end. Also the
//! rate meter the bars and plain progress lines share. Knows nothing about jobs.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use console::{measure_text_width, truncate_str};
use indicatif::HumanBytes;

/// The frame drawn last, so the next draw can erase it.
pub(crate) struct Screen<W: Write = io::Stderr> {
    out: W,
    /// Rows of the frame on screen; the cursor is on its last row.
    height: usize,
}

impl Screen {
    pub(crate) fn stderr() -> Screen {
        Screen::to(io::stderr())
    }
}

/// A line printed above the frame, on stderr or (a JSON line) on stdout.
pub(crate) enum Above {
    Stderr(String),
    Stdout(String),
}

impl<W: Write> Screen<W> {
    pub(crate) fn to(out: W) -> Screen<W> {
        Screen { out, height: 0 }
    }

    /// Erases the frame, prints `above` (stdout lines through `stdout`, flushed before
    /// the frame comes back, so a terminal shared by both streams keeps them), then draws
    /// `frame`, each line cut to `width` - 1 columns (the last column is left free: a
    /// character there makes some terminals wrap).
    pub(crate) fn draw(
        &mut self,
        above: impl IntoIterator<Item = Above>,
        stdout: &mut dyn FnMut(&str),
        frame: &[String],
        width: usize,
    ) {
        let mut buf = self.erase_sequence();
        for line in above {
            match line {
                Above::Stderr(text) => {
                    buf.push_str(&text);
                    buf.push('\n');
                }
                Above::Stdout(text) => {
                    // The erase (and stderr lines so far) must reach the terminal first.
                    self.write(&std::mem::take(&mut buf));
                    stdout(&text);
                }
            }
        }
        let cut = width.saturating_sub(1).max(1);
        for (i, line) in frame.iter().enumerate() {
            if i > 0 {
                buf.push('\n');
            }
            buf.push_str(&truncate_str(line, cut, ""));
        }
        self.height = frame.len();
        self.write(&buf);
    }

    /// Erases the frame for good; the cursor is left where the frame began.
    pub(crate) fn clear(&mut self) {
        let buf = self.erase_sequence();
        self.height = 0;
        self.write(&buf);
    }

    /// Back to the first column of the frame's first row, and erase from there down.
    fn erase_sequence(&self) -> String {
        match self.height {
            0 => String::new(),
            1 => "\r\x1b[J".to_string(),
            h => format!("\r\x1b[{}A\x1b[J", h - 1),
        }
    }

    fn write(&mut self, text: &str) {
        if !text.is_empty() {
            // Nowhere to say that the terminal is gone; the run goes on.
            let _ = self.out.write_all(text.as_bytes());
            let _ = self.out.flush();
        }
    }
}

/// How fast bytes arrive, over the last `WINDOW`: `None` until `MIN_SPAN` of samples
/// exist, so the first tick shows `-` rather than a rate made of two close samples.
#[derive(Debug, Default, Clone)]
pub(crate) struct Meter {
    samples: VecDeque<(Instant, u64)>,
}

/// Rates are averaged over this long: smooth enough for an ETA, quick to follow a change.
const WINDOW: Duration = Duration::from_secs(5);
/// No rate before this much time has been measured.
const MIN_SPAN: Duration = Duration::from_secs(1);

impl Meter {
    /// `bytes` (a running total) at `at`.
    pub(crate) fn sample(&mut self, at: Instant, bytes: u64) {
        self.samples.push_back((at, bytes));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| at.duration_since(*t) >= WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Bytes per second, once there is enough to tell.
    pub(crate) fn rate(&self) -> Option<f64> {
        let (&(t0, b0), &(t1, b1)) = (self.samples.front()?, self.samples.back()?);
        let span = t1.duration_since(t0);
        if span < MIN_SPAN {
            return None;
        }
        Some(b1.saturating_sub(b0) as f64 / span.as_secs_f64())
    }

    /// The latest sample's bytes.
    pub(crate) fn last(&self) -> Option<u64> {
        self.samples.back().map(|(_, b)| *b)
    }

    /// As `eta`, for a guess of what is left that may be unknown.
    pub(crate) fn eta_opt(&self, left: Option<u64>) -> Option<Duration> {
        self.eta(left?)
    }

    /// How long `left` bytes take at the measured rate.
    pub(crate) fn eta(&self, left: u64) -> Option<Duration> {
        let rate = self.rate()?;
        if left == 0 {
            return Some(Duration::ZERO);
        }
        (rate >= 1.0).then(|| Duration::from_secs_f64(left as f64 / rate))
    }
}

/// `12.5 MiB/s`, or `-` while the rate is not known.
pub(crate) fn rate_text(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{}/s", HumanBytes(r as u64)),
        None => "-".to_string(),
    }
}

/// `45s`, `3m05s`, `2h07m`, or `-`.
pub(crate) fn eta_text(eta: Option<Duration>) -> String {
    let Some(eta) = eta else {
        return "-".to_string();
    };
    let s = eta.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// What one active file's row shows.
pub(crate) struct FileRow<'a> {
    pub name: &'a str,
    /// Bytes of the file on disk so far (a resumed file starts at what it had).
    pub done: u64,
    pub size: Option<u64>,
    pub rate: Option<f64>,
    pub eta: Option<Duration>,
    pub verifying: bool,
}

/// Columns a file name gets at most; longer names are cut with `…`.
const NAME_COLUMNS: usize = 32;
/// The bar is dropped before the name is cut below this many columns.
const MIN_BAR: usize = 10;
const MAX_BAR: usize = 30;

/// `name  [=====>     ]  1.50 MiB/4.00 MiB  300.00 KiB/s  8s`, fitted to `width` - 1
/// columns: the bar shrinks first, then goes, then the name is cut.
pub(crate) fn file_line(row: &FileRow, width: usize) -> String {
    let room = width.saturating_sub(1);
    let stats = match (row.verifying, row.size) {
        (true, _) => format!("verifying {}", HumanBytes(row.done)),
        (false, Some(size)) => format!(
            "{:>10}/{:<10} {:>12} {:>6}",
            HumanBytes(row.done).to_string(),
            HumanBytes(size).to_string(),
            rate_text(row.rate),
            eta_text(row.eta)
        ),
        (false, None) => format!(
            "{:>10} {:>12}",
            HumanBytes(row.done).to_string(),
            rate_text(row.rate)
        ),
    };
    let stats_w = measure_text_width(&stats);
    let name_w = measure_text_width(row.name).min(NAME_COLUMNS);
    let name = pad(&truncate_str(row.name, name_w, "…"), name_w);
    // name, 2 spaces, [bar], 2 spaces, stats
    let bar_room = room.saturating_sub(name_w + 2 + 2 + 2 + stats_w);
    if bar_room >= MIN_BAR && !row.verifying {
        let bar_w = bar_room.min(MAX_BAR);
        let bar = bar(row.done, row.size, bar_w);
        return format!("{name}  [{bar}]  {stats}");
    }
    if name_w + 2 + stats_w <= room {
        return format!("{name}  {stats}");
    }
    // Narrow: the name gets what the numbers leave (at least a few columns), then the
    // whole line is cut.
    let name_w = room.saturating_sub(2 + stats_w).max(8.min(room));
    let name = truncate_str(row.name, name_w, "…");
    truncate_str(&format!("{name}  {stats}"), room, "").into_owned()
}

/// The total line: files done of planned, bytes this run, rate, ETA, and how many active
/// files have no row.
pub(crate) struct TotalRow {
    pub done: u64,
    /// `None` while standard input is still being read.
    pub planned: Option<u64>,
    pub bytes: u64,
    pub rate: Option<f64>,
    pub eta: Option<Duration>,
    pub rowless: usize,
}

pub(crate) fn total_line(t: &TotalRow, width: usize) -> String {
    let mut s = format!(
        "total  {}/{} files  {}  {}  ETA {}",
        t.done,
        t.planned.map_or_else(|| "?".to_string(), |n| n.to_string()),
        HumanBytes(t.bytes),
        rate_text(t.rate),
        eta_text(t.eta)
    );
    if t.rowless > 0 {
        s += &format!("  (+{} more active)", t.rowless);
    }
    truncate_str(&s, width.saturating_sub(1), "").into_owned()
}

fn pad(s: &str, width: usize) -> String {
    let w = measure_text_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// `=====>    ` for `done` of `size` in `width` cells; a size-less file gets a moving dot.
fn bar(done: u64, size: Option<u64>, width: usize) -> String {
    match size {
        Some(size) if size > 0 => {
            let filled = ((done.min(size) as u128 * width as u128) / size as u128) as usize;
            let mut s = "=".repeat(filled);
            if filled < width {
                s.push('>');
                s += &" ".repeat(width - filled - 1);
            }
            s
        }
        Some(_) => "=".repeat(width),
        None => {
            let at = (done / (64 * 1024)) as usize % width;
            format!("{}*{}", " ".repeat(at), " ".repeat(width - at - 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> FileRow<'_> {
        FileRow {
            name,
            done: 3 << 20,
            size: Some(4 << 20),
            rate: Some(300.0 * 1024.0),
            eta: Some(Duration::from_secs(3)),
            verifying: false,
        }
    }

    #[test]
    fn file_lines_never_reach_the_last_column() {
        let long = "a-very-long-file-name-that-goes-on-and-on-and-on.tar.gz";
        for width in [1, 2, 10, 20, 40, 60, 80, 100, 120, 200] {
            for r in [
                row("data-6.bin"),
                row(long),
                FileRow {
                    size: None,
                    ..row("stream")
                },
                FileRow {
                    verifying: true,
                    ..row(long)
                },
            ] {
                let line = file_line(&r, width);
                assert!(
                    measure_text_width(&line) < width.max(2),
                    "{width}: {line:?} is {} wide",
                    measure_text_width(&line)
                );
            }
        }
        let wide = file_line(&row("data-6.bin"), 120);
        assert!(wide.starts_with("data-6.bin  [====="), "{wide}");
        assert!(wide.contains("3.00 MiB/4.00 MiB"), "{wide}");
        assert!(wide.contains("300.00 KiB/s"), "{wide}");
        let narrow = file_line(&row(long), 40);
        assert!(narrow.starts_with("a-very"), "{narrow}");
        assert!(narrow.contains('…'), "{narrow}");
    }

    #[test]
    fn a_rate_needs_a_second_of_samples_and_averages_the_window() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        assert_eq!(m.rate(), None);
        m.sample(t0, 0);
        m.sample(t0 + Duration::from_millis(100), 50 << 20);
        assert_eq!(m.rate(), None, "two close samples are no rate");
        assert_eq!(rate_text(m.rate()), "-");
        m.sample(t0 + Duration::from_secs(2), 60 << 20);
        assert_eq!(m.rate(), Some((30 << 20) as f64));
        // Old samples fall out of the window: the rate follows what happens now.
        for s in 3..=12 {
            m.sample(t0 + Duration::from_secs(s), (60 << 20) + (s - 2) * 1000);
        }
        let r = m.rate().unwrap();
        assert!((r - 1000.0).abs() < 1.0, "{r}");
        assert_eq!(m.eta(5000), Some(Duration::from_secs(5)));
        assert_eq!(eta_text(m.eta(5000)), "5s");
        assert_eq!(eta_text(Some(Duration::from_secs(185))), "3m05s");
        assert_eq!(eta_text(None), "-");
    }

    #[test]
    fn a_frame_is_erased_before_the_next_and_lines_above_it_stay() {
        let mut out = Vec::new();
        let mut json = Vec::new();
        {
            let mut screen = Screen::to(&mut out);
            let frame = vec!["a".to_string(), "b".to_string(), "c".to_string()];
            screen.draw([], &mut |_| {}, &frame, 80);
            screen.draw(
                [
                    Above::Stderr("OK       a".into()),
                    Above::Stdout("{}".into()),
                ],
                &mut |l| json.push(l.to_string()),
                &frame[..1],
                80,
            );
            screen.clear();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\nb\nc\r\x1b[2A\x1b[JOK       a\na\r\x1b[J"
        );
        assert_eq!(json, ["{}"]);
    }
}
