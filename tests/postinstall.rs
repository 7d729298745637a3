//! `[host] subscription-notice = "hide"` through a package update and back: the apt hook the
//! phase installs, run as apt runs it (`sh -c` of its `DPkg::Post-Invoke` string) after an
//! update of proxmox-widget-toolkit put the package's own library back, hides the dialog
//! again exactly as the phase did; taking the key out of the answer restores the package's
//! file byte for byte and removes the hook.

mod common;

use std::fs;
use std::process::Command;

use common::*;

const LIB: &str = "usr/share/javascript/proxmox-widget-toolkit/proxmoxlib.js";
const HOOK: &str = "etc/apt/apt.conf.d/80pve-firstboot-subscription-notice";

fn apply(answer: &std::path::Path, root: &std::path::Path) -> String {
    let (a, r) = (answer.to_str().unwrap(), root.to_str().unwrap());
    let o = agent(&["apply", a, "--root", r], "warn");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(matches!(o.status.code(), Some(0 | 3)), "{out}");
    out
}

/// The shell command of the hook's `DPkg::Post-Invoke { "..."; };`, pointed at this build of
/// the agent and at the tree.
fn hook_command(hook: &str, root: &std::path::Path) -> String {
    invoked(hook)
        .replace(
            "/usr/local/sbin/pve-firstboot",
            env!("CARGO_BIN_EXE_pve-firstboot"),
        )
        .replace(
            "subscription-notice",
            &format!("subscription-notice --root '{}'", root.display()),
        )
}

/// The command string of the hook's `DPkg::Post-Invoke` line, as apt hands it to `sh -c`.
fn invoked(hook: &str) -> &str {
    let line = hook
        .lines()
        .find(|l| l.starts_with("DPkg::Post-Invoke {"))
        .expect("a DPkg::Post-Invoke line");
    line.split('"').nth(1).expect("a quoted command")
}

#[test]
fn the_notice_stays_hidden_through_a_package_update_and_comes_back_when_asked() {
    let case = manifest().join("tests/fixtures/host-postinstall-pve9");
    let root = prepare(&case, "postinstall-notice");
    let original = fs::read(root.join(LIB)).unwrap();
    apply(&case.join("answer.toml"), &root);
    let hidden = fs::read(root.join(LIB)).unwrap();
    assert_ne!(hidden, original);
    let hook = fs::read_to_string(root.join(HOOK)).unwrap();

    // dpkg replaces the library with the package's; apt then runs the hook.
    fs::write(root.join(LIB), &original).unwrap();
    let cmd = hook_command(&hook, &root);
    let o = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(o.status.success(), "{cmd}: {o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "pve-firstboot: the subscription notice is hidden again\n"
    );
    assert_eq!(fs::read(root.join(LIB)).unwrap(), hidden);
    // Every other dpkg run: nothing to do, nothing said, and apt is never failed.
    let o = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert_eq!(fs::read(root.join(LIB)).unwrap(), hidden);
    // The package removed: the hook says so and succeeds.
    fs::remove_file(root.join(LIB)).unwrap();
    let o = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(o.status.success());
    fs::write(root.join(LIB), &hidden).unwrap();
    // An agent that is gone: the hook does nothing and does not fail apt.
    let gone = hook.replace(
        "/usr/local/sbin/pve-firstboot",
        "/nonexistent/pve-firstboot",
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(invoked(&gone))
        .output()
        .unwrap();
    assert!(o.status.success());

    // The key taken out of the answer: the package's file and no hook.
    let shown = scratch("postinstall-notice-answer").join("answer.toml");
    let text = fs::read_to_string(case.join("answer.toml")).unwrap();
    fs::write(&shown, text.replace("subscription-notice = \"hide\"\n", "")).unwrap();
    apply(&shown, &root);
    assert_eq!(fs::read(root.join(LIB)).unwrap(), original);
    assert!(!root.join(HOOK).exists());
}

/// `single-node = false` after `single-node` took effect (a host that later joins a
/// cluster): the HA services and corosync that were disabled are enabled and started
/// again, which a cluster's HA needs on every node.
#[test]
fn single_node_false_enables_again_what_single_node_disabled() {
    let case = manifest().join("tests/fixtures/host-postinstall-pve9");
    let root = prepare(&case, "postinstall-single-node");
    let dir = scratch("postinstall-single-node-answer");
    let text = fs::read_to_string(case.join("answer.toml"))
        .unwrap()
        .replace("microcode = true\n", "");
    let on = dir.join("on.toml");
    fs::write(&on, &text).unwrap();
    apply(&on, &root);
    let units = "pve-ha-lrm.service pve-ha-crm.service corosync.service";
    assert!(
        commands_log(&root).contains(&format!("systemctl disable --now {units}\n")),
        "{}",
        commands_log(&root)
    );
    let off = dir.join("off.toml");
    fs::write(
        &off,
        text.replace("[host]\n", "[host]\nsingle-node = false\n"),
    )
    .unwrap();
    apply(&off, &root);
    let log = commands_log(&root);
    let lines: Vec<&str> = log.lines().collect();
    let enabled = lines
        .iter()
        .rposition(|l| *l == format!("systemctl enable --now {units}"));
    let disabled = lines
        .iter()
        .rposition(|l| *l == format!("systemctl disable --now {units}"));
    assert!(
        enabled.is_some() && enabled > disabled,
        "the HA services stay disabled after single-node = false:\n{log}"
    );
}

/// `microcode = true`: the reboot that loads the microcode is asked for in the boot the
/// package was installed in, again after a power cut in that boot (apply exits 3: a
/// reboot is pending), and never once the host has booted anew (a later run must not
/// reboot a host whose CPU runs the microcode).
#[test]
fn the_microcode_reboot_is_asked_for_in_its_boot_only() {
    let case = manifest().join("tests/fixtures/host-postinstall-pve9");
    let root = prepare(&case, "postinstall-microcode");
    let answer = case.join("answer.toml");
    let (a, r) = (answer.to_str().unwrap(), root.to_str().unwrap());
    let boot_id = root.join("proc/sys/kernel/random/boot_id");
    fs::create_dir_all(boot_id.parent().unwrap()).unwrap();
    fs::write(&boot_id, "6f1d2c3b-0000-4000-8000-000000000001\n").unwrap();
    let reboots = || {
        commands_log(&root)
            .lines()
            .filter(|l| *l == "systemctl reboot")
            .count()
    };
    let o = agent(&["apply", a, "--root", r], "warn");
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(reboots(), 1);
    // The power cut before the reboot: the same boot, the reboot asked for again.
    let o = agent(&["apply", a, "--root", r], "warn");
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    // Booted anew: the microcode is loaded; a run reboots nothing.
    fs::write(&boot_id, "6f1d2c3b-0000-4000-8000-000000000002\n").unwrap();
    let o = agent(&["apply", a, "--root", r], "warn");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(reboots(), 1, "{}", commands_log(&root));
}
