#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    cfcookie::logging::init_cli();
    let cli = cfcookie::cli::Cli::parse();
    // The one read of the process environment; every command takes its settings from here.
    let env = cfcookie_config::Env::from_process();
    match cfcookie::cli::run(cli, &env) {
        Ok(outcome) => {
            if !outcome.stdout.is_empty() {
                use std::io::Write as _;
                // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
                if let Err(e) = writeln!(std::io::stdout(), "{}", outcome.stdout) {
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        eprintln!("error: cannot write the output: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            ExitCode::from(u8::try_from(outcome.code).unwrap_or(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
