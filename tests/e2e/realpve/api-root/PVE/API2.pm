package PVE::API2;

# Stand-in for pve-manager's API root (pve-manager `PVE/API2.pm`), test boots only.
#
# What it replaces: the root of the REST API that pve-manager's own `pvesh`
# (`PVE/CLI/pvesh.pm`, installed unchanged) walks to find a handler.
#
# Why: the real root loads every API module of pve-manager (`PVE::API2::Nodes` alone pulls
# in Ceph, SDN, APT, subscription, replication, VNC and the rest), and pve-manager is not
# built for the test guest. The agent calls `pvesh` only for Proxmox's disk API (the
# storage phase's data disks: `pvesh create /nodes/NODE/disks/{directory,lvmthin,zfs}`,
# `pvesh set /nodes/NODE/disks/wipedisk`), which lives in pve-storage. So this root mounts
# pve-storage's own handlers at the paths pve-manager mounts them (`PVE/API2.pm`: `storage`;
# `PVE/API2/Nodes.pm`: `{node}`, then `storage` and `disks` under it), and nothing else: a
# path the agent has no business calling fails as "no such resource", loudly.

use strict;
use warnings;

use PVE::RESTHandler;
use PVE::API2::Disks;
use PVE::API2::Storage::Config;
use PVE::API2::Storage::Status;

use base qw(PVE::RESTHandler);

package PVE::API2::Nodes::Nodeinfo;

use base qw(PVE::RESTHandler);

__PACKAGE__->register_method({
    subclass => "PVE::API2::Storage::Status",
    path => 'storage',
});

__PACKAGE__->register_method({
    subclass => "PVE::API2::Disks",
    path => 'disks',
});

package PVE::API2::Nodes;

use base qw(PVE::RESTHandler);

__PACKAGE__->register_method({
    subclass => "PVE::API2::Nodes::Nodeinfo",
    path => '{node}',
});

package PVE::API2;

__PACKAGE__->register_method({
    subclass => "PVE::API2::Nodes",
    path => 'nodes',
});

__PACKAGE__->register_method({
    subclass => "PVE::API2::Storage::Config",
    path => 'storage',
});

1;
