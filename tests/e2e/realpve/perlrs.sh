# shellcheck shell=bash
# Sourced by ./build: Proxmox's proxmox-perl-rs, pve-rs half (libpve_rs.so, Rust over perlmod)
# with its generated Perl packages (PVE::RS::*, Proxmox::Lib::PVE) and those of its common half
# (Proxmox::RS::*, Proxmox::Lib::Common), built from the unmodified snapshots in $SRC and packed
# into perlrs.tar, laid out as libpve-rs-perl and libproxmox-rs-perl install them. Cached on its
# own (the slow part of ./build: cargo took 8 minutes from scratch on this 2-core machine at
# CARGO_BUILD_JOBS=1 beside a QEMU test boot, the recipe below 5-6 with both cores; about 2 s
# when only the key changed) under $top/realpve-perlrs-<perlrs_key>, with cargo's target dir
# and crate cache beside it so that a new key rebuilds only what changed. CARGO_BUILD_JOBS,
# if set, is handed to cargo.
#
# How (cf. ../shared/proxmox-src/recipes/real-pve, README section "pve-rs" and
# scripts/40-pve-rs.sh, which did this first):
#   - sources: proxmox-perl-rs (pve-rs and common), perlmod-rs, and the proxmox-rs and
#     proxmox-ve-rs trees of pinned-for-proxmox-perl-rs (the versions its Cargo.toml asks for;
#     the snapshots' own proxmox-rs and proxmox-ve-rs are newer), copied into a build dir of
#     ours in the build root; Proxmox's crates and perlmod are not on crates.io, so every crate
#     of those trees is wired in with [patch.crates-io]; pve-rs's .cargo/config.toml (cargo
#     pointed at Debian's packaged crates) is left out;
#   - every other crate from crates.io, resolved and downloaded on this host with the host's
#     cargo, starting from ./pve-rs.Cargo.lock (so that a crates.io release does not change
#     what CI builds; cargo adjusts it where the pinned trees ask for something else, and the
#     lock used is kept in the cache dir next to perlrs.tar);
#   - `cargo build --release --offline` inside the Debian 13 build root with the host's Rust
#     toolchain bind-mounted read-only: the library links against the guest's Perl 5.40 and
#     Debian 13's libraries, not this host's;
#   - the Perl side by Proxmox's own Makefiles (`make install DESTDIR=` of pve-rs and
#     common/pkg), with perlmod-rs's genpackage.pl where its perlmod-bin package puts it.
# PERLRS_BUILD_PACKAGES are the build dependencies a failing build found (recipe README):
# nettle-dev and clang/libclang-dev for nettle-sys (proxmox-apt -> sequoia), libapt-pkg-dev,
# libssl-dev, and what proxmox-sys, proxmox-log and proxmox-notify link.

PERLRS_BUILD_PACKAGES=(libssl-dev libapt-pkg-dev libsystemd-dev uuid-dev libacl1-dev zlib1g-dev
	libzstd-dev nettle-dev libclang-dev clang)
perlrs_lock="$here/pve-rs.Cargo.lock"

# The host's Rust toolchain (rustup's default one; its cargo and rustc are run directly, also
# inside the root). Asked from / so that no rust-toolchain file of a working directory counts.
perlrs_toolchain() {
	local sysroot
	sysroot=$(cd / && rustc --print sysroot 2>/dev/null) ||
		die "no Rust toolchain (rustc) on this host: proxmox-perl-rs is built with it"
	[[ -x $sysroot/bin/cargo && -x $sysroot/bin/rustc ]] || die "no cargo/rustc in $sysroot/bin"
	echo "$sysroot"
}

# The key: the snapshots' commit table (proxmox-perl-rs and perlmod-rs are in it), the pinned
# trees (README's paragraph naming their commits, and every file's path and size), the
# toolchain, and our code for it (this file, the lock).
perlrs_key() {
	local tc
	tc=$(perlrs_toolchain)
	{
		grep -E '^\| [a-z-]+ \| ' "$SRC/README.md"
		sed -n '/^`pinned-for-proxmox-perl-rs\/`/,/^$/p' "$SRC/README.md"
		(cd "$SRC/pinned-for-proxmox-perl-rs" && find . -type f -printf '%p %s\n' | LC_ALL=C sort)
		"$tc/bin/rustc" -V
		sha256sum <"$here/perlrs.sh"
		[[ ! -f $perlrs_lock ]] || sha256sum <"$perlrs_lock"
	} | sha256sum | cut -c1-16
}

# Runs a command in the build root BROOT: a private mount namespace with the toolchain TC
# (read-only), the crate cache and the target dir mounted in the build dir, and an environment
# of our own (nothing of the caller's cargo settings: this repository's .cargo/config.toml asks
# for a static target).
perlrs_in_root() {
	unshare -m --propagation private bash -c '
		set -e
		r=$1 tc=$2 ch=$3 tg=$4; shift 4
		mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && mount -t sysfs sys "$r/sys"
		mkdir -p "$r/opt/pvefb-rust" "$r/perlrs/cargo-home" "$r/perlrs/pve-rs/target"
		mount --bind "$tc" "$r/opt/pvefb-rust" && mount -o remount,bind,ro "$r/opt/pvefb-rust"
		mount --bind "$ch" "$r/perlrs/cargo-home"
		mount --bind "$tg" "$r/perlrs/pve-rs/target"
		exec chroot "$r" env -i PATH=/opt/pvefb-rust/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			LANG=C.UTF-8 CARGO_HOME=/perlrs/cargo-home ${CARGO_BUILD_JOBS:+CARGO_BUILD_JOBS=$CARGO_BUILD_JOBS} \
			CARGO_PROFILE_RELEASE_DEBUG=false "$@"' _ "$perlrs_broot" "$perlrs_tc" "$perlrs_ch" "$perlrs_tg" "$@"
}

# perlrs_build BROOT OUT: builds perlrs.tar (with build-info, the Cargo.lock used and the logs)
# into OUT. Logs go to $top/realpve-perlrs-*.log while it runs.
perlrs_build() {
	local out=$2 t0=$SECONDS t b pin tmp logs="$top/realpve-perlrs"
	perlrs_broot=$1
	perlrs_tc=$(perlrs_toolchain)
	perlrs_ch="$top/realpve-perlrs-cargo-home"
	perlrs_tg="$top/realpve-perlrs-target"
	mkdir -p "$perlrs_ch" "$perlrs_tg"
	# The build dir, /perlrs in the root; its target/ is $perlrs_tg, mounted there while cargo
	# runs (the same path every time: cargo's fingerprints hold absolute paths).
	b="$perlrs_broot/perlrs"
	pin="$SRC/pinned-for-proxmox-perl-rs"
	rm -rf --one-file-system "$b"
	mkdir -p "$b"
	cp -a "$SRC/proxmox-perl-rs/pve-rs" "$b/pve-rs"
	# pve-rs/common is a symbolic link to ../common in Proxmox's git (a file holding the link's
	# text in the snapshot); its Makefile copies common/src into the package's build dir alike.
	rm -rf "$b/pve-rs/common" "$b/pve-rs/.cargo"
	cp -a "$SRC/proxmox-perl-rs/common" "$b/pve-rs/common"
	cp -a "$pin/proxmox-rs" "$pin/proxmox-ve-rs" "$SRC/perlmod-rs" "$b/"
	chmod -R u+w "$b"
	{
		printf '\n# pve-firstboot (tests/e2e/realpve/perlrs.sh): the pinned trees\n[patch.crates-io]\n'
		local m name
		for m in "$b"/proxmox-rs/*/Cargo.toml "$b"/proxmox-ve-rs/*/Cargo.toml \
			"$b"/perlmod-rs/perlmod/Cargo.toml "$b"/perlmod-rs/perlmod-macro/Cargo.toml; do
			name=$(sed -n '/^\[package\]/,/^\[/s/^name *= *"\([^"]*\)".*/\1/p' "$m")
			[[ -n $name ]] || continue
			m=${m#"$b"/}
			printf '%s = { path = "../%s" }\n' "$name" "${m%/Cargo.toml}"
		done
	} >>"$b/pve-rs/Cargo.toml"
	[[ ! -f $perlrs_lock ]] || cp "$perlrs_lock" "$b/pve-rs/Cargo.lock"
	t=$SECONDS
	(cd "$b/pve-rs" && CARGO_HOME="$perlrs_ch" "$perlrs_tc/bin/cargo" fetch) >"$logs-fetch.log" 2>&1 ||
		{ tail -n 30 "$logs-fetch.log" >&2; die "pve-rs: cargo fetch failed (log above)"; }
	local t_fetch=$((SECONDS - t))
	if [[ -f $perlrs_lock ]] && ! cmp -s "$perlrs_lock" "$b/pve-rs/Cargo.lock"; then
		log "pve-rs: cargo changed tests/e2e/realpve/pve-rs.Cargo.lock for the pinned trees; the lock used is kept as $out/Cargo.lock"
	fi
	log "pve-rs: crates resolved and fetched in $t_fetch s ($(grep -c '^\[\[package\]\]' "$b/pve-rs/Cargo.lock") packages in the lock)"

	# proxmox-frr include_str!s its templates from where proxmox-frr-templates installs them
	# (its debian/proxmox-frr-templates.install); with their times, as every copy here, so that
	# cargo sees unchanged sources as unchanged.
	rm -rf "$perlrs_broot/usr/share/proxmox-frr"
	install -p -D -m 0644 -t "$perlrs_broot/usr/share/proxmox-frr/templates" \
		"$b"/proxmox-ve-rs/proxmox-frr-templates/templates/*
	t=$SECONDS
	perlrs_in_root bash -c 'cd /perlrs/pve-rs && cargo build --release --offline --locked' >"$logs-cargo.log" 2>&1 ||
		{ tail -n 40 "$logs-cargo.log" >&2; die "pve-rs: cargo build failed (log above)"; }
	local t_cargo=$((SECONDS - t))
	log "pve-rs: cargo build --release (in the Debian 13 root, offline) in $t_cargo s"

	# Proxmox's Makefiles generate the Perl packages (with perlmod-bin's genpackage.pl where that
	# package puts it: perlmod-rs perlmod-bin/debian/install) and install them with the library;
	# then the library is stripped, as dh_strip does for the package.
	t=$SECONDS
	install -D -m 0755 "$b/perlmod-rs/perlmod-bin/genpackage.pl" "$perlrs_broot/usr/lib/perlmod/genpackage.pl"
	perlrs_in_root bash -ec '
		make -C /perlrs/pve-rs install DESTDIR=/perlrs/dest
		make -C /perlrs/pve-rs/common/pkg install DESTDIR=/perlrs/dest
		strip --strip-unneeded /perlrs/dest/usr/lib/*/perl5/*/auto/libpve_rs.so
		echo "ldd libpve_rs.so:"
		ldd /perlrs/dest/usr/lib/*/perl5/*/auto/libpve_rs.so' >"$logs-install.log" 2>&1 ||
		{ tail -n 30 "$logs-install.log" >&2; die "pve-rs: installing the Perl packages failed (log above)"; }
	tmp=$(mktemp -d "$out.tmp.XXXXXX")
	tar -C "$b/dest" --owner=0 --group=0 --sort=name -cf "$tmp/perlrs.tar" .
	local t_install=$((SECONDS - t))
	log "pve-rs: Perl packages generated and installed in $t_install s"
	cp "$b/pve-rs/Cargo.lock" "$logs-fetch.log" "$logs-cargo.log" "$logs-install.log" "$tmp/"
	{
		echo "key=${out##*/realpve-perlrs-}"
		echo "toolchain=$("$perlrs_tc/bin/rustc" -V)"
		echo "files=$(tar -tf "$tmp/perlrs.tar" | grep -vc '/$')"
		echo "libpve_rs_bytes=$(stat -c %s "$b"/dest/usr/lib/*/perl5/*/auto/libpve_rs.so)"
		echo "took_fetch_s=$t_fetch"
		echo "took_cargo_s=$t_cargo"
		echo "took_install_s=$t_install"
		echo "took_total_s=$((SECONDS - t0))"
	} >"$tmp/build-info"
	rm -rf --one-file-system "$b" "$perlrs_broot/usr/share/proxmox-frr" "$perlrs_broot/usr/lib/perlmod"
	rm -f "$logs-fetch.log" "$logs-cargo.log" "$logs-install.log"
	rm -rf --one-file-system "$out"
	mv "$tmp" "$out"
}
