//! `rci`: the command-line companion of the RCI Slurm plugins. The logic lives in the library
//! ([`rci::cli::explain`]); this file only dispatches subcommands.

use rci::cli::explain::{self, CliEnv, EXIT_USAGE, USAGE};
use std::os::unix::fs::MetadataExt;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = CliEnv {
        default_config: rci::config::paths::rci_conf_path(None, rci::config::paths::process_env),
        user: std::env::var("USER").ok(),
        // The owner of /proc/self is the process's uid: no libc call needed.
        uid: std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid()),
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    // `rci help SUB` is `rci SUB --help`.
    let args = match args.split_first() {
        Some((cmd, rest)) if cmd == "help" && !rest.is_empty() => {
            let mut a: Vec<String> = rest.iter().take(1).cloned().collect();
            a.push("--help".to_owned());
            a
        }
        _ => args,
    };
    let code = match args.split_first() {
        Some((cmd, rest)) if cmd == "explain" => {
            explain::run_explain(rest, &env, &mut out, &mut err)
        }
        Some((cmd, rest)) if cmd == "check-config" => {
            explain::run_check_config(rest, &env, &mut out, &mut err)
        }
        Some((cmd, rest)) if cmd == "report" => rci::cli::report::cli_main(rest),
        Some((cmd, rest)) if cmd == "sync" => rci::cli::sync::run_sync(rest, &mut out, &mut err),
        Some((cmd, rest)) if cmd == "job" => {
            rci::cli::job_energy::run_job(rest, env.uid == 0, &mut out, &mut err)
        }
        Some((cmd, rest)) if cmd == "doctor" => {
            rci::cli::doctor::run_doctor(rest, &env.default_config, &mut out, &mut err)
        }
        Some((cmd, _)) if cmd == "-h" || cmd == "--help" || cmd == "help" => {
            println!("{USAGE}");
            0
        }
        Some((cmd, _)) => {
            eprintln!("rci: unknown subcommand '{cmd}'\n{USAGE}");
            EXIT_USAGE
        }
        None => {
            eprintln!("{USAGE}");
            EXIT_USAGE
        }
    };
    drop(out);
    drop(err);
    std::process::exit(code);
}
