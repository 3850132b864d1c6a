//! `directus`: the operator CLI (`maintenance:on|off|status`). It does not start the server.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let code = directus::cli::main(args, &env);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
