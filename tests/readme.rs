//! The README as an admin follows it (issue 33): every command line of its `sh` blocks runs
//! (here, from a copy of the repository, or in the script named for it), its Commands
//! section lists every command with the options its `--help` gives, and it names the
//! installer release `image` really needs.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

fn readme() -> String {
    fs::read_to_string(manifest().join("README.md")).unwrap()
}

/// The command lines of every ```sh block, with their line numbers: comment-only and blank
/// lines left out.
fn sh_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("```") {
            inside = l == "```sh";
            continue;
        }
        let t = l.trim();
        if inside && !t.is_empty() && !t.starts_with('#') {
            out.push((i + 1, t.to_string()));
        }
    }
    out
}

/// Lines another script runs, as the README says: what each starts with, the script, and
/// what the script must contain to show it takes the line from the README.
const ELSEWHERE: [(&str, &str, &str); 3] = [
    // The whole suite, which runs this test: CI runs it.
    ("bash tests/run-all", ".ci/run", "tests/run-all"),
    // A release build, an installer ISO and the publishers.
    (
        "pve-firstboot image --iso ",
        "tests/image/run",
        "/^## Building and flashing an ISO/",
    ),
    ("dd if=", "tests/image/run", "readme_lines[1]"),
];

/// The status a line expects: `exit N` in its comment, else 0.
fn expected_exit(line: &str) -> i32 {
    line.split_once(" # ")
        .and_then(|(_, c)| c.trim().strip_prefix("exit "))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_example_in_the_readme_runs() {
    let text = readme();
    let lines = sh_lines(&text);
    assert!(lines.len() >= 12, "{lines:?}");
    // A copy of what the examples name: `apply` may change its tree.
    let dir = scratch("readme-examples");
    for sub in ["examples", "tests/roots"] {
        copy_tree(&manifest().join(sub), &dir.join(sub));
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_pve-firstboot"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for (n, line) in &lines {
        if let Some((_, script, marker)) = ELSEWHERE.iter().find(|(p, _, _)| line.starts_with(p)) {
            let s = fs::read_to_string(manifest().join(script))
                .unwrap_or_else(|e| panic!("README.md:{n}: {script}: {e}"));
            assert!(
                s.contains(marker),
                "README.md:{n}: {script} no longer runs {line:?}"
            );
            continue;
        }
        // `cargo run --release -- ARGS` is the binary this test was built with.
        let cmd = line.replacen("cargo run --release -- ", "pve-firstboot ", 1);
        assert!(
            cmd.starts_with("pve-firstboot ") || cmd.starts_with("cp "),
            "README.md:{n}: a line no test runs: {line:?}"
        );
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", &cmd])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(expected_exit(line)),
            "README.md:{n}: {line}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.stdout.is_empty() || line.starts_with("cp "),
            "README.md:{n}: {line}: no output"
        );
        ran += 1;
    }
    assert!(ran >= 12, "{ran} lines run");
}

/// `pve-firstboot validate [FILE] [--print]` out of a usage line (the synopsis ends where
/// two spaces start the description).
fn synopsis(l: &str) -> Option<String> {
    let l = l.trim_start();
    l.starts_with("pve-firstboot ")
        .then(|| l.split("  ").next().unwrap().trim().to_string())
}

/// The Commands section's block lists every command with exactly the options of its usage
/// (`pve-firstboot --help`, the agent's and the workstation's commands).
#[test]
fn the_commands_section_lists_every_command_with_its_options() {
    let help = Command::new(env!("CARGO_BIN_EXE_pve-firstboot"))
        .arg("--help")
        .output()
        .unwrap();
    let usage: BTreeSet<String> = String::from_utf8_lossy(&help.stdout)
        .lines()
        .filter_map(synopsis)
        .collect();
    let text = readme();
    let at = text.find("\n## Commands\n").expect("a Commands section");
    let block = &text[at..];
    let start = block.find("\n```\n").unwrap() + 5;
    let end = start + block[start..].find("\n```").unwrap();
    let listed: BTreeSet<String> = block[start..end].lines().filter_map(synopsis).collect();
    assert_eq!(
        usage.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the usage, not in the README's Commands"
    );
    assert_eq!(
        listed.difference(&usage).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the README's Commands, not in the usage"
    );
    // Every command of both binaries, from their own tables.
    for c in pve_firstboot::cli::ALL
        .iter()
        .flat_map(|c| c.iter())
        .map(|c| c.name)
    {
        assert!(
            listed
                .iter()
                .any(|l| l.starts_with(&format!("pve-firstboot {c} "))),
            "{c}"
        );
    }
}

/// The release `image` needs, said as it is: the example answer and the README name
/// `MIN_RELEASE` as the minimum, and the flashing example is a PVE 9 ISO (PVE 8 is end of
/// life).
#[test]
fn the_texts_name_the_installer_image_needs() {
    let (major, minor) = pve_firstboot::image::iso::MIN_RELEASE;
    let min = format!("{major}.{minor} or newer");
    let example = fs::read_to_string(manifest().join("examples/homeserver.toml")).unwrap();
    let text = readme();
    assert!(example.contains(&format!("PVE {min}")), "example: {min}");
    assert!(text.contains(&min), "README: {min}");
    for (name, t) in [("example", &example), ("README", &text)] {
        assert!(!t.contains("8.2+"), "{name} names PVE 8.2");
    }
    let image = sh_lines(&text)
        .into_iter()
        .find(|(_, l)| l.starts_with("pve-firstboot image --iso "))
        .expect("the flashing example");
    assert!(image.1.contains("--iso proxmox-ve_9."), "{image:?}");
    assert!(example.contains("install from a PVE 9"), "example");
}
