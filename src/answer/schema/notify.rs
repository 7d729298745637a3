//! `[notify]`: the message the agent sends when it ends.

use super::*;
use crate::answer::reader::{Checker, Sp, Tbl};

pub(super) fn read_notify(c: &mut Checker, t: &mut Tbl) -> Option<Notify> {
    // Every key is read before any verdict, so that each gets its own error line.
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
    })
}
