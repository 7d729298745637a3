//! The conformance suite: Proxmox's own code judges what the agent writes.
//!
//! Every fixture case (`tests/fixtures/*`) is applied to a fresh tree as `fixtures.rs` does,
//! and every file and command line it produces for Proxmox goes through Proxmox's own
//! parser, built or loaded from the unmodified sources in `PROXMOX_SRC`
//! (`tests/proxmox/README.md` says which code judges which file, at which commit):
//! - `notifications.cfg` + `priv/`: proxmox-notify `Config::new` in PVE's context
//!   (`tests/proxmox/harness`),
//! - `jobs.cfg`, `storage.cfg` (with every `pvesm set` applied as pve-storage applies it),
//!   every `qm`/`pvesm` command line, `cluster.fw`/`host.fw`, schedules:
//!   pve-manager, pve-storage, qemu-server, pve-firewall and pve-common Perl
//!   (`tests/proxmox/perl/check.pl`; schedules through proxmox-time),
//! - the Proxmox answer `image` writes, for every answer case: pve-installer's
//!   `proxmox-auto-install-assistant validate-answer`.
//!
//! Each checker also gets a negative control (`tests/proxmox/negative/`): an input Proxmox
//! must refuse, refused — so a checker that stops working fails the suite.
//!
//! `tests/proxmox/run` builds Proxmox's Rust parts and runs these tests with
//! `PVEFB_PROXMOX_BIN` set. A plain `cargo test` has no such build: every test here then
//! says loudly that it was skipped, unless `PVEFB_PROXMOX_REQUIRED` is set (the run script
//! sets it), where a missing part fails.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

struct Tools {
    harness: PathBuf,
    assistant: PathBuf,
    check_pl: PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    let Some(dir) = std::env::var_os("PVEFB_PROXMOX_BIN") else {
        assert!(
            std::env::var_os("PVEFB_PROXMOX_REQUIRED").is_none(),
            "PVEFB_PROXMOX_BIN is not set"
        );
        eprintln!(
            "SKIPPED {test}: Proxmox's code is not built here (run tests/proxmox/run, which builds it from PROXMOX_SRC)"
        );
        return None;
    };
    let dir = PathBuf::from(dir);
    let t = Tools {
        harness: dir.join("pvefb-proxmox-harness"),
        assistant: dir.join("proxmox-auto-install-assistant"),
        check_pl: manifest().join("tests/proxmox/perl/check.pl"),
    };
    for p in [&t.harness, &t.assistant] {
        assert!(p.exists(), "{} is missing", p.display());
    }
    Some(t)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `check.pl KIND ARGS`: exit 0 accepted, 1 refused (reasons on stdout), 2 the checker broke.
fn perl(t: &Tools, args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String) {
    perl_env(t, &[], args)
}

/// [`perl`] with more environment (`PVEFB_STORAGE_OUT`).
fn perl_env(
    t: &Tools,
    env: &[(&str, &Path)],
    args: &[&dyn AsRef<std::ffi::OsStr>],
) -> (bool, String) {
    assert!(t.check_pl.exists(), "{} is missing", t.check_pl.display());
    let mut c = Command::new("perl");
    c.arg(&t.check_pl).env("PVEFB_HARNESS", &t.harness);
    for (k, v) in env {
        c.env(k, v);
    }
    for a in args {
        c.arg(a);
    }
    let o = run(&mut c);
    match o.status.code() {
        Some(0) => (true, text(&o)),
        Some(1) => (false, text(&o)),
        _ => panic!(
            "check.pl {:?} broke: {}",
            c.get_args().collect::<Vec<_>>(),
            text(&o)
        ),
    }
}

/// A batch kind of `check.pl`: one verdict line per input line (`ok` or `refused\tWHY`).
fn perl_batch(t: &Tools, kind: &str, items: &[String]) -> Vec<Result<(), String>> {
    let dir = scratch(&format!("proxmox-batch-{kind}-{}", items.len()));
    let input = dir.join("input");
    fs::write(&input, items.join("\n") + "\n").unwrap();
    let (ok, out) = perl(t, &[&kind, &input]);
    assert!(ok, "check.pl {kind}: {out}");
    let verdicts: Vec<Result<(), String>> = String::from_utf8_lossy(
        &run(Command::new("perl")
            .arg(&t.check_pl)
            .arg(kind)
            .arg(&input)
            .env("PVEFB_HARNESS", &t.harness))
        .stdout,
    )
    .lines()
    .map(|l| match l.split_once('\t') {
        None if l == "ok" => Ok(()),
        Some(("refused", why)) => Err(why.to_string()),
        _ => panic!("check.pl {kind}: unexpected line {l:?}"),
    })
    .collect();
    assert_eq!(
        verdicts.len(),
        items.len(),
        "check.pl {kind}: one verdict per line"
    );
    verdicts
}

/// One line of the suite's tally, which tests/proxmox/run collects.
fn tally(checker: &str, inputs: usize, refused: usize, agreed: usize, negative: &str) {
    println!(
        "conformance: {checker}: {inputs} inputs, {refused} refused by Proxmox, {agreed} agreed with pve-firstboot; negative control: {negative}"
    );
}

/// Every fixture case applied once to a fresh tree: (case name, root).
fn applied() -> &'static Vec<(String, PathBuf)> {
    static ROOTS: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut cases: Vec<PathBuf> = fs::read_dir(manifest().join("tests/fixtures"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("answer.toml").exists())
            .collect();
        cases.sort();
        cases
            .iter()
            .map(|case| {
                let name = case.file_name().unwrap().to_string_lossy().into_owned();
                let root = prepare(case, &format!("proxmox-{name}"));
                let o = run(Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
                    .arg("apply")
                    .arg(case.join("answer.toml"))
                    .arg("--root")
                    .arg(&root)
                    .env("RUST_LOG", "warn"));
                assert!(
                    matches!(o.status.code(), Some(0..=3)),
                    "{name}: apply: {}",
                    text(&o)
                );
                (name, root)
            })
            .collect()
    })
}

/// Judge one input per fixture root (`input` gives it, `None`: nothing to judge there) with
/// `judge`, then the negative control; print the tally and fail on any refusal.
fn each_root(
    checker: &str,
    at_least: usize,
    input: impl Fn(&str, &PathBuf) -> Option<Vec<PathBuf>>,
    judge: impl Fn(&[PathBuf]) -> (bool, String),
    negative_control: &[PathBuf],
) {
    let mut n = 0;
    let mut bad = Vec::new();
    for (name, root) in applied() {
        let Some(args) = input(name, root) else {
            continue;
        };
        n += 1;
        let (ok, out) = judge(&args);
        if !ok {
            bad.push(format!("{name}: {out}"));
        }
    }
    assert!(n >= at_least, "{checker}: only {n} fixtures to judge");
    let (ok, out) = judge(negative_control);
    assert!(!ok, "{checker}: negative control accepted: {out}");
    tally(checker, n, bad.len(), n - bad.len(), "refused");
    assert!(bad.is_empty(), "{checker}: refused:\n{}", bad.join("\n"));
}

fn negative(name: &str) -> PathBuf {
    manifest().join("tests/proxmox/negative").join(name)
}

#[test]
fn notifications_cfg_is_read_by_proxmox_notify() {
    let Some(t) = tools("notifications.cfg") else {
        return;
    };
    let mut n = 0;
    let mut bad = Vec::new();
    for (name, root) in applied() {
        let cfg = root.join("etc/pve/notifications.cfg");
        if !cfg.exists() {
            continue;
        }
        n += 1;
        let o = run(Command::new(&t.harness)
            .arg("notify")
            .arg(&cfg)
            .arg(root.join("etc/pve/priv/notifications.cfg")));
        if !o.status.success() {
            bad.push(format!("{name}: {}", text(&o)));
        }
    }
    assert!(n >= 3, "only {n} fixtures write notifications.cfg");
    // The negative control: the old same-name pair (an smtp target and a matcher both
    // called pve-firstboot), which the section config reduces to the matcher.
    let o = run(Command::new(&t.harness)
        .arg("notify")
        .arg(negative("notifications.cfg"))
        .arg(negative("priv-notifications.cfg")));
    assert!(
        !o.status.success() && text(&o).contains("does not exist after parsing"),
        "negative control accepted: {}",
        text(&o)
    );
    tally(
        "notifications.cfg (proxmox-notify)",
        n,
        bad.len(),
        n - bad.len(),
        "refused",
    );
    assert!(
        bad.is_empty(),
        "refused by proxmox-notify:\n{}",
        bad.join("\n")
    );
}

/// `qm`/`pvesm`/`pvesh`/`pct` command lines of a commands log. A file a command reads
/// (pvesm's `--encryption-key FILE`, pct's `--ssh-public-keys FILE`: the CLI classes'
/// `param_mapping` reads the file) is taken from the fixture's tree, where the run wrote it.
fn pve_commands(log: &str, root: &Path) -> Vec<String> {
    let in_tree = |l: &str| {
        for opt in [" --encryption-key /", " --ssh-public-keys /"] {
            if let Some((a, b)) = l.split_once(opt) {
                let (path, rest) = b.split_once(' ').unwrap_or((b, ""));
                let file = root.join(path);
                return format!(
                    "{a}{} '{}' {rest}",
                    &opt[..opt.len() - 2],
                    file.display().to_string().replace('\'', "'\\''")
                );
            }
        }
        l.to_string()
    };
    log.lines()
        .filter(|l| {
            ["qm ", "pvesm ", "pvesh ", "pct "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(in_tree)
        .collect()
}

#[test]
fn qm_and_pvesm_command_lines_pass_their_api_schemas() {
    let Some(t) = tools("qm/pvesm/pct command lines") else {
        return;
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    for (name, root) in applied() {
        for l in pve_commands(&commands_log(root), root) {
            lines.push((name.clone(), l));
        }
    }
    assert!(lines.len() >= 20, "only {} qm/pvesm lines", lines.len());
    let items: Vec<String> = lines.iter().map(|(_, l)| l.clone()).collect();
    let verdicts = perl_batch(&t, "commands", &items);
    let bad: Vec<String> = lines
        .iter()
        .zip(&verdicts)
        .filter_map(|((case, l), v)| v.as_ref().err().map(|why| format!("{case}: {l}\n  {why}")))
        .collect();
    let neg: Vec<String> = fs::read_to_string(negative("commands"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let refused = perl_batch(&t, "commands", &neg);
    for (l, v) in neg.iter().zip(&refused) {
        assert!(v.is_err(), "negative control accepted: {l}");
    }
    tally(
        "qm/pvesm/pct command lines (qemu-server, pve-storage, pve-container)",
        lines.len(),
        bad.len(),
        lines.len() - bad.len(),
        &format!("{} of {} refused", refused.len(), neg.len()),
    );
    assert!(bad.is_empty(), "refused:\n{}", bad.join("\n"));
}

#[test]
fn storage_cfg_after_pvesm_is_read_by_pve_storage() {
    let Some(t) = tools("storage.cfg") else {
        return;
    };
    each_root(
        "storage.cfg after pvesm (pve-storage)",
        10,
        |name, root| {
            let cfg = root.join("etc/pve/storage.cfg");
            let cmds = scratch(&format!("proxmox-storage-{name}")).join("commands");
            fs::write(
                &cmds,
                pve_commands(&commands_log(root), root).join("\n") + "\n",
            )
            .unwrap();
            cfg.exists().then(|| vec![cfg, cmds])
        },
        |args| perl(&t, &[&"storage", &args[0], &args[1]]),
        &[negative("storage.cfg"), negative("empty")],
    );
}

/// The secrets of every storage the runs add (`[[storage]]` cifs and pbs) are where
/// pve-storage's plugins read them, 0600, in their format: storage.cfg as pve-storage has it
/// after the run's pvesm lines, then each plugin's own file names (check.pl `privfiles`).
#[test]
fn storage_secrets_are_where_pve_storage_reads_them() {
    let Some(t) = tools("storage secrets") else {
        return;
    };
    let after = |name: &str, root: &Path| {
        let dir = scratch(&format!("proxmox-privfiles-{name}"));
        let cmds = dir.join("commands");
        fs::write(
            &cmds,
            pve_commands(&commands_log(root), root).join("\n") + "\n",
        )
        .unwrap();
        let out = dir.join("storage.cfg");
        let (ok, why) = perl_env(
            &t,
            &[("PVEFB_STORAGE_OUT", &out)],
            &[&"storage", &root.join("etc/pve/storage.cfg"), &cmds],
        );
        assert!(ok, "{name}: storage.cfg refused: {why}");
        out
    };
    each_root(
        "storage secret files (pve-storage)",
        1,
        |name, root| {
            // Every run that adds or already has a cifs or pbs storage.
            let log = commands_log(root);
            let cfg = fs::read_to_string(root.join("etc/pve/storage.cfg")).unwrap_or_default();
            let secret_kinds = log
                .lines()
                .any(|l| l.starts_with("pvesm add cifs") || l.starts_with("pvesm add pbs"))
                || cfg
                    .lines()
                    .any(|l| l.starts_with("cifs:") || l.starts_with("pbs:"));
            secret_kinds.then(|| vec![after(name, root), root.clone()])
        },
        |args| perl(&t, &[&"privfiles", &args[0], &args[1]]),
        // storage-network's storages against a tree without their files
        &[
            after(
                "negative",
                &applied()
                    .iter()
                    .find(|(n, _)| n == "storage-network")
                    .unwrap()
                    .1,
            ),
            negative("empty-root"),
        ],
    );
}

#[test]
fn jobs_cfg_is_read_by_pve_manager() {
    let Some(t) = tools("jobs.cfg") else {
        return;
    };
    each_root(
        "jobs.cfg (pve-manager, pve-guest-common)",
        2,
        |_, root| {
            let cfg = root.join("etc/pve/jobs.cfg");
            cfg.exists().then(|| vec![cfg])
        },
        |args| perl(&t, &[&"jobs", &args[0]]),
        &[negative("jobs.cfg")],
    );
}

#[test]
fn firewall_files_are_read_by_pve_firewall() {
    let Some(t) = tools("cluster.fw/host.fw") else {
        return;
    };
    each_root(
        "cluster.fw/host.fw (pve-firewall)",
        2,
        |name, root| {
            let cluster = root.join("etc/pve/firewall/cluster.fw");
            let host = fs::read_dir(root.join("etc/pve/nodes"))
                .into_iter()
                .flatten()
                .map(|e| e.unwrap().path().join("host.fw"))
                .find(|p| p.exists());
            if !cluster.exists() && host.is_none() {
                return None;
            }
            let dir = scratch(&format!("proxmox-fw-{name}"));
            if cluster.exists() {
                fs::copy(&cluster, dir.join("cluster.fw")).unwrap();
            }
            if let Some(h) = host {
                fs::copy(h, dir.join("host.fw")).unwrap();
            }
            Some(vec![dir])
        },
        |args| perl(&t, &[&"firewall", &args[0]]),
        &[negative("firewall")],
    );
}

/// `[hardening] admin-subnets` as pve-firewall compiles them: its `management` ipset holds
/// each subnet beside the local network (pinned by the checker), so the web UI and ssh,
/// which it accepts from that ipset, are open to them.
#[test]
fn admin_subnets_reach_pve_firewalls_management_ipset() {
    let Some(t) = tools("admin-subnets") else {
        return;
    };
    let (_, root) = applied()
        .iter()
        .find(|(n, _)| n == "hardening-admin-subnets")
        .expect("the fixture");
    let dir = scratch("proxmox-fw-admin-subnets");
    fs::copy(
        root.join("etc/pve/firewall/cluster.fw"),
        dir.join("cluster.fw"),
    )
    .unwrap();
    fs::copy(
        root.join("etc/pve/nodes/atlas/host.fw"),
        dir.join("host.fw"),
    )
    .unwrap();
    let out = dir.join("ipsets");
    let o = run(Command::new("perl")
        .arg(&t.check_pl)
        .arg("firewall")
        .arg(&dir)
        .env("PVEFB_HARNESS", &t.harness)
        .env("PVEFB_IPSETS_OUT", &out));
    assert!(o.status.success(), "{}", text(&o));
    let ipsets = fs::read_to_string(&out).unwrap();
    for net in ["192.168.10.0/24", "10.8.0.5", "192.0.2.0/24"] {
        assert!(
            ipsets.lines().any(|l| l.starts_with("add PVEFW-")
                && l.contains("management")
                && l.contains(net)),
            "{net} not in the management ipset:\n{ipsets}"
        );
    }
    println!("conformance: admin-subnets: in pve-firewall's compiled management ipset");
}

/// The schedules of the README's table of stricter rules: the first cell of each row of
/// the table after the line `<!-- schedules stricter than Proxmox -->`, a JSON string in
/// backticks.
fn readme_stricter() -> BTreeSet<String> {
    let readme = fs::read_to_string(manifest().join("README.md")).unwrap();
    let Some((_, rest)) = readme.split_once("<!-- schedules stricter than Proxmox -->") else {
        return BTreeSet::new();
    };
    rest.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| {
            let cell = l.trim_start_matches('|').split('|').next()?.trim();
            let json = cell.strip_prefix('`')?.strip_suffix('`')?;
            serde_like_unquote(json)
        })
        .collect()
}

/// A JSON string literal's value (the corpus and the README's table write schedules so,
/// tabs and leading spaces visible).
fn serde_like_unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next()? {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            _ => return None,
        }
    }
    Some(out)
}

fn json_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `schedule` of every answer case and fixture that has one.
fn answer_schedules() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "tests/answers/ok",
        "tests/answers/fail",
        "tests/fixtures",
        "examples",
    ] {
        for e in walkdir::WalkDir::new(manifest().join(dir)) {
            let e = e.unwrap();
            if e.path().extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let Ok(t) = fs::read_to_string(e.path()) else {
                continue;
            };
            let Ok(v) = t.parse::<toml::Table>() else {
                continue;
            };
            if let Some(s) = v
                .get("backup")
                .and_then(|b| b.get("schedule"))
                .and_then(|s| s.as_str())
            {
                out.push(s.to_string());
            }
        }
    }
    out
}

#[test]
fn schedules_agree_with_proxmox_time_or_are_in_the_readme() {
    let Some(t) = tools("schedules") else {
        return;
    };
    let corpus = fs::read_to_string(manifest().join("tests/proxmox/schedules")).unwrap();
    let mut all: Vec<String> = corpus
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_like_unquote(l).unwrap_or_else(|| panic!("corpus line {l:?}")))
        .collect();
    assert!(all.len() >= 150, "the corpus has {} schedules", all.len());
    all.extend(answer_schedules());
    all.sort();
    all.dedup();
    let items: Vec<String> = all.iter().map(|s| json_quote(s)).collect();
    let theirs = perl_batch(&t, "schedules", &items);
    let table = readme_stricter();
    let mut problems = Vec::new();
    let mut differ = BTreeSet::new();
    let mut refused = 0;
    for (s, v) in all.iter().zip(&theirs) {
        let ours = pve_firstboot::calendar::parse(s).is_ok();
        refused += v.is_err() as usize;
        match (ours, v) {
            (true, Err(why)) => problems.push(format!(
                "{}: we accept what Proxmox refuses ({why})",
                json_quote(s)
            )),
            (false, Ok(())) => {
                differ.insert(s.clone());
                if !table.contains(s) {
                    problems.push(format!(
                        "{}: we refuse what Proxmox accepts, and the README's table does not say why",
                        json_quote(s)
                    ));
                }
            }
            _ => {}
        }
    }
    for s in table.difference(&differ) {
        problems.push(format!(
            "{}: in the README's table, but not a schedule we refuse and Proxmox accepts (stale row, or missing from tests/proxmox/schedules)",
            json_quote(s)
        ));
    }
    let neg = perl_batch(&t, "schedules", &[json_quote("not a schedule")]);
    assert!(neg[0].is_err(), "negative control accepted");
    tally(
        "schedules (pve-common, proxmox-time)",
        all.len(),
        refused,
        all.len() - differ.len(),
        "refused",
    );
    println!(
        "conformance: schedules: {} refused by us and accepted by Proxmox, each in the README's table",
        differ.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether our validator refused something of the `[installer.*]` tables.
fn installer_refused(text: &str) -> Option<bool> {
    match pve_firstboot::answer::parse("answer.toml", text.as_bytes()) {
        Ok(_) => Some(false),
        Err(r) if r.lines.iter().any(|l| l.contains(": error: installer.")) => Some(true),
        // Refused for our own tables only: the installer part stands.
        Err(r) if r.lines.iter().any(|l| l.contains(": error: ")) => Some(false),
        Err(_) => None,
    }
}

/// Answer cases whose `[installer.*]` tables we refuse although pve-installer's static
/// checks accept them, each with why (its installer would install a host that is not what
/// the answer meant, or fail later at run time, where the static checks cannot see).
fn installer_stricter() -> Vec<(String, String)> {
    fs::read_to_string(manifest().join("tests/proxmox/installer-stricter"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(c, why)| (c.to_string(), why.trim().to_string()))
        .collect()
}

#[test]
fn the_proxmox_answer_passes_the_installers_own_checks() {
    let Some(t) = tools("installer answers") else {
        return;
    };
    let stricter = installer_stricter();
    let mut cases: Vec<PathBuf> = Vec::new();
    for dir in ["tests/answers/ok", "tests/answers/fail", "examples"] {
        cases.extend(
            fs::read_dir(manifest().join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml")),
        );
    }
    cases.sort();
    let dir = scratch("proxmox-installer");
    let (mut n, mut refused, mut agreed) = (0, 0, 0);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for case in &cases {
        let name = format!(
            "{}/{}",
            case.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy(),
            case.file_stem().unwrap().to_string_lossy()
        );
        let Ok(text) = fs::read_to_string(case) else {
            continue;
        };
        let Some(ours) = installer_refused(&text) else {
            continue;
        };
        // What `image` puts on the stick (src/image/iso.rs).
        let Ok(answer) = pve_firstboot::image::iso::proxmox_answer(&text) else {
            continue;
        };
        n += 1;
        let file = dir.join("answer.toml");
        fs::write(&file, &answer).unwrap();
        let o = run(Command::new(&t.assistant).arg("validate-answer").arg(&file));
        let theirs = !assistant_accepts(&o);
        refused += theirs as usize;
        if ours == theirs {
            agreed += 1;
            continue;
        }
        match stricter.iter().find(|(c, _)| *c == name) {
            Some(_) if ours && !theirs => {
                used.insert(name.clone());
            }
            _ => problems.push(format!(
                "{name}: pve-firstboot {} the installer tables, proxmox-auto-install-assistant {}:\n{}",
                if ours { "refuses" } else { "accepts" },
                if theirs { "refuses them" } else { "accepts them" },
                text_of(&o)
            )),
        }
    }
    for (c, _) in &stricter {
        if !used.contains(c) {
            problems.push(format!(
                "{c}: listed in tests/proxmox/installer-stricter, but not a case we refuse and the installer accepts"
            ));
        }
    }
    // The negative control: an answer the installer must refuse.
    let o = run(Command::new(&t.assistant)
        .arg("validate-answer")
        .arg(negative("installer-answer.toml")));
    assert!(
        !assistant_accepts(&o),
        "negative control accepted: {}",
        text_of(&o)
    );
    tally(
        "installer answers (pve-installer)",
        n,
        refused,
        agreed,
        "refused",
    );
    println!(
        "conformance: installer answers: {} refused by us only, each in tests/proxmox/installer-stricter with its reason",
        used.len()
    );
    assert!(n >= 100, "only {n} answer cases judged");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn text_of(o: &Output) -> String {
    text(o)
}

/// `validate-answer`'s verdict. It exits 0 either way (its `main` prints the error and
/// returns), so the verdict is its closing line.
fn assistant_accepts(o: &Output) -> bool {
    String::from_utf8_lossy(&o.stdout).contains("The answer file was parsed successfully")
        && !String::from_utf8_lossy(&o.stderr).contains("Error")
}
