//! The agent the first-boot hook carries and the host runs (installed there as
//! `/usr/local/sbin/pve-firstboot`): the host's commands only (`cli::agent_main`), so that
//! the workstation's code (the ISO tool, pinning) is not linked in and the hook stays well
//! under Proxmox's 1 MiB.

fn main() {
    pve_firstboot::cli::init_logging();
    std::process::exit(pve_firstboot::cli::agent_main(&pve_firstboot::cli::argv()));
}
