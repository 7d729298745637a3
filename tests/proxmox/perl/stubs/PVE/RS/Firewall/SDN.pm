# Stub for PVE::RS::Firewall::SDN: the real one is Rust (proxmox-perl-rs, crate
# proxmox-ve-config), not built here. pve-firewall's PVE::Firewall loads it at compile time and
# load_sdn_conf() calls config() for the ipsets/aliases that SDN VNets and IPAM generate. The
# host.fw/cluster.fw judged here come from a fresh host with no SDN configured (no
# /etc/pve/sdn/*.cfg), where the real one returns no ipsets and no aliases: so does this.
package PVE::RS::Firewall::SDN;
use strict;
use warnings;

sub config {
    return { ipset => {}, ipset_comments => {}, alias => {} };
}

1;
