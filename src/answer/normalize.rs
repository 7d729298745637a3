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

pub fn normalized(a: &Answer) -> String {
    let mut root = Table::new();
    let i = &a.installer;
    let mut g = Table::new();
    g.insert(
        "fqdn".into(),
        s(i.fqdn.clone().unwrap_or_else(|| "<from-dhcp>".into())),
    );
    g.insert("country".into(), s(&i.country));
    g.insert("keyboard".into(), s(&i.keyboard));
    g.insert("mailto".into(), s(&i.mailto));
    g.insert("timezone".into(), s(&i.timezone));
    let pw = if i.root_password_hashed.is_some() {
        "hashed"
    } else {
        "plain"
    };
    g.insert("root-password".into(), s(format!("<redacted, {pw}>")));
    g.insert(
        "root-ssh-keys".into(),
        Value::Integer(i.root_ssh_keys.len() as i64),
    );
    let mut inst = Table::new();
    inst.insert("global".into(), Value::Table(g));
    let mut n = Table::new();
    match &i.network {
        Some(m) => {
            n.insert("source".into(), s("from-answer"));
            n.insert("cidr".into(), s(m.cidr.to_string()));
            n.insert("gateway".into(), s(m.gateway.to_string()));
            n.insert("dns".into(), s(m.dns.to_string()));
        }
        None => {
            n.insert("source".into(), s("from-dhcp"));
        }
    }
    inst.insert("network".into(), Value::Table(n));
    let mut d = Table::new();
    d.insert("filesystem".into(), s(&i.filesystem));
    inst.insert("disk-setup".into(), Value::Table(d));
    root.insert("installer".into(), Value::Table(inst));

    let mut agent = Table::new();
    agent.insert(
        "max-reboots".into(),
        Value::Integer(a.agent.max_reboots.into()),
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
    if let Some(h) = &a.haos {
        let mut t = Table::new();
        t.insert("vmid".into(), Value::Integer(h.vmid.into()));
        t.insert("version".into(), s(&h.version));
        if let Some(sum) = &h.sha256 {
            t.insert("sha256".into(), s(sum));
        }
        let img = match &h.image {
            ImageSource::Release => "<github release>".to_string(),
            ImageSource::Url(u) | ImageSource::Path(u) => u.clone(),
        };
        t.insert("image".into(), s(img));
        t.insert("allow-unpinned".into(), Value::Boolean(h.allow_unpinned));
        if let Some(st) = &h.storage {
            t.insert("storage".into(), s(st));
        }
        t.insert("bridge".into(), s(&h.bridge));
        if let Some(ip) = h.ip {
            t.insert("ip".into(), s(ip.to_string()));
        }
        t.insert("mac".into(), s(h.mac(i.fqdn.as_deref())));
        t.insert("cores".into(), Value::Integer(h.cores.into()));
        t.insert("memory".into(), Value::Integer(h.memory.into()));
        t.insert("disk-size".into(), s(&h.disk_size));
        t.insert("start".into(), Value::Boolean(h.start));
        if !h.usb.is_empty() {
            t.insert("usb".into(), Value::Array(h.usb.iter().map(s).collect()));
        }
        root.insert("haos".into(), Value::Table(t));
    }
    toml::to_string(&root).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}
