# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Helpers for the e2e tests: start the test guest under QEMU from a copy-on-write
# overlay of the image build-guest made, talk to it over ssh, watch its serial log
# for boots, cut its power, and clean up. Source it from a test script that runs
# with `set -euo pipefail`; it keeps one guest (and one HTTP server) per shell.
#
# Network: QEMU's user-mode network with restrict=on, so the guest cannot reach
# anything but what is forwarded explicitly: host 127.0.0.1:<port> -> guest :22
# (hostfwd), and guest 10.0.2.100:80 and 10.0.2.20:80 -> an HTTP server on host 127.0.0.1
# (guestfwd; guest.conf says which is outside the management subnet and which inside).
#
# Artifacts (serial logs, QEMU command lines, overlays) go under target/e2e/.

e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e_repo=$(cd "$e2e_here/../.." && pwd)
. "$e2e_here/guest.conf"

E2E_ARTIFACTS=${E2E_ARTIFACTS:-$e2e_repo/target/e2e}
mkdir -p "$E2E_ARTIFACTS"

# State of the current guest / HTTP server, set by the functions below.
E2E_IMAGE_DIR=""   # build-guest's output: disk.qcow2, id_ed25519, root-password
E2E_GUEST_DIR=""   # this run's artifacts for the guest
E2E_SERIAL=""      # the guest's serial log
E2E_SSH_PORT=""
E2E_QEMU_PID=""
E2E_HTTP_PID=""
E2E_HTTP_PORT=""
E2E_HTTP_DIR=""

# Each line with the seconds since this script started, so a run's log shows what each
# part cost (CI's hour is the budget).
e2e_log() { printf 'e2e: [%4ds] %s\n' "$SECONDS" "$*" >&2; }

# Report a failed check and stop: the cleanup trap takes QEMU and the HTTP server down.
e2e_fail() {
	printf 'e2e: FAIL %s\n' "$*"
	if [[ -n $E2E_SERIAL && -f $E2E_SERIAL ]]; then
		e2e_log "last lines of the serial log $E2E_SERIAL:"
		tail -n 25 "$E2E_SERIAL" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/^/    /' >&2
	fi
	exit 1
}

# A TCP port on 127.0.0.1 that is free right now (the kernel picks it).
e2e_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Seconds since the epoch, for timing steps.
e2e_now() { date +%s; }

# --- image ---------------------------------------------------------------------------

# Build the guest image or take it from the cache; sets E2E_IMAGE_DIR.
e2e_image() {
	E2E_IMAGE_DIR=$("$e2e_here/build-guest") || e2e_fail "build-guest failed"
	[[ -f $E2E_IMAGE_DIR/disk.qcow2 ]] || e2e_fail "build-guest gave no disk.qcow2 in '$E2E_IMAGE_DIR'"
}

# What the HTTP server serves, made fresh in directory $1: a synthetic HAOS image (a qcow2
# of 2 GiB virtual size with 4 MiB of data, xz-compressed in blocks as HAOS images are), a
# synthetic cloud image (a plain qcow2 of 1 GiB with 2 MiB of data, and SHA512SUMS beside
# it, as cloud.debian.org publishes them; cloud-expect.txt has the SHA-256 of its first MiB
# and of the MiB at 512 MiB, for the e2e to compare with the imported disk) and a hello
# file. Prints the HAOS image's sha256.
e2e_www() {
	local www=$1
	rm -rf "$www"
	mkdir -p "$www"
	python3 - "$www/haos.raw" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(2 << 30)
    for off in (0, 1 << 20, 512 << 20, (2 << 30) - (2 << 20)):
        f.seek(off)
        f.write(os.urandom(1 << 20))
PY
	qemu-img convert -q -f raw -O qcow2 "$www/haos.raw" "$www/haos.qcow2"
	rm -f "$www/haos.raw"
	xz -3 -T2 --block-size=1MiB -c "$www/haos.qcow2" >"$www/haos_ova-16.3.qcow2.xz"
	rm -f "$www/haos.qcow2"
	python3 - "$www/cloud.raw" "$www/cloud-expect.txt" <<'PY'
import hashlib, os, sys
with open(sys.argv[1], "wb") as f, open(sys.argv[2], "w") as e:
    f.truncate(1 << 30)
    for off in (0, 512 << 20):
        data = os.urandom(1 << 20)
        f.seek(off)
        f.write(data)
        e.write(f"{off} {hashlib.sha256(data).hexdigest()}\n")
PY
	qemu-img convert -q -f raw -O qcow2 "$www/cloud.raw" "$www/debian-13-genericcloud-amd64.qcow2"
	rm -f "$www/cloud.raw"
	(cd "$www" && sha512sum debian-13-genericcloud-amd64.qcow2 >SHA512SUMS)
	echo "hello from the e2e HTTP server" >"$www/hello.txt"
	sha256sum "$www/haos_ova-16.3.qcow2.xz" | awk '{print $1}'
}

# --- HTTP server (what the guest fetches from http://10.0.2.100/) -----------------------

# Serve directory $1 on 127.0.0.1 (only) at a free port; sets E2E_HTTP_PORT. POSTs (the
# agent's end-of-run notification) are answered 200 and recorded in $E2E_NOTIFICATIONS,
# one JSON object per line (http-server.py).
e2e_http_start() {
	E2E_HTTP_DIR=$1
	E2E_HTTP_PORT=$(e2e_free_port)
	E2E_NOTIFICATIONS=$E2E_ARTIFACTS/notifications.jsonl
	rm -f "$E2E_NOTIFICATIONS"
	# E2E_HTTP_RATE: bytes per second per download (tests/bench-downloads); the log of
	# each GET's start and end goes to $E2E_ARTIFACTS/http-gets.log.
	python3 "$e2e_here/http-server.py" --dir "$E2E_HTTP_DIR" --port "$E2E_HTTP_PORT" \
		--record "$E2E_NOTIFICATIONS" --rate "${E2E_HTTP_RATE:-0}" --log "$E2E_ARTIFACTS/http-gets.log" \
		>"$E2E_ARTIFACTS/http-server.log" 2>&1 &
	E2E_HTTP_PID=$!
	for _ in $(seq 50); do
		curl -fsS -o /dev/null "http://127.0.0.1:$E2E_HTTP_PORT/" 2>/dev/null && return 0
		kill -0 "$E2E_HTTP_PID" 2>/dev/null || break
		sleep 0.2
	done
	e2e_fail "HTTP server on 127.0.0.1:$E2E_HTTP_PORT did not start (see $E2E_ARTIFACTS/http-server.log)"
}

e2e_http_stop() {
	if [[ -n $E2E_HTTP_PID ]]; then
		kill "$E2E_HTTP_PID" 2>/dev/null || true
		wait "$E2E_HTTP_PID" 2>/dev/null || true
		E2E_HTTP_PID=""
	fi
}

# --- the guest -----------------------------------------------------------------------

# Start guest $1 (a name for its artifact directory) from a fresh copy-on-write
# overlay of the image. Needs e2e_image first; e2e_http_start first if the guest is
# to reach http://10.0.2.100/. The QEMU command line is kept in qemu-cmdline.txt.
e2e_guest_start() {
	local name=${1:-guest}
	[[ -n $E2E_IMAGE_DIR ]] || e2e_fail "e2e_guest_start: call e2e_image first"
	[[ -z $E2E_QEMU_PID ]] || e2e_fail "e2e_guest_start: a guest is already running"
	E2E_GUEST_DIR=$E2E_ARTIFACTS/$name
	E2E_SERIAL=$E2E_GUEST_DIR/serial.log
	# E2E_RESUME=1: the same disk again (after a power cut); the serial log goes on.
	if [[ ${E2E_RESUME:-0} != 1 ]]; then
		rm -rf "$E2E_GUEST_DIR"
		mkdir -p "$E2E_GUEST_DIR"
		: >"$E2E_SERIAL"
		qemu-img create -q -f qcow2 -b "$E2E_IMAGE_DIR/disk.qcow2" -F qcow2 "$E2E_GUEST_DIR/disk.qcow2"
		# UEFI: the firmware's variables are the guest's own, like its disk. Fresh ones
		# boot the ESP's removable path (EFI/BOOT/BOOTX64.EFI, systemd-boot).
		[[ $E2E_LAYOUT != uefi-* ]] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$E2E_GUEST_DIR/vars.fd"
		# E2E_DATA_DISK=SIZE: an empty second disk, as an admin adds for data (the storage
		# phase's data-disk storages), named by its serial: /dev/disk/by-id/virtio-pvefb-data1.
		[[ -z ${E2E_DATA_DISK:-} ]] || qemu-img create -q -f qcow2 "$E2E_GUEST_DIR/data.qcow2" "$E2E_DATA_DISK"
		E2E_SSH_PORT=$(e2e_free_port)
	fi

	local mgmt="user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:$E2E_SSH_PORT-:22"
	# E2E_HOSTFWD="HOSTPORT:GUESTPORT ...": more ports of the management address.
	local fwd
	for fwd in ${E2E_HOSTFWD:-}; do
		mgmt+=",hostfwd=tcp:127.0.0.1:${fwd%%:*}-:${fwd##*:}"
	done
	if [[ -n $E2E_HTTP_PORT ]]; then
		# guestfwd's "cmd:" form starts one nc relay per guest connection. The
		# "tcp:127.0.0.1:PORT" chardev form is accepted by QEMU 7.2 too, but it
		# connects once at startup and serves one guest connection only: a second
		# curl times out.
		mgmt+=",guestfwd=tcp:$E2E_HTTP_IP:80-cmd:nc 127.0.0.1 $E2E_HTTP_PORT"
		mgmt+=",guestfwd=tcp:$E2E_LAN_HTTP_IP:80-cmd:nc 127.0.0.1 $E2E_HTTP_PORT"
	fi
	# shellcheck disable=SC2054  # the commas are QEMU's option syntax
	local cmd=(
		qemu-system-x86_64
		# q35 + intel-iommu with interrupt remapping: the guest sees a vIOMMU (DMAR)
		# and can bind devices to vfio-pci. intremap needs the split irqchip.
		-machine q35,kernel-irqchip=split
		-accel tcg,thread=multi
		# The agent adds intel_iommu=on on Intel CPUs; TCG's "max" model would say
		# AuthenticAMD. It keeps AMD's SVM flag (TCG emulates SVM, not VMX), so the
		# guest logs "kvm: no hardware support for 'kvm_amd'"; harmless. Do not add
		# svm=off: with QEMU 7.2 TCG the guest kernel then fails
		# copy_from_kernel_nofault (mount paths read "xxxx" in /proc/self/mountinfo)
		# and systemd cannot set up mount namespaces, so half the units fail.
		-cpu "${E2E_QEMU_CPU:-max,vendor=GenuineIntel}"
		# E2E_SMP: vCPUs (default 1). Two-vCPU TCG guests on two busy host cores have died of
		# a spurious int3 in code the kernel was patching (cross-modifying code between vCPU
		# threads): first a layout guest beside run's, then (2026-12-04, in a clean-clone
		# CI run) run's own power-cut guest beside the layouts. TCG with one vCPU cannot
		# hit it; the agent's work is mostly one process at a time anyway.
		-smp "${E2E_SMP:-1}" -m "$E2E_MEM_MIB"
		-device intel-iommu,intremap=on
		-display none
		-serial "file:$E2E_SERIAL"
		-monitor "unix:$E2E_GUEST_DIR/monitor.sock,server=on,wait=off"
		-pidfile "$E2E_GUEST_DIR/qemu.pid"
		# cache=writeback (QEMU's default) honours the guest's flushes, so a SIGKILL
		# of QEMU behaves like a power cut: what the guest synced is on disk.
		-drive "file=$E2E_GUEST_DIR/disk.qcow2,format=qcow2,if=none,id=disk0,cache=writeback"
		-device "virtio-blk-pci,drive=disk0,addr=$E2E_DISK_SLOT"
		-netdev "$mgmt"
		-device "virtio-net-pci,netdev=mgmt,addr=$E2E_MGMT_SLOT"
		# The passthrough candidate: an emulated Intel 82574L (8086:10d3) on its own
		# isolated network.
		-netdev user,id=pt,restrict=on
		-device "e1000e,netdev=pt,addr=$E2E_PT_SLOT"
	)
	# E2E_SEED=IMG: a small read-only disk with the first-boot hook (label PVEFB-SEED),
	# what the installer stand-in copies into place.
	if [[ -n ${E2E_SEED:-} ]]; then
		cmd+=(-drive "file=$E2E_SEED,format=raw,if=none,id=seed,readonly=on"
			-device "virtio-blk-pci,drive=seed,addr=5")
	fi
	if [[ -n ${E2E_DATA_DISK:-} ]]; then
		cmd+=(-drive "file=$E2E_GUEST_DIR/data.qcow2,format=qcow2,if=none,id=data,cache=writeback"
			-device "virtio-blk-pci,drive=data,addr=6,serial=pvefb-data1")
	fi
	if [[ $E2E_LAYOUT == uefi-* ]]; then
		cmd+=(-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
			-drive "if=pflash,format=raw,file=$E2E_GUEST_DIR/vars.fd")
	fi
	printf '%q ' "${cmd[@]}" >"$E2E_GUEST_DIR/qemu-cmdline.txt"
	echo >>"$E2E_GUEST_DIR/qemu-cmdline.txt"
	"${cmd[@]}" </dev/null >>"$E2E_GUEST_DIR/qemu.log" 2>&1 &
	E2E_QEMU_PID=$!
	e2e_log "guest '$name' started (QEMU pid $E2E_QEMU_PID, ssh 127.0.0.1:$E2E_SSH_PORT, serial $E2E_SERIAL)"
}

e2e_guest_running() { [[ -n $E2E_QEMU_PID ]] && kill -0 "$E2E_QEMU_PID" 2>/dev/null; }

# Power cut: SIGKILL QEMU, no shutdown, no flush beyond what the guest already synced.
e2e_guest_kill() {
	if [[ -n $E2E_QEMU_PID ]]; then
		e2e_ssh_close
		kill -9 "$E2E_QEMU_PID" 2>/dev/null || true
		wait "$E2E_QEMU_PID" 2>/dev/null || true
		E2E_QEMU_PID=""
	fi
}

# --- ssh -----------------------------------------------------------------------------

# Every call shares one ssh connection per guest (a master, ControlPersist): under TCG a
# login costs the guest about 4 s of its one vCPU (the key exchange the hardening phase
# asks for, post-quantum), and the tests make hundreds of calls, polling included, which
# took that CPU from the very provisioning they watch; a call over the master costs
# 0.4 s. The master dies with the guest's sshd (reboot, power cut) and the next call makes
# a new one. Checks about logging in itself use e2e_ssh_fresh.
e2e_ssh_opts() {
	printf '%s\n' -i "$E2E_IMAGE_DIR/id_ed25519" \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o BatchMode=yes -o ConnectTimeout=10 -o IdentitiesOnly=yes \
		-o ServerAliveInterval=5 -o ServerAliveCountMax=6 \
		-o ControlMaster=auto -o ControlPath=/tmp/pvefb-e2e-ssh-%C -o ControlPersist=120
}

# Run a command in the guest as root (arguments are joined into one remote command
# line, as with ssh itself).
e2e_ssh() {
	local opts
	mapfile -t opts < <(e2e_ssh_opts)
	ssh "${opts[@]}" -p "$E2E_SSH_PORT" root@127.0.0.1 "$@"
}

# e2e_ssh on a connection of its own: a new login, as an admin's would be.
# (ssh takes the first value given for an option: these go before e2e_ssh_opts.)
e2e_ssh_fresh() {
	local opts
	mapfile -t opts < <(e2e_ssh_opts)
	ssh -o ControlMaster=no -o ControlPath=none "${opts[@]}" -p "$E2E_SSH_PORT" root@127.0.0.1 "$@"
}

# Close this guest's shared connection (before its sshd goes away on purpose).
e2e_ssh_close() { e2e_ssh -O exit 2>/dev/null || true; }

# e2e_scp SRC... DEST: copy host files into the guest (DEST is a guest path).
e2e_scp() {
	local opts
	mapfile -t opts < <(e2e_ssh_opts)
	local dest=${*: -1}
	scp -q "${opts[@]}" -P "$E2E_SSH_PORT" "${@:1:$#-1}" "root@127.0.0.1:$dest"
}

# Wait until ssh key login works, at most $1 seconds (default 300).
e2e_wait_ssh() {
	local timeout=${1:-300} start
	start=$(e2e_now)
	while (($(e2e_now) - start < timeout)); do
		e2e_guest_running || e2e_fail "QEMU exited while waiting for ssh (see $E2E_GUEST_DIR/qemu.log)"
		# A new login: that is what a boot must allow.
		if e2e_ssh_fresh true 2>/dev/null; then
			return 0
		fi
		sleep 2
	done
	e2e_fail "no ssh login within ${timeout}s"
}

# --- boots, reboots, power off --------------------------------------------------------

# Boots seen so far in the serial log. GRUB prints "Booting `<entry>'" each time it starts
# a kernel from its menu. systemd-boot prints nothing on the serial line, but its entries'
# command line (/etc/kernel/cmdline) has no "quiet", so each kernel announces itself.
e2e_boot_count() {
	if [[ $E2E_LAYOUT == uefi-systemd-boot ]]; then
		grep -a -c "Linux version " "$E2E_SERIAL" || true
	else
		grep -a -c "Booting \`" "$E2E_SERIAL" || true
	fi
}

# Kernels started so far (GRUB or not): the first kernel message on the console.
# Only counted when the kernel is not "quiet"; kept for -kernel style debugging.
e2e_kernel_count() {
	grep -a -c "Linux version " "$E2E_SERIAL" || true
}

# Wait until the serial log shows at least $1 GRUB boots, at most $2 seconds.
e2e_wait_boots() {
	local want=$1 timeout=${2:-300} start
	start=$(e2e_now)
	while (($(e2e_now) - start < timeout)); do
		(($(e2e_boot_count) >= want)) && return 0
		e2e_guest_running || e2e_fail "QEMU exited while waiting for boot #$want"
		sleep 1
	done
	e2e_fail "boot #$want did not start within ${timeout}s (saw $(e2e_boot_count))"
}

# Wait until the guest powers off (QEMU exits by itself), at most $1 seconds.
e2e_wait_poweroff() {
	local timeout=${1:-180} start
	start=$(e2e_now)
	while (($(e2e_now) - start < timeout)); do
		if ! kill -0 "$E2E_QEMU_PID" 2>/dev/null; then
			wait "$E2E_QEMU_PID" 2>/dev/null || true
			E2E_QEMU_PID=""
			return 0
		fi
		sleep 1
	done
	e2e_fail "guest did not power off within ${timeout}s"
}

# Reboot the guest over ssh and wait until it is back on ssh after a new GRUB boot.
e2e_reboot() {
	local timeout=${1:-420} before
	before=$(e2e_boot_count)
	# The connection may drop as the guest goes down; that is not an error.
	e2e_ssh systemctl reboot || true
	e2e_wait_boots $((before + 1)) "$timeout"
	e2e_wait_ssh "$timeout"
}

# Power off over ssh and wait for QEMU to exit.
e2e_poweroff() {
	e2e_ssh systemctl poweroff || true
	e2e_wait_poweroff "${1:-180}"
}

# --- checks and the agent's state -------------------------------------------------------

ok() { e2e_log "ok: $*"; }
# contains HAYSTACK NEEDLE...: every needle is in the haystack.
contains() {
	local h=$1
	shift
	local n
	for n in "$@"; do [[ $h == *"$n"* ]] || return 1; done
}
check() {
	local what=$1
	shift
	"$@" || e2e_fail "$what"
	ok "$what"
}
q() { e2e_ssh "$@" 2>/dev/null; }

# The agent's status as JSON (empty while the guest is down or the agent not there yet).
status_json() { q "test -x /usr/local/sbin/pve-firstboot && /usr/local/sbin/pve-firstboot status --json" || true; }
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d'"$1"')'; }
# phase_field PHASE FIELD: one field of one phase in the agent's state (empty while down).
phase_field() {
	status_json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(next(p[sys.argv[2]] for p in d["phases"] if p["id"] == sys.argv[1]))' "$1" "$2" 2>/dev/null || true
}

# Wait until the agent says done (or failed), through its reboot; at most $1 seconds.
wait_done() {
	local timeout=$1 start s word
	start=$(e2e_now)
	while (($(e2e_now) - start < timeout)); do
		e2e_guest_running || e2e_fail "QEMU exited while provisioning"
		# A dead kernel answers no ssh: say so now rather than at the timeout.
		! grep -a -q 'Kernel panic - not syncing' "$E2E_SERIAL" || e2e_fail "the guest's kernel panicked"
		s=$(status_json)
		word=$(json_field '["status"]' <<<"$s" 2>/dev/null || true)
		case $word in
		done) return 0 ;;
		failed)
			echo "$s" >"$E2E_GUEST_DIR/status.json"
			q "journalctl -u pve-firstboot --no-pager" >"$E2E_GUEST_DIR/journal.txt" || true
			e2e_fail "the agent failed: $(json_field '["phases"]' <<<"$s" | tr -d '\n' | cut -c1-600)"
			;;
		esac
		sleep 5
	done
	e2e_fail "the agent did not finish within ${timeout}s (status: ${word:-none})"
}

# Per-phase timings from the state: one line each, and the total from the first phase's
# start (the hook hands over right before it) to done.
timings() {
	python3 - "$1" <<'PY'
import json, sys
from datetime import datetime
d = json.load(open(sys.argv[1]))
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
for p in d["phases"]:
    if p.get("started") and p.get("finished"):
        print(f"phase {p['id']}: {(t(p['finished']) - t(p['started'])).seconds}s ({p['status']}, attempts {p['attempts']})")
    else:
        print(f"phase {p['id']}: {p['status']}")
print(f"total: {(t(d['finished']) - t(d['started'])).seconds}s from hand-over to done")
PY
}

# --- cleanup ---------------------------------------------------------------------------

e2e_cleanup() {
	e2e_guest_kill
	e2e_http_stop
}
trap e2e_cleanup EXIT
