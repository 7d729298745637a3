# Stub for PVE::RADOS: the real one is XS over Ceph's librados (Proxmox's librados2-perl), not
# built here. pve-storage's RBDPlugin/CephFSPlugin load it at compile time; no Ceph storage is
# judged.
# Only here so that the modules which `use` it load; nothing the checkers judge calls it.
# Any call means a check reached code that needs a real Proxmox VE host: that is a failure of the
# checker, not a verdict, so it exits 2 (check.pl's contract) instead of dying into an eval.
package PVE::RADOS;
use strict;
use warnings;

our $AUTOLOAD;

sub AUTOLOAD {
    return if $AUTOLOAD =~ m/::DESTROY\z/;
    print STDERR "stub $AUTOLOAD was called (needs a real Proxmox VE host; tests/proxmox/perl/stubs)\n";
    exit 2;
}

1;
