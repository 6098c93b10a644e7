//! Man pages (clap_mangen, plus our own SYNOPSIS and the sections of `cli::sections`) and
//! shell completions (clap_complete), generated from `cli.rs` so they never drift from the
//! real options. `man/` holds the committed pages; a test checks they are fresh. Hidden
//! (internal) subcommands appear in neither.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use clap::{ArgAction, Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::{Cli, GenerateKind, ShellArg, sections};
use crate::error::Error;
use crate::exit::Exit;
use crate::report::Stdout;

/// `fetchpool completions SHELL`: the script on stdout.
pub(crate) fn completions(shell: ShellArg) -> Result<Exit, Error> {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
        ShellArg::Elvish => Shell::Elvish,
        ShellArg::Powershell => Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut public_command(), "fetchpool", &mut script);
    print(&script)
}

/// `fetchpool man [SUBCOMMAND]`: the page on stdout.
pub(crate) fn man(subcommand: Option<&str>) -> Result<Exit, Error> {
    let page = pages()
        .into_iter()
        .find(|(sub, _)| sub.as_deref() == subcommand)
        .map(|(_, page)| page)
        .expect("the value parser admits only subcommands that have a page");
    print(&page)
}

/// Writes `bytes` on stdout; a closed stdout (`| head`) ends quietly, as everywhere.
fn print(bytes: &[u8]) -> Result<Exit, Error> {
    let mut out = Stdout::new();
    match out.write(bytes) {
        Ok(()) => Ok(Exit::Ok),
        Err(closed) => closed.ends_run(Exit::Ok),
    }
}

/// `fetchpool generate KIND DIR` (hidden, for the committed man/ and packagers): one file
/// per page, or a completion script per shell, in DIR (which must exist).
pub(crate) fn to_dir(kind: GenerateKind, dir: &Path) -> Result<Exit, Error> {
    let err = |io_error| Error::WriteOutput {
        path: dir.to_path_buf(),
        io_error,
    };
    if !dir.is_dir() {
        return Err(err(io::Error::new(
            io::ErrorKind::NotFound,
            "not a directory (create it first)",
        )));
    }
    match kind {
        GenerateKind::Man => {
            for (sub, page) in pages() {
                let name = match sub {
                    Some(sub) => format!("fetchpool-{sub}.1"),
                    None => "fetchpool.1".to_string(),
                };
                fs::write(dir.join(name), page).map_err(err)?;
            }
        }
        GenerateKind::Completions => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut public_command(), "fetchpool", dir)
                    .map_err(err)?;
            }
        }
    }
    Ok(Exit::Ok)
}

/// The command as users see it: without the hidden subcommands (`hash-worker`,
/// `generate`), which completion scripts must not offer.
fn public_command() -> Command {
    let full = Cli::command();
    let mut public = Command::new("fetchpool");
    if let Some(about) = full.get_about() {
        public = public.about(about.clone());
    }
    public = public
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true);
    public
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// Every man page: `None` for fetchpool(1), then one per visible subcommand.
fn pages() -> Vec<(Option<String>, Vec<u8>)> {
    let mut top = public_command().disable_help_subcommand(true);
    top.build();
    let mut pages = vec![(None, page(&top, None))];
    for sub in top.get_subcommands() {
        let name = sub.get_name().to_string();
        pages.push((Some(name.clone()), page(sub, Some(&name))));
    }
    pages
}

/// One page: clap_mangen's title, name, description and options, our SYNOPSIS (with value
/// names) and our sections (`EXAMPLES`, `EXIT STATUS`, ...), preformatted so that no table
/// reflows.
fn page(cmd: &Command, subcommand: Option<&str>) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    let rendered: io::Result<()> = (|| {
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        write_synopsis(&mut out, cmd, subcommand)?;
        man.render_description_section(&mut out)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut out)?;
        }
        if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
            man.render_subcommands_section(&mut out)?;
        }
        for section in sections(subcommand) {
            writeln!(out, ".SH \"{}\"", section.title.to_uppercase())?;
            writeln!(out, ".nf")?;
            for line in section.body.lines() {
                writeln!(out, "{}", roff_line(line))?;
            }
            writeln!(out, ".fi")?;
        }
        man.render_version_section(&mut out)
    })();
    rendered.expect("writing to a Vec cannot fail");
    out
}

/// `fetchpool get [-d|--dir DIR] [-j|--jobs N] ... [URL]...`, value names included.
fn write_synopsis(out: &mut Vec<u8>, cmd: &Command, subcommand: Option<&str>) -> io::Result<()> {
    let name = match subcommand {
        Some(sub) => format!("fetchpool {sub}"),
        None => "fetchpool".to_string(),
    };
    let mut words = vec![format!("\\fB{}\\fR", escape(&name))];
    for arg in cmd.get_arguments() {
        if arg.is_hide_set() || arg.is_positional() {
            continue;
        }
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", escape(l)),
            (Some(s), None) => format!("\\fB\\-{s}\\fR"),
            (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", escape(l)),
            (None, None) => continue,
        };
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        let value = match (takes_value, arg.get_value_names()) {
            (true, Some(names)) => format!("\\ \\fI{}\\fR", escape(&names.join(" "))),
            (true, None) => format!("\\ \\fI{}\\fR", escape(arg.get_id().as_str())),
            (false, _) => String::new(),
        };
        let repeat = match arg.get_action() {
            ArgAction::Count | ArgAction::Append => "...",
            _ => "",
        };
        let (open, close) = if arg.is_required_set() {
            ("", "")
        } else {
            ("[", "]")
        };
        words.push(format!("{open}{flag}{value}{close}{repeat}"));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = arg
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| arg.get_id().to_string());
        let repeat = match arg.get_action() {
            ArgAction::Append => "...",
            _ => "",
        };
        let (open, close) = if arg.is_required_set() {
            ("<", ">")
        } else {
            ("[", "]")
        };
        words.push(format!("{open}\\fI{}\\fR{close}{repeat}", escape(&value)));
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        words.push("\\fICOMMAND\\fR".to_string());
    }
    writeln!(out, ".SH SYNOPSIS")?;
    writeln!(out, "{}", words.join(" "))
}

/// Text for roff: backslashes and dashes escaped, a leading `.` or `'` made literal.
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

fn roff_line(line: &str) -> String {
    let escaped = escape(line);
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_never_offer_hidden_subcommands() {
        let mut script = Vec::new();
        clap_complete::generate(Shell::Bash, &mut public_command(), "fetchpool", &mut script);
        let script = String::from_utf8(script).unwrap();
        let words: Vec<&str> = script
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .collect();
        assert!(words.contains(&"verify"), "{script}");
        for hidden in ["hash-worker", "hash__worker", "generate"] {
            assert!(!words.contains(&hidden), "{hidden} is offered");
        }
    }

    #[test]
    fn synopsis_shows_value_names() {
        let mut top = public_command();
        top.build();
        let get = top.find_subcommand("get").unwrap();
        let mut out = Vec::new();
        write_synopsis(&mut out, get, Some("get")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("[\\fB\\-j\\fR|\\fB\\-\\-jobs\\fR\\ \\fIN\\fR]"),
            "{text}"
        );
        assert!(text.contains("[\\fIURL\\fR]..."), "{text}");
    }

    #[test]
    fn section_lines_fit_an_80_column_man_page() {
        for sub in [
            None,
            Some("get"),
            Some("verify"),
            Some("hash"),
            Some("check"),
            Some("demo"),
            Some("completions"),
            Some("man"),
        ] {
            for section in sections(sub) {
                for line in section.body.lines() {
                    assert!(
                        line.chars().count() <= 72,
                        "{sub:?} {}: {line:?} is wider than 72 columns",
                        section.title
                    );
                }
            }
        }
    }
}
