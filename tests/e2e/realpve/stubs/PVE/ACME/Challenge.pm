# Stub for PVE::ACME::Challenge, of proxmox-acme (not in ../shared/proxmox-src): the section
# config of ACME plugins (priv/acme/plugins.cfg). pve-manager's PVE/API2/ACMEPlugin.pm
# registers its file and plugin types while it is compiled; a plain PVE::SectionConfig with the
# two plugin types below lets it load. No ACME plugin is configured in the test boots.
package PVE::ACME::Challenge;
use strict;
use warnings;

use base qw(PVE::SectionConfig);

my $defaultData = { propertyList => { type => { description => "ACME plugin type." } } };

sub private {
    return $defaultData;
}

1;
