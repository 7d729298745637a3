//! pve-firstboot: the agent that turns a fresh Proxmox VE install into a finished homeserver.
//!
//! `main.rs` only parses the command line; everything else lives here, one module per
//! concern, so that tests drive the same code the binary runs.

pub mod answer;
pub mod calendar;
pub mod cli;
pub mod diff;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod handover;
pub mod host;
pub mod hostarchive;
pub mod image;
pub mod json;
pub mod logging;
pub mod overlay;
pub mod pci;
pub mod phases;
pub mod pin;
pub mod prefetch;
pub mod probe;
pub mod pvetask;
pub mod sshkey;
pub mod state;
pub mod status;
pub mod storage;
pub mod tempdir;
pub mod templates;
