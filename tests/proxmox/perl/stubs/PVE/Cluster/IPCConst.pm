# Stands in for PVE::Cluster::IPCConst, which is not in pve-cluster's source tree: its build
# (pve-cluster src/PVE/Cluster/Makefile, target IPCConst.pm) generates it from pmxcfs's
# src/pmxcfs/cfs-ipc-ops.h with src/PVE/Cluster/IPCConst.pm.awk. This runs that same awk script
# on that same header from $PROXMOX_SRC (set by check.pl) at load time, so nothing is copied.
# The constants only name pmxcfs IPC calls, which go to the PVE::IPCC stub (never called).
package PVE::Cluster::IPCConst;
use strict;
use warnings;

my $src = $ENV{PROXMOX_SRC} or die "PROXMOX_SRC is not set (check.pl sets it)\n";
my $dir = "$src/pve-cluster/src";
open(my $awk, '-|', 'awk', '-f', "$dir/PVE/Cluster/IPCConst.pm.awk", "$dir/pmxcfs/cfs-ipc-ops.h")
    or die "cannot run awk for PVE::Cluster::IPCConst: $!\n";
my $code = do { local $/; <$awk> };
close($awk) or die "awk failed generating PVE::Cluster::IPCConst (status $?)\n";
# the generated text is a whole module (package line, use constant, @EXPORT)
eval "$code; 1" or die "generated PVE::Cluster::IPCConst does not compile: $@";

1;
