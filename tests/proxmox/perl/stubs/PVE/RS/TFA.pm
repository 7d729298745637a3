# Stub for PVE::RS::TFA: the real one is Rust (proxmox-perl-rs, TOTP/WebAuthn/recovery keys), not
# built here. pve-access-control's PVE::AccessControl loads it at compile time.
# Only here so that the modules which `use` it load; nothing the checkers judge calls it.
# Any call means a check reached code that needs a real Proxmox VE host: that is a failure of the
# checker, not a verdict, so it exits 2 (check.pl's contract) instead of dying into an eval.
package PVE::RS::TFA;
use strict;
use warnings;

our $AUTOLOAD;

sub AUTOLOAD {
    return if $AUTOLOAD =~ m/::DESTROY\z/;
    print STDERR "stub $AUTOLOAD was called (needs a real Proxmox VE host; tests/proxmox/perl/stubs)\n";
    exit 2;
}

1;
