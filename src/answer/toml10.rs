//! TOML 1.1 syntax, refused: Proxmox's installer reads its answer with the `toml` 0.8 crate,
//! a TOML 1.0 parser (pve-installer: Cargo.toml, `toml = "0.8"`;
//! proxmox-auto-installer/src/bin/proxmox-auto-installer.rs, auto_installer_setup, calls
//! `toml::from_str`), while our parser also takes 1.1. An answer is one file in one syntax,
//! the one Proxmox reads, so the 1.1 additions that can appear in a valid answer are errors:
//! line breaks, comments and a trailing comma inside an inline table, and the `\e` and
//! `\xHH` escapes. (1.1's optional seconds only affect date-times, which no key takes.)

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::Diag;

const WHY: &str = "Proxmox's installer reads TOML 1.0";

/// Every TOML 1.1-only construct in `doc`, parsed from `text`.
pub fn check(text: &str, doc: &DeTable) -> Vec<Diag> {
    let mut out = Vec::new();
    walk_table(text, doc, "", &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk_table(text: &str, t: &DeTable, path: &str, out: &mut Vec<Diag>) {
    for (k, v) in t.iter() {
        walk_value(text, v, &join(path, k.get_ref()), out);
    }
}

fn walk_value(text: &str, v: &Spanned<DeValue>, path: &str, out: &mut Vec<Diag>) {
    let span = v.span();
    match v.get_ref() {
        DeValue::String(_) => check_escapes(text, &span, path, out),
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                walk_value(text, e, &format!("{path}[{i}]"), out);
            }
        }
        DeValue::Table(t) => {
            if text.get(span.clone()).is_some_and(|s| s.starts_with('{')) {
                check_inline(text, t, &span, path, out);
            }
            walk_table(text, t, path, out);
        }
        _ => {}
    }
}

/// `\e` and `\xHH` in a basic string are 1.1 additions.
fn check_escapes(text: &str, span: &Range<usize>, path: &str, out: &mut Vec<Diag>) {
    let Some(raw) = text.get(span.clone()) else {
        return;
    };
    if !raw.starts_with('"') {
        return; // literal strings have no escapes
    }
    let mut chars = raw.char_indices();
    while let Some((i, ch)) = chars.next() {
        if ch != '\\' {
            continue;
        }
        if let Some((_, e @ ('e' | 'x'))) = chars.next() {
            let at = span.start + i;
            out.push(Diag::error(
                &(at..at),
                path,
                format!("the escape \\{e} is TOML 1.1 and {WHY}; write the character as \\u00XX"),
            ));
        }
    }
}

/// The text of an inline table outside its keys and values must be one line without a
/// trailing comma: what is left when every key and value is blanked out.
fn check_inline(text: &str, t: &DeTable, span: &Range<usize>, path: &str, out: &mut Vec<Diag>) {
    let Some(raw) = text.get(span.clone()) else {
        return;
    };
    let mut skeleton: Vec<u8> = raw.as_bytes().to_vec();
    let mut blank = |r: Range<usize>| {
        let (a, b) = (r.start.max(span.start), r.end.min(span.end));
        for x in skeleton
            .iter_mut()
            .take(b.saturating_sub(span.start))
            .skip(a.saturating_sub(span.start))
        {
            *x = b' ';
        }
    };
    fn spans(t: &DeTable, into: &mut Vec<Range<usize>>) {
        for (k, v) in t.iter() {
            into.push(k.span());
            match v.get_ref() {
                // A dotted key inside the inline table: its parts are keys of their own.
                DeValue::Table(sub) if !sub.is_empty() && v.span().start == k.span().start => {
                    spans(sub, into)
                }
                _ => into.push(v.span()),
            }
        }
    }
    let mut all = Vec::new();
    spans(t, &mut all);
    for r in all {
        blank(r);
    }
    let skeleton = String::from_utf8_lossy(&skeleton);
    let inner = skeleton
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_end();
    let what = if skeleton.contains('\n') {
        Some("a line break")
    } else if skeleton.contains('#') {
        Some("a comment")
    } else if inner.ends_with(',') {
        Some("a trailing comma")
    } else {
        None
    };
    if let Some(what) = what {
        out.push(Diag::error(
            span,
            path,
            format!(
                "{what} inside an inline table is TOML 1.1 and {WHY}; keep {{ ... }} on one line without a trailing comma, or use a [table]"
            ),
        ));
    }
}
