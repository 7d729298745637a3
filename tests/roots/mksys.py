#!/usr/bin/env python3
"""Generate the /sys, /proc and boot-loader parts of the hardware fixture roots.

The trees are committed; this script documents how they were made and remakes them
(`python3 tests/roots/mksys.py`, or `--out DIR` to make them under DIR instead of the
checkout: tests/cli.rs does, and checks the committed trees are exactly what it makes). /sys is laid out as the kernel does it: real directories
under /sys/devices/pci0000:00/..., and relative symlinks for bus/pci/devices/*, each
device's `driver` and `iommu_group`, and /sys/kernel/iommu_groups/*/devices/*.
"""
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Where the trees go: the checkout (tests/roots, examples/sample-host), or `--out DIR`.
OUT = os.path.join(HERE, "..", "..")
if len(sys.argv) == 3 and sys.argv[1] == "--out":
    OUT = sys.argv[2]
elif len(sys.argv) != 1:
    sys.exit("usage: mksys.py [--out DIR]")
ROOTS = os.path.join(OUT, "tests", "roots")

MODULES = """# /etc/modules: kernel modules to load at boot time.
#
# This file contains the names of kernel modules that should be loaded
# at boot time, one per line. Lines beginning with "#" are ignored.
# Parameters can be specified after the module name.

"""

GRUB = """# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""


def cpuinfo(vendor, model):
    cpus = []
    for i in range(2):
        cpus.append(f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: 6\nmodel name\t: {model}\n"
                    f"flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr {'vmx' if vendor == 'GenuineIntel' else 'svm'}\n")
    return "\n".join(cpus) + "\n"


def write(root, rel, text, mode=0o644):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)
    os.chmod(p, mode)


def link(root, rel, target_rel):
    """A relative symlink at `rel` pointing at `target_rel` (both relative to the root)."""
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    t = os.path.relpath(os.path.join(root, target_rel), os.path.dirname(p))
    if os.path.lexists(p):
        os.remove(p)
    os.symlink(t, p)


def machine(name, cpu, devices, extra):
    """devices: (addr, parent addr or None, vendor, device, class, driver, group, boot_vga)."""
    root = os.path.join(ROOTS, name)
    shutil.rmtree(root, ignore_errors=True)
    path = {}
    for addr, parent, ven, dev, cls, drv, grp, bvga in devices:
        base = path[parent] if parent else "sys/devices/pci0000:00"
        d = f"{base}/{addr}"
        path[addr] = d
        write(root, f"{d}/vendor", f"0x{ven:04x}\n")
        write(root, f"{d}/device", f"0x{dev:04x}\n")
        write(root, f"{d}/class", f"0x{cls:06x}\n")
        if cls >> 16 == 0x03:
            write(root, f"{d}/boot_vga", "1\n" if bvga else "0\n")
        if drv:
            os.makedirs(os.path.join(root, f"sys/bus/pci/drivers/{drv}"), exist_ok=True)
            link(root, f"{d}/driver", f"sys/bus/pci/drivers/{drv}")
            link(root, f"sys/bus/pci/drivers/{drv}/{addr}", d)
        link(root, f"sys/bus/pci/devices/{addr}", d)
        if grp is not None:
            link(root, f"{d}/iommu_group", f"sys/kernel/iommu_groups/{grp}")
            link(root, f"sys/kernel/iommu_groups/{grp}/devices/{addr}", d)
    write(root, "proc/cpuinfo", cpuinfo(*cpu))
    write(root, "etc/modules", MODULES)
    for rel, text in extra.items():
        write(root, rel, text)


# A UEFI boot: /sys/firmware/efi exists, and its SecureBoot variable (4 bytes of attributes:
# non-volatile, boot and runtime access; then the value) says whether Secure Boot is on.
SECURE_BOOT_VAR = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def uefi(secure_boot):
    return {SECURE_BOOT_VAR: bytes([0x06, 0, 0, 0, 1 if secure_boot else 0])}


INTEL = ("GenuineIntel", "Intel(R) Core(TM) i7-9700 CPU @ 3.00GHz")
AMD = ("AuthenticAMD", "AMD Ryzen 9 5900X 12-Core Processor")

# Intel desktop: NVIDIA GPU (+ its HDMI audio) behind a root port, the iGPU is the boot VGA
# device, onboard audio uses the same driver as the GPU's audio. ZFS on UEFI without Secure
# Boot: systemd-boot through proxmox-boot-tool, entries from /etc/kernel/cmdline.
# What `probe` reads besides PCI: two NVMe disks of the ZFS mirror and a USB stick as
# /sys/block and udev's database (/run/udev/data/b<major>:<minor>, `E:KEY=VALUE` lines, as
# systemd-udevd writes it), the onboard NIC, a Zigbee stick on USB, and the PCI ID
# database entries for the devices (names as pci.ids spells them).
def block(f, name, dev, sectors, model, serial, removable, parts=(), fs=None):
    """A disk in /sys/block and udev's database. parts: (name, dev, start, sectors, fs type,
    label, GPT name), as the kernel lists them (`<disk>/<part>/partition`, `dev`, `size`)
    and blkid tells udev; fs: (type, label) of a filesystem on the whole disk."""
    f[f"sys/block/{name}/dev"] = dev + "\n"
    f[f"sys/block/{name}/size"] = f"{sectors}\n"
    f[f"sys/block/{name}/removable"] = f"{removable}\n"
    f[f"sys/block/{name}/queue/rotational"] = "0\n"
    f[f"sys/block/{name}/device/model"] = model + "\n"
    bus = "usb" if removable else "nvme" if name.startswith("nvme") else "ata"
    udev = (
        f"E:DEVTYPE=disk\nE:ID_MODEL={model.replace(' ', '_')}\nE:ID_SERIAL={serial}\n"
        f"E:ID_BUS={bus}\n"
    )
    if parts:
        udev += "E:ID_PART_TABLE_TYPE=gpt\n"
    if fs:
        udev += f"E:ID_FS_TYPE={fs[0]}\n" + (f"E:ID_FS_LABEL={fs[1]}\n" if fs[1] else "")
    f[f"run/udev/data/b{dev}"] = udev
    for pname, pdev, start, psectors, ptype, label, gpt_name in parts:
        i = int(re.search(r"(\d+)$", pname).group(1))
        f[f"sys/block/{name}/{pname}/partition"] = f"{i}\n"
        f[f"sys/block/{name}/{pname}/dev"] = pdev + "\n"
        f[f"sys/block/{name}/{pname}/start"] = f"{start}\n"
        f[f"sys/block/{name}/{pname}/size"] = f"{psectors}\n"
        u = f"E:DEVTYPE=partition\nE:ID_PART_ENTRY_NUMBER={i}\n"
        if gpt_name:
            u += f"E:ID_PART_ENTRY_NAME={gpt_name}\n"
        if ptype:
            u += f"E:ID_FS_TYPE={ptype}\n"
        if label:
            u += f"E:ID_FS_LABEL={label}\n"
        f[f"run/udev/data/b{pdev}"] = u


NVME = [
    ("nvme0n1", "259:0", 1000215216, "Samsung SSD 980 PRO 500GB", "Samsung_SSD_980_PRO_500GB_S5GXNF0R123456", 0),
    ("nvme1n1", "259:1", 1000215216, "Samsung SSD 980 PRO 500GB", "Samsung_SSD_980_PRO_500GB_S5GXNF0R654321", 0),
]
STICK = ("sda", "8:0", 60437492, "Cruzer Blade", "SanDisk_Cruzer_Blade_4C530001230416117142", 1)


def nic(f, name, mac, index, state, mac_name):
    for attr, value in [("address", mac), ("ifindex", str(index)), ("operstate", state)]:
        f[f"sys/class/net/{name}/{attr}"] = value + "\n"
    f[f"run/udev/data/n{index}"] = (
        f"E:ID_NET_NAME_MAC={mac_name}\nE:ID_NET_NAME_PATH={name}\n"
        "E:ID_VENDOR_FROM_DATABASE=Intel Corporation\n"
    )


def probe_extras(disks=None):
    f = {}
    for d in disks or NVME + [STICK]:
        block(f, *d)
    f["sys/block/loop0/dev"] = "7:0\n"
    nic(f, "enp0s31f6", "b4:2e:99:12:34:56", 2, "up", "enxb42e99123456")
    for attr, value in [("idVendor", "1a86"), ("idProduct", "55d4"), ("manufacturer", "ITead"),
                        ("product", "Sonoff Zigbee 3.0 USB Dongle Plus")]:
        f[f"sys/bus/usb/devices/1-4/{attr}"] = value + "\n"
    f["sys/bus/usb/devices/usb1/idVendor"] = "1d6b\n"
    f["usr/share/misc/pci.ids"] = (
        "# a few entries of the PCI ID database\n"
        "8086  Intel Corporation\n\t3e92  CoffeeLake-S GT2 [UHD Graphics 630]\n"
        "\t15bc  Ethernet Connection (7) I219-V\n\ta348  Cannon Lake PCH cAVS\n"
        "10de  NVIDIA Corporation\n\t2484  GA104 [GeForce RTX 3070]\n"
        "\t\t1458 404c  GeForce RTX 3070 GAMING OC 8G\n"
        "\t228b  GA104 High Definition Audio Controller\n"
        "C 03  Display controller\n\t00  VGA compatible controller\n"
    )
    return f


NVIDIA_ZFS_DEVICES = [
    ("0000:00:00.0", None, 0x8086, 0x3e30, 0x060000, None, 0, False),
    ("0000:00:01.0", None, 0x8086, 0x1901, 0x060400, "pcieport", 1, False),
    ("0000:00:02.0", None, 0x8086, 0x3e92, 0x030000, "i915", 2, True),
    ("0000:00:1f.3", None, 0x8086, 0xa348, 0x040300, "snd_hda_intel", 9, False),
    ("0000:00:1f.6", None, 0x8086, 0x15bc, 0x020000, "e1000e", 10, False),
    ("0000:01:00.0", "0000:00:01.0", 0x10de, 0x2484, 0x030000, "nouveau", 1, False),
    ("0000:01:00.1", "0000:00:01.0", 0x10de, 0x228b, 0x040300, "snd_hda_intel", 1, False),
]
# What pve-installer (`Proxmox/Install.pm`) writes to /etc/default/grub.d/zfs.cfg on every
# ZFS install: the root dataset appended to GRUB_CMDLINE_LINUX.
ZFS_CFG = 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX root=ZFS=rpool/ROOT/pve-1 boot=zfs"'

# /etc/pve/storage.cfg per layout, as pve-installer's `Proxmox/Install/StorageConfig.pm`
# lays it out (get_zfs_config, get_btrfs_config, get_lvm_thin_config, get_local_config),
# retyped: sections `TYPE: ID`, tab-indented properties.
STORAGE_ZFS = """dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup,import

zfspool: local-zfs
\tpool rpool/data
\tsparse
\tcontent images,rootdir
"""
STORAGE_BTRFS = """dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup
\tdisable

btrfs: local-btrfs
\tpath /var/lib/pve/local-btrfs
\tcontent iso,vztmpl,backup,images,rootdir,import
"""
# ext4/xfs when the installer makes no thin pool (lvm.maxvz = 0, or 4 GiB or less left).
STORAGE_LOCAL = """dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup,rootdir,images,import
"""

machine("hw-intel-nvidia-zfs", INTEL, NVIDIA_ZFS_DEVICES, {
    **probe_extras(),
    "etc/kernel/proxmox-boot-uuids": "4A1C-2B3D\n",
    "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    "etc/default/grub": GRUB,
    "etc/default/grub.d/zfs.cfg": ZFS_CFG,
    "etc/pve/storage.cfg": STORAGE_ZFS,
    "proc/cmdline": "initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    **uefi(False),
})
# The NIC's `device` link, as the kernel has it: to its PCI function (driver e1000e).
link(os.path.join(ROOTS, "hw-intel-nvidia-zfs"), "sys/class/net/enp0s31f6/device",
     "sys/devices/pci0000:00/0000:00:1f.6")

# The same machine with ZFS installed in legacy BIOS mode: proxmox-boot-tool installed GRUB
# (i386-pc) on each ESP, and GRUB reads /etc/default/grub and grub.d (zfs.cfg) — the
# /etc/kernel/cmdline the installer wrote as well is not read (zz-proxmox-boot).
# What a ZFS install booting GRUB through proxmox-boot-tool has, BIOS or Secure Boot alike.
ZFS_GRUB_BOOT = {
    "etc/kernel/proxmox-boot-uuids": "4A1C-2B3D\n",
    "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    "etc/default/grub": GRUB,
    "etc/default/grub.d/zfs.cfg": ZFS_CFG,
    "etc/pve/storage.cfg": STORAGE_ZFS,
    "proc/cmdline": "BOOT_IMAGE=/ROOT/pve-1@/boot/vmlinuz-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 ro root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet\n",
}
machine("hw-intel-nvidia-zfs-bios", INTEL, NVIDIA_ZFS_DEVICES, ZFS_GRUB_BOOT)

# ZFS with Secure Boot (PVE 8.1+): the installer initialised the ESPs for GRUB (shim), so
# GRUB's settings count here too although the machine boots through UEFI.
machine("hw-intel-nvidia-zfs-secureboot", INTEL, NVIDIA_ZFS_DEVICES, {**ZFS_GRUB_BOOT, **uefi(True)})

# The same machine once the agent has run and rebooted: everything in place.
machine("hw-intel-nvidia-zfs-done", INTEL, [
    ("0000:00:00.0", None, 0x8086, 0x3e30, 0x060000, None, 0, False),
    ("0000:00:01.0", None, 0x8086, 0x1901, 0x060400, "pcieport", 1, False),
    ("0000:00:02.0", None, 0x8086, 0x3e92, 0x030000, "i915", 2, True),
    ("0000:00:1f.3", None, 0x8086, 0xa348, 0x040300, "snd_hda_intel", 9, False),
    ("0000:00:1f.6", None, 0x8086, 0x15bc, 0x020000, "e1000e", 10, False),
    ("0000:01:00.0", "0000:00:01.0", 0x10de, 0x2484, 0x030000, "vfio-pci", 1, False),
    ("0000:01:00.1", "0000:00:01.0", 0x10de, 0x228b, 0x040300, "vfio-pci", 1, False),
], {
    "etc/kernel/proxmox-boot-uuids": "4A1C-2B3D\n",
    "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt\n",
    "etc/default/grub": GRUB,
    "etc/default/grub.d/zfs.cfg": ZFS_CFG,
    "etc/pve/storage.cfg": STORAGE_ZFS,
    "proc/cmdline": "initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt\n",
    **uefi(False),
})

# AMD server board: AMD GPU (+ audio) behind a root port, the BMC's ASPEED chip is the boot
# VGA device. ext4 on LVM: plain GRUB. The admin already has iommu=pt in /etc/default/grub.
def amd_board(radeon_boots):
    """The AMD board's devices; `radeon_boots`: the firmware boots from the PCIe GPU."""
    return [
        ("0000:00:00.0", None, 0x1022, 0x1480, 0x060000, None, 0, False),
        ("0000:00:03.1", None, 0x1022, 0x1483, 0x060400, "pcieport", 3, False),
        ("0000:0b:00.0", "0000:00:03.1", 0x1002, 0x73bf, 0x030000, "amdgpu", 12, radeon_boots),
        ("0000:0b:00.1", "0000:00:03.1", 0x1002, 0xab28, 0x040300, "snd_hda_intel", 12, False),
        ("0000:0c:00.0", None, 0x1a03, 0x2000, 0x030000, "ast", 13, not radeon_boots),
    ]


machine("hw-amd-radeon-grub", AMD, amd_board(False), {
    "etc/default/grub": GRUB.replace('"quiet"', '"quiet iommu=pt"'),
    "etc/default/grub.d/installer.cfg": 'GRUB_TERMINAL_OUTPUT="console serial"\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=tty0 console=ttyS0,115200"\n',
    "proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet iommu=pt console=tty0 console=ttyS0,115200\n",
})

# The same AMD server board with the firmware set to boot from the PCIe GPU: the Radeon is
# now the boot VGA device and the BMC's ASPEED chip the only other display. "gpu" must not
# take the BMC (pci.ids: 1a03:2000 is the ASPEED graphics family).
machine("hw-amd-radeon-boot-vga-bmc", AMD, amd_board(True), {
    "etc/default/grub": GRUB,
    "proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet\n",
})

# A GPU whose IOMMU group also holds the onboard NIC (no ACS): in place and rebooted, but
# passing it through would be unsafe, and verify must say which device is in the way.
machine("hw-intel-shared-group", INTEL, [
    ("0000:00:01.0", None, 0x8086, 0x1901, 0x060400, "pcieport", 1, False),
    ("0000:00:02.0", None, 0x8086, 0x3e92, 0x030000, "i915", 2, True),
    ("0000:01:00.0", "0000:00:01.0", 0x10de, 0x1c82, 0x030000, "vfio-pci", 1, False),
    ("0000:01:00.1", "0000:00:01.0", 0x10de, 0x0fb9, 0x040300, "vfio-pci", 1, False),
    ("0000:02:00.0", "0000:00:01.0", 0x8086, 0x1533, 0x020000, "igb", 1, False),
], {
    "etc/default/grub": GRUB,
    "proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on iommu=pt\n",
})


def layout(name, files):
    """An installer layout's own files, laid over pve8 or pve9 (no /sys of its own)."""
    root = os.path.join(ROOTS, name)
    shutil.rmtree(root, ignore_errors=True)
    for rel, text in files.items():
        write(root, rel, text)


# ext4 on LVM with lvm.maxvz = 0: no thin pool, `local` takes VM disks.
layout("layout-ext4-no-thin-pool", {"etc/pve/storage.cfg": STORAGE_LOCAL})
# btrfs: `local` disabled, `local-btrfs` takes everything; /etc/kernel/cmdline with the
# root UUID (Install.pm writes it on every btrfs install).
layout("layout-btrfs", {
    "etc/pve/storage.cfg": STORAGE_BTRFS,
    "etc/kernel/cmdline": "root=UUID=5d7b6c1e-1f0e-4c52-9a57-3c1b2f1f0a11\n",
})


# A homelab machine with data to keep: the NVIDIA machine with one new NVMe disk for the
# system, the install stick, and two disks full of data (`sdb`: a GPT partition with ext4
# "media"; `sdc`: btrfs "backup" on the whole disk); two NICs, the second (an I225-V) the
# one with the DHCP lease and the default route. What `probe --check` must refuse to call
# safe.
machine("hw-intel-data-disks", INTEL, NVIDIA_ZFS_DEVICES + [
    ("0000:04:00.0", None, 0x8086, 0x15f3, 0x020000, "igc", 11, False),
], {
    **probe_extras(NVME[:1] + [
        STICK,
        ("sdb", "8:16", 3907029168, "WDC WD20EFRX-68EUZN0", "WDC_WD20EFRX-68EUZN0_WD-WCC4M1234567", 0,
         [("sdb1", "8:17", 2048, 3907026944, "ext4", "media", "media")]),
        ("sdc", "8:32", 7814037168, "ST4000VN008-2DR166", "ST4000VN008-2DR166_ZDH1ABCD", 0,
         (), ("btrfs", "backup")),
    ]),
    "proc/net/route": (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "enp4s0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "enp4s0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
    ),
    "etc/default/grub": GRUB,
})
data_disks = os.path.join(ROOTS, "hw-intel-data-disks")
link(data_disks, "sys/class/net/enp0s31f6/device", "sys/devices/pci0000:00/0000:00:1f.6")
probe_nic = {}
nic(probe_nic, "enp4s0", "a8:a1:59:0c:de:f0", 3, "up", "enxa8a1590cdef0")
for rel, text in probe_nic.items():
    write(data_disks, rel, text)
link(data_disks, "sys/class/net/enp4s0/device", "sys/devices/pci0000:00/0000:04:00.0")


# The sample fresh install the README's first command plans against: one fresh PVE 9 host
# (kernel 6.14.8-2-pve, ZFS RAID1 on the two NVMe disks booting through systemd-boot, vmbr0
# on its one NIC enp0s31f6): the PVE 9 tree with the Intel + NVIDIA ZFS machine laid over it,
# and what the install left on that machine — each NVMe disk partitioned as pve-installer's
# `partition_bootable_disk` does (Proxmox/Sys/Block.pm: BIOS boot at sectors 34-2047, a
# 1 GiB ESP from 1 MiB, the rest for the ZFS pool), the root on rpool, vmbr0 with the
# default route. tests/cli.rs checks the committed tree is exactly this.
def sample_host():
    sample = os.path.join(OUT, "examples", "sample-host")
    shutil.rmtree(sample, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, "pve9"), sample, symlinks=True)
    shutil.copytree(os.path.join(ROOTS, "hw-intel-nvidia-zfs"), sample, symlinks=True, dirs_exist_ok=True)
    f = {}
    for i, (name, dev, sectors, model, serial, removable) in enumerate(NVME):
        minor = 2 + 3 * i
        esp_end = 2048 + 2 * 1024 * 1024
        block(f, name, dev, sectors, model, serial, removable, [
            (f"{name}p1", f"259:{minor}", 34, 2014, None, None, ""),
            (f"{name}p2", f"259:{minor + 1}", 2048, 2 * 1024 * 1024, "vfat", None, ""),
            (f"{name}p3", f"259:{minor + 2}", esp_end, sectors - esp_end - 34, "zfs_member", "rpool", ""),
        ])
    f["proc/cmdline"] = (
        "initrd=\\EFI\\proxmox\\6.14.8-2-pve\\initrd.img-6.14.8-2-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs\n"
    )
    f["proc/mounts"] = (
        "rpool/ROOT/pve-1 / zfs rw,relatime,xattr,noacl,casesensitive 0 0\n"
        "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
        "proc /proc proc rw,relatime 0 0\n"
        "/dev/nvme0n1p2 /boot/efi vfat rw,relatime 0 0\n"
        "/dev/fuse /etc/pve fuse rw,nosuid,nodev,relatime,user_id=0,group_id=0,default_permissions,allow_other 0 0\n"
    )
    with open(os.path.join(HERE, "pve9", "etc", "network", "interfaces")) as i:
        f["etc/network/interfaces"] = i.read().replace("eno1", "enp0s31f6").replace(
            "\niface eno2 inet manual\n\n", "")
    f["proc/net/route"] = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "vmbr0\t00000000\t01C8000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "vmbr0\t00C8000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    f["sys/class/net/enp0s31f6/brport/state"] = "3\n"
    for rel, text in f.items():
        write(sample, rel, text)
    link(sample, "sys/class/net/vmbr0/brif/enp0s31f6", "sys/class/net/enp0s31f6/brport")


sample_host()
