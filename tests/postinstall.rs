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
