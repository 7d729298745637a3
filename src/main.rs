//! pve-firstboot: a thin entry point; the work is in the library (src/lib.rs).

use std::io::Write;

fn main() {
    // Log lines go to stderr, which is the journal under systemd (it adds the timestamps).
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, rec| {
            writeln!(
                buf,
                "pve-firstboot: {}: {}",
                rec.level().as_str().to_lowercase(),
                rec.args()
            )
        })
        .init();
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(pve_firstboot::cli::main(&argv));
}
