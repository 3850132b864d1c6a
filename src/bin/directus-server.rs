//! `directus-server`: parses the configuration and runs the server.

use directus::config::{self, Activation, Command};
use directus::server::Listen;
use std::process::ExitCode;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let config = match config::parse_server_args(args, &env) {
        Ok(Command::Run(config)) => *config,
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
    let listen = match config::activation(&env, std::process::id()) {
        Ok(Activation::Bind) => Listen::Bind(None),
        Ok(Activation::NotOurs(why)) => Listen::Bind(Some(why)),
        // `config::activation` checked LISTEN_FDS and LISTEN_PID already; listenfd reads them
        // again (the same rule for our pid) and turns fd 3 into a listener, checking that it is
        // a TCP stream socket.
        Ok(Activation::Inherit) => match listenfd::ListenFd::from_env().take_tcp_listener(0) {
            Ok(Some(listener)) => Listen::Inherited(listener),
            Ok(None) => {
                eprintln!("directus-server: LISTEN_FDS=1 but no socket was found at fd 3");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("directus-server: the inherited socket cannot be used: {e}");
                return ExitCode::from(2);
            }
        },
        Err(msg) => {
            eprintln!("directus-server: {msg}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    match directus::server::run(config, listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever RUST_LOG says (a supervisor shows it and retries).
            eprintln!("directus-server: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
