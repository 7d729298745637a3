//! Pinning: the images an answer names get a concrete version and their publisher's
//! checksum on the workstation, before the answer goes into a hook, so that nobody computes
//! a SHA-256 by hand and the host at first boot never chooses what to trust.
//!
//! - `[haos]`: `version = "stable"` becomes the current release (version.home-assistant.io,
//!   as the agent would resolve it), and `sha256` the digest GitHub's release API gives the
//!   asset `haos_ova-<version>.qcow2.xz` (release assets carry `"digest": "sha256:<hex>"`).
//! - `[[vm]]` cloud images: the line of the image's file in the publisher's `SHA512SUMS`
//!   (Debian) or `SHA256SUMS` (Ubuntu) next to the image's URL.
//!
//! What is pinned already, `allow-unpinned = true`, and images of one's own (a path, or an
//! `image` URL for HAOS) are left as written. The answer's text is edited in place: the
//! admin's comments and layout stay, one line changes or is added per value. Every request
//! goes through `curl` (as every download of the agent), bounded in time and in the bytes
//! read ([`fetch::document`]); a publisher that cannot be reached, answers too slowly or too
//! much, or does not list the image is an error, never a silent fallback.

use crate::answer::is_placeholder_sum;
use crate::error::{Error, Result};
use crate::fetch;
use crate::host::Host;
use crate::json::{self, Json};

/// Test-only: one base URL (`http://127.0.0.1:PORT`) that stands in for both
/// version.home-assistant.io and api.github.com, for pinning and for the `haos` phase's
/// `stable`. Unset, the real publishers are asked.
pub const TEST_PUBLISHERS_ENV: &str = "PVE_FIRSTBOOT_TEST_PUBLISHERS";
const HAOS_VERSIONS: &str = "https://version.home-assistant.io";
const GITHUB_API: &str = "https://api.github.com";
/// Whole seconds a publisher has to answer one request.
const TIMEOUT_S: u32 = 20;
/// No document read here is near this size (a release with all its assets: ~100 KiB).
const MAX_BYTES: u64 = 8 << 20;

/// One value that was pinned, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// Where in the answer: `[haos]`, `[[vm]] 2 (docker)`.
    pub table: String,
    /// What the image is: `Home Assistant OS 16.3`, `cloud image`.
    pub what: String,
    /// Where the host will download it from.
    pub url: String,
    /// `sha256` or `sha512`.
    pub key: &'static str,
    pub sum: String,
    /// Where the checksum came from.
    pub source: String,
}

impl std::fmt::Display for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {}, {} {} (from {})",
            self.table, self.what, self.url, self.key, self.sum, self.source
        )
    }
}

/// The result of pinning an answer's text.
pub struct Outcome {
    /// The answer with the pinned values in it.
    pub text: String,
    pub pinned: Vec<Pinned>,
    /// Images left as written, and why.
    pub left: Vec<String>,
}

/// Pin every image of the answer `text` (from file `name`) that needs it.
pub fn pin(name: &str, text: &str) -> Result<Outcome> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e| Error::msg(format!("{name}: not a TOML document (run `validate`): {e}")))?;
    let publishers = Publishers::from_env();
    let mut out = Outcome {
        text: text.to_string(),
        pinned: Vec::new(),
        left: Vec::new(),
    };
    if let Some(h) = doc.get("haos").and_then(|v| v.as_table()) {
        pin_haos(name, h, &publishers, &mut out)?;
    }
    if let Some(vms) = doc.get("vm").and_then(|v| v.as_array()) {
        for (i, vm) in vms.iter().enumerate() {
            if let Some(ci) = vm
                .get("cloud-init")
                .and_then(|v| v.as_table())
                .filter(|ci| ci.contains_key("image"))
            {
                let vm_name = vm.get("name").and_then(|v| v.as_str()).unwrap_or("");
                pin_cloud_image(name, i, vm_name, ci, &publishers, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The images of a checked answer that have no checksum and are not allowed unpinned:
/// what a host would refuse at first boot. A hook is never built with one.
pub fn unpinned(a: &crate::answer::Answer) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = &a.haos {
        if h.sha256.is_none() && !h.allow_unpinned {
            out.push(format!("[haos]: Home Assistant OS {}", h.version));
        }
    }
    for (i, vm) in a.vms.iter().enumerate() {
        if let Some(ci) = &vm.cloud_init {
            if ci.sum.is_none() && !ci.allow_unpinned {
                out.push(format!("[[vm]] {} ({}): its cloud image", i + 1, vm.name));
            }
        }
    }
    // `pin` cannot fill an OCI image's digest in (yet): the answer must carry it.
    for (i, c) in a.containers.iter().enumerate() {
        if let crate::answer::CtSource::Oci {
            reference,
            digest: None,
        } = &c.source
        {
            if !c.allow_unpinned {
                out.push(format!(
                    "[[container]] {} ({}): the OCI image {reference} (add its digest: \
                     `skopeo inspect docker://{reference}`)",
                    i + 1,
                    c.hostname
                ));
            }
        }
    }
    out
}

/// Where the publishers are: the real ones, or (tests) one local server for both.
pub struct Publishers {
    haos_versions: String,
    github_api: String,
    /// The test server speaks plain HTTP on 127.0.0.1; the real publishers only HTTPS.
    protocols: &'static str,
}

impl Publishers {
    /// The real publishers, or the test server [`TEST_PUBLISHERS_ENV`] names.
    pub fn from_env() -> Self {
        match std::env::var(TEST_PUBLISHERS_ENV) {
            Ok(base) if !base.is_empty() => Self::at(&base),
            _ => Publishers {
                haos_versions: HAOS_VERSIONS.into(),
                github_api: GITHUB_API.into(),
                protocols: "=https",
            },
        }
    }

    /// One test server (`http://127.0.0.1:PORT`) standing in for every publisher.
    pub fn at(base: &str) -> Self {
        Publishers {
            haos_versions: base.into(),
            github_api: base.into(),
            protocols: "=http,https",
        }
    }
}

/// A small document from a publisher, capped in size and time: see [`fetch::document`].
fn get(host: &Host, p: &Publishers, url: &str) -> Result<Option<String>> {
    fetch::document(host, url, p.protocols, MAX_BYTES, TIMEOUT_S)
}

/// What `version = "stable"` means now: the Home Assistant OS release that
/// version.home-assistant.io's `stable.json` names (`hassos.ova`), read as JSON (a text
/// search would take an `"ova"` of another object) through the capped path. The same for
/// `pin` on the workstation and the `haos` phase on a host.
pub fn haos_stable(host: &Host, p: &Publishers) -> Result<String> {
    let url = format!("{}/stable.json", p.haos_versions);
    let doc = get(host, p, &url)?.ok_or_else(|| Error::msg(format!("{url}: not found")))?;
    let v = json::parse(&doc).map_err(|e| Error::msg(format!("{url}: not JSON: {e}")))?;
    v.get("hassos")
        .and_then(|h| h.get("ova"))
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(String::from)
        .ok_or_else(|| Error::msg(format!("{url} names no release (hassos.ova)")))
}

fn pin_haos(name: &str, h: &toml::Table, p: &Publishers, out: &mut Outcome) -> Result<()> {
    let sha = h.get("sha256").and_then(|v| v.as_str());
    let version = h.get("version").and_then(|v| v.as_str()).unwrap_or("");
    if h.contains_key("image") {
        if sha.is_none() {
            out.left.push(
                "[haos]: left as written: `image` is your own, not the GitHub release; give its sha256"
                    .into(),
            );
        }
        return Ok(());
    }
    if h.get("allow-unpinned").and_then(|v| v.as_bool()) == Some(true) && sha.is_none() {
        out.left
            .push("[haos]: left unpinned, as allow-unpinned = true asks".into());
        return Ok(());
    }
    match sha {
        Some(s) if !is_placeholder_sum(s) && version == "stable" => {
            return Err(Error::msg(format!(
                "{name}: [haos] has a sha256 but version = \"stable\": write the release the \
                 checksum belongs to, or remove sha256 to pin the current release"
            )));
        }
        Some(s) if !is_placeholder_sum(s) => return Ok(()),
        _ => {}
    }
    let (release, from_stable) = if version == "stable" {
        (haos_stable(&Host::live(), p)?, true)
    } else if !version.is_empty() {
        (version.to_string(), false)
    } else {
        return Err(Error::msg(format!(
            "{name}: [haos] has no version to pin (run `validate`)"
        )));
    };
    let asset = format!("haos_ova-{release}.qcow2.xz");
    let url = format!(
        "{}/repos/home-assistant/operating-system/releases/tags/{release}",
        p.github_api
    );
    let doc = get(&Host::live(), p, &url)?.ok_or_else(|| {
        Error::msg(format!(
            "GitHub has no Home Assistant OS release {release} ({url}: not found)"
        ))
    })?;
    let rel = json::parse(&doc).map_err(|e| Error::msg(format!("{url}: not JSON: {e}")))?;
    let entry = rel
        .get("assets")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .find(|a| a.get("name").and_then(Json::as_str) == Some(asset.as_str()))
        .ok_or_else(|| {
            Error::msg(format!(
                "Home Assistant OS release {release} has no asset {asset} ({url})"
            ))
        })?;
    let sum = entry
        .get("digest")
        .and_then(Json::as_str)
        .and_then(|d| d.strip_prefix("sha256:"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| {
            Error::msg(format!(
                "GitHub gives no SHA-256 digest for {asset} ({url}); pin sha256 by hand from a \
                 download you trust"
            ))
        })?;
    let mut edit = Edit::new(&out.text);
    let sec = edit
        .table("haos", false, 0)
        .ok_or_else(|| not_editable(name, "[haos]"))?;
    if from_stable {
        edit.set(sec, "version", &release)
            .ok_or_else(|| not_editable(name, "[haos] version"))?;
    }
    edit.set_or_add(sec, "sha256", &sum, "version");
    let text = edit.finish();
    check_took(&text, |d| {
        let h = d.get("haos")?;
        Some(h.get("sha256")?.as_str()? == sum && h.get("version")?.as_str()? == release.as_str())
    })?;
    out.text = text;
    out.pinned.push(Pinned {
        table: "[haos]".into(),
        what: if from_stable {
            format!("Home Assistant OS {release} (\"stable\" on version.home-assistant.io)")
        } else {
            format!("Home Assistant OS {release}")
        },
        url: crate::phases::haos::release_url(&release),
        key: "sha256",
        sum,
        source: format!("the digest of the GitHub release asset {asset}, {url}"),
    });
    Ok(())
}

fn pin_cloud_image(
    name: &str,
    i: usize,
    vm_name: &str,
    ci: &toml::Table,
    p: &Publishers,
    out: &mut Outcome,
) -> Result<()> {
    let table = format!("[[vm]] {} ({vm_name})", i + 1);
    let image = ci.get("image").and_then(|v| v.as_str()).unwrap_or("");
    let given = ["sha512", "sha256"]
        .into_iter()
        .find_map(|k| ci.get(k).and_then(|v| v.as_str()));
    if given.is_some_and(|s| !is_placeholder_sum(s)) {
        return Ok(());
    }
    if !(image.starts_with("https://") || image.starts_with("http://")) {
        if given.is_none() {
            out.left.push(format!(
                "{table}: left as written: the image is a file on the host; give its checksum"
            ));
        }
        return Ok(());
    }
    if ci.get("allow-unpinned").and_then(|v| v.as_bool()) == Some(true) && given.is_none() {
        out.left.push(format!(
            "{table}: left unpinned, as allow-unpinned = true asks"
        ));
        return Ok(());
    }
    // Checked as a download's URL is, before it is asked for: curl would otherwise read
    // `{a,b}` or `[1-9]` in it as a glob and ask for many files.
    fetch::check_url(image).map_err(|e| Error::msg(format!("{table}: image {image:?} {e}")))?;
    let (dir, file) = image
        .rsplit_once('/')
        .filter(|(_, f)| !f.is_empty())
        .ok_or_else(|| Error::msg(format!("{table}: \"{image}\" names no file")))?;
    let mut tried = Vec::new();
    for (sums, key) in [("SHA512SUMS", "sha512"), ("SHA256SUMS", "sha256")] {
        let url = format!("{dir}/{sums}");
        let Some(doc) = get(&Host::live(), p, &url)? else {
            tried.push(url);
            continue;
        };
        // `<hex>  <file>`, or `<hex> *<file>` (binary mode): the file's own line only.
        let sum = doc
            .lines()
            .filter_map(|l| l.split_once(char::is_whitespace))
            .find(|(_, f)| f.trim_start().trim_start_matches('*') == file)
            .map(|(h, _)| h.to_ascii_lowercase())
            .ok_or_else(|| Error::msg(format!("{url} has no line for {file}")))?;
        let want = if key == "sha512" { 128 } else { 64 };
        if sum.len() != want || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::msg(format!(
                "{url}: the line for {file} has no {key} ({} characters)",
                sum.len()
            )));
        }
        let mut edit = Edit::new(&out.text);
        let sec = edit
            .table("vm.cloud-init", true, i)
            .ok_or_else(|| not_editable(name, &format!("{table} [vm.cloud-init]")))?;
        // A placeholder under the other key goes: one checksum per image.
        let other = if key == "sha512" { "sha256" } else { "sha512" };
        edit.remove(sec, other);
        edit.set_or_add(sec, key, &sum, "image");
        let text = edit.finish();
        check_took(&text, |d| {
            let ci = d.get("vm")?.as_array()?.get(i)?.get("cloud-init")?;
            Some(ci.get(key)?.as_str()? == sum && ci.get(other).is_none())
        })?;
        out.text = text;
        out.pinned.push(Pinned {
            table,
            what: "cloud image".into(),
            url: image.to_string(),
            key,
            sum,
            source: url,
        });
        return Ok(());
    }
    Err(Error::msg(format!(
        "{table}: the publisher of {image} lists no checksums next to it ({} not found); give \
         sha512 or sha256 by hand",
        tried.join(", ")
    )))
}

fn not_editable(name: &str, what: &str) -> Error {
    Error::msg(format!(
        "{name}: cannot write the pinned value into {what}: pinning edits tables written as \
         `[table]` sections with one `key = \"value\"` per line; add it by hand, or use --no-pin"
    ))
}

/// The edited text must parse and carry what was pinned: an edit that went elsewhere
/// (a key also set as a dotted key, say) is caught here instead of in the hook.
fn check_took(text: &str, ok: impl Fn(&toml::Table) -> Option<bool>) -> Result<()> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e| Error::msg(format!("pinning made the answer unreadable: {e}")))?;
    if ok(&doc) == Some(true) {
        Ok(())
    } else {
        Err(Error::msg(
            "pinning could not place its values in the answer's text; add them by hand, or use --no-pin",
        ))
    }
}

/// Line edits of a TOML document that keep everything else byte for byte.
struct Edit {
    lines: Vec<String>,
    trailing_newline: bool,
}

/// A section: the header's line and the end (exclusive) of its body.
#[derive(Clone, Copy)]
struct Section {
    header: usize,
    end: usize,
}

impl Edit {
    fn new(text: &str) -> Self {
        Edit {
            lines: text.lines().map(String::from).collect(),
            trailing_newline: text.ends_with('\n'),
        }
    }

    fn finish(self) -> String {
        let mut s = self.lines.join("\n");
        if self.trailing_newline {
            s.push('\n');
        }
        s
    }

    /// `[name]`/`[[name]]` headers: (line, name without blanks, whether `[[...]]`).
    fn headers(&self) -> Vec<(usize, String, bool)> {
        let mut out = Vec::new();
        for (n, l) in self.lines.iter().enumerate() {
            let t = l.trim_start();
            if !t.starts_with('[') {
                continue;
            }
            let t = t.split('#').next().unwrap_or("").trim_end();
            let (inner, array) = match t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
                Some(i) => (i, true),
                None => match t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                    Some(i) => (i, false),
                    None => continue,
                },
            };
            let name: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
            out.push((n, name, array));
        }
        out
    }

    /// The section `[name]`; for a sub-table of an array (`vm.cloud-init`, `in_array`),
    /// the one under the `nth` `[[vm]]`.
    fn table(&self, name: &str, in_array: bool, nth: usize) -> Option<Section> {
        let hs = self.headers();
        let end_of = |k: usize| hs.get(k + 1).map_or(self.lines.len(), |h| h.0);
        if !in_array {
            let k = hs.iter().position(|h| h.1 == name && !h.2)?;
            return Some(Section {
                header: hs[k].0,
                end: end_of(k),
            });
        }
        let (parent, _) = name.split_once('.')?;
        let starts: Vec<usize> = hs
            .iter()
            .enumerate()
            .filter(|(_, h)| h.1 == parent && h.2)
            .map(|(k, _)| k)
            .collect();
        let from = *starts.get(nth)?;
        let to = starts.get(nth + 1).copied().unwrap_or(hs.len());
        let k = (from + 1..to).find(|&k| hs[k].1 == name && !hs[k].2)?;
        Some(Section {
            header: hs[k].0,
            end: end_of(k),
        })
    }

    fn key_line(&self, s: Section, key: &str) -> Option<usize> {
        (s.header + 1..s.end).find(|&n| {
            let t = self.lines[n].trim_start();
            t.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
    }

    /// Replace the value of `key` (a one-line string), keeping indentation and comment.
    fn set(&mut self, s: Section, key: &str, value: &str) -> Option<()> {
        let n = self.key_line(s, key)?;
        let line = &self.lines[n];
        let indent = &line[..line.len() - line.trim_start().len()];
        let after_eq = line.split_once('=')?.1.trim_start();
        let quote = after_eq.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let body = &after_eq[1..];
        let close = if quote == '"' {
            let mut esc = false;
            body.char_indices()
                .find(|&(_, c)| {
                    let hit = c == '"' && !esc;
                    esc = c == '\\' && !esc;
                    hit
                })?
                .0
        } else {
            body.find('\'')?
        };
        let rest = &body[close + 1..];
        self.lines[n] = format!("{indent}{key} = \"{value}\"{rest}");
        Some(())
    }

    /// Set `key`, or add it on the line after `near` (or after the header).
    fn set_or_add(&mut self, s: Section, key: &str, value: &str, near: &str) {
        if self.set(s, key, value).is_some() {
            return;
        }
        let at = self.key_line(s, near).unwrap_or(s.header) + 1;
        self.lines.insert(
            at,
            format!("{key} = \"{value}\"  # pinned by pve-firstboot from its publisher"),
        );
    }

    fn remove(&mut self, s: Section, key: &str) {
        if let Some(n) = self.key_line(s, key) {
            self.lines.remove(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_the_rest_of_the_text() {
        let text = "# top\n[haos]   # the VM\nversion = \"stable\"   # comment\n\n[[vm]]\nname = \"a\"\n[[vm]]\nname = \"b\"\n  [vm.cloud-init]\n  image = \"https://x/y.qcow2\"\n  sha512 = '0000'\n";
        let mut e = Edit::new(text);
        let s = e.table("haos", false, 0).unwrap();
        e.set(s, "version", "16.3").unwrap();
        e.set_or_add(s, "sha256", "ab", "version");
        assert!(e.table("vm.cloud-init", true, 0).is_none());
        let c = e.table("vm.cloud-init", true, 1).unwrap();
        e.set_or_add(c, "sha512", "cd", "image");
        assert_eq!(
            e.finish(),
            "# top\n[haos]   # the VM\nversion = \"16.3\"   # comment\nsha256 = \"ab\"  # pinned by pve-firstboot from its publisher\n\n[[vm]]\nname = \"a\"\n[[vm]]\nname = \"b\"\n  [vm.cloud-init]\n  image = \"https://x/y.qcow2\"\n  sha512 = \"cd\"\n"
        );
    }

    #[test]
    fn a_key_is_not_its_prefix() {
        let e = Edit::new("[haos]\nsha2567 = \"x\"\nsha256= \"y\"\n");
        let s = e.table("haos", false, 0).unwrap();
        assert_eq!(e.key_line(s, "sha256"), Some(2));
    }
}
