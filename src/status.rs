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

/// For a terminal: every string the state holds (reasons quote errors, which quote
/// servers, files and commands) goes through [`printable`].
pub fn human(st: &State) -> String {
    let (word, _) = overall(st);
    let mut out = format!("pve-firstboot: {word}");
    if st.reboots > 0 {
        out.push_str(&format!(" (reboots: {})", st.reboots));
    }
    out.push('\n');
    if let Some(s) = &st.started {
        out.push_str(&format!("started:  {}\n", printable(s, false)));
    }
    if let Some(f) = &st.finished {
        out.push_str(&format!("finished: {}\n", printable(f, false)));
    }
    if st.reboot_requested_in.is_some() {
        out.push_str(&format!(
            "waiting for the reboot for: {}\n",
            printable(&st.reboot_for.join(", "), false)
        ));
    }
    for p in &st.phases {
        out.push_str(&format!(
            "  {:<12} {:<8}",
            printable(&p.id, false),
            p.status.as_str()
        ));
        if p.attempts > 1 {
            out.push_str(&format!(" (attempts: {})", p.attempts));
        }
        if let Some(r) = &p.reason {
            // A reason may list things on lines of its own (the devices present): kept,
            // indented under their phase so that no line of it reads as a phase's.
            out.push_str(&format!(
                " {}",
                printable(r, true).replace('\n', "\n      ")
            ));
        }
        out.push('\n');
        for c in &p.changes {
            out.push_str(&format!("      changed: {}\n", printable(c, false)));
        }
        for r in &p.results {
            out.push_str(&format!("      {}\n", printable(r, false)));
        }
    }
    if let Some(n) = &st.notified {
        out.push_str(&format!("notification: {}\n", printable(n, false)));
    }
    if word == "failed" {
        out.push_str("more: journalctl -u pve-firstboot.service\n");
    }
    out
}

pub(crate) fn js(s: &str) -> String {
    quoted(s, true)
}

/// `s` in double quotes with `"`, `\` and line ends escaped — the escapes JSON, TOML's
/// basic strings and curl's config files (`-K`) share. Every other control character (C0,
/// DEL and C1, which TOML 1.0 and a terminal would take raw): `\u00XX` in JSON and TOML;
/// curl's config has no such escape, so there they become `?`.
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
            c if c.is_control() && json => o.push_str(&format!("\\u{:04x}", c as u32)),
            c if c.is_control() => o.push('?'),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `s` as a TOML basic string on one line: the JSON escapes above are TOML's too. For
/// every value read from the machine or a file that goes into an answer we write.
pub fn toml_str(s: &str) -> String {
    quoted(s, true)
}

/// `s` safe to print to a terminal: every control character (ESC starts the escape
/// sequences that retitle, clear or rewrite a terminal; CR and a line break forge lines;
/// C1's CSI does the same on 8-bit terminals) shown as `\u{..}` instead, except line
/// breaks and tabs where `lines` (a diff, a multi-line report). For every string that came
/// from a file, a device or a server rather than from us.
pub fn printable(s: &str, lines: bool) -> std::borrow::Cow<'_, str> {
    let raw = |c: char| c.is_control() && !(lines && (c == '\n' || c == '\t'));
    if !s.chars().any(raw) {
        return s.into();
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if raw(c) {
            o.extend(c.escape_unicode());
        } else {
            o.push(c);
        }
    }
    o.into()
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

    /// Every control character, C1 and DEL included, is escaped: the result is one line
    /// that TOML reads back as the same string.
    #[test]
    fn toml_strings_and_printable_text() {
        let hostile = "a\u{1b}]0;x\u{7}\u{9b}1m\u{7f}\r\n[notify]\t\"\\ \u{ffff}";
        let line = toml_str(hostile);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let t: toml::Table = toml::from_str(&format!("k = {line}")).unwrap();
        assert_eq!(t["k"].as_str(), Some(hostile));
        let shown = printable(hostile, false);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.starts_with("a\\u{1b}]0;x\\u{7}\\u{9b}1m"), "{shown}");
        assert_eq!(printable("a\tb\nc\r", true), "a\tb\nc\\u{d}");
        assert!(matches!(
            printable("plain", false),
            std::borrow::Cow::Borrowed(_)
        ));
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
