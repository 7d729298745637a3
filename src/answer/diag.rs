//! Diagnostics for the answer file: one line each, `FILE:LINE:COLUMN: error: KEY.PATH: text`.
//!
//! Spans are byte ranges into the source; they are turned into 1-based line and column
//! (in characters, as editors count them) only when a diagnostic is printed.

use std::fmt;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub severity: Severity,
    /// Byte offset into the source where the problem is.
    pub at: usize,
    /// Dotted key path, e.g. `installer.global.fqdn` or `network.port-forward[1].port`.
    pub key: String,
    pub message: String,
}

impl Diag {
    pub fn error(span: &Range<usize>, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diag {
            severity: Severity::Error,
            at: span.start,
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn warning(
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(span, key, message)
        }
    }
}

/// The text a diagnostic refers to, with its name as the user gave it.
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column of a byte offset; offsets past the end or inside a
    /// multi-byte character are clamped so that this never panics.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    pub fn render(&self, d: &Diag) -> String {
        let (line, col) = self.line_col(d.at);
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if d.key.is_empty() {
            format!("{}:{line}:{col}: {sev}: {}", self.name, d.message)
        } else {
            format!(
                "{}:{line}:{col}: {sev}: {}: {}",
                self.name, d.key, d.message
            )
        }
    }
}

/// All diagnostics of one answer file, errors and warnings, in source order.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub errors: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

impl Report {
    pub fn new(src: &Source, mut diags: Vec<Diag>) -> Self {
        // Source order first, so the output reads top to bottom like the file.
        diags.sort_by(|a, b| (a.at, a.severity, &a.key).cmp(&(b.at, b.severity, &b.key)));
        diags.dedup();
        Report {
            errors: diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count(),
            lines: diags.iter().map(|d| src.render(d)).collect(),
        }
    }

    /// A problem with the file as a whole (unreadable, too large, not UTF-8).
    pub fn file_error(name: &str, line: usize, col: usize, message: &str) -> Self {
        Report {
            lines: vec![format!("{name}:{line}:{col}: error: {message}")],
            errors: 1,
        }
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_and_clamps() {
        let s = Source {
            name: "a.toml",
            text: "ab\nüx = 1\n",
        };
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        // 'x' is after a two-byte 'ü': byte 5, column 2.
        assert_eq!(s.line_col(5), (2, 2));
        // Inside the 'ü' and past the end never panic.
        assert_eq!(s.line_col(4), (2, 1));
        assert_eq!(s.line_col(999), (3, 1));
    }
}
