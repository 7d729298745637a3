# Stand-in for pve-container's PVE/LXC/Create.pm in the fixture trees: what the agent looks
# for to tell that this pve-container makes containers of OCI archives (PVE 9.1, 6.0.15),
# the name of its sub restore_oci_archive. Not Proxmox's code.
1;
