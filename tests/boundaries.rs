//! Every numeric and enumerated answer value at its boundaries, on both sides: the last
//! value refused, the first accepted, the last accepted, the first refused — and each
//! refusal names the key. One base answer, one value changed per case.

mod common;

use common::installer_tables;
use pve_firstboot::answer;

const BASE: &str = r#"
[agent]
max-reboots = @REBOOTS@

[network.vm-bridge]
name = "vmbr1"
cidr = "10.0.100.1/24"
dhcp-range = ["10.0.100.100", "10.0.100.199"]
allow = ["10.0.200.50:@ALLOW@/tcp"]

[[network.port-forward]]
protocol = "@PROTO@"
port = @PORT@
to = "10.0.100.10:@TO@"

[haos]
version = "16.3"
sha256 = "b908fdff6e6d911466ab8507108ef678dee121094b3f886ed7f0b40c184ff3dd"
ip = "10.0.100.10"
vmid = @VMID@
cores = @CORES@
memory = @MEMORY@
"#;

const DEFAULTS: [(&str, &str); 9] = [
    ("@REBOOTS@", "3"),
    ("@ALLOW@", "1883"),
    ("@PROTO@", "tcp"),
    ("@PORT@", "8123"),
    ("@TO@", "8123"),
    ("@VMID@", "100"),
    ("@CORES@", "2"),
    ("@MEMORY@", "4096"),
    ("", ""),
];

/// The answer with one placeholder set, the rest at their defaults.
fn answer_with(key: &str, value: &str) -> String {
    let mut text = installer_tables(
        "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\"",
    ) + BASE;
    for (k, d) in DEFAULTS.iter().filter(|(k, _)| !k.is_empty()) {
        text = text.replace(k, if *k == key { value } else { d });
    }
    text
}

/// Ok, or the report's text.
fn validate(text: &str) -> Result<(), String> {
    answer::parse("answer.toml", text.as_bytes())
        .map(|_| ())
        .map_err(|r| r.to_string())
}

#[test]
fn the_base_answer_is_valid() {
    assert_eq!(validate(&answer_with("", "")), Ok(()));
}

#[test]
fn numeric_values_at_both_ends() {
    // (placeholder, key named in the error, refused below, accepted lo, accepted hi, refused above)
    let cases: [(&str, &str, &str, &str, &str, &str); 7] = [
        ("@REBOOTS@", "agent.max-reboots", "0", "1", "10", "11"),
        (
            "@ALLOW@",
            "network.vm-bridge.allow[0]",
            "0",
            "1",
            "65535",
            "65536",
        ),
        (
            "@PORT@",
            "network.port-forward[0].port",
            "0",
            "1",
            "65535",
            "65536",
        ),
        (
            "@TO@",
            "network.port-forward[0].to",
            "0",
            "1",
            "65535",
            "65536",
        ),
        (
            "@VMID@",
            "haos.vmid",
            "99",
            "100",
            "999999999",
            "1000000000",
        ),
        ("@CORES@", "haos.cores", "0", "1", "128", "129"),
        (
            "@MEMORY@",
            "haos.memory",
            "1023",
            "1024",
            "1048576",
            "1048577",
        ),
    ];
    for (ph, key, below, lo, hi, above) in cases {
        for ok in [lo, hi] {
            assert_eq!(validate(&answer_with(ph, ok)), Ok(()), "{key} = {ok}");
        }
        for bad in [below, above] {
            let e = validate(&answer_with(ph, bad)).expect_err(&format!("{key} = {bad}"));
            assert!(e.contains(&format!("error: {key}")), "{key} = {bad}: {e}");
        }
    }
}

/// Proxmox's own ports on the management address can never be forwarded away, on either
/// side of each range; the neighbours can.
#[test]
fn proxmox_ports_are_never_forwarded() {
    let reserved = [
        ("tcp", "22"),
        ("tcp", "8006"),
        ("tcp", "3128"),
        ("tcp", "5900"),
        ("tcp", "5999"),
        ("tcp", "60000"),
        ("tcp", "60050"),
        ("udp", "5404"),
        ("udp", "5405"),
    ];
    let free = [
        ("tcp", "21"),
        ("tcp", "23"),
        ("tcp", "8005"),
        ("tcp", "8007"),
        ("tcp", "5899"),
        ("tcp", "6000"),
        ("tcp", "59999"),
        ("tcp", "60051"),
        ("udp", "22"),
        ("udp", "8006"),
        ("udp", "5403"),
        ("udp", "5406"),
        ("tcp", "5405"),
    ];
    let with = |proto: &str, port: &str| {
        answer_with("@PROTO@", proto).replace("port = 8123", &format!("port = {port}"))
    };
    for (proto, port) in reserved {
        let e = validate(&with(proto, port)).expect_err(&format!("{port}/{proto}"));
        assert!(
            e.contains("error: network.port-forward[0].port") && e.contains("Proxmox's own"),
            "{port}/{proto}: {e}"
        );
    }
    for (proto, port) in free {
        assert_eq!(validate(&with(proto, port)), Ok(()), "{port}/{proto}");
    }
}

#[test]
fn enumerations_refuse_what_they_do_not_list() {
    let e = validate(&answer_with("@PROTO@", "sctp")).unwrap_err();
    assert!(e.contains("error: network.port-forward[0].protocol"), "{e}");
    let e = validate(&answer_with("@PROTO@", "TCP")).unwrap_err();
    assert!(e.contains("error: network.port-forward[0].protocol"), "{e}");
}
