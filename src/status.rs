//! `pve-firstboot status`: the state file for humans and for scripts.
//!
//! Exit status: 0 everything done, 1 a phase failed, 3 not finished yet (running, waiting
//! for the reboot, or never started).

use crate::engine::VERIFY;
use crate::state::{State, Status};

/// The overall status of a state: `done`, `failed`, `in-progress` or `not-started` (no
/// phase ever ran), and its exit code.
pub fn overall(st: &State) -> (&'static str, i32) {
    if st.started.is_none() && st.phases.iter().all(|p| p.attempts == 0) {
        ("not-started", 3)
    } else if st.phases.iter().any(|p| p.status == Status::Failed) {
        ("failed", 1)
    } else if st.finished.is_some() && st.phase(VERIFY).is_some_and(|p| p.status == Status::Done) {
        ("done", 0)
    } else {
        ("in-progress", 3)
    }
}

pub fn human(st: &State) -> String {
    let (word, _) = overall(st);
    let mut out = format!("pve-firstboot: {word}");
    if st.reboots > 0 {
        out.push_str(&format!(" (reboots: {})", st.reboots));
    }
    out.push('\n');
    if let Some(s) = &st.started {
        out.push_str(&format!("started:  {s}\n"));
    }
    if let Some(f) = &st.finished {
        out.push_str(&format!("finished: {f}\n"));
    }
    if st.reboot_requested_in.is_some() {
        out.push_str(&format!(
            "waiting for the reboot for: {}\n",
            st.reboot_for.join(", ")
        ));
    }
    for p in &st.phases {
        out.push_str(&format!("  {:<12} {:<8}", p.id, p.status.as_str()));
        if p.attempts > 1 {
            out.push_str(&format!(" (attempts: {})", p.attempts));
        }
        if let Some(r) = &p.reason {
            out.push_str(&format!(" {r}"));
        }
        out.push('\n');
        for c in &p.changes {
            out.push_str(&format!("      changed: {c}\n"));
        }
        for r in &p.results {
            out.push_str(&format!("      {r}\n"));
        }
    }
    if let Some(n) = &st.notified {
        out.push_str(&format!("notification: {n}\n"));
    }
    if word == "failed" {
        out.push_str("more: journalctl -u pve-firstboot.service\n");
    }
    out
}

pub(crate) fn js(s: &str) -> String {
    quoted(s, true)
}

/// `s` in double quotes with `"`, `\` and line ends escaped — the escapes JSON and curl's
/// config files (`-K`) share. Other control characters: `\u00XX` in JSON; curl's config
/// has no such escape, so there they become `?`.
pub(crate) fn quoted(s: &str, json: bool) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 && json => o.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => o.push('?'),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn js_opt(s: &Option<String>) -> String {
    s.as_deref().map_or("null".into(), js)
}

pub(crate) fn js_list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| js(s)).collect::<Vec<_>>().join(", ")
    )
}

/// The state as JSON (one object; std has no JSON writer and this is all we need of one).
pub fn json(st: &State) -> String {
    let (word, _) = overall(st);
    let phases: Vec<String> = st
        .phases
        .iter()
        .map(|p| {
            format!(
                "    {{\"id\": {}, \"status\": {}, \"attempts\": {}, \"started\": {}, \"finished\": {}, \
                 \"boot_id\": {}, \"reason\": {}, \"changes\": {}, \"results\": {}}}",
                js(&p.id),
                js(p.status.as_str()),
                p.attempts,
                js_opt(&p.started),
                js_opt(&p.finished),
                js(&p.boot_id),
                js_opt(&p.reason),
                js_list(&p.changes),
                js_list(&p.results)
            )
        })
        .collect();
    format!(
        "{{\n  \"status\": {},\n  \"version\": {},\n  \"started\": {},\n  \"finished\": {},\n  \"reboots\": {},\n  \
         \"waiting_for_reboot\": {},\n  \"phases\": [\n{}\n  ]\n}}\n",
        js(word),
        st.version,
        js_opt(&st.started),
        js_opt(&st.finished),
        st.reboots,
        st.reboot_requested_in.is_some(),
        phases.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes() {
        assert_eq!(js("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn overall_states() {
        let mut st = State::new();
        assert_eq!(overall(&st), ("not-started", 3));
        st.started = Some("x".into());
        assert_eq!(overall(&st), ("in-progress", 3));
        st.phase_mut("host").status = Status::Done;
        st.phase_mut(VERIFY).status = Status::Done;
        st.finished = Some("x".into());
        assert_eq!(overall(&st), ("done", 0));
        st.phase_mut("haos").status = Status::Failed;
        assert_eq!(overall(&st), ("failed", 1));
    }
}
