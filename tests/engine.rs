//! The engine, proven with a test phase set and with the real phases: ordering,
//! dependencies, the single reboot, the reboot cap, the lock, and crash safety (a power cut
//! after every single step of a multi-phase, multi-boot run).

mod common;

use std::fs;
use std::path::Path;

use common::*;
use pve_firstboot::answer::{self, Answer};
use pve_firstboot::engine::{Engine, Outcome, RunMode};
use pve_firstboot::error::{Error, Result};
use pve_firstboot::host::{Cmd, Host};
use pve_firstboot::phases::{Cx, Phase, with_line};
use pve_firstboot::state::{State, Status};

/// Like a driver module list: lines in a shared file, a drop-in, and a command that must
/// run once the files changed (or after an interruption).
struct Modules;
impl Phase for Modules {
    fn id(&self) -> &'static str {
        "modules"
    }
    fn not_configured(&self, _: &Answer) -> Option<String> {
        None
    }
    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let mut text = cx.read("/etc/modules")?.unwrap_or_default();
        for m in ["vfio", "vfio_iommu_type1", "vfio_pci"] {
            text = with_line(&text, m);
        }
        let a = cx.write("/etc/modules", &text, 0o644)?;
        let b = cx.write(
            "/etc/modprobe.d/test.conf",
            "options vfio-pci ids=8086:10d3\n",
            0o644,
        )?;
        if a || b || cx.resumed {
            cx.run(Cmd::new("update-initramfs").args(["-u", "-k", "all"]))?;
        }
        Ok(())
    }
}

/// Like the kernel command line: needs a reboot until /proc/cmdline shows the argument.
struct Kernel;
impl Phase for Kernel {
    fn id(&self) -> &'static str {
        "kernel"
    }
    fn not_configured(&self, _: &Answer) -> Option<String> {
        None
    }
    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let f = "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX test_arg=1\"\n";
        if cx.write("/etc/default/grub.d/test.cfg", f, 0o644)? || cx.resumed {
            cx.run(Cmd::new("update-grub"))?;
        }
        if !cx
            .read("/proc/cmdline")?
            .unwrap_or_default()
            .contains("test_arg=1")
        {
            cx.need_reboot("test_arg=1 is not on the running kernel's command line");
        }
        Ok(())
    }
    fn verify(&self, cx: &mut Cx) -> Result<()> {
        if cx
            .read("/proc/cmdline")?
            .unwrap_or_default()
            .contains("test_arg=1")
        {
            cx.results.push("test_arg=1 is active".into());
            Ok(())
        } else {
            Err(Error::msg("test_arg=1 is missing from /proc/cmdline"))
        }
    }
}

/// Like the HAOS import: remembers what it is about to create, so that a retry after a
/// power cut cleans up exactly its own half-made work.
struct Vm;
impl Phase for Vm {
    fn id(&self) -> &'static str {
        "vm"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &["modules"]
    }
    fn not_configured(&self, _: &Answer) -> Option<String> {
        None
    }
    fn apply(&self, cx: &mut Cx) -> Result<()> {
        let conf = "/etc/pve/qemu-server/100.conf";
        if cx.recall("creating").is_some() {
            cx.remove(conf)?;
            cx.remove("/var/tmp/disk.tmp")?;
        } else if cx.host.exists(conf) {
            return Ok(());
        }
        cx.remember("creating", "100")?;
        cx.write("/var/tmp/disk.tmp", "half an image\n", 0o600)?;
        cx.write(conf, "name: test\n", 0o640)?;
        cx.write(conf, "name: test\nscsi0: local:vm-100-disk-0\n", 0o640)?;
        cx.remove("/var/tmp/disk.tmp")?;
        cx.forget("creating")?;
        Ok(())
    }
}

struct Broken;
impl Phase for Broken {
    fn id(&self) -> &'static str {
        "broken"
    }
    fn not_configured(&self, _: &Answer) -> Option<String> {
        None
    }
    fn apply(&self, _: &mut Cx) -> Result<()> {
        Err(Error::msg("this phase always fails"))
    }
}

struct AfterBroken;
impl Phase for AfterBroken {
    fn id(&self) -> &'static str {
        "after-broken"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &["broken"]
    }
    fn not_configured(&self, _: &Answer) -> Option<String> {
        None
    }
    fn apply(&self, cx: &mut Cx) -> Result<()> {
        cx.write("/etc/after-broken", "must never be written\n", 0o644)?;
        Ok(())
    }
}

fn test_phases() -> Vec<Box<dyn Phase>> {
    vec![
        Box::new(Modules),
        Box::new(Broken),
        Box::new(Kernel),
        Box::new(Vm),
        Box::new(AfterBroken),
    ]
}

fn minimal_answer(extra: &str) -> Answer {
    let text = format!(
        "{}\n{extra}",
        fs::read_to_string(manifest().join("tests/answers/ok/minimal.toml")).unwrap()
    );
    answer::parse("test.toml", text.as_bytes())
        .unwrap_or_else(|r| panic!("{r}"))
        .answer
}

/// What a reboot does to the scratch tree: a new boot ID, and the kernel command line
/// that GRUB would now pass (the drop-in's argument, if it is there).
fn reboot(root: &Path, n: u32) {
    fs::create_dir_all(root.join("proc/sys/kernel/random")).unwrap();
    fs::write(
        root.join("proc/sys/kernel/random/boot_id"),
        format!("boot-{n}\n"),
    )
    .unwrap();
    let mut cmdline = "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro quiet".to_string();
    if fs::read_to_string(root.join("etc/default/grub.d/test.cfg"))
        .is_ok_and(|s| s.contains("test_arg=1"))
    {
        cmdline.push_str(" test_arg=1");
    }
    fs::write(root.join("proc/cmdline"), format!("{cmdline}\n")).unwrap();
}

/// Run the agent as the systemd unit would, boot after boot, until it finishes. With
/// `crash_at = Some(n)`, the power is cut after the n-th mutating step of the whole
/// sequence (once); the machine then boots again and the unit starts again.
/// Returns the final outcome and the number of steps taken without a crash.
fn drive(
    root: &Path,
    a: &Answer,
    phases: fn() -> Vec<Box<dyn Phase>>,
    boot: fn(&Path, u32),
    crash_at: Option<u64>,
) -> (Outcome, u64) {
    let mut boots = 0;
    boot(root, boots);
    let mut budget = crash_at;
    let mut steps = 0;
    for _ in 0..20 {
        let host = Host::rooted(root);
        const PLENTY: u64 = 1_000_000;
        host.crash_after(budget.unwrap_or(PLENTY));
        let engine = Engine {
            host: &host,
            answer: a,
            phases: phases(),
            mode: RunMode::Resume,
        };
        let res = engine.run();
        let used = budget.unwrap_or(PLENTY) - host.budget_left().unwrap_or(0);
        steps += used;
        match res {
            Err(e) if e.is_crash() => {
                budget = None;
                boots += 1;
                boot(root, boots);
            }
            Err(e) => panic!("engine error: {e}"),
            Ok(r) => match r.outcome {
                Outcome::RebootRequested => {
                    if let Some(b) = budget.as_mut() {
                        *b -= used;
                    }
                    boots += 1;
                    boot(root, boots);
                }
                Outcome::Done | Outcome::Failed => return (r.outcome, steps),
                Outcome::WaitingForReboot => {
                    panic!("waiting for a reboot that the driver already did")
                }
            },
        }
    }
    panic!("the agent did not finish within 20 boots");
}

fn state(root: &Path) -> State {
    State::load(&Host::rooted(root)).unwrap()
}

#[test]
fn phases_run_in_order_with_one_reboot_and_failures_contained() {
    let root = scratch("engine-order");
    let a = minimal_answer("");
    let (outcome, _) = drive(&root, &a, test_phases, reboot, None);
    assert_eq!(outcome, Outcome::Failed, "the broken phase fails the run");
    let st = state(&root);
    let status = |id: &str| st.phase(id).unwrap().status;
    assert_eq!(status("modules"), Status::Done);
    assert_eq!(status("broken"), Status::Failed);
    assert_eq!(status("kernel"), Status::Done);
    assert_eq!(status("vm"), Status::Done);
    assert_eq!(status("after-broken"), Status::Skipped);
    assert_eq!(status("verify"), Status::Done);
    assert_eq!(st.reboots, 1);
    assert!(!root.join("etc/after-broken").exists());
    assert_eq!(
        commands_log(&root),
        "update-initramfs -u -k all\nupdate-grub\nsystemctl reboot\n"
    );
    assert_eq!(
        st.phase("verify").unwrap().results,
        vec!["kernel: test_arg=1 is active"]
    );
}

#[test]
fn apply_twice_changes_nothing_the_second_time() {
    let root = scratch("engine-twice");
    reboot(&root, 0);
    let a = minimal_answer("");
    let run = |root: &Path| {
        let host = Host::rooted(root);
        let e = Engine {
            host: &host,
            answer: &a,
            phases: test_phases(),
            mode: RunMode::Converge,
        };
        e.run().unwrap()
    };
    let first = run(&root);
    assert_eq!(first.outcome, Outcome::RebootRequested);
    let tree = snapshot(&root);
    let cmds = commands_log(&root);
    let second = run(&root);
    assert_eq!(second.outcome, Outcome::WaitingForReboot);
    assert!(!second.changed());
    assert_eq!(snapshot(&root), tree);
    assert_eq!(
        commands_log(&root),
        cmds,
        "no command and no second reboot request"
    );
}

#[test]
fn reboots_are_capped() {
    struct NeverTakes;
    impl Phase for NeverTakes {
        fn id(&self) -> &'static str {
            "never-takes"
        }
        fn not_configured(&self, _: &Answer) -> Option<String> {
            None
        }
        fn apply(&self, cx: &mut Cx) -> Result<()> {
            cx.need_reboot("the kernel never takes this argument");
            Ok(())
        }
    }
    let root = scratch("engine-cap");
    let a = minimal_answer("[agent]\nmax-reboots = 2\n");
    // Converge re-checks the phase in every boot, so it asks again and again.
    let mut boots = 0;
    let outcome = loop {
        reboot(&root, boots);
        boots += 1;
        let host = Host::rooted(&root);
        let e = Engine {
            host: &host,
            answer: &a,
            phases: vec![Box::new(NeverTakes)],
            mode: RunMode::Converge,
        };
        let r = e.run().unwrap();
        if r.outcome != Outcome::RebootRequested {
            break r;
        }
        assert!(boots < 10, "the cap did not hold");
    };
    assert_eq!(outcome.outcome, Outcome::Failed);
    let st = state(&root);
    assert_eq!(st.reboots, 2);
    let v = st.phase("verify").unwrap();
    assert_eq!(v.status, Status::Failed);
    assert!(
        v.reason.as_deref().unwrap().contains("max-reboots"),
        "{:?}",
        v.reason
    );
    assert_eq!(commands_log(&root).matches("systemctl reboot").count(), 2);
}

#[test]
fn a_second_run_at_the_same_time_is_refused() {
    let root = scratch("engine-lock");
    let a = minimal_answer("");
    let host = Host::rooted(&root);
    let _held = host.lock().unwrap();
    let other = Host::rooted(&root);
    let e = Engine {
        host: &other,
        answer: &a,
        phases: test_phases(),
        mode: RunMode::Resume,
    };
    let err = e.run().err().expect("refused");
    assert!(
        err.to_string().contains("another pve-firstboot is running"),
        "{err}"
    );
}

/// Cut the power after every single step of the whole run (writes, commands, state
/// saves, across the reboot), boot again, and let the agent finish: the end result must
/// be the uninterrupted run's, byte for byte, with nothing done twice. Both the
/// uninterrupted run and every interrupted one must also meet `expect`, an expectation of
/// the end state written without the agent's code (files and their key properties, the
/// commands that must have run, the VMs made): a wrong result the same on both sides of
/// the comparison is caught there.
fn crash_everywhere(
    name: &str,
    prepare: &dyn Fn(&Path),
    a: &Answer,
    phases: fn() -> Vec<Box<dyn Phase>>,
    boot: fn(&Path, u32),
    expect: &dyn Fn(&Path) -> Vec<String>,
) -> State {
    let reference = scratch(&format!("crash-{name}-ref"));
    prepare(&reference);
    let input = snapshot(&reference);
    let (ref_outcome, total) = drive(&reference, a, phases, boot, None);
    let wrong = expect(&reference);
    assert!(
        wrong.is_empty(),
        "{name}: the uninterrupted run's end state is wrong:\n  {}",
        wrong.join("\n  ")
    );
    // /proc is the kernel's (boot IDs differ with the extra boots), not the agent's.
    let agent_tree = |root: &Path| {
        let mut t = snapshot(root);
        t.retain(|k, _| !k.starts_with("proc/"));
        t
    };
    let ref_tree = agent_tree(&reference);
    let ref_state = state(&reference);
    let ref_cmds: Vec<String> = commands_log(&reference).lines().map(String::from).collect();
    assert!(
        total > 5,
        "{name}: only {total} steps; the test would prove little"
    );
    for n in 0..total {
        let root = scratch(&format!("crash-{name}-{n}"));
        prepare(&root);
        let (outcome, _) = drive(&root, a, phases, boot, Some(n));
        let why = format!("{name}: power cut after step {n} of {total}");
        assert_eq!(outcome, ref_outcome, "{why}");
        let tree = agent_tree(&root);
        if tree != ref_tree {
            let diff: Vec<&String> = tree
                .keys()
                .chain(ref_tree.keys())
                .filter(|k| tree.get(*k) != ref_tree.get(*k))
                .collect();
            panic!("{why}: the tree differs from the uninterrupted run's in {diff:?}");
        }
        let dups = duplicated_lines(&root, &input);
        assert!(dups.is_empty(), "{why}: duplicated lines {dups:?}");
        let st = state(&root);
        for p in &ref_state.phases {
            assert_eq!(
                st.phase(&p.id).map(|s| s.status),
                Some(p.status),
                "{why}: phase {}",
                p.id
            );
        }
        assert!(
            st.reboots <= a.agent.max_reboots,
            "{why}: {} reboots",
            st.reboots
        );
        // A cut may even save the planned reboot (the kernel came up with the new command
        // line anyway), but it must never cost an extra one.
        assert!(
            st.reboots <= ref_state.reboots,
            "{why}: a power cut cost a reboot"
        );
        // Commands may repeat after a cut (they are idempotent), but none may be missing;
        // except the reboot itself, which a cut just before it does instead.
        let cmds = commands_log(&root);
        for c in ref_cmds.iter().filter(|c| *c != "systemctl reboot") {
            assert!(cmds.lines().any(|l| l == c), "{why}: `{c}` never ran");
        }
        let wrong = expect(&root);
        assert!(wrong.is_empty(), "{why}: {}", wrong.join("; "));
        fs::remove_dir_all(&root).unwrap();
    }
    ref_state
}

/// Text of a file of the tree, empty when it is missing.
fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_default()
}

/// The test phases' end state, from what they are written to do (not from a run): the
/// module lines once each, the drop-ins, the VM config with its disk and no half-made
/// image, nothing of the phase after the broken one, the commands that apply the files.
fn test_phases_end_state(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let modules = read(root, "etc/modules");
    for m in ["vfio", "vfio_iommu_type1", "vfio_pci"] {
        if modules.lines().filter(|l| l.trim() == m).count() != 1 {
            bad.push(format!("/etc/modules: {m} not there once:\n{modules}"));
        }
    }
    for (f, want) in [
        (
            "etc/modprobe.d/test.conf",
            "options vfio-pci ids=8086:10d3\n",
        ),
        (
            "etc/default/grub.d/test.cfg",
            "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX test_arg=1\"\n",
        ),
        (
            "etc/pve/qemu-server/100.conf",
            "name: test\nscsi0: local:vm-100-disk-0\n",
        ),
    ] {
        if read(root, f) != want {
            bad.push(format!("{f}: {:?}, not {want:?}", read(root, f)));
        }
    }
    for gone in ["var/tmp/disk.tmp", "etc/after-broken"] {
        if root.join(gone).exists() {
            bad.push(format!("{gone} exists"));
        }
    }
    let cmds = commands_log(root);
    for c in ["update-initramfs -u -k all", "update-grub"] {
        if !cmds.lines().any(|l| l == c) {
            bad.push(format!("`{c}` never ran"));
        }
    }
    bad
}

#[test]
fn power_cut_after_every_step_of_the_test_phases() {
    let a = minimal_answer("");
    crash_everywhere(
        "test-phases",
        &|_| {},
        &a,
        test_phases,
        reboot,
        &test_phases_end_state,
    );
}

/// What the real phases must have left on the NVIDIA ZFS machine for the answer of
/// `power_cut_after_every_step_of_the_real_phases`, written from the answer and the
/// machine, not from a run: the behaviour checks of `common::behaviour` (guests, backup job,
/// notifications), then the three VMs made, started and started at boot, each with what
/// makes it what it is, the GPU VM started only after the reboot put its GPU on vfio-pci;
/// the kernel's IOMMU arguments and vfio IDs, the user-data snippet, the timer's schedule,
/// the port forward, and the commands that apply them.
fn real_phases_end_state(root: &Path, answer: &str) -> Vec<String> {
    let cmds = commands_log(root);
    let mut bad = common::behaviour::faults(root, answer, &cmds);
    let g = common::behaviour::guests(root, &cmds);
    let conf = |id: u32, k: &str| {
        g.vms
            .get(&id)
            .and_then(|v| v.conf.get(k))
            .cloned()
            .unwrap_or_default()
    };
    for (id, key, want) in [
        (100, "scsi0", "local-zfs:vm-100-disk-0,"),
        (100, "net0", "virtio=02:79:98:22:50:3F,bridge=vmbr1"),
        (101, "ide2", "local-zfs:cloudinit"),
        (101, "ipconfig0", "ip=10.0.100.11/24,gw=10.0.100.1"),
        (
            101,
            "cicustom",
            "user=local:snippets/pve-firstboot-101-user.yaml",
        ),
        (101, "vga", "serial0"),
        (102, "hostpci0", "0000:01:00,pcie=1,x-vga=1"),
        (102, "vga", "none"),
        (102, "tpmstate0", "local-zfs:1,version=v2.0"),
        (
            102,
            "efidisk0",
            "local-zfs:0,efitype=4m,pre-enrolled-keys=1",
        ),
    ] {
        if !conf(id, key).starts_with(want) {
            bad.push(format!("VM {id}: {key} {:?}, not {want}...", conf(id, key)));
        }
    }
    for id in [100, 101, 102] {
        match g.vms.get(&id) {
            Some(v) if v.created && v.started && conf(id, "onboot") == "1" => {}
            v => bad.push(format!("VM {id} not made, started and on at boot: {v:?}")),
        }
    }
    let lines: Vec<&str> = cmds.lines().collect();
    let at = |c: &str| lines.iter().position(|l| *l == c);
    if let (Some(start), Some(reboot)) = (at("qm start 102"), at("systemctl reboot")) {
        if start < reboot {
            bad.push("VM 102 started before the reboot put its GPU on vfio-pci".into());
        }
    }
    if lines.iter().filter(|l| **l == "systemctl reboot").count() > 1 {
        bad.push("more than one reboot asked for".into());
    }
    for c in ["update-initramfs -u -k all", "proxmox-boot-tool refresh"] {
        if at(c).is_none() {
            bad.push(format!("`{c}` never ran"));
        }
    }
    let cmdline = read(root, "etc/kernel/cmdline");
    for arg in ["intel_iommu=on", "iommu=pt"] {
        if !cmdline.split_whitespace().any(|w| w == arg) {
            bad.push(format!("/etc/kernel/cmdline lacks {arg}: {cmdline}"));
        }
    }
    let vfio = read(root, "etc/modprobe.d/pve-firstboot-vfio.conf");
    let ids: Vec<&str> = vfio
        .lines()
        .filter_map(|l| l.strip_prefix("options vfio-pci ids="))
        .flat_map(|r| r.split_whitespace().next().unwrap_or("").split(','))
        .collect();
    if !(ids.contains(&"10de:2484") && ids.contains(&"10de:228b")) {
        bad.push(format!("vfio-pci takes {ids:?}, not the GPU and its audio"));
    }
    let snippet = "var/lib/vz/snippets/pve-firstboot-101-user.yaml";
    let user_data = read(root, snippet);
    if !user_data.starts_with("#cloud-config\n") || !user_data.contains("\n  - docker.io\n") {
        bad.push(format!(
            "{snippet}: no cloud-config installing docker.io:\n{user_data}"
        ));
    }
    let timer = read(root, "etc/systemd/system/pve-firstboot-host-backup.timer");
    if !timer.lines().any(|l| l == "OnCalendar=Sun *-*-* 03:00:00") {
        bad.push(format!(
            "the host archive's timer is not on sun 03:00:\n{timer}"
        ));
    }
    let nft = read(root, "etc/pve-firstboot/vm-network.nft");
    if !nft.contains("tcp dport 8123 dnat ip to 10.0.100.10:8123") {
        bad.push("no port forward to HAOS's 8123".into());
    }
    bad
}

#[test]
fn power_cut_after_every_step_of_the_real_phases() {
    // Every phase together, on an Intel + NVIDIA machine with
    // ZFS: files, commands, the reboot, and verify after it.
    let host = fs::read_to_string(manifest().join("tests/fixtures/host-pve8/answer.toml")).unwrap();
    let net =
        fs::read_to_string(manifest().join("tests/fixtures/network-pve8/answer.toml")).unwrap();
    let net = &net[net.find("[network.vm-bridge]").unwrap()..net.find("[haos]").unwrap()];
    let haos =
        fs::read_to_string(manifest().join("tests/fixtures/haos-local-image/answer.toml")).unwrap();
    // The storage is left to the host: this ZFS machine has local-zfs, not local-lvm.
    let haos = haos[haos.find("[haos]").unwrap()..].replace("storage = \"local-lvm\"\n", "");
    // [[vm]]: a cloud-image VM (the same local image, pinned) and a GPU VM.
    let vms = "[[vm]]\nvmid = 101\nname = \"docker\"\nip = \"10.0.100.11\"\n\n\
               [vm.cloud-init]\nimage = \"/srv/images/haos_ova-16.3.qcow2.xz\"\n\
               sha256 = \"b908fdff6e6d911466ab8507108ef678dee121094b3f886ed7f0b40c184ff3dd\"\n\
               packages = [\"docker.io\"]\n\n\
               [[vm]]\nvmid = 102\nname = \"gaming\"\nostype = \"win11\"\nhostpci = [\"gpu\"]\n";
    // [notify.smtp] and [backup] with the host's archive: the backup phase's files and
    // its timer's commands.
    let backup = "[notify]\nwebhook = \"https://ntfy.example.org/t\"\n\n[notify.smtp]\n\
                  server = \"smtp.example.org\"\nusername = \"atlas@example.org\"\n\
                  password = \"Velvet-Otter-Compass-5512\"\nfrom = \"atlas@example.org\"\n\n\
                  [backup]\nschedule = \"sun 03:00\"\nstorage = \"local\"\nkeep-daily = 7\n\
                  host-config = true\n";
    // The community's post-install set (issue 35): the notice hidden, microcode (its reboot
    // joins the one planned), single-node by default; and a container from a template.
    let host = format!("{host}subscription-notice = \"hide\"\nmicrocode = true\n");
    let ct = "[[container]]\nvmid = 110\nhostname = \"web\"\ntemplate = \"debian-13-standard\"\n\
              ip = \"10.0.100.12\"\n";
    let text = format!(
        "{host}\n[passthrough]\ndevices = [\"gpu\"]\ndisable-vga = true\n\n[hardening]\n\n{net}\n{haos}\n{vms}\n{backup}\n{ct}"
    );
    let a = answer::parse("answer.toml", text.as_bytes())
        .unwrap_or_else(|r| panic!("{r}"))
        .answer;
    let prepare = |root: &Path| {
        copy_tree(&manifest().join("tests/roots/pve8"), root);
        copy_tree(&manifest().join("tests/roots/hw-intel-nvidia-zfs"), root);
        // What Proxmox's packages install that the post-install set and the container use:
        // the web UI library, the HA units, the appliance index.
        copy_tree(&manifest().join("tests/roots/pve9-packages"), root);
        copy_tree(
            &manifest().join("tests/fixtures/haos-local-image/overlay"),
            root,
        );
    };
    let st = crash_everywhere(
        "pve8-passthrough",
        &prepare,
        &a,
        pve_firstboot::engine::phases,
        boot_machine,
        &|root| real_phases_end_state(root, &text),
    );
    assert_eq!(st.reboots, 1);
    assert_eq!(
        st.phase("verify").unwrap().status,
        Status::Done,
        "{:?}",
        st.phase("verify")
    );
    for p in [
        "host",
        "passthrough",
        "network",
        "hardening",
        "haos",
        "vms",
        "containers",
        "backup",
    ] {
        assert_eq!(
            st.phase(p).unwrap().status,
            Status::Done,
            "{p}: {:?}",
            st.phase(p)
        );
    }
}

/// A phase that is cut off by a power cut every single time it runs (a command that hangs
/// the machine, say).
struct AlwaysCut;
impl Phase for AlwaysCut {
    fn id(&self) -> &'static str {
        "always-cut"
    }
    fn not_configured(&self, _: &Answer) -> Option<String> {
        None
    }
    fn apply(&self, cx: &mut Cx) -> Result<()> {
        cx.host.crash_after(0);
        cx.write("/etc/always-cut", "never\n", 0o644)?;
        Ok(())
    }
}

fn cut_phases() -> Vec<Box<dyn Phase>> {
    vec![Box::new(Modules), Box::new(AlwaysCut), Box::new(Vm)]
}

/// The engine gives up on a phase interrupted MAX_ATTEMPTS times instead of looping
/// through boots for ever, and the phases after it still run.
#[test]
fn a_phase_cut_off_every_time_is_given_up() {
    use pve_firstboot::engine::MAX_ATTEMPTS;
    let root = scratch("engine-always-cut");
    let a = minimal_answer("");
    let mut boots = 0;
    let outcome = loop {
        reboot(&root, boots);
        let host = Host::rooted(&root);
        let engine = Engine {
            host: &host,
            answer: &a,
            phases: cut_phases(),
            mode: RunMode::Resume,
        };
        match engine.run() {
            Err(e) if e.is_crash() => {
                boots += 1;
                assert!(
                    boots <= MAX_ATTEMPTS + 1,
                    "still cut off after {boots} boots: the engine never gives up"
                );
            }
            Err(e) => panic!("engine error: {e}"),
            Ok(r) => break r.outcome,
        }
    };
    assert_eq!(boots, MAX_ATTEMPTS, "one boot per attempt, then no more");
    assert_eq!(outcome, Outcome::Failed);
    let st = state(&root);
    let p = st.phase("always-cut").unwrap();
    assert_eq!(p.status, Status::Failed);
    assert_eq!(p.attempts, MAX_ATTEMPTS);
    assert!(
        p.reason.as_deref().unwrap_or("").contains("giving up"),
        "{p:?}"
    );
    assert_eq!(st.phase("vm").unwrap().status, Status::Done);
    assert!(!root.join("etc/always-cut").exists());
}
