//! Proxmox's own Rust code, run on what pve-firstboot writes (tests/proxmox/run builds this
//! against the snapshots in PROXMOX_SRC; nothing of Proxmox's is copied here).
//!
//! `notify CFG PRIV`: `/etc/pve/notifications.cfg` and `priv/notifications.cfg` through
//!   proxmox-notify `Config::new` in PVE's context (its built-in `mail-to-root` and
//!   `default-matcher` merged in as pve-manager gets them), then: every section header of the
//!   file is still there after parsing (section config keeps one entry per name), every
//!   matcher's targets resolve (`api::get_targets`), an smtp target with a `username` has a
//!   password in the private file (proxmox-notify `endpoints/smtp.rs` refuses every send
//!   otherwise), and `Config::write` round-trips. Prints one line per target and matcher;
//!   exit 1 with the reasons when anything fails.
//! `calendar EVENT`: proxmox-time's `CalendarEvent` parser (what
//!   `Proxmox::RS::CalendarEvent->new` runs for pve-common `PVE::CalendarEvent`). Exit 0 when
//!   it parses, printing when it would next fire after 2026-01-01 00:00 UTC (`next EPOCH`,
//!   or `next never`; in the process's time zone unless the event says UTC), else exit 1
//!   and the parser's error.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use proxmox_notify::{Config, api};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["notify", cfg, private] => notify(cfg, private),
        ["calendar", event] => calendar(event),
        _ => Err(anyhow::anyhow!(
            "usage: pvefb-proxmox-harness notify CFG PRIV | calendar EVENT"
        )),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn calendar(event: &str) -> Result<()> {
    let ev = event
        .parse::<proxmox_time::CalendarEvent>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match ev.compute_next_event(1_767_225_600) {
        Ok(Some(t)) => println!("next {t}"),
        Ok(None) => println!("next never"),
        Err(e) => println!("next error {e}"),
    }
    Ok(())
}

/// `TYPE: ID` headers of a section-config text, in order.
fn headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#']) && !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(t, id)| (t.trim().to_string(), id.trim().to_string()))
        .collect()
}

fn notify(cfg_path: &str, priv_path: &str) -> Result<()> {
    proxmox_notify::context::set_context(&proxmox_notify::context::pve::PVE_CONTEXT);
    let read = |p: &str| -> Result<String> {
        match std::fs::read_to_string(p) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e).with_context(|| format!("reading {p}")),
        }
    };
    let (text, private) = (read(cfg_path)?, read(priv_path)?);
    let config = Config::new(&text, &private).context("proxmox-notify Config::new")?;
    let targets = api::get_targets(&config).map_err(|e| anyhow::anyhow!("get_targets: {e}"))?;
    let matchers =
        api::matcher::get_matchers(&config).map_err(|e| anyhow::anyhow!("get_matchers: {e}"))?;
    let mut problems = Vec::new();

    // `Target`'s fields are private: read them as the API serializes them (name, type).
    let targets: Vec<(String, String)> = serde_json::to_value(&targets)?
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["name"].as_str().unwrap_or("").into(), t["type"].as_str().unwrap_or("").into()))
        .collect();
    let names: BTreeSet<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    for (name, kind) in &targets {
        println!("target {name} {kind}");
    }
    for m in &matchers {
        println!("matcher {} -> {}", m.name, m.target.join(","));
        for t in &m.target {
            if !names.contains(t.as_str()) {
                problems.push(format!(
                    "matcher '{}' routes to target '{t}', which does not exist after parsing",
                    m.name
                ));
            }
        }
    }
    let matcher_names: BTreeSet<&str> = matchers.iter().map(|m| m.name.as_str()).collect();
    for (kind, id) in headers(&text) {
        let present = if kind == "matcher" {
            matcher_names.contains(id.as_str())
        } else {
            targets.iter().any(|(n, k)| *n == id && *k == kind)
        };
        if !present {
            problems.push(format!(
                "section '{kind}: {id}' of the file is gone after parsing (another section of that name replaced it)"
            ));
        }
    }

    let (written, written_priv) = config.write().context("proxmox-notify Config::write")?;
    for e in api::smtp::get_endpoints(&config).map_err(|e| anyhow::anyhow!("smtp: {e}"))? {
        if e.username.is_some() && !has_password(&written_priv, &e.name) {
            problems.push(format!(
                "smtp target '{}' has a username but no password in the private file: every send fails (\"username is set but no password was provided\")",
                e.name
            ));
        }
    }
    let again = Config::new(&written, &written_priv).context("re-reading what Config::write wrote")?;
    let same = |c: &Config| -> Result<String> {
        Ok(format!(
            "{}\n{}",
            serde_json::to_string(&api::get_targets(c).map_err(|e| anyhow::anyhow!("{e}"))?)?,
            serde_json::to_string(&api::matcher::get_matchers(c).map_err(|e| anyhow::anyhow!("{e}"))?)?
        ))
    };
    if same(&config)? != same(&again)? {
        problems.push("Config::write does not round-trip".into());
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

/// Whether the private section `smtp: NAME`, as proxmox-notify wrote it back, has a password.
fn has_password(private: &str, name: &str) -> bool {
    let mut inside = false;
    for l in private.lines() {
        if !l.starts_with([' ', '\t']) {
            inside = l.split_once(':').is_some_and(|(k, id)| k.trim() == "smtp" && id.trim() == name);
        } else if inside && l.trim_start().starts_with("password ") {
            return true;
        }
    }
    false
}
