//! The live frame on a terminal, drawn by indicatif: a `MultiProgress` on stderr holding
//! one `ProgressBar` per active file that has a row (as many as the window has rows for)
//! and a total bar. Each bar's template and text are made from the terminal's width as it
//! is now (read every frame, so a resize is followed) so that no line ever wraps. Lines
//! printed above the frame (`MultiProgress::println`, `suspend` for stdout) stay; the
//! bars are cleared at the end. `Rows` ends each of indicatif's lines with an erase and a
//! newline instead of spaces up to the last column, so no row is ever a soft wrap of the
//! next. Also the rate meter and the line formats the bars and plain progress lines
//! share. Knows nothing about jobs.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use console::{measure_text_width, truncate_str};
use indicatif::{
    HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike,
};

/// Frames a second indicatif draws at most.
const DRAWS_PER_SECOND: u8 = 20;

/// The bars on stderr.
pub(crate) struct Frame {
    multi: MultiProgress,
    total: ProgressBar,
    rows: Rows,
}

/// A line printed above the frame, on stderr or (a JSON line) on stdout.
pub(crate) enum Above {
    Stderr(String),
    Stdout(String),
}

/// One active file's bar, and the shape its style was made for (set again only when the
/// width or what the row shows changes).
pub(crate) struct FileBar {
    bar: ProgressBar,
    shape: Option<Shape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{prefix}  [{bar:N}]  {msg}`: name, indicatif's bar N cells wide, numbers.
    Bar(usize),
    /// `{msg}`: the whole line, made by `file_line`.
    Line,
}

fn style(template: &str) -> ProgressStyle {
    // Templates are made here, from known keys: they always parse.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Frame {
    pub(crate) fn stderr() -> Frame {
        Frame::on(Rows::default())
    }

    fn on(rows: Rows) -> Frame {
        let target =
            ProgressDrawTarget::term_like_with_hz(Box::new(rows.clone()), DRAWS_PER_SECOND);
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(0).with_style(style("{msg}")));
        Frame { multi, total, rows }
    }

    /// Columns of the terminal now.
    pub(crate) fn width(&self) -> usize {
        usize::from(self.rows.width())
    }

    /// Rows of the terminal now.
    pub(crate) fn height(&self) -> usize {
        usize::from(self.rows.height())
    }

    /// A new bar, above the total and below the other files' bars.
    pub(crate) fn add_file(&self) -> FileBar {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(0).with_style(style("{msg}")));
        FileBar { bar, shape: None }
    }

    /// Takes a file's bar off the screen, at the next draw (which erases the whole frame
    /// before drawing the next): out of the `MultiProgress` first, so neither this nor
    /// dropping the bar draws a frame of its own.
    pub(crate) fn remove(&self, file: FileBar) {
        self.multi.remove(&file.bar);
    }

    /// Shows `row` on its bar, fitted to `width` as `file_layout` fits it; a file of known
    /// size gets indicatif's bar.
    pub(crate) fn show_file(
        &self,
        file: &mut FileBar,
        row: &FileRow,
        name_col: usize,
        width: usize,
    ) {
        let (shape, prefix, msg) = match (file_layout(row, name_col, width), row.size) {
            (Layout::Bar { name, bar, stats }, Some(size)) if size > 0 => {
                file.bar.set_length(size);
                file.bar.set_position(row.done.min(size));
                (Shape::Bar(bar), name, stats)
            }
            (layout, _) => (Shape::Line, String::new(), layout.line(row)),
        };
        if file.shape != Some(shape) {
            file.bar.set_style(match shape {
                Shape::Bar(n) => style(&format!("{{prefix}}  [{{bar:{n}}}]  {{msg}}")),
                Shape::Line => style("{msg}"),
            });
            file.shape = Some(shape);
        }
        file.bar.set_prefix(prefix);
        file.bar.set_message(msg);
    }

    pub(crate) fn show_total(&self, total: &TotalRow, width: usize) {
        self.total.set_message(total_line(total, width));
    }

    /// Prints `above` over the frame, in order: stderr lines with `println`, stdout lines
    /// (through `stdout`) with the bars suspended, so a terminal showing both keeps them.
    pub(crate) fn print(&self, above: Vec<Above>, stdout: &mut dyn FnMut(&str)) {
        let mut err = String::new();
        let mut out = Vec::new();
        for line in above {
            match line {
                Above::Stderr(text) => {
                    if !out.is_empty() {
                        self.suspended(&mut out, stdout);
                    }
                    if !err.is_empty() {
                        err.push('\n');
                    }
                    err.push_str(&text);
                }
                Above::Stdout(text) => {
                    if !err.is_empty() {
                        // Nowhere to say that the terminal is gone; the run goes on.
                        let _ = self.multi.println(std::mem::take(&mut err));
                    }
                    out.push(text);
                }
            }
        }
        if !out.is_empty() {
            self.suspended(&mut out, stdout);
        }
        if !err.is_empty() {
            let _ = self.multi.println(err);
        }
    }

    fn suspended(&self, lines: &mut Vec<String>, stdout: &mut dyn FnMut(&str)) {
        self.multi.suspend(|| {
            self.rows.settle();
            for line in lines.drain(..) {
                stdout(&line);
            }
        });
    }

    /// Clears every bar for good; the cursor is left at the start of a free row.
    pub(crate) fn close(self, files: impl IntoIterator<Item = FileBar>) {
        for file in files {
            self.remove(file);
        }
        self.total.finish_and_clear();
        self.multi.remove(&self.total);
        let _ = self.multi.clear();
        self.rows.settle();
    }
}

/// indicatif's terminal: stderr, as wide and tall as it is now. indicatif writes each line
/// and then spaces up to the last column, letting the terminal wrap to the next row, so
/// every row of the frame and every line printed above it would be a soft wrap of the next
/// (a terminal that reflows on resize joins them; a copy joins them). Here the spaces become
/// an erase to the end of the screen, and the newline is written once the next line comes:
/// until then the cursor stays on the last row, where indicatif expects it.
#[derive(Debug, Clone, Default)]
struct Rows(Arc<Mutex<RowsState>>);

#[derive(Debug, Default)]
struct RowsState {
    /// Tests: bytes go here, and the terminal is this many rows and columns.
    #[cfg(test)]
    memory: Option<(Vec<u8>, (u16, u16))>,
    /// Bytes not written yet (written at `flush`).
    buf: String,
    /// The next `write_str` is a line's spaces, not its text.
    filler_next: bool,
    /// A line ended: its newline is owed to the next line.
    newline_owed: bool,
}

impl Rows {
    fn state(&self) -> MutexGuard<'_, RowsState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pays the newline owed, so what is written next starts a row of its own.
    fn settle(&self) {
        let mut s = self.state();
        if s.newline_owed {
            s.newline_owed = false;
            s.buf.push_str("\r\n");
        }
        s.filler_next = false;
        s.write_out();
    }

    fn size(&self) -> (u16, u16) {
        #[cfg(test)]
        if let Some((_, size)) = &self.state().memory {
            return *size;
        }
        let (rows, cols) = console::Term::stderr().size();
        (rows.max(1), cols.max(1))
    }
}

impl RowsState {
    fn write_out(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        #[cfg(test)]
        if let Some((bytes, _)) = &mut self.memory {
            bytes.extend_from_slice(self.buf.as_bytes());
            self.buf.clear();
            return;
        }
        let mut err = io::stderr().lock();
        // Nowhere to say that the terminal is gone; the run goes on.
        let _ = err.write_all(self.buf.as_bytes());
        let _ = err.flush();
        self.buf.clear();
    }
}

impl TermLike for Rows {
    fn width(&self) -> u16 {
        self.size().1
    }

    fn height(&self) -> u16 {
        self.size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        let mut s = self.state();
        s.filler_next = false;
        if n > 0 {
            // The cursor is on the row the owed newline would leave.
            s.newline_owed = false;
            s.buf += &format!("\x1b[{n}A");
        }
        Ok(())
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        let mut s = self.state();
        s.filler_next = false;
        if n > 0 {
            s.newline_owed = false;
            s.buf += &format!("\x1b[{n}B");
        }
        Ok(())
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.state().buf += &format!("\x1b[{n}C");
        }
        Ok(())
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.state().buf += &format!("\x1b[{n}D");
        }
        Ok(())
    }

    fn write_line(&self, line: &str) -> io::Result<()> {
        let mut s = self.state();
        if std::mem::take(&mut s.newline_owed) {
            s.buf.push_str("\r\n");
        }
        s.buf.push_str(line);
        s.buf.push_str("\x1b[K\r\n");
        s.filler_next = false;
        Ok(())
    }

    fn write_str(&self, text: &str) -> io::Result<()> {
        let mut s = self.state();
        if s.filler_next {
            // The spaces after a line: erase the rest instead (none when the line reached
            // the last column: an erase there would take its last character), and owe
            // the newline.
            s.filler_next = false;
            s.newline_owed = true;
            if !text.is_empty() {
                s.buf.push_str("\x1b[J");
            }
        } else if text == "\r" {
            s.newline_owed = false;
            s.buf.push('\r');
        } else {
            if std::mem::take(&mut s.newline_owed) {
                s.buf.push_str("\r\n");
            }
            s.buf.push_str(text);
            s.filler_next = true;
        }
        Ok(())
    }

    fn clear_line(&self) -> io::Result<()> {
        let mut s = self.state();
        s.filler_next = false;
        s.newline_owed = false;
        s.buf.push_str("\r\x1b[2K");
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        let mut s = self.state();
        s.filler_next = false;
        s.write_out();
        Ok(())
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
    // Rounded up: "0s" only when nothing is left.
    let s = eta.as_secs() + u64::from(eta.subsec_nanos() > 0);
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
    /// Connections the file is downloading on now (a split file has more than one).
    pub connections: usize,
}

/// Columns a file name gets at most; longer names are cut with `…`.
const NAME_COLUMNS: usize = 32;
/// The bar is dropped before the name is cut below this many columns.
const MIN_BAR: usize = 10;
const MAX_BAR: usize = 30;

/// The column file names get in a frame: the longest name's width, at most
/// `NAME_COLUMNS`, so the bars line up.
pub(crate) fn name_column<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    names
        .into_iter()
        .map(measure_text_width)
        .max()
        .unwrap_or(0)
        .min(NAME_COLUMNS)
}

/// How one active file's row is laid out.
pub(crate) enum Layout {
    /// The name padded or cut to its column, a bar `bar` cells wide, the numbers.
    Bar {
        name: String,
        bar: usize,
        stats: String,
    },
    /// No room for a bar: the whole line.
    Line(String),
}

impl Layout {
    /// The line, with this module's own bar drawn for `row`.
    fn line(self, row: &FileRow) -> String {
        match self {
            Layout::Bar {
                name,
                bar: w,
                stats,
            } => {
                format!("{name}  [{}]  {stats}", bar(row.done, row.size, w))
            }
            Layout::Line(line) => line,
        }
    }
}

/// `name  [=====>     ]  1.50 MiB/4.00 MiB  300.00 KiB/s  8s`, fitted to `width` - 1
/// columns, the name padded or cut to `name_col` (see `name_column`): the bar shrinks
/// first, then goes, then the name is cut further.
#[cfg(test)]
pub(crate) fn file_line(row: &FileRow, name_col: usize, width: usize) -> String {
    file_layout(row, name_col, width).line(row)
}

/// How `file_line` fits `row` in `width` - 1 columns.
pub(crate) fn file_layout(row: &FileRow, name_col: usize, width: usize) -> Layout {
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
    let stats = match row.connections {
        0 | 1 => stats,
        n if !row.verifying => format!("{n} conns {stats}"),
        _ => stats,
    };
    let stats_w = measure_text_width(&stats);
    let name_w = name_col.min(NAME_COLUMNS);
    let name = pad(&truncate_str(row.name, name_w, "…"), name_w);
    // name, 2 spaces, [bar], 2 spaces, stats
    let bar_room = room.saturating_sub(name_w + 2 + 2 + 2 + stats_w);
    if bar_room >= MIN_BAR && !row.verifying {
        let bar = bar_room.min(MAX_BAR);
        return Layout::Bar { name, bar, stats };
    }
    if name_w + 2 + stats_w <= room {
        return Layout::Line(format!("{name}  {stats}"));
    }
    // Narrow: the name gets what the numbers leave (at least a few columns), then the
    // whole line is cut.
    let name_w = room.saturating_sub(2 + stats_w).max(8.min(room));
    let name = truncate_str(row.name, name_w, "…");
    Layout::Line(truncate_str(&format!("{name}  {stats}"), room, "").into_owned())
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
            connections: 1,
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
                let line = file_line(&r, name_column([r.name]), width);
                assert!(
                    measure_text_width(&line) < width.max(2),
                    "{width}: {line:?} is {} wide",
                    measure_text_width(&line)
                );
            }
        }
        let wide = file_line(&row("data-6.bin"), 10, 120);
        assert!(wide.starts_with("data-6.bin  [====="), "{wide}");
        assert!(wide.contains("3.00 MiB/4.00 MiB"), "{wide}");
        assert!(wide.contains("300.00 KiB/s"), "{wide}");
        let narrow = file_line(&row(long), name_column([long]), 40);
        assert_eq!(name_column(["a", long, "abc"]), NAME_COLUMNS);
        // Names in one column: the bars start together.
        let (a, b) = (row("a.bin"), row("longer-name.bin"));
        let col = name_column([a.name, b.name]);
        assert_eq!(
            file_line(&a, col, 100).find('['),
            file_line(&b, col, 100).find('[')
        );
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

    /// A frame on a `rows` x `cols` terminal that keeps what is written.
    fn frame_in_memory(rows: u16, cols: u16) -> (Frame, Rows) {
        let term = Rows::default();
        term.state().memory = Some((Vec::new(), (rows, cols)));
        (Frame::on(term.clone()), term)
    }

    /// What `term` shows: each row's text and whether it wraps into the next.
    fn rendered(term: &Rows, rows: u16, cols: u16) -> Vec<(String, bool)> {
        let bytes = term.state().memory.as_ref().unwrap().0.clone();
        // The terminal's line discipline turns `\n` into `\r\n`.
        let text = String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
        let size = |n: u16| std::num::NonZero::new(n).unwrap();
        let mut parser = vt100::Parser::new(size(rows), size(cols), 0);
        parser.process(text.replace('\n', "\r\n").as_bytes());
        let screen = parser.screen();
        (0..rows)
            .map(|r| {
                let row = screen.rows(0, cols).nth(usize::from(r)).unwrap();
                (row.trim_end().to_string(), screen.row_wrapped(r))
            })
            .collect()
    }

    #[test]
    fn indicatif_rows_never_wrap_and_lines_printed_above_stay_whole() {
        let (rows, cols) = (10, 80);
        let (frame, term) = frame_in_memory(rows, cols);
        let mut a = frame.add_file();
        let mut b = frame.add_file();
        let name_col = name_column(["a.bin", "b.bin"]);
        frame.show_file(&mut a, &row("a.bin"), name_col, usize::from(cols));
        frame.show_file(&mut b, &row("b.bin"), name_col, usize::from(cols));
        let total = TotalRow {
            done: 0,
            planned: Some(3),
            bytes: 6 << 20,
            rate: None,
            eta: None,
            rowless: 0,
        };
        frame.show_total(&total, usize::from(cols));
        // Standard output on the same terminal.
        let mut json = Vec::new();
        let shared = term.clone();
        frame.print(
            vec![
                Above::Stderr("OK       c.bin (1 B)".into()),
                Above::Stdout("{}".into()),
                Above::Stderr("OK       d.bin (1 B)".into()),
            ],
            &mut |l| {
                json.push(l.to_string());
                let mut s = shared.state();
                s.buf.push_str(l);
                s.buf.push('\n');
                s.write_out();
            },
        );
        assert_eq!(json, ["{}"]);
        let during = rendered(&term, rows, cols);
        assert!(during.iter().all(|(_, wrapped)| !wrapped), "{during:?}");
        assert_eq!(during[0].0, "OK       c.bin (1 B)");
        assert_eq!(during[1].0, "{}");
        assert_eq!(during[2].0, "OK       d.bin (1 B)");
        assert!(during[3].0.starts_with("a.bin  ["), "{during:?}");
        assert!(during[4].0.starts_with("b.bin  ["), "{during:?}");
        assert!(during[5].0.starts_with("total  0/3 files"), "{during:?}");
        frame.remove(a);
        frame.print(
            vec![Above::Stderr("OK       a.bin (4 MiB)".into())],
            &mut |_| {},
        );
        frame.close([b]);
        term.state().buf.push_str("fetchpool: summary\n");
        term.state().write_out();
        let after: Vec<String> = rendered(&term, rows, cols)
            .into_iter()
            .map(|(text, wrapped)| {
                assert!(!wrapped, "{text:?} wraps");
                text
            })
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(
            after,
            [
                "OK       c.bin (1 B)",
                "{}",
                "OK       d.bin (1 B)",
                "OK       a.bin (4 MiB)",
                "fetchpool: summary"
            ]
        );
    }
}
