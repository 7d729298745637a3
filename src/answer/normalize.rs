//! The effective answer, every default filled in and every secret redacted: what
//! `validate --print` shows and what the `ok/` fixtures compare against.

use toml::{Table, Value};

use super::*;

fn strs(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// What `validate --print` shows for a secret; the round-trip test puts the secret back.
pub const REDACTED: &str = "<redacted>";

/// The answer's `[installer.*]` tables as Proxmox's installer will read them: the admin's
/// values with every default the installer would apply written out, so that the printed
/// answer is itself a valid answer meaning the same (issue 17: `validate --print` must
/// round-trip). Secrets are replaced by [`REDACTED`] under their own keys.
fn installer_tables(i: &Installer) -> Table {
    let mut inst = i.tables.clone();
    if let Some(Value::Table(g)) = inst.get_mut("global") {
        // The subscription key too: Proxmox's own assistant counts it as sensitive
        // (pve-installer: proxmox-auto-install-assistant/src/main.rs, --show-sensitive).
        for k in ["root-password", "root-password-hashed", "subscription-key"] {
            if g.contains_key(k) {
                g.insert(k.into(), s(REDACTED));
            }
        }
        // Defaults of proxmox-rs proxmox-installer-types/src/answer.rs, GlobalOptions
        // (`#[serde(default)]`): no reboot on error, reboot when done, no keys.
        g.entry("reboot-on-error").or_insert(Value::Boolean(false));
        g.entry("reboot-mode").or_insert(s("reboot"));
        g.entry("root-ssh-keys").or_insert(Value::Array(Vec::new()));
        // FqdnFromDhcpConfig: source defaults to from-dhcp, an empty domain is none.
        if let Some(Value::Table(f)) = g.get_mut("fqdn") {
            f.entry("source").or_insert(s("from-dhcp"));
            if f.get("domain").and_then(Value::as_str) == Some("") {
                f.remove("domain");
            }
        }
    }
    if let Some(Value::Table(w)) = inst.get_mut("post-installation-webhook") {
        if w.contains_key("auth-token") {
            w.insert("auth-token".into(), s(REDACTED));
        }
    }
    if let Some(Value::Table(d)) = inst.get_mut("disk-setup") {
        let filter_used = d
            .get("filter")
            .and_then(Value::as_table)
            .is_some_and(|f| !f.is_empty());
        // DiskSetup::filter_match: `any` when unset (FilterMatch's default).
        if filter_used {
            d.entry("filter-match").or_insert(s("any"));
        }
        // The options the installer fills in itself: pve-installer
        // proxmox-auto-installer/src/utils.rs, parse_answer (ashift 12, copies 1, and the
        // Default of ZfsCompressOption/ZfsChecksumOption `on`, BtrfsCompressOption `off`).
        // RAID levels in their lower-case spelling, which the installer reads as well.
        for (fs, defaults) in [
            (
                "zfs",
                &[
                    ("ashift", Value::Integer(12)),
                    ("compress", s("on")),
                    ("checksum", s("on")),
                    ("copies", Value::Integer(1)),
                ][..],
            ),
            ("btrfs", &[("compress", s("off"))][..]),
        ] {
            if let Some(Value::Table(o)) = d.get_mut(fs) {
                for (k, v) in defaults {
                    o.entry(*k).or_insert_with(|| v.clone());
                }
                if let Some(Value::String(r)) = o.get_mut("raid") {
                    *r = r.to_ascii_lowercase();
                }
            }
        }
    }
    inst
}

pub fn normalized(a: &Answer) -> String {
    let mut root = Table::new();
    let i = &a.installer;
    root.insert("installer".into(), Value::Table(installer_tables(i)));

    let mut agent = Table::new();
    agent.insert(
        "max-reboots".into(),
        Value::Integer(a.agent.max_reboots.into()),
    );
    agent.insert(
        "background-downloads".into(),
        Value::Boolean(a.agent.background_downloads),
    );
    root.insert("agent".into(), Value::Table(agent));

    if let Some(h) = &a.host {
        let mut t = Table::new();
        let r = match h.repositories {
            Repositories::NoSubscription => "no-subscription",
            Repositories::Enterprise => "enterprise",
            Repositories::Keep => "keep",
        };
        t.insert("repositories".into(), s(r));
        t.insert("upgrade".into(), Value::Boolean(h.upgrade));
        t.insert("ntp-servers".into(), strs(&h.ntp_servers));
        let notice = if h.hide_subscription_notice {
            "hide"
        } else {
            "show"
        };
        t.insert("subscription-notice".into(), s(notice));
        t.insert("single-node".into(), Value::Boolean(h.single_node));
        t.insert("microcode".into(), Value::Boolean(h.microcode));
        root.insert("host".into(), Value::Table(t));
    }
    if let Some(p) = &a.passthrough {
        let mut t = Table::new();
        let devs: Vec<String> = p.devices.iter().map(|d| d.to_string()).collect();
        t.insert("devices".into(), strs(&devs));
        t.insert("iommu-pt".into(), Value::Boolean(p.iommu_pt));
        t.insert("disable-vga".into(), Value::Boolean(p.disable_vga));
        t.insert("kernel-args".into(), strs(&p.kernel_args));
        t.insert("blacklist-drivers".into(), strs(&p.blacklist_drivers));
        t.insert("ignore-msrs".into(), Value::Boolean(p.ignore_msrs));
        t.insert("take-boot-vga".into(), Value::Boolean(p.take_boot_vga));
        root.insert("passthrough".into(), Value::Table(t));
    }
    if let Some(net) = &a.network {
        let mut t = Table::new();
        if let Some(b) = &net.vm_bridge {
            let mut bt = Table::new();
            bt.insert("name".into(), s(&b.name));
            bt.insert("cidr".into(), s(b.cidr.to_string()));
            bt.insert("nat".into(), Value::Boolean(b.nat));
            bt.insert("isolate".into(), Value::Boolean(b.isolate));
            let allow: Vec<String> = b.allow.iter().map(|a| a.to_string()).collect();
            bt.insert("allow".into(), strs(&allow));
            if let Some((x, y)) = b.dhcp_range {
                bt.insert("dhcp-range".into(), strs(&[x.to_string(), y.to_string()]));
            }
            t.insert("vm-bridge".into(), Value::Table(bt));
        }
        let fwd: Vec<Value> = net
            .port_forwards
            .iter()
            .map(|f| {
                let mut ft = Table::new();
                ft.insert("protocol".into(), s(f.protocol.to_string()));
                ft.insert("port".into(), Value::Integer(f.port.into()));
                ft.insert("to".into(), s(format!("{}:{}", f.to, f.to_port)));
                Value::Table(ft)
            })
            .collect();
        if !fwd.is_empty() {
            t.insert("port-forward".into(), Value::Array(fwd));
        }
        root.insert("network".into(), Value::Table(t));
    }
    if let Some(h) = &a.hardening {
        let mut t = Table::new();
        t.insert(
            "ssh-password-login".into(),
            Value::Boolean(h.ssh_password_login),
        );
        t.insert("ssh-kex".into(), s(h.ssh_kex.as_str()));
        t.insert("firewall".into(), Value::Boolean(h.firewall));
        t.insert("fail2ban".into(), Value::Boolean(h.fail2ban));
        let u = match h.unattended_upgrades {
            Unattended::Security => "security",
            Unattended::Off => "off",
        };
        t.insert("unattended-upgrades".into(), s(u));
        root.insert("hardening".into(), Value::Table(t));
    }
    if let Some(n) = &a.notify {
        let mut t = Table::new();
        t.insert("webhook".into(), s(REDACTED));
        let f = match n.format {
            NotifyFormat::Ntfy => "ntfy",
            NotifyFormat::Json => "json",
        };
        t.insert("format".into(), s(f));
        if let Some(m) = &n.smtp {
            let mut st = Table::new();
            st.insert("server".into(), s(&m.server));
            if let Some(p) = m.port {
                st.insert("port".into(), Value::Integer(p.into()));
            }
            st.insert("mode".into(), s(m.mode));
            if let Some(u) = &m.username {
                st.insert("username".into(), s(u));
            }
            if m.password.is_some() {
                st.insert("password".into(), s(REDACTED));
            }
            st.insert("from".into(), s(&m.from));
            t.insert("smtp".into(), Value::Table(st));
        }
        root.insert("notify".into(), Value::Table(t));
    }
    if let Some(b) = &a.backup {
        let mut t = Table::new();
        t.insert("schedule".into(), s(&b.schedule));
        t.insert("storage".into(), s(&b.storage));
        let g = match &b.guests {
            BackupGuests::Ours => s("ours"),
            BackupGuests::All => s("all"),
            BackupGuests::List(ids) => {
                Value::Array(ids.iter().map(|i| Value::Integer((*i).into())).collect())
            }
        };
        t.insert("guests".into(), g);
        t.insert("mode".into(), s(b.mode));
        let c = if b.compress == "0" {
            "none"
        } else {
            b.compress
        };
        t.insert("compress".into(), s(c));
        for (k, v) in &b.keep {
            t.insert((*k).into(), Value::Integer((*v).into()));
        }
        t.insert("host-config".into(), Value::Boolean(b.host_config));
        root.insert("backup".into(), Value::Table(t));
    }
    if let Some(h) = &a.haos {
        let mut t = Table::new();
        t.insert("vmid".into(), Value::Integer(h.vmid.into()));
        t.insert("version".into(), s(&h.version));
        if let Some(sum) = &h.sha256 {
            t.insert("sha256".into(), s(sum));
        }
        // The GitHub release is the default: no key, so that the printed answer reads back.
        if let ImageSource::Url(u) | ImageSource::Path(u) = &h.image {
            t.insert("image".into(), s(u));
        }
        t.insert("allow-unpinned".into(), Value::Boolean(h.allow_unpinned));
        if let Some(st) = &h.storage {
            t.insert("storage".into(), s(st));
        }
        t.insert("bridge".into(), s(&h.bridge));
        if let Some(ip) = h.ip {
            t.insert("ip".into(), s(ip.to_string()));
        }
        t.insert("cores".into(), Value::Integer(h.cores.into()));
        t.insert("memory".into(), Value::Integer(h.memory.into()));
        t.insert("disk-size".into(), s(&h.disk_size));
        t.insert("start".into(), Value::Boolean(h.start));
        if !h.usb.is_empty() {
            t.insert("usb".into(), Value::Array(h.usb.iter().map(s).collect()));
        }
        root.insert("haos".into(), Value::Table(t));
    }
    if !a.vms.is_empty() {
        root.insert(
            "vm".into(),
            Value::Array(a.vms.iter().map(|v| Value::Table(vm_table(v))).collect()),
        );
    }
    if !a.containers.is_empty() {
        root.insert(
            "container".into(),
            Value::Array(
                a.containers
                    .iter()
                    .map(|c| Value::Table(ct_table(c)))
                    .collect(),
            ),
        );
    }
    if !a.storages.is_empty() {
        root.insert(
            "storage".into(),
            Value::Array(
                a.storages
                    .iter()
                    .map(|d| Value::Table(storage_table(d)))
                    .collect(),
            ),
        );
    }
    let mut out = toml::to_string(&root).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
    // Derived values are not keys of the answer: a comment keeps the output an answer file.
    if let Some(h) = &a.haos {
        out.push_str(&format!(
            "\n# Derived: the HAOS VM's MAC address (and its DHCP lease) is {}.\n",
            h.mac(i.fqdn.as_deref())
        ));
    }
    let guests = a
        .vms
        .iter()
        .map(|v| ("VM", v.vmid, v.mac(i.fqdn.as_deref())));
    let cts = a
        .containers
        .iter()
        .map(|c| ("CT", c.vmid, c.mac(i.fqdn.as_deref())));
    for (noun, id, mac) in guests.chain(cts) {
        out.push_str(&format!(
            "# Derived: {noun} {id}'s MAC address (and its DHCP lease) is {mac}.\n"
        ));
    }
    out
}

fn ct_table(c: &CtCfg) -> Table {
    let mut t = Table::new();
    t.insert("vmid".into(), Value::Integer(c.vmid.into()));
    t.insert("hostname".into(), s(&c.hostname));
    match &c.source {
        CtSource::Template(tp) => {
            t.insert("template".into(), s(tp));
            t.insert("ssh-keys".into(), strs(&c.ssh_keys));
        }
        CtSource::Oci { reference, digest } => {
            t.insert("oci".into(), s(reference));
            if let Some(d) = digest {
                t.insert("digest".into(), s(d));
            }
            t.insert("allow-unpinned".into(), Value::Boolean(c.allow_unpinned));
        }
    }
    t.insert("unprivileged".into(), Value::Boolean(c.unprivileged));
    t.insert("nesting".into(), Value::Boolean(c.nesting));
    t.insert("keyctl".into(), Value::Boolean(c.keyctl));
    t.insert("cores".into(), Value::Integer(c.cores.into()));
    t.insert("memory".into(), Value::Integer(c.memory.into()));
    t.insert("swap".into(), Value::Integer(c.swap.into()));
    t.insert("disk-size".into(), s(format!("{}G", c.disk_gib)));
    if let Some(st) = &c.storage {
        t.insert("storage".into(), s(st));
    }
    t.insert("bridge".into(), s(&c.bridge));
    if let Some(ip) = c.ip {
        t.insert("ip".into(), s(ip.to_string()));
    }
    t.insert("start".into(), Value::Boolean(c.start));
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            let mut mt = Table::new();
            mt.insert("path".into(), s(&m.path));
            match &m.host {
                Some(h) => {
                    mt.insert("host".into(), s(h));
                }
                None => {
                    mt.insert("size".into(), s(format!("{}G", m.size_gib)));
                    if let Some(st) = &m.storage {
                        mt.insert("storage".into(), s(st));
                    }
                }
            }
            mt.insert("read-only".into(), Value::Boolean(m.read_only));
            Value::Table(mt)
        })
        .collect();
    if !mounts.is_empty() {
        t.insert("mount".into(), Value::Array(mounts));
    }
    t
}

fn vm_table(v: &VmCfg) -> Table {
    let mut t = Table::new();
    t.insert("vmid".into(), Value::Integer(v.vmid.into()));
    t.insert("name".into(), s(&v.name));
    t.insert("ostype".into(), s(&v.ostype));
    let bios = match v.bios {
        Bios::Ovmf => "ovmf",
        Bios::Seabios => "seabios",
    };
    t.insert("bios".into(), s(bios));
    t.insert("cores".into(), Value::Integer(v.cores.into()));
    t.insert("memory".into(), Value::Integer(v.memory.into()));
    t.insert("disk-size".into(), s(&v.disk_size));
    if let Some(st) = &v.storage {
        t.insert("storage".into(), s(st));
    }
    t.insert("bridge".into(), s(&v.bridge));
    if let Some(ip) = v.ip {
        t.insert("ip".into(), s(ip.to_string()));
    }
    t.insert("start".into(), Value::Boolean(v.start));
    if let Some(iso) = &v.iso {
        t.insert("iso".into(), s(iso));
    }
    if !v.hostpci.is_empty() {
        let d: Vec<String> = v.hostpci.iter().map(|d| d.to_string()).collect();
        t.insert("hostpci".into(), strs(&d));
    }
    if !v.usb.is_empty() {
        t.insert("usb".into(), strs(&v.usb));
    }
    if let Some(ci) = &v.cloud_init {
        let mut c = Table::new();
        if let ImageSource::Url(u) | ImageSource::Path(u) = &ci.image {
            c.insert("image".into(), s(u));
        }
        if let Some(sum) = &ci.sum {
            let key = if sum.len() == 128 { "sha512" } else { "sha256" };
            c.insert(key.into(), s(sum));
        }
        c.insert("allow-unpinned".into(), Value::Boolean(ci.allow_unpinned));
        if let Some(u) = &ci.user {
            c.insert("user".into(), s(u));
        }
        c.insert("ssh-keys".into(), strs(&ci.ssh_keys));
        c.insert("packages".into(), strs(&ci.packages));
        t.insert("cloud-init".into(), Value::Table(c));
    }
    t
}

/// One `[[storage]]` with its defaults (the plugin's content) filled in, secrets redacted.
fn storage_table(d: &StorageDef) -> Table {
    let mut t = Table::new();
    t.insert("id".into(), s(&d.id));
    t.insert("type".into(), s(d.type_name()));
    t.insert("content".into(), strs(&d.content));
    let opt = |t: &mut Table, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            t.insert(k.into(), s(v));
        }
    };
    match &d.kind {
        StorageKind::Nfs {
            server,
            export,
            path,
            options,
        } => {
            t.insert("server".into(), s(server));
            t.insert("export".into(), s(export));
            opt(&mut t, "path", path);
            opt(&mut t, "options", options);
        }
        StorageKind::Cifs {
            server,
            share,
            path,
            subdir,
            domain,
            username,
            password,
            smbversion,
            options,
        } => {
            t.insert("server".into(), s(server));
            t.insert("share".into(), s(share));
            opt(&mut t, "path", path);
            opt(&mut t, "subdir", subdir);
            opt(&mut t, "domain", domain);
            opt(&mut t, "username", username);
            if password.is_some() {
                t.insert("password".into(), s(REDACTED));
            }
            opt(&mut t, "smbversion", &smbversion.map(String::from));
            opt(&mut t, "options", options);
        }
        StorageKind::Pbs {
            server,
            datastore,
            username,
            password: _,
            fingerprint,
            namespace,
            port,
            encryption_key,
        } => {
            t.insert("server".into(), s(server));
            t.insert("datastore".into(), s(datastore));
            t.insert("username".into(), s(username));
            t.insert("password".into(), s(REDACTED));
            opt(&mut t, "fingerprint", fingerprint);
            opt(&mut t, "namespace", namespace);
            if let Some(p) = port {
                t.insert("port".into(), Value::Integer((*p).into()));
            }
            if encryption_key.is_some() {
                t.insert("encryption-key".into(), s(REDACTED));
            }
        }
        StorageKind::Disks {
            disks, wipe, raid, ..
        } => {
            t.insert("disks".into(), strs(disks));
            t.insert("wipe".into(), Value::Boolean(*wipe));
            opt(&mut t, "raid", &raid.map(String::from));
        }
    }
    t
}
