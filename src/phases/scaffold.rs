//! Phases that are on the roadmap but not built yet. They are listed in their place so the
//! order is visible, and `status` shows them as skipped with the reason: never as done.

use super::{Cx, Phase};
use crate::answer::Answer;
use crate::error::Result;

pub struct NotYet {
    pub id: &'static str,
    pub depends: &'static [&'static str],
    pub configured: fn(&Answer) -> bool,
}

impl Phase for NotYet {
    fn id(&self) -> &'static str {
        self.id
    }
    fn depends_on(&self) -> &'static [&'static str] {
        self.depends
    }
    fn not_configured(&self, a: &Answer) -> Option<String> {
        Some(if (self.configured)(a) {
            format!(
                "the {} phase is not implemented in this version of pve-firstboot",
                self.id
            )
        } else {
            format!("no [{}] table in the answer", self.id)
        })
    }
    fn apply(&self, _cx: &mut Cx) -> Result<()> {
        Ok(())
    }
}
