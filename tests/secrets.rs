//! The root password — plain or hashed — never leaves the answer: not in any output (at
//! `RUST_LOG=trace`), not in the state, the commands log, the hook, the installed answer or
//! any other file the agent writes. Every command's exit status is asserted, and the search
//! itself is shown to work on the answer (a positive control), so this test can fail.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::*;

const PLAIN: &str = "Zebra-Quartz-Lantern-8841";
// Not the example answer's hash: that one is in the binary (the embedded example).
const HASH: &str = "$y$j9T$Qx7pL2mN9sR4tV6wY8zA1/$Hk3Jd5Fg7Lm9Np1Qr3St5Vw7Xy9Za1Bc3De5Fg7Hj";

fn answer(password_line: &str) -> String {
    format!(
        "{}\n[hardening]\nfirewall = false\n",
        installer_tables(password_line)
    )
}

fn pvefb(args: &[&str]) -> Output {
    agent(args, "trace")
}

/// Every byte a command printed and every file under `dir`, as one haystack.
fn haystack(outputs: &[Output], dirs: &[&Path]) -> Vec<u8> {
    let mut all = Vec::new();
    for o in outputs {
        all.extend_from_slice(&o.stdout);
        all.extend_from_slice(&o.stderr);
    }
    for d in dirs {
        for e in walkdir::WalkDir::new(d).into_iter().flatten() {
            if e.file_type().is_file() {
                all.extend_from_slice(&fs::read(e.path()).unwrap_or_default());
            }
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_root_password_never_leaves_the_answer() {
    for (case, line, secret) in [
        ("plain", format!("root-password = \"{PLAIN}\""), PLAIN),
        ("hashed", format!("root-password-hashed = \"{HASH}\""), HASH),
    ] {
        let dir = scratch(&format!("secrets-{case}"));
        let file = dir.join("answer.toml");
        fs::write(&file, answer(&line)).unwrap();
        let a = file.to_str().unwrap();
        // The positive control: the search finds the secret where it is.
        assert!(contains(&haystack(&[], &[&dir]), secret), "{case}");

        let root = dir.join("root");
        copy_tree(&manifest().join("tests/roots/pve9"), &root);
        let r = root.to_str().unwrap();
        let hook = dir.join("out/hook");
        fs::create_dir_all(hook.parent().unwrap()).unwrap();
        let mut outs = Vec::new();
        for (args, want) in [
            (vec!["validate", a], 0),
            (vec!["validate", "--print", a], 0),
            (vec!["plan", a, "--root", r], 0),
            (vec!["apply", a, "--root", r], 0),
            (vec!["status", "--root", r], 0),
            (vec!["status", "--json", "--root", r], 0),
        ] {
            let o = pvefb(&args);
            assert_eq!(
                o.status.code(),
                Some(want),
                "{case}: {args:?}\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            outs.push(o);
        }
        // The hook, built as `hook` and `image` build it (the agent's bytes aside: a debug
        // build is far over Proxmox's 1 MiB), then run as Proxmox runs it, into a second
        // root: hand-over, then the unit's run.
        let text = fs::read_to_string(&file).unwrap();
        let for_host = pve_firstboot::answer::for_host(&text).unwrap();
        let built = pve_firstboot::image::hook::build("test", &for_host, b"agent").unwrap();
        fs::write(&hook, &built).unwrap();
        let host = dir.join("host");
        copy_tree(&manifest().join("tests/roots/pve9"), &host);
        let hook_in = host.join("var/lib/proxmox-first-boot/proxmox-first-boot");
        fs::create_dir_all(hook_in.parent().unwrap()).unwrap();
        fs::copy(&hook, &hook_in).unwrap();
        let h = host.to_str().unwrap();
        for args in [
            vec![
                "hand-over",
                "--hook",
                "/var/lib/proxmox-first-boot/proxmox-first-boot",
                "--root",
                h,
            ],
            vec!["run", "--root", h],
            vec!["status", "--root", h],
        ] {
            let o = pvefb(&args);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{case}: {args:?}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            outs.push(o);
        }
        assert!(
            host.join("etc/pve-firstboot/answer.toml").is_file(),
            "{case}: the answer was installed"
        );
        // The most verbose log really was written (the search covers it): read-only
        // commands are logged at debug level.
        assert!(
            outs.iter()
                .any(|o| contains(&o.stderr, "pve-firstboot: debug: ")),
            "{case}: RUST_LOG=trace produced no debug lines"
        );
        let hay = haystack(&outs, &[&root, &host, &hook]);
        assert!(!contains(&hay, secret), "{case}: the secret leaked");
        // Nor a recognisable piece of it (a log line cut at a width).
        assert!(
            !contains(&hay, &secret[..12]),
            "{case}: part of the secret leaked"
        );
    }
}
