//! `[host]`: repositories, packages, time and the journal.

use super::*;
use crate::answer::net::{self};
use crate::answer::reader::{Checker, Sp, Tbl};

pub(super) fn read_host(c: &mut Checker, t: &mut Tbl) -> HostCfg {
    let repositories = match t.one_of(
        c,
        "repositories",
        &["no-subscription", "enterprise", "keep"],
    ) {
        Some(Sp {
            v: "enterprise", ..
        }) => Repositories::Enterprise,
        Some(Sp { v: "keep", .. }) => Repositories::Keep,
        _ => Repositories::NoSubscription,
    };
    let upgrade = t.bool(c, "upgrade").is_some_and(|b| b.v);
    let ntp = t.strings(c, "ntp-servers").unwrap_or_default();
    for (i, s) in ntp.iter().enumerate() {
        if !net::is_host(&s.v) {
            c.error(
                &s.span,
                &format!("{}[{i}]", t.key_path("ntp-servers")),
                format!("\"{}\" is not a host name or IP address", s.v),
            );
        }
    }
    let hide_subscription_notice = matches!(
        t.one_of(c, "subscription-notice", &["show", "hide"]),
        Some(Sp { v: "hide", .. })
    );
    // The answer plans no cluster (there is no [cluster] table): a host of its own.
    let single_node = t.bool(c, "single-node").is_none_or(|b| b.v);
    let microcode = t.bool(c, "microcode").is_some_and(|b| b.v);
    HostCfg {
        repositories,
        upgrade,
        ntp_servers: ntp.into_iter().map(|s| s.v).collect(),
        hide_subscription_notice,
        single_node,
        microcode,
    }
}
