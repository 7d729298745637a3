//! `[notify]`: the message the agent sends when it ends.

use super::*;
use crate::answer::reader::{Checker, Sp, Tbl};

pub(super) fn read_notify(c: &mut Checker, t: &mut Tbl) -> Option<Notify> {
    // Every key is read before any verdict, so that each gets its own error line.
    let smtp = t.table(c, "smtp").map(|mut s| {
        let r = read_smtp(c, &mut s);
        s.finish(c);
        r
    });
    let format = match t.one_of(c, "format", &["ntfy", "json"]) {
        Some(Sp { v: "json", .. }) => NotifyFormat::Json,
        _ => NotifyFormat::Ntfy,
    };
    let webhook = t.req_string(
        c,
        "webhook",
        "the URL the message is POSTed to, such as \"https://ntfy.sh/<topic>\"",
    )?;
    // The same rules as an image URL (fetch::check_url: curl reads it, nothing in it may
    // be read differently), but a webhook needs no checksum to be plain http.
    let why = if !webhook.v.starts_with("https://") && !webhook.v.starts_with("http://") {
        Some("does not start with https:// (or http://)".to_string())
    } else {
        crate::fetch::check_url(&webhook.v).err()
    };
    if let Some(why) = why {
        c.error(
            &webhook.span,
            &t.key_path("webhook"),
            format!("the URL {why}"),
        );
        return None;
    }
    if webhook.v.starts_with("http://") {
        c.warning(
            &webhook.span,
            &t.key_path("webhook"),
            "plain http: anyone on the way reads the message (and the topic); prefer https",
        );
    }
    Some(Notify {
        webhook: Secret::new(webhook.v),
        format,
        // A table that is there but was refused already has its error.
        smtp: match smtp {
            None => None,
            Some(Some(s)) => Some(s),
            Some(None) => return None,
        },
    })
}

/// `[notify.smtp]`: an `smtp` target of Proxmox's notification system. Keys and their
/// meaning follow proxmox-rs `proxmox-notify/src/endpoints/smtp.rs` (`SmtpConfig`:
/// `server`, `port`, `mode`, `username`, `from-address`; `SmtpPrivateConfig`: `password`).
fn read_smtp(c: &mut Checker, t: &mut Tbl) -> Option<Smtp> {
    let server = t.req_string(c, "server", "the SMTP relay's host name or IP address");
    // SmtpMode: `insecure`, `starttls`, `tls`; Proxmox's default is tls.
    let mode = t
        .one_of(c, "mode", &["tls", "starttls", "insecure"])
        .map_or("tls", |m| m.v);
    let port = t.int(c, "port", 1..=65535, "port").map(|p| p.v as u16);
    let username = t.string(c, "username");
    let password = t.string(c, "password");
    let from = t.req_string(
        c,
        "from",
        "the sender address (Proxmox's from-address), such as \"homeserver@example.org\"",
    );
    // One line of printable text each: they land in a section-config line, which ends at
    // the line's end (proxmox-section-config refuses control characters).
    let mut ok = true;
    for (key, v) in [
        ("server", server.as_ref()),
        ("username", username.as_ref()),
        ("from", from.as_ref()),
    ] {
        let Some(v) = v else { continue };
        let bad = v.v.is_empty()
            || v.v.chars().any(|ch| ch.is_control() || ch.is_whitespace())
            || (key == "server"
                && !v
                    .v
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-.:[]".contains(ch)))
            || (key == "from" && !mail_ok(&v.v));
        if bad {
            c.error(
                &v.span,
                &t.key_path(key),
                match key {
                    "server" => "not a host name or IP address".to_string(),
                    "from" => "not a mail address such as \"homeserver@example.org\"".into(),
                    _ => "empty, or with a space or control character".into(),
                },
            );
            ok = false;
        }
    }
    if let Some(p) = &password {
        // The priv file's line is `\tpassword VALUE`: a line break would end it, and
        // space at either end would not survive being read back. The value is never
        // echoed: it is a secret.
        // U+2028/U+2029 too: Unicode's line and paragraph separators end a line for
        // some readers.
        if !super::storage::secret_line_ok(&p.v) {
            c.error(
                &p.span,
                &t.key_path("password"),
                super::storage::SECRET_LINE,
            );
            ok = false;
        }
        if username.is_none() {
            // proxmox-notify authenticates only with a username ("If no username is set, no
            // authentication will be performed"): a password alone would be ignored.
            c.error(
                &p.span,
                &t.key_path("password"),
                "a password without a username: Proxmox authenticates only with both",
            );
            ok = false;
        }
        if mode == "insecure" {
            c.warning(
                &p.span,
                &t.key_path("password"),
                "mode \"insecure\" sends the password in clear text; prefer tls or starttls",
            );
        }
    }
    if let (Some(u), None) = (&username, &password) {
        // proxmox-notify refuses every send through a target with a username and no
        // password ("username is set but no password was provided": proxmox-rs
        // `proxmox-notify/src/endpoints/smtp.rs`, `SmtpEndpoint::send`).
        c.error(
            &u.span,
            &t.key_path("username"),
            "a username without a password: Proxmox would refuse every mail through this relay; add `password`, or leave both out for a relay without authentication",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Smtp {
        server: server?.v,
        port,
        mode,
        username: username.map(|u| u.v),
        password: password.map(|p| Secret::new(p.v)),
        from: from?.v,
    })
}

/// local@domain, printable ASCII without spaces or `<>,;"`, at most 64 bytes: what a mail
/// header takes, and Proxmox's `EMAIL_SCHEMA` (`proxmox-notify/src/schema.rs`: one line,
/// 2 to 64 characters) for `mailto`.
pub(super) fn mail_ok(s: &str) -> bool {
    if s.len() > 64 {
        return false;
    }
    let Some((l, d)) = s.split_once('@') else {
        return false;
    };
    !l.is_empty()
        && !d.is_empty()
        && !d.contains('@')
        && s.chars()
            .all(|ch| ch.is_ascii_graphic() && !"<>,;\"()[]\\".contains(ch))
}
