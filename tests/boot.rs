//! The IOMMU arguments reach the kernel on every boot path a Proxmox install can have:
//! `apply`, then a boot as the boot loader would do it (`common::boot_machine`, which reads
//! the command line where proxmox-boot-tool's `zz-proxmox-boot` says that boot reads it),
//! then `apply` again, whose `verify` must pass.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn apply(root: &Path, answer: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .arg("apply")
        .arg(answer)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn iommu_arguments_reach_the_kernel_on_every_boot_path() {
    let answer = manifest().join("tests/fixtures/passthrough-intel-zfs/answer.toml");
    // (machine, reads /etc/kernel/cmdline, words the boot must pass, what plan must name)
    for (machine, systemd_boot, args, loader) in [
        (
            "hw-intel-nvidia-zfs",
            true,
            &["intel_iommu=on", "iommu=pt"][..],
            "systemd-boot through proxmox-boot-tool",
        ),
        (
            "hw-intel-nvidia-zfs-bios",
            false,
            &["intel_iommu=on", "iommu=pt"][..],
            "GRUB through proxmox-boot-tool (legacy BIOS",
        ),
        (
            "hw-intel-nvidia-zfs-secureboot",
            false,
            &["intel_iommu=on", "iommu=pt"][..],
            "GRUB through proxmox-boot-tool (UEFI with Secure Boot",
        ),
        (
            "hw-amd-radeon-grub",
            false,
            &["iommu=pt"][..],
            "GRUB (no /etc/kernel/proxmox-boot-uuids",
        ),
    ] {
        let root = scratch(&format!("boot-{machine}"));
        copy_tree(&manifest().join("tests/roots/pve9"), &root);
        copy_tree(&manifest().join("tests/roots").join(machine), &root);
        // The model of the boot is the positive control: it must tell the layouts apart.
        assert_eq!(boots_systemd_boot(&root), systemd_boot, "{machine}");
        let before = fs::read_to_string(root.join("proc/cmdline")).unwrap();
        // The AMD board's admin already has iommu=pt (AMD's IOMMU is on by default), so
        // only the Intel machines start without the arguments.
        assert_eq!(
            args.iter()
                .all(|a| before.split_whitespace().any(|w| w == *a)),
            machine == "hw-amd-radeon-grub",
            "{machine}: the arguments before the run"
        );
        let (code, out) = apply(&root, &answer);
        assert_eq!(code, 3, "{machine}: a reboot is asked for\n{out}");
        assert!(out.contains(loader), "{machine}: names its loader\n{out}");
        boot_machine(&root, 1);
        let cmdline = fs::read_to_string(root.join("proc/cmdline")).unwrap();
        for a in args {
            assert!(
                cmdline.split_whitespace().any(|w| w == *a),
                "{machine}: {a} missing from the booted command line {cmdline:?}"
            );
        }
        let (code, out) = apply(&root, &answer);
        assert_eq!(code, 0, "{machine}: verify passes after the reboot\n{out}");
        assert!(out.contains("verify: done"), "{machine}\n{out}");
    }
}

/// A `[[vm]]` with the GPU and `start = true`: before the passthrough reboot the GPU is on
/// its host driver, so the VM is made but not started; after the reboot (the GPU on
/// vfio-pci) it starts, and `verify` names each device's driver for that VM.
#[test]
fn a_gpu_vm_starts_only_once_its_devices_are_on_vfio_pci() {
    let base =
        fs::read_to_string(manifest().join("tests/fixtures/passthrough-intel-zfs/answer.toml"))
            .unwrap();
    let root = scratch("boot-gpu-vm");
    let answer = root.with_extension("toml");
    fs::write(
        &answer,
        format!("{base}\n[[vm]]\nvmid = 102\nname = \"ai\"\nhostpci = [\"gpu\"]\n"),
    )
    .unwrap();
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    copy_tree(&manifest().join("tests/roots/hw-intel-nvidia-zfs"), &root);
    let (code, out) = apply(&root, &answer);
    assert_eq!(code, 3, "a reboot is asked for\n{out}");
    assert!(out.contains("VM 102: not started yet: its PCI devices are not on vfio-pci yet (0000:01:00.0 is on nouveau"), "{out}");
    let log = commands_log(&root);
    assert!(
        log.contains("--hostpci0 0000:01:00,pcie=1,x-vga=1"),
        "{log}"
    );
    assert!(
        !log.contains("qm start 102"),
        "started before the reboot\n{log}"
    );
    boot_machine(&root, 1);
    let (code, out) = apply(&root, &answer);
    assert_eq!(code, 0, "verify passes after the reboot\n{out}");
    assert!(
        out.contains("vms: VM 102: 0000:01:00.0 on vfio-pci"),
        "{out}"
    );
    assert!(
        out.contains("vms: VM 102: 0000:01:00.1 on vfio-pci"),
        "{out}"
    );
    let log = commands_log(&root);
    assert_eq!(log.matches("qm start 102").count(), 1, "{log}");
    assert_eq!(log.matches("qm create 102").count(), 1, "{log}");
}
