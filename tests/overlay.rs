//! `overlay/` holds the files the phases install verbatim: every file there is one the
//! binary carries (`pve_firstboot::overlay::ALL`), and the phases really install each one
//! byte for byte (every fixture that has it expects exactly that content).

use std::path::Path;

use pve_firstboot::overlay::ALL;
use pve_firstboot::phases::network::{DNSMASQ_CONF, DNSMASQ_UNIT, NFT_FILE, NFT_TABLE, NFT_UNIT};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_overlay_file_is_carried() {
    let dir = manifest().join("overlay");
    let mut on_disk: Vec<String> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| format!("/{}", e.path().strip_prefix(&dir).unwrap().display()))
        .collect();
    on_disk.sort();
    let mut carried: Vec<String> = ALL.iter().map(|f| f.path.to_string()).collect();
    carried.sort();
    assert_eq!(on_disk, carried);
}

#[test]
fn the_phases_install_the_overlay_verbatim() {
    let fixtures = manifest().join("tests/fixtures");
    for f in ALL {
        let mut seen = 0;
        for case in std::fs::read_dir(&fixtures).unwrap() {
            let p = case.unwrap().path().join("expected").join(&f.path[1..]);
            if let Ok(got) = std::fs::read_to_string(&p) {
                assert_eq!(
                    got,
                    f.body,
                    "{} differs from overlay{}",
                    p.display(),
                    f.path
                );
                seen += 1;
            }
        }
        assert!(seen > 0, "no fixture installs overlay{}", f.path);
    }
}

/// The verbatim units name what the network phase writes under the same names.
#[test]
fn the_units_agree_with_the_network_phase() {
    let unit = |name: &str| {
        ALL.iter()
            .find(|f| f.path == format!("/etc/systemd/system/{name}"))
            .unwrap_or_else(|| panic!("{name} is not in the overlay"))
            .body
    };
    let nat = unit(NFT_UNIT);
    assert!(nat.contains(&format!("nft -f {NFT_FILE}\n")), "{nat}");
    assert!(
        nat.contains(&format!("delete table inet {NFT_TABLE}\n")),
        "{nat}"
    );
    assert!(unit(DNSMASQ_UNIT).contains(&format!("--conf-file={DNSMASQ_CONF} ")));
}
