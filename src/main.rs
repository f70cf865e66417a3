//! The `filmless` binary: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match filmless::cli::run(filmless::cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("filmless: {e:#}");
            ExitCode::from(2)
        }
    }
}
