#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    cfcookie::logging::init_cli();
    let cli = cfcookie::cli::Cli::parse();
    match cfcookie::cli::run(cli) {
        Ok(outcome) => {
            if !outcome.stdout.is_empty() {
                println!("{}", outcome.stdout);
            }
            ExitCode::from(u8::try_from(outcome.code).unwrap_or(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
