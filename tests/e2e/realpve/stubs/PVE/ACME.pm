# Stub for PVE::ACME, of proxmox-acme (a repository that is not in ../shared/proxmox-src).
# pve-manager's node configuration (PVE/NodeConfig.pm) loads it, and pveam loads that through
# pve-manager's node API; nothing in the test boots orders a certificate. Any call is a
# failure of the test boot, not of the agent: it dies saying so.
package PVE::ACME;
use strict;
use warnings;

our $AUTOLOAD;

sub AUTOLOAD {
    return if $AUTOLOAD =~ m/::DESTROY\z/;
    die "stub $AUTOLOAD was called (proxmox-acme is not in the test boots; tests/e2e/realpve/stubs)\n";
}

1;
