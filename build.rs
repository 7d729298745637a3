//! The release agent is linked without unwind tables: src/bin/no-unwind-tables.ld says why.
//! Only there: tests and debug builds unwind (the test harness needs it), and the
//! workstation's binary does not travel in the 1 MiB hook. (`cargo test --release` links
//! the agent's own unit-test harness the same way, which holds no test: tests belong in
//! the library, whose harness unwinds.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/bin/no-unwind-tables.ld");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        // Two arguments, so that a comma in the path cannot split it (`-Wl,` would).
        println!("cargo:rustc-link-arg-bin=pve-firstboot-agent=-Xlinker");
        println!(
            "cargo:rustc-link-arg-bin=pve-firstboot-agent=--script={dir}/src/bin/no-unwind-tables.ld"
        );
    }
}
