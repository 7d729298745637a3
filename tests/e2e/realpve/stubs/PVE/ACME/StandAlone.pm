# Stub for PVE::ACME::StandAlone, of proxmox-acme (not in ../shared/proxmox-src): one plugin type of
# the stub PVE::ACME::Challenge (see there), registered by pve-manager's PVE/API2/ACMEPlugin.pm
# while it is compiled. It has no properties: no ACME plugin is configured in the test boots.
package PVE::ACME::StandAlone;
use strict;
use warnings;

use base qw(PVE::ACME::Challenge);

sub type {
    return 'standalone';
}

sub properties {
    return {};
}

sub options {
    return {};
}

1;
