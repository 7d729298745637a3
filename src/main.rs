//! pve-firstboot, the workstation's binary: every command (the host's and `image`, `hook`,
//! `pin`); the work is in the library (src/lib.rs). The hook carries the agent built from
//! src/bin/pve-firstboot-agent.rs instead.

fn main() {
    pve_firstboot::cli::init_logging();
    std::process::exit(pve_firstboot::cli::main(&pve_firstboot::cli::argv()));
}
