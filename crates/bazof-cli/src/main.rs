//! `bazof`: the command-line tool for bazof tables.
//!
//! The modules live in the `bazof_cli` library (`src/lib.rs`); this binary parses the
//! arguments and dispatches to `bazof_cli::commands`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Parser;

use bazof_cli::cli::{Cli, Command};
use bazof_cli::error::CliError;
use bazof_cli::{commands, error};

/// The last panic (message and place), noted by the panic hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn run(cli: Cli) -> error::Result<()> {
    match cli.command {
        Command::Import(a) => commands::import::run(a),
        Command::Scan(a) => commands::scan::run(a),
        Command::History(a) => commands::bitemporal::history(a),
        Command::Diff(a) => commands::bitemporal::diff(a),
        Command::Info(a) => commands::info::info(a),
        Command::Log(a) => commands::info::log(a),
        Command::Check(a) => commands::check::run(a),
        Command::Compact(a) => commands::maintain::compact(a),
        Command::Vacuum(a) => commands::maintain::vacuum(a),
        Command::Gen(a) => commands::gen::run(a),
    }
}

/// Keeps freed memory for reuse instead of returning it to the kernel. An import sorts
/// and encodes runs of a million rows, each in buffers of tens of megabytes; glibc
/// unmaps or trims them when freed and faults fresh pages in for the next run, which
/// was a sixth of an import's CPU (5M rows: 1.99-2.04 -> 1.86-1.91 s, 0.55-0.66 ->
/// 0.34-0.45 s of system time, peak RSS 455-473 -> 512-569 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const MB: libc::c_int = 1 << 20;
    for (param, value) in [
        // Blocks below this come from the heap, not mmap (32 MB is glibc's maximum).
        (libc::M_MMAP_THRESHOLD, 32 * MB),
        // Free memory at the heap's top stays mapped up to this much.
        (libc::M_TRIM_THRESHOLD, 1024 * MB),
        // The heap grows by this much more than asked, in fewer system calls.
        (libc::M_TOP_PAD, 64 * MB),
    ] {
        // SAFETY: `mallopt` only sets allocator parameters; it is called before any
        // other thread exists, and a rejected value leaves glibc's default in place.
        unsafe {
            libc::mallopt(param, value);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    // A bug must still end with one line, not a backtrace. The hook only notes the
    // panic: the core turns some panics into errors (a corrupt file's decoder), which
    // are reported as such; the note is printed if the panic ends the command.
    std::panic::set_hook(Box::new(|info| {
        let msg = bazof::decode_guard::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{msg}{at}"));
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let Ok(outcome) = std::panic::catch_unwind(|| run(cli)) else {
        let last = LAST_PANIC.lock().ok().and_then(|mut p| p.take());
        let _ = writeln!(
            std::io::stderr(),
            "error: internal error (a bug in bazof, please report it): {}",
            last.unwrap_or_default()
        );
        return ExitCode::from(101);
    };
    match outcome {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            // stderr may be closed too; there is nobody left to tell then.
            let _ = writeln!(std::io::stderr(), "error: {msg}");
            ExitCode::from(e.exit_code())
        }
    }
}
