//! Fixture roots: `pve-firstboot apply --root` on a tree that looks like what the Proxmox
//! installer leaves, compared with golden files.
//!
//! A case is a directory `tests/fixtures/NAME/` with
//! - `base`: the names of trees under `tests/roots/` to start from, one per line, laid
//!   over each other in order (e.g. a Proxmox install, then a machine's /sys and /proc),
//! - `overlay/` (optional): files that differ from that tree,
//! - `answer.toml`: the answer to apply,
//! - `expected/`: every file the run creates or changes, with its full expected content,
//! - `commands.log`: the commands the run records, in order,
//! - `apply.out`: what `apply` prints,
//! - `modes`: the mode of every file the run creates or changes (`0644 etc/...`),
//! - `removed` (optional): files the run removes, one per line,
//! - `exit` (optional): the expected exit status; without it 0 (done) or 3 (reboot asked).
//!
//! Every case is applied twice: the second run must change nothing at all.
//!
//! Beside the golden files, what each run did is judged by what it means
//! (`common::behaviour`): the guests as qemu-server would have them after the recorded `qm`
//! commands (a display unless a passed GPU is the primary one, started only with its
//! devices on vfio-pci and none of the host's in their groups, started when the answer says
//! so, `onboot` following the start, disks only on storages that hold VM disks) and the
//! backup job (exactly the guests `guests` names, on a storage that takes backups).
//!
//! `BLESS=1 cargo test --test fixtures` rewrites the expected files from a run and prints
//! every line it changes; a case whose run fails those behaviour checks is not blessed.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pve-firstboot")
}

fn apply(answer: &Path, root: &Path) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(["apply"])
        .arg(answer)
        .arg("--root")
        .arg(root)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files under a case's `expected/`, by their path inside it.
fn expected_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy();
            (rel.into_owned(), fs::read(e.path()).unwrap())
        })
        .collect()
}

/// A case applied: what differs from its golden files (or is not idempotent), and what
/// the run did wrong by the behaviour checks.
struct Checked {
    golden: Vec<String>,
    faults: Vec<String>,
}

fn check_case(case: &Path) -> Checked {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let mut bad = Vec::new();
    let root = prepare(case, &name);
    let before = snapshot(&root);
    let (code, stdout, stderr) = apply(&case.join("answer.toml"), &root);
    let allowed = match fs::read_to_string(case.join("exit")) {
        Ok(s) => vec![s.trim().parse::<i32>().unwrap()],
        Err(_) => vec![0, 3],
    };
    if !allowed.contains(&code) {
        bad.push(format!(
            "{name}: apply exited {code}, expected {allowed:?}\n{stdout}{stderr}"
        ));
    }
    let after = snapshot(&root);
    let commands = commands_log(&root);

    // What changed, relative to the starting tree.
    let changed: Vec<(&String, &Entry)> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .collect();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let expected_dir = case.join("expected");
    // What the run did, judged by what it means (the guests, the backup job), before any
    // golden file: a run that does the wrong thing is reported, and never blessed.
    let answer_text = fs::read_to_string(case.join("answer.toml")).unwrap();
    let faults: Vec<String> = common::behaviour::faults(&root, &answer_text, &commands)
        .into_iter()
        .map(|f| format!("{name}: {f}"))
        .collect();
    if bless() && !faults.is_empty() {
        bad.push(format!(
            "{name}: not blessed: the run does the wrong thing (see the behaviour test)"
        ));
    }
    let bless = bless() && faults.is_empty();
    // Modes are part of what a phase writes (a rules file 0666 is a defect, a secret wider
    // than 0600 a leak); git keeps only the x bit, so they live in a file of their own.
    let modes: String = changed
        .iter()
        .filter_map(|(rel, e)| match e {
            Entry::File(_, mode) => Some(format!("{mode:04o} {rel}\n")),
            Entry::Link(_) => None,
        })
        .collect();
    if bless {
        bless_file(&case.join("modes"), Some(modes.as_bytes()));
    } else {
        let want = fs::read_to_string(case.join("modes")).unwrap_or_default();
        if want != modes {
            bad.push(format!(
                "{name}: file modes differ\n--- expected\n{want}--- actual\n{modes}"
            ));
        }
    }
    if bless {
        // Every line that changes is printed (`bless_file`): files no longer written go,
        // the others are rewritten.
        let written: std::collections::BTreeMap<&String, &Vec<u8>> = changed
            .iter()
            .filter_map(|(rel, e)| match e {
                Entry::File(data, _) => Some((*rel, data)),
                Entry::Link(_) => None,
            })
            .collect();
        for rel in expected_files(&expected_dir).keys() {
            if !written.contains_key(rel) {
                bless_file(&expected_dir.join(rel), None);
            }
        }
        for (rel, data) in written {
            bless_file(&expected_dir.join(rel), Some(data));
        }
        bless_file(&case.join("commands.log"), Some(commands.as_bytes()));
        bless_file(&case.join("apply.out"), Some(stdout.as_bytes()));
    } else {
        let want = expected_files(&expected_dir);
        for (rel, e) in &changed {
            match (want.get(*rel), e) {
                (Some(w), Entry::File(d, _)) if w == d => {}
                (Some(w), Entry::File(d, _)) => bad.push(format!(
                    "{name}: {rel} differs from expected/\n--- expected\n{}--- actual\n{}",
                    String::from_utf8_lossy(w),
                    String::from_utf8_lossy(d)
                )),
                _ => bad.push(format!("{name}: {rel} changed but is not in expected/")),
            }
        }
        for rel in want.keys() {
            if !changed.iter().any(|(k, _)| *k == rel) {
                bad.push(format!("{name}: expected/{rel} was not written"));
            }
        }
        let want_cmds = fs::read_to_string(case.join("commands.log")).unwrap_or_default();
        if want_cmds != commands {
            bad.push(format!(
                "{name}: commands differ\n--- expected\n{want_cmds}--- actual\n{commands}"
            ));
        }
        let want_out = fs::read_to_string(case.join("apply.out")).unwrap_or_default();
        if want_out != stdout {
            bad.push(format!(
                "{name}: apply output differs\n--- expected\n{want_out}--- actual\n{stdout}"
            ));
        }
    }
    let removed_list: String = removed.iter().map(|r| format!("{r}\n")).collect();
    if bless {
        bless_file(
            &case.join("removed"),
            (!removed.is_empty()).then_some(removed_list.as_bytes()),
        );
    } else if fs::read_to_string(case.join("removed")).unwrap_or_default() != removed_list {
        bad.push(format!(
            "{name}: files removed: {removed:?}, expected those in `removed`"
        ));
    }
    for (rel, _) in &changed {
        let Entry::File(data, _) = after[*rel].clone() else {
            continue;
        };
        let text = String::from_utf8_lossy(&data);
        let mut seen = std::collections::HashSet::new();
        // A deb822 file (sources.list(5)) is stanzas separated by blank lines, each with
        // its own Types/URIs/Components.
        let deb822 = rel.ends_with(".sources");
        for l in text
            .lines()
            .map(str::trim)
            // Lines with a word in them; braces and blank lines repeat by nature.
            .filter(|l| {
                (deb822 && l.is_empty())
                    || !l.starts_with('#') && l.chars().any(char::is_alphanumeric)
            })
        {
            if l.is_empty() {
                seen.clear();
                continue;
            }
            // An INI section starts afresh: `enabled = true` belongs in every jail; so does
            // a Proxmox section-config one (`vzdump: ID`, `smtp: ID`): two jobs may share
            // `enabled 1`.
            let section_config = l.split_once(": ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            }) && text.contains("\n\t");
            if l.starts_with('[') || section_config {
                seen.clear();
                continue;
            }
            if !seen.insert(l) {
                bad.push(format!("{name}: {rel}: line written twice: {l}"));
            }
        }
    }

    // Idempotence: the second run changes nothing, records no command, and says so.
    let (code2, stdout2, stderr2) = apply(&case.join("answer.toml"), &root);
    if code2 != code {
        bad.push(format!(
            "{name}: second apply exited {code2}, first {code}\n{stdout2}{stderr2}"
        ));
    }
    if snapshot(&root) != after {
        bad.push(format!("{name}: the second apply changed the tree"));
    }
    if commands_log(&root) != commands {
        bad.push(format!(
            "{name}: the second apply ran commands:\n{}",
            &commands_log(&root)[commands.len()..]
        ));
    }
    if !stdout2.contains("no changes\n") {
        bad.push(format!(
            "{name}: the second apply does not say \"no changes\":\n{stdout2}"
        ));
    }
    Checked {
        golden: bad,
        faults,
    }
}

/// Every case, applied once for both tests below.
fn checked() -> &'static [(String, Checked)] {
    static ALL: std::sync::OnceLock<Vec<(String, Checked)>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let dir = manifest().join("tests/fixtures");
        let mut cases: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("answer.toml").is_file())
            .collect();
        cases.sort();
        assert!(!cases.is_empty());
        cases
            .iter()
            .map(|c| {
                (
                    c.file_name().unwrap().to_string_lossy().into_owned(),
                    check_case(c),
                )
            })
            .collect()
    })
}

/// Every case's findings of one kind, as one failure that lists them all.
fn assert_none(pick: fn(&Checked) -> &Vec<String>) {
    let bad: Vec<&str> = checked()
        .iter()
        .flat_map(|(_, c)| pick(c))
        .map(String::as_str)
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

#[test]
fn fixture_roots_match_golden_files_and_are_idempotent() {
    assert_none(|c| &c.golden);
}

/// What each case's run did, judged by what it means for the admin (see the module's
/// comment), not by its text: a wrong golden file cannot hide a wrong run.
#[test]
fn fixture_runs_do_what_their_answers_say() {
    assert_none(|c| &c.faults);
}
