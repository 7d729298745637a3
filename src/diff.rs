//! A unified diff of two texts, for `plan`. Config files are small, so a plain LCS table
//! is fast enough and keeps a diff library out of the 1 MiB hook.

const CONTEXT: usize = 3;
/// Beyond this many lines on both sides, the table would be large; say so instead.
const MAX_CELLS: usize = 16_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Keep,
    Del,
    Add,
}

pub fn unified(path: &str, old: Option<&str>, new: Option<&str>) -> String {
    let (a_name, b_name) = (
        if old.is_some() {
            format!("a{path}")
        } else {
            "/dev/null".into()
        },
        if new.is_some() {
            format!("b{path}")
        } else {
            "/dev/null".into()
        },
    );
    let a: Vec<&str> = old.map(|s| s.lines().collect()).unwrap_or_default();
    let b: Vec<&str> = new.map(|s| s.lines().collect()).unwrap_or_default();
    let mut out = format!("--- {a_name}\n+++ {b_name}\n");
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        out.push_str(&format!(
            "@@ {} lines replaced by {} lines (too large to diff) @@\n",
            a.len(),
            b.len()
        ));
        return out;
    }
    let ops = script(&a, &b);
    // Group the edit script into hunks with CONTEXT lines around each change.
    let changes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (o, _, _))| *o != Op::Keep)
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changes.len() {
        let start = changes[i].saturating_sub(CONTEXT);
        let mut end = (changes[i] + CONTEXT + 1).min(ops.len());
        while i + 1 < changes.len() && changes[i + 1] <= end + CONTEXT {
            i += 1;
            end = (changes[i] + CONTEXT + 1).min(ops.len());
        }
        let (a0, b0) = (ops[start].1, ops[start].2);
        let a_len = ops[start..end].iter().filter(|o| o.0 != Op::Add).count();
        let b_len = ops[start..end].iter().filter(|o| o.0 != Op::Del).count();
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n",
            if a_len == 0 { a0 } else { a0 + 1 },
            if b_len == 0 { b0 } else { b0 + 1 }
        ));
        for (op, ai, bi) in &ops[start..end] {
            match op {
                Op::Keep => out.push_str(&format!(" {}\n", a[*ai])),
                Op::Del => out.push_str(&format!("-{}\n", a[*ai])),
                Op::Add => out.push_str(&format!("+{}\n", b[*bi])),
            }
        }
        i += 1;
    }
    out
}

/// The edit script: (op, index in a, index in b) for every line, in order.
fn script(a: &[&str], b: &[&str]) -> Vec<(Op, usize, usize)> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * (m + 1) + j] = if a[i] == b[j] {
                lcs[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((Op::Keep, i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
            // Deletions first, as diff(1) prints them.
            ops.push((Op::Del, i, j));
            i += 1;
        } else {
            ops.push((Op::Add, i, j));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_change() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let d = unified("/etc/x", Some(old), Some(new));
        assert_eq!(
            d,
            "--- a/etc/x\n+++ b/etc/x\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
    }

    #[test]
    fn new_file() {
        let d = unified("/etc/y", None, Some("one\ntwo\n"));
        assert_eq!(
            d,
            "--- /dev/null\n+++ b/etc/y\n@@ -0,0 +1,2 @@\n+one\n+two\n"
        );
    }

    #[test]
    fn removed_file() {
        let d = unified("/etc/y", Some("one\n"), None);
        assert_eq!(d, "--- a/etc/y\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-one\n");
    }
}
