//! The network phase beyond its golden files: the rollback when the gateway is lost, and
//! the generated nftables and dnsmasq configuration checked by the real programs.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use pve_firstboot::answer;
use pve_firstboot::engine::{Engine, Outcome, RunMode};
use pve_firstboot::host::Host;
use pve_firstboot::phases::Phase;
use pve_firstboot::phases::network::NetworkPhase;
use pve_firstboot::state::Status;

fn answer_of(case: &str) -> answer::Answer {
    let p = manifest()
        .join("tests/fixtures")
        .join(case)
        .join("answer.toml");
    answer::parse("answer.toml", &fs::read(p).unwrap())
        .unwrap_or_else(|r| panic!("{r}"))
        .answer
}

#[test]
fn a_lost_gateway_restores_the_previous_files() {
    let root = scratch("network-rollback");
    copy_tree(&manifest().join("tests/roots/pve8"), &root);
    // Without the source line, so the phase changes the installer's file too.
    let main = root.join("etc/network/interfaces");
    let original = fs::read_to_string(&main)
        .unwrap()
        .replace("source /etc/network/interfaces.d/*\n", "");
    fs::write(&main, &original).unwrap();
    let a = answer_of("network-pve8");
    let host = Host::rooted(&root);
    let phases: Vec<Box<dyn Phase>> = vec![Box::new(NetworkPhase {
        gateway_check: |_, _| Ok(Some(false)),
    })];
    let report = Engine {
        host: &host,
        answer: &a,
        phases,
        mode: RunMode::Converge,
    }
    .run()
    .unwrap();
    assert_eq!(report.outcome, Outcome::Failed);
    let p = &report.phases[0];
    assert_eq!(p.status, Status::Failed);
    let why = p.reason.as_deref().unwrap();
    assert!(
        why.contains("the management gateway 10.0.200.1 did not answer")
            && why.contains("restored the previous /etc/network/interfaces and /etc/network/interfaces.d/pve-firstboot"),
        "{why}"
    );
    assert_eq!(
        fs::read_to_string(&main).unwrap(),
        original,
        "interfaces restored byte for byte"
    );
    assert!(
        !root.join("etc/network/interfaces.d/pve-firstboot").exists(),
        "the new bridge file is gone"
    );
    assert_eq!(
        commands_log(&root),
        "ifreload -a\nifreload -a\n",
        "reloaded again after restoring"
    );
}

fn generated(case: &str, test: &str) -> std::path::PathBuf {
    let (root, out) = apply_fixture(case, &format!("network-gen-{test}-{case}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (install nftables and dnsmasq-base)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nft_accepts_the_rules() {
    for case in ["network-pve8", "network-no-source-line"] {
        let root = generated(case, "nft");
        run_ok(
            Command::new("nft")
                .arg("-c")
                .arg("-f")
                .arg(root.join("etc/pve-firstboot/vm-network.nft")),
        );
    }
}

#[test]
fn dnsmasq_accepts_its_configuration_as_the_unit_starts_it() {
    let root = generated("network-pve8", "dnsmasq");
    let conf = root.join("etc/pve-firstboot/dnsmasq-vm-bridge.conf");
    let unit =
        fs::read_to_string(root.join("etc/systemd/system/pve-firstboot-dnsmasq.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace();
    let prog = words.next().unwrap();
    assert_eq!(Path::new(prog), Path::new("/usr/sbin/dnsmasq"));
    let args: Vec<String> = words
        .map(|w| {
            w.replace(
                "/etc/pve-firstboot/dnsmasq-vm-bridge.conf",
                conf.to_str().unwrap(),
            )
        })
        .collect();
    run_ok(Command::new(prog).args(&args).arg("--test"));
}
