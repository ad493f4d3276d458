//! Shell completions and man pages, generated from the command table so
//! they cannot trail it: `tracespool completions SHELL` (clap_complete)
//! and `tracespool man [--dir DIR]` (clap_mangen).
//!
//! Installing them is the packager's or the operator's step (the commands
//! are in `docs/operations.md`): a completion script goes where the shell
//! looks (`/usr/share/bash-completion/completions/tracespool`, a
//! directory of `$fpath` as `_tracespool`, `~/.config/fish/completions/`),
//! the pages into a `man1` directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap_complete::Shell;

/// `tracespool completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `tracespool man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write one page per command (`tracespool.1`, `tracespool-upload.1`,
    /// …) into DIR instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, mut cmd: clap::Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes the man pages: every command's into `dir`, or the main page to
/// `out`. Returns the number of pages written.
pub fn man(cmd: clap::Command, dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<usize> {
    let cmd = cmd.disable_help_subcommand(true);
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            let before = count_pages(dir);
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("write the man pages into {}", dir.display()))?;
            Ok(count_pages(dir).saturating_sub(before))
        }
        None => {
            clap_mangen::Man::new(cmd)
                .render(out)
                .context("write the man page")?;
            Ok(1)
        }
    }
}

fn count_pages(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "1"))
                .count()
        })
        .unwrap_or(0)
}
