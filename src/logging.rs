//! Log lines on stderr (the journal under systemd, which adds the time), `RUST_LOG` setting
//! the level (`error`, `warn`, `info` by default, `debug`, `trace`; `target=level`
//! directives are taken for their level too). A dozen lines of our own instead of
//! env_logger, whose filter syntax the agent never needed: about 12 KiB less in the hook.

use std::io::Write;

struct Stderr(log::LevelFilter);

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // One write per line, so that lines of two threads never interleave.
            let line = format!(
                "pve-firstboot: {}: {}\n",
                r.level().as_str().to_lowercase(),
                r.args()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// The level `RUST_LOG` asks for: the most verbose one named in it, else `info`.
pub fn level(spec: Option<&str>) -> log::LevelFilter {
    spec.into_iter()
        .flat_map(|s| s.split(','))
        .filter_map(|d| {
            d.rsplit('=')
                .next()?
                .trim()
                .parse::<log::LevelFilter>()
                .ok()
        })
        .max()
        .unwrap_or(log::LevelFilter::Info)
}

/// Install the logger (once, at start).
pub fn init() {
    let level = level(std::env::var("RUST_LOG").ok().as_deref());
    if log::set_boxed_logger(Box::new(Stderr(level))).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        use log::LevelFilter::*;
        assert_eq!(level(None), Info);
        assert_eq!(level(Some("warn")), Warn);
        assert_eq!(level(Some("TRACE")), Trace);
        assert_eq!(level(Some("pve_firstboot=debug")), Debug);
        assert_eq!(level(Some("error,pve_firstboot=debug")), Debug);
        assert_eq!(level(Some("nonsense")), Info);
        assert_eq!(level(Some("off")), Off);
    }
}
