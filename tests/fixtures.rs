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
//! `BLESS=1 cargo test --test fixtures` rewrites the expected files from a run.

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

fn check_case(case: &Path) -> Vec<String> {
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
    // Modes are part of what a phase writes (a rules file 0666 is a defect, a secret wider
    // than 0600 a leak); git keeps only the x bit, so they live in a file of their own.
    let modes: String = changed
        .iter()
        .filter_map(|(rel, e)| match e {
            Entry::File(_, mode) => Some(format!("{mode:04o} {rel}\n")),
            Entry::Link(_) => None,
        })
        .collect();
    if bless() {
        fs::write(case.join("modes"), &modes).unwrap();
    } else {
        let want = fs::read_to_string(case.join("modes")).unwrap_or_default();
        if want != modes {
            bad.push(format!(
                "{name}: file modes differ\n--- expected\n{want}--- actual\n{modes}"
            ));
        }
    }
    if bless() {
        let _ = fs::remove_dir_all(&expected_dir);
        for (rel, e) in &changed {
            if let Entry::File(data, _) = e {
                let p = expected_dir.join(rel);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, data).unwrap();
            }
        }
        fs::write(case.join("commands.log"), &commands).unwrap();
        fs::write(case.join("apply.out"), &stdout).unwrap();
    } else {
        let mut want = std::collections::BTreeMap::new();
        if expected_dir.is_dir() {
            for e in walkdir::WalkDir::new(&expected_dir).min_depth(1) {
                let e = e.unwrap();
                if e.file_type().is_file() {
                    let rel = e
                        .path()
                        .strip_prefix(&expected_dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    want.insert(rel, fs::read(e.path()).unwrap());
                }
            }
        }
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
    if bless() {
        if removed.is_empty() {
            let _ = fs::remove_file(case.join("removed"));
        } else {
            fs::write(case.join("removed"), &removed_list).unwrap();
        }
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
        for l in text
            .lines()
            .map(str::trim)
            // Lines with a word in them; braces and blank lines repeat by nature.
            .filter(|l| !l.starts_with('#') && l.chars().any(char::is_alphanumeric))
        {
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
    bad
}

#[test]
fn fixture_roots_match_golden_files_and_are_idempotent() {
    let dir = manifest().join("tests/fixtures");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("answer.toml").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let bad: Vec<String> = cases.iter().flat_map(|c| check_case(c)).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}
