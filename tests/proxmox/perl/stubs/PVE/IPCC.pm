# Stub for PVE::IPCC: the real one (pve-cluster src/PVE/IPCC.xs) is XS talking to a running pmxcfs
# over libqb, not built here. pve-cluster's real PVE::Cluster is loaded instead of a stub of it,
# and only needs this to load: check.pl reads files itself and hands them to the parsers that
# PVE::Cluster would call.
# Only here so that the modules which `use` it load; nothing the checkers judge calls it.
# Any call means a check reached code that needs a real Proxmox VE host: that is a failure of the
# checker, not a verdict, so it exits 2 (check.pl's contract) instead of dying into an eval.
package PVE::IPCC;
use strict;
use warnings;

our $AUTOLOAD;

sub AUTOLOAD {
    return if $AUTOLOAD =~ m/::DESTROY\z/;
    print STDERR "stub $AUTOLOAD was called (needs a real Proxmox VE host; tests/proxmox/perl/stubs)\n";
    exit 2;
}

1;
