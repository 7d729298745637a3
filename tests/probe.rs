//! `probe` on a machine's fixture tree (`tests/roots/hw-intel-nvidia-zfs`, made by
//! `mksys.py`): what it lists, its JSON, and that its starter answer is one `validate`
//! accepts once the password is filled in.

mod common;

use std::fs;

use common::*;

fn probe(extra: &[&str]) -> std::process::Output {
    let root = manifest().join("tests/roots/hw-intel-nvidia-zfs");
    let mut args = vec!["probe", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = agent(&args, "warn");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn lists_what_an_answer_names() {
    let text = String::from_utf8(probe(&[]).stdout).unwrap();
    for want in [
        // Disks with the udev properties the installer's filters match; the loop device
        // is not offered, as the installer does not offer it.
        "nvme0n1   476.9 GiB  Samsung SSD 980 PRO 500GB",
        "ID_SERIAL=Samsung_SSD_980_PRO_500GB_S5GXNF0R654321",
        "sda        28.8 GiB  Cruzer Blade, removable",
        // The NIC, its driver and its MAC-based name.
        "enp0s31f6    b4:2e:99:12:34:56  driver e1000e, link up",
        "ID_NET_NAME_MAC=enxb42e99123456",
        // The GPU by name, with its group and what shares it; the iGPU is the console.
        "0000:01:00.0 [10de:2484] NVIDIA Corporation GA104 [GeForce RTX 3070]",
        "IOMMU group 1 with 0000:00:01.0, 0000:01:00.1",
        "0000:00:02.0 [8086:3e92] Intel Corporation CoffeeLake-S GT2 [UHD Graphics 630]",
        "boot VGA (the host's console)",
        // USB devices by port and ID.
        "1-4      1a86:55d4  ITead Sonoff Zigbee 3.0 USB Dongle Plus",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("loop0"), "{text}");
    assert!(
        !text.contains("usb1 "),
        "root hubs are no devices to pass: {text}"
    );
}

#[test]
fn json_is_json() {
    let out = probe(&["--json"]);
    let dir = scratch("probe-json");
    let f = dir.join("probe.json");
    fs::write(&f, &out.stdout).unwrap();
    // Python's parser is the judge (no JSON crate in the agent).
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys; d=json.load(open(sys.argv[1])); \
             g=[p for p in d['pci'] if p['id']=='10de:2484'][0]; \
             assert g['iommu_group']=='1' and not g['boot_vga'], g; \
             assert [x['name'] for x in d['disks']]==['nvme0n1','nvme1n1','sda'], d['disks']; \
             assert d['nics'][0]['udev']['ID_NET_NAME_MAC']=='enxb42e99123456'; \
             assert d['usb'][0]['id']=='1a86:55d4'",
        )
        .arg(&f)
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_starter_answer_validates_once_filled_in() {
    let text = String::from_utf8(probe(&[]).stdout).unwrap();
    let starter = &text[text.find("# A starting point").expect("a starter answer")..];
    assert!(starter.contains("devices = [\"0000:01:00\"]"), "{starter}");
    let filled = starter.replace(
        "CHANGE: mkpasswd --method=yescrypt",
        "$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7",
    );
    let dir = scratch("probe-starter");
    let f = dir.join("answer.toml");
    fs::write(&f, filled).unwrap();
    let v = agent(&["validate", f.to_str().unwrap()], "warn");
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "validate", "plan", "apply", "run", "status", "probe", "image", "hook",
    ] {
        let out = agent(&[cmd, "--help"], "warn");
        assert_eq!(out.status.code(), Some(0), "{cmd} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("usage:"),
            "{cmd} --help"
        );
    }
}
