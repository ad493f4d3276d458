//! The examples' one argument: the spool's path.
//!
//! `--help` prints the usage and exits 0; any other flag is refused with
//! exit 2 (never taken for a path, so no spool named `--help` appears);
//! with no argument the spool goes to the system's temporary directory,
//! never into the directory the example was started from.

use std::path::PathBuf;

/// The spool path given as the first argument, or
/// `<temp dir>/tracespool-examples/<default_name>`.
pub fn spool_path(example: &str, about: &str, default_name: &str) -> PathBuf {
    let default = std::env::temp_dir()
        .join("tracespool-examples")
        .join(default_name);
    let usage = format!(
        "{about}\n\nusage: {example} [SPOOL]\n\n  SPOOL  the spool to record into (default: {})",
        default.display()
    );
    let mut args = std::env::args_os().skip(1);
    let path = match args.next() {
        None => {
            if let Some(dir) = default.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            default
        }
        Some(a) if a == "-h" || a == "--help" => {
            println!("{usage}");
            std::process::exit(0)
        }
        Some(a) if a.to_string_lossy().starts_with('-') => {
            eprintln!("{example}: unknown option {a:?}\n\n{usage}");
            std::process::exit(2)
        }
        Some(a) => PathBuf::from(a),
    };
    if let Some(extra) = args.next() {
        eprintln!("{example}: unexpected argument {extra:?}\n\n{usage}");
        std::process::exit(2)
    }
    path
}
