//! The command line as an admin meets it: exit codes, messages, and that `plan` and a
//! refused answer write nothing.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::*;

fn pvefb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn validate_exit_codes_and_messages() {
    let ok = pvefb(&["validate"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("valid"));

    let f = manifest().join("tests/answers/fail/many-errors.toml");
    let bad = pvefb(&["validate", f.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    // One line per problem, FILE:LINE:COLUMN first, and all of them, not only the first.
    let name = f.display().to_string();
    assert!(
        err.contains(&format!("{name}:2:12: error: installer.global.keyboard:")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{name}:34:1: error: hardening.firewal: unknown key"
        )),
        "{err}"
    );
    assert!(err.contains("5 error(s); nothing was written"), "{err}");

    let missing = pvefb(&["validate", "/nonexistent/answer.toml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).starts_with("/nonexistent/answer.toml: error: cannot read"));

    for usage in [
        &["validate", "a", "b"][..],
        &["frobnicate"],
        &[],
        &["apply", "x.toml"],
        &["status", "--print"],
    ] {
        assert_eq!(pvefb(usage).status.code(), Some(2), "{usage:?}");
    }
}

#[test]
fn validate_print_shows_defaults_and_hides_secrets() {
    let out = pvefb(&["validate", "--print"]);
    let s = text(&out.stdout);
    assert!(s.contains("max-reboots = 3"));
    assert!(s.contains("root-password-hashed = \"<redacted>\""));
    assert!(!s.contains("$y$j9T$"), "the hash must not be printed");
}

#[test]
fn plan_is_read_only_and_shows_diffs_and_commands() {
    let root = scratch("cli-plan");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    copy_tree(&manifest().join("tests/roots/hw-intel-nvidia-zfs"), &root);
    let before = snapshot(&root);
    let out = pvefb(&["plan", "--root", root.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    assert!(
        s.contains("+++ b/etc/apt/sources.list.d/pve-no-subscription.list"),
        "{s}"
    );
    assert!(
        s.contains("-deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise"),
        "{s}"
    );
    assert!(
        s.contains("would run: systemctl restart chrony.service"),
        "{s}"
    );
    assert!(
        s.contains("+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt"),
        "{s}"
    );
    assert!(s.contains("would run: proxmox-boot-tool refresh"), "{s}");
    assert!(
        s.contains("needs a reboot: the running kernel lacks intel_iommu=on iommu=pt"),
        "{s}"
    );
    assert!(s.contains("would run: systemctl reboot"), "{s}");
    assert!(
        s.contains("+++ b/etc/network/interfaces.d/pve-firstboot"),
        "{s}"
    );
    assert!(s.contains("would run: ifreload -a"), "{s}");
    assert_eq!(snapshot(&root), before, "plan changed the tree");
    assert!(
        !root.join("var/lib/pve-firstboot").exists(),
        "plan wrote state"
    );
}

/// `plan` shows each `[[vm]]`'s complete `qm` command lines and its user-data snippet,
/// and changes nothing.
#[test]
fn plan_shows_each_vms_qm_command_lines() {
    let root = scratch("cli-plan-vms");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    copy_tree(&manifest().join("tests/roots/hw-intel-nvidia-zfs"), &root);
    let before = snapshot(&root);
    let answer = manifest().join("tests/fixtures/vms-docker-and-gpu/answer.toml");
    let out = pvefb(&[
        "plan",
        answer.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}{}", text(&out.stderr));
    for line in [
        "would run: qm create 101 --name docker ",
        "would run: qm disk import 101 /var/lib/vz/images/pve-firstboot/vm101-debian-12-genericcloud-amd64.qcow2 local-zfs",
        "--ide2 local-zfs:cloudinit --ipconfig0 ip=10.0.100.11/24,gw=10.0.100.1 --cicustom user=local:snippets/pve-firstboot-101-user.yaml",
        "would run: qm create 102 --name gaming ",
        "--hostpci0 0000:01:00,pcie=1,x-vga=1",
        "--tpmstate0 local-zfs:1,version=v2.0",
        "+++ b/var/lib/vz/snippets/pve-firstboot-101-user.yaml",
        "+  - docker.io",
    ] {
        assert!(s.contains(line), "{line}\n{s}");
    }
    assert_eq!(snapshot(&root), before, "plan changed the tree");
}

#[test]
fn plan_on_a_machine_that_does_not_match_still_completes() {
    // An empty tree: no /etc/os-release, so the host phase cannot pick repositories.
    let root = scratch("cli-plan-mismatch");
    let out = pvefb(&["plan", "--root", root.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("== host ==\nwould FAIL: reading /etc/os-release: not found"),
        "{s}"
    );
    assert!(s.contains("== verify =="), "plan went on to the end: {s}");
    assert!(
        s.contains("== passthrough ==\nwould FAIL: no PCI device matches \"0000:01:00\""),
        "{s}"
    );
    assert!(
        s.contains("== network ==\nwould FAIL: reading /etc/network/interfaces: not found"),
        "{s}"
    );
    assert!(s.contains("== hardening ==\nwould FAIL: "), "{s}");
    assert!(s.contains("phases that would fail: 4"), "{s}");
}

#[test]
fn run_refuses_a_host_that_is_not_proxmox() {
    let root = scratch("cli-not-pve");
    let out = pvefb(&["run", "--root", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does not look like a Proxmox VE host"));
    assert!(!root.join("var").exists());
}

#[test]
fn run_then_status() {
    let root = scratch("cli-run-status");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    let r = root.to_str().unwrap();
    let st = pvefb(&["status", "--root", r]);
    assert_eq!(st.status.code(), Some(3), "not started yet");
    let answer = manifest().join("tests/fixtures/host-pve8/answer.toml");
    let run = pvefb(&["run", "--answer", answer.to_str().unwrap(), "--root", r]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    let st = pvefb(&["status", "--root", r, "--json"]);
    assert_eq!(st.status.code(), Some(0));
    let j = text(&st.stdout);
    assert!(j.contains("\"status\": \"done\""), "{j}");
    assert!(j.contains("\"reboots\": 0"), "{j}");
    let human = text(&pvefb(&["status", "--root", r]).stdout);
    assert!(human.starts_with("pve-firstboot: done"), "{human}");
    // The state is private: it is the admin's record, readable by root only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("var/lib/pve-firstboot/state.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second run resumes a finished state: nothing runs, nothing changes.
    let before = snapshot(&root);
    let cmds = commands_log(&root);
    let again = pvefb(&["run", "--answer", answer.to_str().unwrap(), "--root", r]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("no changes"));
    assert_eq!(snapshot(&root), before);
    assert_eq!(commands_log(&root), cmds);
}

#[test]
fn secrets_never_reach_output_state_or_commands() {
    let root = scratch("cli-secrets");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    let answer = manifest().join("tests/answers/ok/plain-password-and-stable.toml");
    let out = pvefb(&[
        "apply",
        answer.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    let all = format!(
        "{}{}{}{}",
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(root.join("var/lib/pve-firstboot/state.toml")).unwrap_or_default(),
        commands_log(&root)
    );
    assert!(!all.contains("correct horse battery"), "{all}");
}

/// The hook made from `answer` as `image` makes it, run by `hand-over` in `root`.
fn hand_over(root: &std::path::Path, answer: &str) -> Output {
    use pve_firstboot::image::hook;
    let for_host = pve_firstboot::answer::for_host(answer).unwrap();
    let h = hook::build("test", &for_host, b"not really xz").unwrap();
    let hook_path = root.join("var/lib/proxmox-first-boot/proxmox-first-boot");
    std::fs::create_dir_all(hook_path.parent().unwrap()).unwrap();
    std::fs::write(&hook_path, &h).unwrap();
    pvefb(&[
        "hand-over",
        "--hook",
        "/var/lib/proxmox-first-boot/proxmox-first-boot",
        "--root",
        root.to_str().unwrap(),
    ])
}

/// An answer saved by another editor — a byte-order mark, CRLF line ends — and holding lines
/// equal to the hook's own marks in a multi-line string: `validate` accepts it, so every
/// later step must as well, and mean the same (issue 13). validate → the ISO's answer for
/// Proxmox → the hook → hand-over → the installed answer, compared value by value.
#[test]
fn an_answer_from_another_editor_travels_the_whole_way() {
    use pve_firstboot::image::{hook, iso};
    let plain =
        std::fs::read_to_string(manifest().join("tests/answers/ok/newer-installer-keys.toml"))
            .unwrap()
            .replace(
                "auth-token = \"an-opaque-token\"",
                &format!(
                    "cert-fingerprint = \"\"\"\n{}\n{}\n\"\"\"",
                    hook::AGENT_MARK,
                    hook::ANSWER_MARK
                ),
            );
    let answer = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    let root = scratch("cli-bom-crlf");
    let file = root.join("answer.toml");
    std::fs::write(&file, &answer).unwrap();
    let v = pvefb(&["validate", file.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));

    let values = |t: &str| -> toml::Table { toml::from_str(t).unwrap() };
    // (A multi-line string keeps its CRLF: the values are the CRLF file's own.)
    let mut want = values(&answer);
    // What Proxmox's installer reads from the ISO: our [installer.*] tables at the top.
    let for_proxmox = values(&iso::proxmox_answer(&answer).unwrap());
    for (k, v) in want["installer"].as_table().unwrap() {
        assert_eq!(for_proxmox.get(k), Some(v), "{k}");
    }
    let out = hand_over(&root, &answer);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let installed = std::fs::read_to_string(root.join("etc/pve-firstboot/answer.toml")).unwrap();
    assert!(pve_firstboot::answer::parse_installed("a", installed.as_bytes()).is_ok());
    want["installer"]["global"]
        .as_table_mut()
        .unwrap()
        .remove("root-password-hashed");
    assert_eq!(values(&installed), want, "{installed}");
}

/// The hook as Proxmox runs it, in a scratch root: it installs exactly the agent, the
/// answer (without the root password, mode 0600) and the unit, writes the initial state,
/// enables and starts the unit without waiting, and exits 0.
#[test]
fn hand_over_installs_the_agent_and_its_unit() {
    use std::os::unix::fs::PermissionsExt;
    let root = scratch("cli-hand-over");
    let answer =
        std::fs::read_to_string(manifest().join("tests/answers/ok/installer-tables-only.toml"))
            .unwrap();
    let out = hand_over(&root, &answer);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("usr/local/sbin/pve-firstboot"), 0o755);
    assert_eq!(mode("etc/pve-firstboot/answer.toml"), 0o600);
    assert_eq!(mode("etc/systemd/system/pve-firstboot.service"), 0o644);
    let installed = std::fs::read_to_string(root.join("etc/pve-firstboot/answer.toml")).unwrap();
    assert!(!installed.contains("a-long-enough-password"), "{installed}");
    assert!(pve_firstboot::answer::parse_installed("a", installed.as_bytes()).is_ok());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/systemd/system/pve-firstboot.service")).unwrap(),
        std::fs::read_to_string(manifest().join("systemd/pve-firstboot.service")).unwrap()
    );
    assert!(root.join("var/lib/pve-firstboot/state.toml").exists());
    assert_eq!(
        commands_log(&root),
        "systemctl daemon-reload\nsystemctl enable pve-firstboot.service\nsystemctl start --no-block pve-firstboot.service\n"
    );
    // The unit's entry then runs from the installed answer, and on finishing disables
    // itself and marks the run finished (the unit's condition).
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    let run = pvefb(&["run", "--root", root.to_str().unwrap()]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/pve-firstboot/finished")).unwrap(),
        "done\n"
    );
    assert!(commands_log(&root).ends_with("systemctl disable pve-firstboot.service\n"));
    // reset re-arms it.
    let reset = pvefb(&["reset", "--root", root.to_str().unwrap()]);
    assert_eq!(reset.status.code(), Some(0));
    assert!(!root.join("var/lib/pve-firstboot/finished").exists());
    assert!(!root.join("var/lib/pve-firstboot/state.toml").exists());
    assert!(commands_log(&root).ends_with("systemctl enable pve-firstboot.service\n"));
}

#[test]
fn a_failed_run_says_so_in_motd_and_a_later_success_clears_it() {
    let root = scratch("cli-motd");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    std::fs::write(root.join("etc/motd"), "Welcome.\n").unwrap();
    let r = root.to_str().unwrap();
    // The example answer passes through 0000:01:00, which this machine does not have.
    let example = manifest().join("examples/homeserver.toml");
    let run = pvefb(&["run", "--answer", example.to_str().unwrap(), "--root", r]);
    assert_eq!(run.status.code(), Some(1));
    let motd = std::fs::read_to_string(root.join("etc/motd")).unwrap();
    assert!(
        motd.starts_with("Welcome.\n---- pve-firstboot ----\npve-firstboot FAILED in "),
        "{motd}"
    );
    for want in [
        "  passthrough  failed: no PCI device matches \"0000:01:00\"; present:\n",
        "  network      done\n",
        // The management address the installer wrote for vmbr0, and the HAOS port forward.
        "Proxmox VE:      https://10.0.200.10:8006",
        "Home Assistant:  http://10.0.200.10:8123 (forwarded to VM 100)",
        "---- end of pve-firstboot ----\n",
    ] {
        assert!(motd.contains(want), "{want:?} in\n{motd}");
    }
    // The same on the console's login screen, without the markers.
    let issue = std::fs::read_to_string(root.join("etc/issue.d/pve-firstboot.issue")).unwrap();
    assert!(issue.starts_with("pve-firstboot FAILED in "), "{issue}");
    assert!(!issue.contains("----"), "{issue}");
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/pve-firstboot/finished")).unwrap(),
        "failed\n"
    );
    pvefb(&["reset", "--root", r]);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/motd")).unwrap(),
        "Welcome.\n"
    );
    assert!(!root.join("etc/issue.d/pve-firstboot.issue").exists());
}

/// The summary's link to Home Assistant is one the firewall really forwards: with the
/// host's port 18123 forwarded to the VM's 8123, the link's address and port are those of
/// the DNAT rule the network phase wrote (nft's own text) that ends at HAOS's 8123.
#[test]
fn the_summary_links_home_assistant_through_the_forwarded_port() {
    let root = scratch("cli-motd-forward");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    let example = std::fs::read_to_string(manifest().join("examples/homeserver.toml")).unwrap();
    let answer = root.join("answer.toml");
    let at = example.find("[[network.port-forward]]").unwrap();
    let forward = example[at..].replacen("port = 8123", "port = 18123", 1);
    std::fs::write(&answer, format!("{}{forward}", &example[..at])).unwrap();
    let r = root.to_str().unwrap();
    pvefb(&["run", "--answer", answer.to_str().unwrap(), "--root", r]);
    let motd = std::fs::read_to_string(root.join("etc/motd")).unwrap();
    let link = motd
        .lines()
        .find_map(|l| l.strip_prefix("Home Assistant:  http://"))
        .unwrap_or_else(|| panic!("no link in\n{motd}"));
    let (host, port) = link.split_once(' ').unwrap().0.split_once(':').unwrap();
    let nft = std::fs::read_to_string(root.join("etc/pve-firstboot/vm-network.nft")).unwrap();
    // `ip daddr A tcp dport P dnat ip to B:Q`
    let rule = nft
        .lines()
        .map(str::split_whitespace)
        .map(Iterator::collect::<Vec<_>>)
        .find(|w| w.last() == Some(&"10.0.100.10:8123") && w.contains(&"dnat"))
        .unwrap_or_else(|| panic!("no DNAT to HAOS in\n{nft}"));
    let after = |k: &str| rule[rule.iter().position(|w| *w == k).unwrap() + 1];
    assert_eq!(
        (host, port),
        (after("daddr"), after("dport")),
        "the summary's link is not what the firewall forwards:\n{motd}\n{nft}"
    );
    assert_eq!(port, "18123");
}

/// The summary names each `[[vm]]` and how to reach it.
#[test]
fn the_summary_says_how_to_reach_each_vm() {
    let root = scratch("cli-motd-vms");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    copy_tree(
        &manifest().join("tests/roots/hw-intel-nvidia-zfs-done"),
        &root,
    );
    let r = root.to_str().unwrap();
    let answer = manifest().join("tests/fixtures/vms-docker-and-gpu/answer.toml");
    let run = pvefb(&["run", "--answer", answer.to_str().unwrap(), "--root", r]);
    let motd = std::fs::read_to_string(root.join("etc/motd")).unwrap();
    assert_eq!(run.status.code(), Some(0), "{motd}{}", text(&run.stderr));
    for want in [
        "  vms          done\n",
        // On the VM bridge, behind the host's NAT: through the host.
        "VM 101 docker: ssh -J root@10.0.200.10 admin@10.0.100.11\n",
        "VM 102 gaming: its console in the web UI\n",
    ] {
        assert!(motd.contains(want), "{want:?} in\n{motd}");
    }
}

/// Before anything ran, the text and the JSON say the same, and `--wait` returns at once
/// (there is nothing that could ever finish).
#[test]
fn status_before_a_run_agrees_and_does_not_wait() {
    let root = scratch("cli-status-fresh");
    let r = root.to_str().unwrap();
    let t = pvefb(&["status", "--root", r]);
    let j = pvefb(&["status", "--json", "--root", r]);
    assert_eq!(t.status.code(), Some(3));
    assert_eq!(j.status.code(), Some(3));
    assert!(
        text(&t.stdout).contains("not started"),
        "{}",
        text(&t.stdout)
    );
    assert!(
        text(&j.stdout).contains("\"status\": \"not-started\""),
        "{}",
        text(&j.stdout)
    );
    let started = std::time::Instant::now();
    let w = pvefb(&["status", "--wait", "--root", r]);
    assert_eq!(w.status.code(), Some(3));
    assert!(text(&w.stderr).contains("nothing to wait for"));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// The copy the hook installs has no root password. On the host the admin checks and
/// plans with it (`validate`, `plan`, `probe --check`); `hook` and `image`, which make an
/// install from an answer, still refuse it.
#[test]
fn the_installed_answer_checks_and_plans_but_makes_no_install() {
    let root = scratch("cli-installed-answer");
    let answer =
        std::fs::read_to_string(manifest().join("tests/answers/ok/installer-tables-only.toml"))
            .unwrap();
    let out = hand_over(&root, &answer);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let installed = root.join("etc/pve-firstboot/answer.toml");
    let f = installed.to_str().unwrap();
    let v = pvefb(&["validate", f]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    assert!(
        text(&v.stdout).contains("the copy installed on the host"),
        "{}",
        text(&v.stdout)
    );
    let sample = manifest().join("examples/sample-host");
    let p = pvefb(&["plan", f, "--root", sample.to_str().unwrap()]);
    assert!(
        !text(&p.stderr).contains("root-password"),
        "{}",
        text(&p.stderr)
    );
    assert!(
        text(&p.stdout).contains("== host =="),
        "{}",
        text(&p.stdout)
    );
    // On the sample host (two NVMe disks and a USB stick), the answer's xfs filter
    // `ID_SERIAL = "*Samsung*"` takes the first Samsung disk, as the installer would. It is
    // an installed host: that disk holds its ZFS pool, so the check says so and exits 1.
    let c = pvefb(&["probe", "--check", f, "--root", sample.to_str().unwrap()]);
    assert_eq!(
        c.status.code(),
        Some(1),
        "{}{}",
        text(&c.stdout),
        text(&c.stderr)
    );
    assert!(
        !text(&c.stderr).contains("root-password"),
        "{}",
        text(&c.stderr)
    );
    let erased: Vec<String> = text(&c.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("ERASED by the install: "))
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(erased, ["nvme0n1"], "{}", text(&c.stdout));
    assert!(
        text(&c.stdout).contains("  - nvme0n1 would be erased: it holds nvme0n1p1 1.0 MiB, no filesystem known; nvme0n1p2 1.0 GiB vfat; nvme0n1p3 475.9 GiB zfs_member \"rpool\""),
        "{}",
        text(&c.stdout)
    );
    let h = pvefb(&[
        "hook",
        "--answer",
        f,
        "-o",
        root.join("hook").to_str().unwrap(),
    ]);
    assert_eq!(h.status.code(), Some(1));
    assert!(
        text(&h.stderr).contains("root-password"),
        "{}",
        text(&h.stderr)
    );
    assert!(!root.join("hook").exists());
}

/// The README's first command: `plan --root examples/sample-host` shows every phase working
/// and exits 0.
#[test]
fn the_sample_host_plans_cleanly() {
    let sample = manifest().join("examples/sample-host");
    let out = pvefb(&["plan", "--root", sample.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for phase in ["host", "passthrough", "network", "hardening", "haos"] {
        assert!(
            plan.contains(&format!("== {phase} ==")),
            "{phase} in\n{plan}"
        );
    }
    assert!(
        plan.contains("phases that would fail: 0") && plan.contains("reboot: yes"),
        "{plan}"
    );
}

/// The machine trees and the sample host are exactly what `tests/roots/mksys.py` makes: it
/// runs into a scratch directory, and every tree it makes is compared with the committed
/// one, file by file (contents, modes, symlinks).
#[test]
fn the_machine_trees_and_the_sample_host_are_what_the_generator_makes() {
    let out = scratch("cli-mksys");
    let run = Command::new("python3")
        .arg(manifest().join("tests/roots/mksys.py"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("python3");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut made: Vec<PathBuf> = std::fs::read_dir(out.join("tests/roots"))
        .unwrap()
        .map(|e| PathBuf::from("tests/roots").join(e.unwrap().file_name()))
        .collect();
    made.sort();
    made.push(PathBuf::from("examples/sample-host"));
    assert!(made.len() > 10, "{made:?}");
    for rel in &made {
        let (theirs, ours) = (snapshot(&out.join(rel)), snapshot(&manifest().join(rel)));
        let differ: Vec<&String> = theirs
            .keys()
            .chain(ours.keys())
            .filter(|k| theirs.get(*k) != ours.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{} differs from what tests/roots/mksys.py makes (run it): {differ:?}",
            rel.display()
        );
    }
    // One consistent fresh PVE 9 host: its kernel everywhere, its NIC in the bridge.
    let sample = manifest().join("examples/sample-host");
    let read = |f: &str| std::fs::read_to_string(sample.join(f)).unwrap();
    let kernel = read("proc/sys/kernel/osrelease").trim().to_string();
    assert!(kernel.starts_with("6.14."), "PVE 9's kernel: {kernel}");
    assert!(
        read("proc/cmdline").contains(&kernel),
        "{}",
        read("proc/cmdline")
    );
    assert!(read("usr/bin/pveversion").contains("pve-manager/9."));
    assert!(sample.join(format!("lib/modules/{kernel}")).is_dir());
    let nics: Vec<String> = std::fs::read_dir(sample.join("sys/class/net"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| sample.join("sys/class/net").join(n).join("device").exists())
        .collect();
    assert_eq!(nics, ["enp0s31f6"]);
    assert!(
        read("etc/network/interfaces").contains("bridge-ports enp0s31f6\n"),
        "{}",
        read("etc/network/interfaces")
    );
    assert!(read("proc/mounts").starts_with("rpool/ROOT/pve-1 / zfs "));
}

fn agent_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pve-firstboot-agent"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `COMMAND --help` prints that command's usage, not the whole text; the agent's own help
/// has the host's commands only, and it says where a workstation command runs.
#[test]
fn each_command_has_its_own_usage_and_the_agent_only_the_hosts() {
    let h = pvefb(&["hook", "--help"]);
    assert_eq!(h.status.code(), Some(0));
    let t = text(&h.stdout);
    assert!(t.contains("pve-firstboot hook --answer FILE -o OUT"), "{t}");
    assert!(!t.contains("pve-firstboot validate"), "{t}");
    let h = pvefb(&["status", "--help"]);
    let t = text(&h.stdout);
    assert!(
        t.contains("pve-firstboot status [--root DIR]") && !t.contains("hook"),
        "{t}"
    );

    let all = text(&agent_bin(&["--help"]).stdout);
    for c in [
        "validate",
        "plan",
        "run",
        "status",
        "reset",
        "hand-over",
        "host-archive",
        "probe",
    ] {
        assert!(all.contains(&format!("pve-firstboot {c}")), "{c}: {all}");
    }
    for c in ["pin", "image", "hook"] {
        assert!(!all.contains(&format!("pve-firstboot {c} ")), "{c}: {all}");
        let o = agent_bin(&[c, "x"]);
        assert_eq!(o.status.code(), Some(2), "{c}");
        assert!(text(&o.stderr).contains("runs on the workstation"), "{c}");
    }
}

/// Without FILE, `apply --root DIR` takes DIR's installed answer (never the embedded
/// example: someone else's host and key); the agent's `validate` the host's.
#[test]
fn without_a_file_the_installed_answer_is_read() {
    let root = scratch("cli-apply-without-file");
    let o = pvefb(&["apply", "--root", root.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("etc/pve-firstboot/answer.toml: error: cannot read"),
        "{e}"
    );
    let o = agent_bin(&["validate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("/etc/pve-firstboot/answer.toml"));
    // The workstation's validate still checks the embedded example.
    assert_eq!(pvefb(&["validate"]).status.code(), Some(0));
}

/// A `--root` that is not there is one clear usage error (exit 2) for every command that
/// takes one; output into a pipe that closed ends the process by SIGPIPE, as a C tool's,
/// not by a panic.
#[test]
fn a_missing_root_is_one_error_and_a_closed_pipe_no_panic() {
    for cmd in ["plan", "probe", "status", "reset", "host-archive"] {
        let o = pvefb(&[cmd, "--root", "/nonexistent/root"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert_eq!(
            text(&o.stderr),
            "pve-firstboot: --root /nonexistent/root: not a directory\n",
            "{cmd}"
        );
    }
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let o = Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .arg("--help")
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        o.status.signal(),
        Some(13),
        "{:?} {}",
        o.status,
        text(&o.stderr)
    );
    assert!(!text(&o.stderr).contains("panicked"));
}

/// `image` says a missing ISO before it asks any publisher; `pin` without its publisher
/// says how to go on (the checksum typed in, or allow-unpinned), never to use a flag it
/// does not have.
#[test]
fn image_and_pin_say_what_to_do_without_their_inputs() {
    let dir = scratch("cli-image-pin-offline");
    let answer = dir.join("answer.toml");
    std::fs::copy(manifest().join("examples/homeserver.toml"), &answer).unwrap();
    // A publisher nobody answers for (nothing listens on 127.0.0.1:9).
    let offline = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
            .args(args)
            .arg(&answer)
            .env("PVE_FIRSTBOOT_TEST_PUBLISHERS", "http://127.0.0.1:9")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    // The ISO's absence is said before any publisher is asked.
    let o = offline(&["image", "--iso", "/nonexistent/pve.iso", "--answer"]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(e.contains("/nonexistent/pve.iso: no such ISO file"), "{e}");
    assert!(!e.contains("pin:"), "{e}");

    let o = offline(&["pin"]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("allow-unpinned = true") && e.contains("type the image's checksum"),
        "{e}"
    );
    assert!(!e.contains("--no-pin"), "{e}");
}

/// `status --wait` says what it waits for: the running phase, and each image being
/// downloaded with its size; the report it ends with is the plain status.
#[test]
fn status_wait_shows_the_phase_and_the_download() {
    let root = scratch("cli-status-wait");
    let st = root.join("var/lib/pve-firstboot");
    std::fs::create_dir_all(&st).unwrap();
    let dl = root.join("var/lib/vz/images/pve-firstboot");
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(dl.join("haos_ova-16.3.qcow2"), vec![0u8; 3 << 20]).unwrap();
    let state = |status: &str| {
        format!(
            "version = 1\nstarted = \"2026-11-27T06:00:00Z\"\nreboots = 0\n\n[[phases]]\nid = \"haos\"\nstatus = \"{status}\"\nattempts = 1\n"
        )
    };
    std::fs::write(st.join("state.toml"), state("running")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .args(["status", "--wait", "--root", root.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    // A failed phase ends the wait (done would need every phase and verify).
    std::fs::write(st.join("state.toml"), state("failed")).unwrap();
    let o = child.wait_with_output().unwrap();
    let e = text(&o.stderr);
    assert!(
        e.contains("pve-firstboot: running: haos (attempt 1)"),
        "{e}"
    );
    assert!(
        e.contains("pve-firstboot: downloading haos_ova-16.3.qcow2: 3 MiB"),
        "{e}"
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("haos"), "{}", text(&o.stdout));
}

/// `image --inspect` shows each root ssh key of the stick's answer by its fingerprint, as
/// `ssh-keygen -l` prints it (issue 33): a well-formed but wrong key is noticed there.
#[test]
fn inspect_shows_each_ssh_keys_fingerprint() {
    if Command::new("xorriso").arg("-version").output().is_err() {
        eprintln!("xorriso is missing: skipped");
        return;
    }
    let d = scratch("cli-inspect-keys");
    let tree = d.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join(".cd-info"), "RELEASE='9.1'\n").unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0mZkGW7yVDdkXn0ejAtmE3Wh0LBj1w3cYkX0R3e1R ops@laptop";
    std::fs::write(
        tree.join("answer.toml"),
        format!("[global]\nroot-password-hashed = \"x\"\nroot-ssh-keys = [\"{key}\"]\n"),
    )
    .unwrap();
    let iso = d.join("x.iso");
    let made = Command::new("xorriso")
        .arg("-outdev")
        .arg(&iso)
        .arg("-map")
        .arg(&tree)
        .arg("/")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let pubkey = d.join("k.pub");
    std::fs::write(&pubkey, format!("{key}\n")).unwrap();
    let l = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&pubkey)
        .output()
        .expect("ssh-keygen (openssh-client)");
    let theirs = text(&l.stdout);
    let fp = theirs.split_whitespace().nth(1).expect(&theirs);
    let o = pvefb(&["image", "--inspect", iso.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("  ssh key:     root {fp} ops@laptop\n")),
        "{}",
        text(&o.stdout)
    );
}
