//! `rci`: the command-line companion of the RCI Slurm plugins.

fn main() {
    eprintln!("rci: no subcommand yet");
    std::process::exit(2);
}
