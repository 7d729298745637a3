#!/bin/sh
# pve-firstboot @VERSION@ first-boot hook: a shell stub, the answer, and the agent (xz).
# Proxmox runs this once as `proxmox-first-boot fully-up` and removes its marker only
# when it exits 0. The agent installs itself, the answer and its own systemd unit,
# starts that unit without waiting for it, and returns. Nothing here reboots.
set -eu
mkdir -p -m 0700 /var/lib/pve-firstboot
tmp=$(mktemp -d /var/lib/pve-firstboot/hook.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tail -c +@OFFSET@ "$0" | xz -dc > "$tmp/pve-firstboot"
chmod 0700 "$tmp/pve-firstboot"
"$tmp/pve-firstboot" hand-over --hook "$0"
exit 0
