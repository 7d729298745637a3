# Stub for PVE::RS::OCI: the real one is Rust (proxmox-perl-rs, OCI image unpacking), not built
# here. pve-container's PVE::API2::LXC loads it at compile time (pulled in through
# pve-ha-manager's PVE::HA::Env::PVE2, which qemu-server and pve-manager's PVE::VZDump load).
# Only here so that the modules which `use` it load; nothing the checkers judge calls it.
# Any call means a check reached code that needs a real Proxmox VE host: that is a failure of the
# checker, not a verdict, so it exits 2 (check.pl's contract) instead of dying into an eval.
package PVE::RS::OCI;
use strict;
use warnings;

our $AUTOLOAD;

sub AUTOLOAD {
    return if $AUTOLOAD =~ m/::DESTROY\z/;
    print STDERR "stub $AUTOLOAD was called (needs a real Proxmox VE host; tests/proxmox/perl/stubs)\n";
    exit 2;
}

1;
