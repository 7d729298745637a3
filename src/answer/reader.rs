//! A typed, error-collecting walk over a spanned TOML table.
//!
//! serde's derive stops at the first problem; an admin fixing an answer file wants every
//! problem at once, each pointing at its key. So tables are read key by key: every getter
//! records the key as known, reports a wrong type at the value, and `finish` reports every
//! key nobody asked for (typos are errors, not silently ignored).

use std::ops::{Range, RangeInclusive};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::Diag;

/// A value with the span of its text in the answer file.
#[derive(Clone, Debug)]
pub struct Sp<T> {
    pub v: T,
    pub span: Range<usize>,
}

/// Collects diagnostics while the answer is read.
#[derive(Default)]
pub struct Checker {
    pub diags: Vec<Diag>,
    /// Reading the copy installed on the host, from which the root password was left out
    /// on purpose (the installer has used it; the agent never needs it).
    pub installed: bool,
    /// Every storage a table names (`[haos]`, `[[vm]]`, `[backup]`), for the rule that it
    /// exists and holds what goes there (`schema/storage.rs`, `check_uses`).
    pub storage_uses: Vec<StorageUse>,
    /// `[installer.disk-setup] filter.ID_SERIAL`, the glob the install picks its disks by,
    /// for the rule that a `[[storage]]` disk is not one of them.
    pub install_serial_glob: Option<String>,
}

/// A storage named by a key, and the content it must hold there.
#[derive(Clone, Debug)]
pub struct StorageUse {
    pub key: String,
    pub id: String,
    pub span: Range<usize>,
    /// `images` (a VM's disks) or `backup`.
    pub content: &'static str,
}

impl Checker {
    pub fn error(&mut self, span: &Range<usize>, key: &str, msg: impl Into<String>) {
        self.diags.push(Diag::error(span, key, msg));
    }
    pub fn warning(&mut self, span: &Range<usize>, key: &str, msg: impl Into<String>) {
        self.diags.push(Diag::warning(span, key, msg));
    }
}

pub fn type_name(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// One table of the answer file being read.
pub struct Tbl<'t, 'i> {
    pub path: String,
    /// Where the table is defined (its `[header]`, or its key for inline and implicit tables):
    /// missing keys are reported here.
    pub span: Range<usize>,
    table: &'t DeTable<'i>,
    known: Vec<&'static str>,
}

impl<'t, 'i> Tbl<'t, 'i> {
    pub fn new(path: impl Into<String>, span: Range<usize>, table: &'t DeTable<'i>) -> Self {
        Tbl {
            path: path.into(),
            span,
            table,
            known: Vec::new(),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn entry(
        &self,
        key: &str,
    ) -> Option<(
        &'t Spanned<std::borrow::Cow<'i, str>>,
        &'t Spanned<DeValue<'i>>,
    )> {
        self.table.iter().find(|(k, _)| k.get_ref() == key)
    }

    /// The raw value of `key`, marking the key as known.
    pub fn raw(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.known.push(key);
        self.entry(key).map(|(_, v)| v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// A string value, looked at only (the key is not marked known, no error if it is not
    /// a string): for a rule that depends on another key read later.
    pub fn peek_str(&self, key: &str) -> Option<&'t str> {
        match self.entry(key)?.1.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// Span of the key itself (for "this key is not allowed here" messages).
    pub fn key_span(&self, key: &str) -> Range<usize> {
        self.entry(key).map_or(self.span.clone(), |(k, _)| k.span())
    }

    fn wrong_type(&self, c: &mut Checker, key: &str, v: &Spanned<DeValue>, want: &str) {
        c.error(
            &v.span(),
            &self.key_path(key),
            format!("expected {want}, found {}", type_name(v.get_ref())),
        );
    }

    pub fn missing(&self, c: &mut Checker, key: &str, what: &str) {
        c.error(
            &self.span,
            &self.key_path(key),
            format!("missing required key ({what})"),
        );
    }

    pub fn string(&mut self, c: &mut Checker, key: &'static str) -> Option<Sp<String>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Sp {
                v: s.to_string(),
                span: v.span(),
            }),
            _ => {
                self.wrong_type(c, key, v, "a string");
                None
            }
        }
    }

    pub fn req_string(
        &mut self,
        c: &mut Checker,
        key: &'static str,
        what: &str,
    ) -> Option<Sp<String>> {
        if !self.has(key) {
            self.known.push(key);
            self.missing(c, key, what);
            return None;
        }
        self.string(c, key)
    }

    pub fn bool(&mut self, c: &mut Checker, key: &'static str) -> Option<Sp<bool>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp {
                v: *b,
                span: v.span(),
            }),
            _ => {
                self.wrong_type(c, key, v, "a boolean (true or false)");
                None
            }
        }
    }

    /// An integer within `range`; `what` names the unit for the message.
    pub fn int(
        &mut self,
        c: &mut Checker,
        key: &'static str,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Option<Sp<i64>> {
        let v = self.raw(key)?;
        let DeValue::Integer(i) = v.get_ref() else {
            self.wrong_type(c, key, v, "an integer");
            return None;
        };
        let parsed = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix());
        match parsed {
            Ok(n) if range.contains(&n) => Some(Sp {
                v: n,
                span: v.span(),
            }),
            _ => {
                c.error(
                    &v.span(),
                    &self.key_path(key),
                    format!(
                        "{} is out of range; {what} must be {} to {}",
                        i.as_str(),
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// A number (integer or float) ≥ 0, as the installer's size options take.
    pub fn number(&mut self, c: &mut Checker, key: &'static str) -> Option<Sp<f64>> {
        let v = self.raw(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => {
                self.wrong_type(c, key, v, "a number");
                return None;
            }
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 => Some(Sp {
                v: n,
                span: v.span(),
            }),
            _ => {
                c.error(
                    &v.span(),
                    &self.key_path(key),
                    "must be a number of 0 or more",
                );
                None
            }
        }
    }

    /// A string that must be one of `allowed`.
    pub fn one_of(
        &mut self,
        c: &mut Checker,
        key: &'static str,
        allowed: &[&'static str],
    ) -> Option<Sp<&'static str>> {
        let s = self.string(c, key)?;
        match allowed.iter().find(|a| **a == s.v) {
            Some(a) => Some(Sp { v: a, span: s.span }),
            None => {
                c.error(
                    &s.span,
                    &self.key_path(key),
                    format!(
                        "\"{}\" is not allowed; use one of: {}",
                        s.v,
                        allowed.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// An array of strings (an empty array is allowed; callers check emptiness).
    pub fn strings(&mut self, c: &mut Checker, key: &'static str) -> Option<Vec<Sp<String>>> {
        let v = self.raw(key)?;
        let DeValue::Array(a) = v.get_ref() else {
            self.wrong_type(c, key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for (i, e) in a.iter().enumerate() {
            match e.get_ref() {
                DeValue::String(s) => out.push(Sp {
                    v: s.to_string(),
                    span: e.span(),
                }),
                other => c.error(
                    &e.span(),
                    &format!("{}[{i}]", self.key_path(key)),
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        Some(out)
    }

    /// A sub-table (header or inline); `None` if absent or of the wrong type.
    pub fn table(&mut self, c: &mut Checker, key: &'static str) -> Option<Tbl<'t, 'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Tbl::new(self.key_path(key), v.span(), t)),
            _ => {
                self.wrong_type(c, key, v, "a table");
                None
            }
        }
    }

    /// `[[key]]` entries (or an inline array of tables).
    pub fn tables(&mut self, c: &mut Checker, key: &'static str) -> Vec<Tbl<'t, 'i>> {
        let Some(v) = self.raw(key) else {
            return Vec::new();
        };
        let DeValue::Array(a) = v.get_ref() else {
            self.wrong_type(c, key, v, "an array of tables ([[...]])");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, e) in a.iter().enumerate() {
            let path = format!("{}[{i}]", self.key_path(key));
            match e.get_ref() {
                DeValue::Table(t) => out.push(Tbl::new(path, e.span(), t)),
                other => c.error(
                    &e.span(),
                    &path,
                    format!("expected a table, found {}", type_name(other)),
                ),
            }
        }
        out
    }

    /// A table of free-form string values, such as the installer's udev `filter` tables,
    /// whose keys are udev property names and keep their own spelling.
    pub fn string_map(
        &mut self,
        c: &mut Checker,
        key: &'static str,
    ) -> Option<Vec<(Sp<String>, Sp<String>)>> {
        let v = self.raw(key)?;
        let DeValue::Table(t) = v.get_ref() else {
            self.wrong_type(c, key, v, "a table of strings");
            return None;
        };
        let mut out = Vec::new();
        for (k, e) in t.iter() {
            let path = format!("{}.{}", self.key_path(key), k.get_ref());
            match e.get_ref() {
                DeValue::String(s) => out.push((
                    Sp {
                        v: k.get_ref().to_string(),
                        span: k.span(),
                    },
                    Sp {
                        v: s.to_string(),
                        span: e.span(),
                    },
                )),
                other => c.error(
                    &e.span(),
                    &path,
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        Some(out)
    }

    /// Report every key that no getter asked for.
    pub fn finish(self, c: &mut Checker) {
        for (k, _) in self.table.iter() {
            let name = k.get_ref().as_ref();
            if self.known.contains(&name) {
                continue;
            }
            let kebab = name.replace('_', "-");
            if name.contains('_') && self.known.contains(&kebab.as_str()) {
                // Stricter than Proxmox on purpose: its installer still reads the snake_case
                // spelling of some keys (proxmox-rs proxmox-installer-types/src/answer.rs,
                // the `legacy` aliases such as root_password_hashed) only so that old answers
                // keep working, and plans to drop them ("Remove the snake_case'd variants in
                // a future major version"). One spelling also keeps our own tables and the
                // password cut for the host copy simple.
                let why = if self.path.starts_with("installer") {
                    "keys are kebab-case; Proxmox reads the old spelling only for old answers and will drop it"
                } else {
                    "keys are kebab-case"
                };
                c.error(
                    &k.span(),
                    &self.key_path(name),
                    format!("snake_case spelling; write \"{kebab}\" ({why})"),
                );
                continue;
            }
            let hint = suggest(name, &self.known)
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_else(|| {
                    let mut known = self.known.clone();
                    known.sort_unstable();
                    known.dedup();
                    format!("; allowed: {}", known.join(", "))
                });
            c.error(
                &k.span(),
                &self.key_path(name),
                format!("unknown key{hint}"),
            );
        }
    }
}

/// The known key a typo most likely meant: the snake_case spelling of a kebab-case key
/// (Proxmox 8 accepted those), or one at edit distance ≤ 2.
fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let kebab = name.replace('_', "-").to_ascii_lowercase();
    if let Some(k) = known.iter().find(|k| **k == kebab) {
        return Some(k);
    }
    known
        .iter()
        .map(|k| (edit_distance(&kebab, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The table's plain values, as `toml::from_str::<toml::Table>` reads the same text, from
/// the spanned table parsed already: the text is not parsed twice, and the agent carries no
/// serde deserializer for them (part of what keeps the hook small). `None` where `from_str`
/// fails on a parsed text: an integer outside i64, a float that overflows.
pub fn plain_table(t: &DeTable) -> Option<toml::Table> {
    let mut out = toml::Table::new();
    for (k, v) in t.iter() {
        out.insert(k.get_ref().to_string(), plain_value(v.get_ref())?);
    }
    Some(out)
}

fn plain_value(v: &DeValue) -> Option<toml::Value> {
    use toml::Value;
    Some(match v {
        DeValue::String(s) => Value::String(s.to_string()),
        // Both as the toml crate's own deserializer turns them into a `Value`.
        DeValue::Integer(i) => Value::Integer(i64::from_str_radix(i.as_str(), i.radix()).ok()?),
        DeValue::Float(f) => {
            let x: f64 = f.as_str().parse().ok()?;
            if x.is_infinite() && !f.as_str().contains("inf") {
                return None;
            }
            Value::Float(x)
        }
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(*d),
        DeValue::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for v in a.iter() {
                out.push(plain_value(v.get_ref())?);
            }
            Value::Array(out)
        }
        DeValue::Table(t) => Value::Table(plain_table(t)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same values as the toml crate's `from_str`, and `None` where it fails.
    #[test]
    fn plain_table_is_from_str() {
        let texts = [
            super::super::EXAMPLE,
            "a = 1\nb = 0xDEAD_beef\nc = 0o17\nd = 0b101\ne = 1_000\nf = +9_223_372_036_854_775_807\n",
            "a = 1.5\nb = -inf\nc = nan\nd = 6.02e23\ne = 1_0.2_5\nf = +inf\ng = -0.0\n",
            "a = 1979-05-27T07:32:00Z\nb = 1979-05-27\nc = 07:32:00\nd = 1979-05-27T00:32:00.999-07:00\n",
            "x = [1, [\"a\", { b = true }], []]\n[t.u]\nv = 'w'\n[[arr]]\nq = 1\n[[arr]]\n",
            "a = 9_223_372_036_854_775_808\n",
            "a = -9_223_372_036_854_775_809\n",
            "a = 0xffff_ffff_ffff_ffff\n",
            "a = 1e400\n",
        ];
        for text in texts {
            let doc = DeTable::parse(text).unwrap();
            let want = toml::from_str::<toml::Table>(text).ok();
            let got = plain_table(doc.get_ref());
            // NaN is not equal to itself: compare the printed values.
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{text}");
        }
    }

    #[test]
    fn suggestions() {
        let known = ["root-password", "fqdn", "mailto"];
        assert_eq!(suggest("root_password", &known), Some("root-password"));
        assert_eq!(suggest("fdqn", &known), Some("fqdn"));
        assert_eq!(suggest("completely-else", &known), None);
    }
}
