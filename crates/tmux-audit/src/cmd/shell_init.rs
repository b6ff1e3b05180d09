//! `tmux-audit shell-init`: the snippet that makes a shell mark its command lines.

use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;

/// Print a snippet for your shell's rc file that marks each command line for the recorder
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Inside tmux, the snippet makes the shell print, around each command, invisible marks (OSC 133
and OSC 7) that carry the line as typed, the working directory and the exit status. The
recorder turns them into `shell-command` events: the line as the user typed it, pipes and all
— what `command` events (one per program, from the kernel) cannot show.

These marks come from the user's own shell: the user can remove the snippet, and anything that
prints to the pane can print marks. `command` events come from the kernel and cannot be
forged from the pane. bash keeps the line only when its history does: with
HISTCONTROL=ignorespace, a line typed with a leading space is marked with an empty line.

Examples:
  echo 'eval \"$(tmux-audit shell-init bash)\"' >> ~/.bashrc
  echo 'eval \"$(tmux-audit shell-init zsh)\"' >> ~/.zshrc
  echo 'tmux-audit shell-init fish | source' >> ~/.config/fish/config.fish")]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let snippet = match args.shell {
        Shell::Bash => include_str!("../shell/init.bash"),
        Shell::Zsh => include_str!("../shell/init.zsh"),
        Shell::Fish => include_str!("../shell/init.fish"),
    };
    std::io::stdout().lock().write_all(snippet.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
