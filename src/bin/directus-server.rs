//! `directus-server`: parses the configuration and runs the server.

use directus::config::{self, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let config = match config::parse_server_args(args, &env) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            println!("{}", config::SERVER_USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("directus-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("directus-server: {msg} (see --help)");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    match directus::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("directus-server: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
