//! One error type: a message with its context chain, as `reading /etc/default/grub: ...`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
    /// A simulated power cut (crash tests): nothing after it may touch the host.
    crash: bool,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn msg(m: impl Into<String>) -> Self {
        Error {
            msg: m.into(),
            crash: false,
        }
    }
    pub fn crash() -> Self {
        Error {
            msg: "simulated power cut".into(),
            crash: true,
        }
    }
    pub fn is_crash(&self) -> bool {
        self.crash
    }
    pub fn context(self, c: impl fmt::Display) -> Self {
        Error {
            msg: format!("{c}: {}", self.msg),
            crash: self.crash,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::msg(e.to_string())
    }
}

/// `.ctx(|| format!("reading {path}"))` on any result whose error displays.
pub trait Context<T> {
    fn ctx<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn ctx<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::error::Error::msg(format!($($t)*))) };
}
