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
        // the stable name a [[storage]] takes (udev's <ID_BUS>-<ID_SERIAL>)
        "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_500GB_S5GXNF0R654321",
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
        // The CPU threads: the `processor` lines of the tree's /proc/cpuinfo.
        "CPU threads (the most cores a [haos] or [[vm]] may have): 2\n",
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
             assert d['usb'][0]['id']=='1a86:55d4'; \
             assert d['cpu_threads']==2, d['cpu_threads']",
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

/// `probe --check` of the common answer with its `[installer.disk-setup]` replaced.
fn check(disk_setup: &str) -> (i32, String) {
    let text = installer_tables(
        "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\"",
    );
    let at = text.find("[installer.disk-setup]").unwrap();
    let text = format!("{}[installer.disk-setup]\n{disk_setup}", &text[..at]);
    check_on("hw-intel-nvidia-zfs", "probe-check", &text)
}

/// `probe --check` of the answer `text` on the machine tree `tests/roots/MACHINE`: its exit
/// status and everything it printed.
fn check_on(machine: &str, scratch_name: &str, text: &str) -> (i32, String) {
    let f = scratch(scratch_name).join("answer.toml");
    fs::write(&f, text).unwrap();
    let root = manifest().join("tests/roots").join(machine);
    let out = agent(
        &[
            "probe",
            "--check",
            f.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
        ],
        "warn",
    );
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `probe --check` names the disks an answer erases, decided as the installer decides
/// (pve-installer `proxmox-auto-installer/src/utils.rs`, `set_disks`).
#[test]
fn check_names_the_disks_an_answer_erases() {
    let erased = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("ERASED by the install: "))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    // disk-list "sda": here that is the USB stick, and the check says so: unsafe, exit 1.
    let (code, out) = check("filesystem = \"ext4\"\ndisk-list = [\"sda\"]\n");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a removable disk: is it the install stick?"),
        "{out}"
    );
    assert!(
        out.contains("management NIC: enp0s31f6 (its filter's first match)"),
        "{out}"
    );
    // A ZFS mirror by model glob: both NVMe disks, never the stick.
    let (code, out) =
        check("filesystem = \"zfs\"\nzfs.raid = \"raid1\"\nfilter.ID_MODEL = \"Samsung*\"\n");
    assert_eq!(
        (code, erased(&out)),
        (0, vec!["nvme0n1".into(), "nvme1n1".into()]),
        "{out}"
    );
    // ext4 with a filter takes the first match only.
    let (_, out) = check("filesystem = \"ext4\"\nfilter.ID_MODEL = \"Samsung*\"\n");
    assert_eq!(erased(&out), ["nvme0n1"], "{out}");
    // filter-match = "all": a key the disk has must match (ID_BUS differs on the stick).
    let (_, out) = check(
        "filesystem = \"btrfs\"\nbtrfs.raid = \"raid1\"\nfilter-match = \"all\"\n\
         filter.ID_BUS = \"nvme\"\nfilter.ID_SERIAL = \"*\"\n",
    );
    assert_eq!(erased(&out), ["nvme0n1", "nvme1n1"], "{out}");
    // The path's end, as the installer matches disk-list entries.
    let (_, out) = check("filesystem = \"ext4\"\ndisk-list = [\"/dev/nvme1n1\"]\n");
    assert_eq!(erased(&out), ["nvme1n1"], "{out}");
    // A ZFS or btrfs RAID by disk-list erases every disk listed (pve-installer
    // `set_disks`: `disk_selection` for the RAID setups; ext4 and xfs take one disk).
    let (code, out) = check(
        "filesystem = \"zfs\"\nzfs.raid = \"raid1\"\ndisk-list = [\"nvme0n1\", \"nvme1n1\"]\n",
    );
    assert_eq!(
        (code, erased(&out)),
        (0, vec!["nvme0n1".into(), "nvme1n1".into()]),
        "{out}"
    );
    let (code, out) = check(
        "filesystem = \"btrfs\"\nbtrfs.raid = \"raid1\"\ndisk-list = [\"/dev/nvme1n1\", \"sda\"]\n",
    );
    assert_eq!(
        (code, erased(&out)),
        (1, vec!["nvme1n1".into(), "sda".into()]),
        "{out}"
    );
    // Nothing matches: the install would stop there; exit 1.
    let (code, out) = check("filesystem = \"ext4\"\nfilter.ID_MODEL = \"WD*\"\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("matches no disk here"), "{out}");
}

/// A GPU sharing its IOMMU group with the host's NIC (`hw-intel-shared-group`): the starter
/// answer never proposes it, and `probe --check` of an answer that passes it through exits
/// 1 naming the NIC.
#[test]
fn a_gpu_sharing_its_group_with_the_host_is_never_proposed_and_fails_the_check() {
    let root = manifest().join("tests/roots/hw-intel-shared-group");
    let out = agent(&["probe", "--root", root.to_str().unwrap()], "warn");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let starter = &text[text.find("A starter answer").unwrap()..];
    assert!(!starter.contains("[passthrough]"), "{starter}");
    assert!(
        starter.contains(
            "Not proposed for passthrough: 0000:01:00 shares its IOMMU group with 0000:02:00.0"
        ),
        "{starter}"
    );

    let answer = format!(
        "{}\n[passthrough]\ndevices = [\"01:00\"]\n",
        installer_tables(
            "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\"",
        )
    );
    let (code, text) = check_on("hw-intel-shared-group", "probe-shared-group", &answer);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("shares its IOMMU group with 0000:02:00.0: unsafe"),
        "{text}"
    );
}

const HASH: &str = "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\"";

/// The common answer with its network and disk setup replaced, and `more` tables after.
fn answer_with(network: &str, disk_setup: &str, more: &str) -> String {
    let text = installer_tables(HASH);
    let at = text.find("[installer.network]").unwrap();
    format!(
        "{}[installer.network]\n{network}\n[installer.disk-setup]\n{disk_setup}\n{more}",
        &text[..at]
    )
}

const STATIC: &str = "source = \"from-answer\"\ncidr = \"10.0.200.10/24\"\ngateway = \"10.0.200.1\"\n\
                      dns = \"10.0.200.1\"\nfilter.ID_NET_NAME_MAC = \"*\"\n";
const HAOS_USB: &str = "[haos]\nversion = \"16.3\"\n\
    sha256 = \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n";

/// Each thing `probe --check` must call unsafe, each named, with exit 1 (issue 33): a disk
/// with a partition holding a filesystem (its name, type, label and size), a disk with a
/// filesystem on the whole of it, the install stick, and a `[haos] usb` device that is not
/// plugged in. The machine (`hw-intel-data-disks`) has all of these, and a safe answer for
/// it passes.
#[test]
fn check_refuses_data_disks_the_stick_and_a_missing_usb_device() {
    let on = |text: &str| check_on("hw-intel-data-disks", "probe-data-disks", text);
    let verdict = |out: &str| -> Vec<String> {
        let at = out.find("verdict: UNSAFE").expect(out);
        out[at..]
            .lines()
            .skip(1)
            .filter_map(|l| l.strip_prefix("  - "))
            .map(String::from)
            .collect()
    };
    // A partition with ext4 on it.
    let (code, out) = on(&answer_with(
        STATIC,
        "filesystem = \"ext4\"\ndisk-list = [\"sdb\"]\n",
        "",
    ));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("  sdb1 1.8 TiB ext4 \"media\"\n"), "{out}");
    assert_eq!(
        verdict(&out),
        ["sdb would be erased: it holds sdb1 1.8 TiB ext4 \"media\""],
        "{out}"
    );
    // btrfs on the whole disk, found by a filter (ZFS takes every match: the new NVMe disk
    // and both data disks, never the stick, which has no ID_SERIAL glob match here).
    let (code, out) = on(&answer_with(
        STATIC,
        "filesystem = \"zfs\"\nzfs.raid = \"raidz-1\"\nfilter.ID_BUS = \"[an]*\"\n",
        "",
    ));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        verdict(&out),
        [
            "sdb would be erased: it holds sdb1 1.8 TiB ext4 \"media\"",
            "sdc would be erased: it holds sdc 3.6 TiB btrfs \"backup\"",
        ],
        "{out}"
    );
    // The install stick.
    let (code, out) = on(&answer_with(
        STATIC,
        "filesystem = \"ext4\"\ndisk-list = [\"sda\"]\n",
        "",
    ));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        verdict(&out),
        [
            "sda would be erased: a removable disk (28.8 GiB, Cruzer Blade): is it the install stick?"
        ],
        "{out}"
    );
    // The new disk and the Zigbee stick that is plugged in: safe, exit 0; with a USB
    // device that is not there, exit 1 naming it.
    let safe = "filesystem = \"ext4\"\ndisk-list = [\"nvme0n1\"]\n";
    let (code, out) = on(&answer_with(
        STATIC,
        safe,
        &format!("{HAOS_USB}usb = [\"1a86:55d4\"]\n"),
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: safe"), "{out}");
    assert!(
        out.contains("usb for [haos] \"1a86:55d4\": 1a86:55d4 ITead Sonoff Zigbee 3.0 USB Dongle Plus at port 1-4"),
        "{out}"
    );
    let (code, out) = on(&answer_with(
        STATIC,
        safe,
        &format!("{HAOS_USB}usb = [\"1-4\", \"10c4:ea60\"]\n"),
    ));
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        verdict(&out),
        ["[haos] usb \"10c4:ea60\": no such device is plugged in here (see `probe`'s USB devices)"],
        "{out}"
    );
    // A [[vm]]'s usb the same way; `0x` prefixes as qemu-server takes them.
    let (code, out) = on(&answer_with(
        STATIC,
        safe,
        "[[vm]]\nvmid = 102\nname = \"gaming\"\niso = \"local:iso/Win11_24H2.iso\"\n\
         ostype = \"win11\"\nusb = [\"0x1a86:0x55d4\", \"2-1\"]\n",
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("usb for [[vm]] 102 gaming \"0x1a86:0x55d4\": 1a86:55d4 "),
        "{out}"
    );
    assert_eq!(
        verdict(&out),
        [
            "[[vm]] 102 gaming usb \"2-1\": no such device is plugged in here (see `probe`'s USB devices)"
        ],
        "{out}"
    );
}

/// A VM with more cores than the machine has CPU threads fails the check, named with both
/// counts and qemu-server's refusal (`config_to_command`: "MAX 2 vcpus allowed per VM on this
/// node"); as many as the threads passes. `hw-intel-data-disks` has 2 (its /proc/cpuinfo).
#[test]
fn check_refuses_more_cores_than_cpu_threads() {
    let on = |text: &str| check_on("hw-intel-data-disks", "probe-cores", text);
    let safe = "filesystem = \"ext4\"\ndisk-list = [\"nvme0n1\"]\n";
    let vm = |cores: u32| {
        format!(
            "[[vm]]\nvmid = 101\nname = \"docker\"\niso = \"local:iso/debian-13.iso\"\n\
             ostype = \"l26\"\ncores = {cores}\n"
        )
    };
    let (code, out) = on(&answer_with(
        STATIC,
        safe,
        &format!("{HAOS_USB}cores = 4\n{}", vm(8)),
    ));
    assert_eq!(code, 1, "{out}");
    for want in [
        "[haos] (VM 100) cores = 4: this machine has 2 CPU threads, and qemu-server refuses \
         to start a VM with more (\"MAX 2 vcpus allowed per VM on this node\")",
        "[[vm]] 101 docker cores = 8: this machine has 2 CPU threads, and qemu-server refuses \
         to start a VM with more (\"MAX 2 vcpus allowed per VM on this node\")",
    ] {
        assert!(out.contains(&format!("  - {want}\n")), "{out}");
    }
    let (code, out) = on(&answer_with(
        STATIC,
        safe,
        &format!("{HAOS_USB}cores = 2\n{}", vm(2)),
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: safe"), "{out}");
    assert!(!out.contains("CPU threads"), "{out}");
    // A tree without /proc/cpuinfo: the count is unknown, and no guest is flagged for it.
    let (_, out) = check_on(
        "pve9",
        "probe-cores-unknown",
        &answer_with(STATIC, safe, &format!("{HAOS_USB}cores = 64\n{}", vm(128))),
    );
    assert!(out.contains("verdict: UNSAFE"), "{out}");
    assert!(!out.contains("CPU threads"), "{out}");
}

/// `probe --check --json`: the same findings and the verdict as one JSON object (it was
/// ignored before, and the text printed).
#[test]
fn check_json_reports_the_findings_and_the_verdict() {
    let f = scratch("probe-check-json").join("answer.toml");
    fs::write(
        &f,
        answer_with(
            "source = \"from-dhcp\"\n",
            "filesystem = \"ext4\"\ndisk-list = [\"sdb\"]\n",
            &format!("{HAOS_USB}usb = [\"1a86:55d4\", \"10c4:ea60\"]\n"),
        ),
    )
    .unwrap();
    let root = manifest().join("tests/roots/hw-intel-data-disks");
    let args = [
        "probe",
        "--check",
        f.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--json",
    ];
    let out = agent(&args, "warn");
    assert_eq!(out.status.code(), Some(1));
    let j = scratch("probe-check-json").join("out.json");
    fs::write(&j, &out.stdout).unwrap();
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys; d=json.load(open(sys.argv[1])); \
             assert d['verdict']=='unsafe', d; \
             assert len(d['problems'])==2, d['problems']; \
             e=d['erased'][0]; assert e['name']=='sdb' and not e['removable'], e; \
             assert e['holds']==[{'name':'sdb1','bytes':3907026944*512,'type':'ext4','label':'media'}], e; \
             assert d['management_nic']['name']=='enp4s0', d['management_nic']; \
             assert [(u['device'],u['present'],u['path']) for u in d['usb']]==[('1a86:55d4',True,'1-4'),('10c4:ea60',False,None)], d['usb']; \
             k=d['ssh_keys'][0]; assert k['key']=='installer.global.root-ssh-keys[0]' and k['fingerprint'].startswith('SHA256:') and k['comment']=='ops@laptop', k",
        )
        .arg(&j)
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `from-dhcp`: the management NIC as the installer picks it (pve-installer
/// `NetworkOptions::defaults_from`): the default route's NIC, here the second one (not the
/// first enumerated); with no route, the NIC enumerated first.
#[test]
fn check_names_the_management_nic_for_dhcp() {
    let dhcp = answer_with(
        "source = \"from-dhcp\"\n",
        "filesystem = \"ext4\"\ndisk-list = [\"nvme0n1\"]\n",
        "",
    );
    let (code, out) = check_on("hw-intel-data-disks", "probe-dhcp-route", &dhcp);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("management NIC: enp4s0 (from-dhcp: the NIC of the default route)"),
        "{out}"
    );
    // Plain `probe` says it too: the NIC list marks the route, the starter answer (which
    // is from-dhcp) names the NIC, and its static alternative is on that same NIC.
    let root = manifest().join("tests/roots/hw-intel-data-disks");
    let p = agent(&["probe", "--root", root.to_str().unwrap()], "warn");
    let text = String::from_utf8_lossy(&p.stdout);
    for want in [
        "enp4s0       a8:a1:59:0c:de:f0  driver igc, link up, carries the default route\n",
        "# management NIC with from-dhcp: enp4s0 (the NIC of the default route)\n",
        "# or a static address on enp4s0 (a8:a1:59:0c:de:f0):\n",
        "# filter.ID_NET_NAME_MAC = \"enxa8a1590cdef0\"\n",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    let (code, out) = check_on("hw-intel-nvidia-zfs", "probe-dhcp-first", &dhcp);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("management NIC: enp0s31f6 (from-dhcp: no default route here"),
        "{out}"
    );
}

/// Each ssh key's fingerprint, as `ssh-keygen -l` prints it, in `probe --check` too.
#[test]
fn check_shows_each_ssh_keys_fingerprint() {
    let (_, out) = check("filesystem = \"ext4\"\ndisk-list = [\"nvme0n1\"]\n");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0mZkGW7yVDdkXn0ejAtmE3Wh0LBj1w3cYkX0R3e1R ops@laptop";
    let f = scratch("probe-key").join("k.pub");
    fs::write(&f, format!("{key}\n")).unwrap();
    let l = std::process::Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&f)
        .output()
        .expect("ssh-keygen (openssh-client)");
    let theirs = String::from_utf8_lossy(&l.stdout);
    let fp = theirs.split_whitespace().nth(1).expect(&theirs);
    assert!(
        out.contains(&format!(
            "ssh key installer.global.root-ssh-keys[0]: {fp} ops@laptop\n"
        )),
        "{out}"
    );
}

/// `probe --check` judges `[[storage]]` data disks as the storage phase will (issue 34):
/// on the PVE 9 tree with the data disks of `tests/fixtures/storage-*` — the installer's
/// disk (erased by the install, and held by LVM) refused even with `wipe`, a disk with an
/// NTFS partition refused without `wipe` and shown as erased with it, a missing one named.
#[test]
fn check_judges_storage_data_disks() {
    let root = scratch("probe-storage-disks").join("root");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    copy_tree(
        &manifest().join("tests/fixtures/storage-disk-refused/overlay"),
        &root,
    );
    let run = |case: &str| {
        let answer = manifest().join(format!("tests/fixtures/{case}/answer.toml"));
        let o = agent(
            &[
                "probe",
                "--check",
                answer.to_str().unwrap(),
                "--root",
                root.to_str().unwrap(),
            ],
            "warn",
        );
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = run("storage-disk-refused");
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "storage grab (lvmthin): /dev/disk/by-id/ata-Samsung_SSD_870_EVO_500GB_S6PXNS0T100001: /dev/sda: the install takes it",
        "storage archive (dir): /dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K2222222: /dev/sdc: holds data (a gpt partition table, partition sdc1 (ntfs)); `wipe = true` erases it",
        "storage gone (dir): /dev/disk/by-id/ata-NOT_HERE_123: not here",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let (_, out) = run("storage-data-disks");
    // The PVE 9 tree has no NIC, which `from-dhcp` counts as a problem of its own; none of
    // the storages is one.
    assert!(!out.contains("  - storage "), "{out}");
    assert!(
        out.contains("/dev/sdc: ERASED (wipe = true): a gpt partition table"),
        "{out}"
    );
    assert!(out.contains("/dev/sdb: empty"), "{out}");
}
