//! `[notify]`: the message when the agent ends — its curl config read by the real curl
//! against a local server (headers and body as sent), the webhook kept out of every command
//! line, log and printout, and a failure to send that never changes the run's outcome.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::*;
use pve_firstboot::answer::{self, Notify, NotifyFormat, Secret};
use pve_firstboot::handover::notify_config;

/// One HTTP request as a local server receives it (answered 200).
fn serve_one() -> (u16, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then as much body as Content-Length says.
        loop {
            let n = s.read(&mut buf).unwrap();
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&req).into_owned()
    });
    (port, h)
}

fn send(format: NotifyFormat, text: &str) -> String {
    let (port, server) = serve_one();
    let n = Notify {
        webhook: Secret::new(format!("http://127.0.0.1:{port}/my-secret-topic")),
        format,
        smtp: None,
    };
    let cfg = notify_config(&n, "failed", text, "atlas.home.arpa");
    let mut c = Command::new("curl")
        .args(["-fsS", "--max-time", "10", "-o", "/dev/null", "-K", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("curl");
    c.stdin.take().unwrap().write_all(cfg.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
    server.join().unwrap()
}

#[test]
fn ntfy_headers_and_body_as_curl_sends_them() {
    // Quotes, backslashes and line ends survive curl's config quoting.
    let text = "pve-firstboot FAILED in 3 min\n  haos  failed: \"x\" \\ y\n";
    let req = send(NotifyFormat::Ntfy, text);
    assert!(
        req.starts_with("POST /my-secret-topic HTTP/1.1\r\n"),
        "{req}"
    );
    for h in [
        "Title: pve-firstboot FAILED on atlas.home.arpa\r\n",
        "Priority: 4\r\n",
        "Tags: warning\r\n",
    ] {
        assert!(req.contains(h), "{h:?} in {req}");
    }
    assert!(req.ends_with(&format!("\r\n\r\n{text}")), "{req}");
}

#[test]
fn json_body_is_json() {
    let req = send(NotifyFormat::Json, "line one\nline \"two\"\n");
    assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
    let body = &req[req.find("\r\n\r\n").unwrap() + 4..];
    let dir = scratch("notify-json");
    let f = dir.join("body.json");
    std::fs::write(&f, body).unwrap();
    let ok = Command::new("python3")
        .arg("-c")
        .arg("import json,sys; d=json.load(open(sys.argv[1])); assert d['status']=='failed' and d['message']=='line one\\nline \"two\"\\n', d")
        .arg(&f)
        .status()
        .unwrap();
    assert!(ok.success(), "{body}");
}

/// Under --root the message is recorded, not sent: the command line holds no URL, the
/// printout redacts it, `status` says what became of it, and the run's outcome stands.
#[test]
fn the_webhook_stays_out_of_command_lines_and_printouts() {
    let text = format!(
        "{}\n[notify]\nwebhook = \"https://ntfy.example.org/my-secret-topic\"\n",
        installer_tables(
            "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\""
        )
    );
    assert!(answer::parse("a.toml", text.as_bytes()).is_ok());
    let dir = scratch("notify-root");
    let f = dir.join("answer.toml");
    std::fs::write(&f, &text).unwrap();
    let root = dir.join("root");
    copy_tree(&manifest().join("tests/roots/pve9"), &root);
    let (a, r) = (f.to_str().unwrap(), root.to_str().unwrap());
    let printed = agent(&["validate", "--print", a], "warn");
    let run = agent(&["run", "--answer", a, "--root", r], "trace");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let status = agent(&["status", "--root", r], "warn");
    let log = commands_log(&root);
    assert!(log.contains("curl -fsS"), "{log}");
    assert!(log.contains("-K -"), "{log}");
    let all = format!(
        "{}{}{}{}{log}{}",
        String::from_utf8_lossy(&printed.stdout),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&status.stdout),
        std::fs::read_to_string(root.join("var/lib/pve-firstboot/state.toml")).unwrap()
    );
    assert!(!all.contains("my-secret-topic"), "{all}");
    assert!(
        String::from_utf8_lossy(&status.stdout)
            .contains("notification: recorded, not sent (not a live host)"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    // A second run of the finished agent does not send it again.
    let again = agent(&["run", "--answer", a, "--root", r], "warn");
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(commands_log(&root).matches("curl -fsS").count(), 1);
}

/// With `[notify.smtp]` the message also goes to root by local mail, which root's
/// `.forward` (proxmox-mail-forward) turns into a Proxmox notification, and so through the
/// smtp target the backup phase wrote: once per finished run, the body on stdin. Without
/// that `.forward`, `status` says why no mail went.
#[test]
fn with_smtp_the_message_goes_through_proxmox_notifications_once() {
    for forward in [true, false] {
        let text = format!(
            "{}\n[notify]\nwebhook = \"https://ntfy.example.org/t\"\n\n[notify.smtp]\n\
             server = \"smtp.example.org\"\nfrom = \"atlas@example.org\"\n",
            installer_tables(
                "root-password-hashed = \"$y$j9T$Vn1nEMcCCNN3iqCLHgj9y/$0Gl8f5G5G2L3R3b0gkUe8OZjr3lPIFA5ZBNUjw9G1e7\""
            )
        );
        let dir = scratch(&format!("notify-smtp-{forward}"));
        let f = dir.join("answer.toml");
        std::fs::write(&f, &text).unwrap();
        let root = dir.join("root");
        copy_tree(&manifest().join("tests/roots/pve9"), &root);
        if forward {
            std::fs::write(
                root.join("root/.forward"),
                "|/usr/bin/proxmox-mail-forward\n",
            )
            .unwrap();
        }
        let (a, r) = (f.to_str().unwrap(), root.to_str().unwrap());
        for _ in 0..2 {
            let run = agent(&["run", "--answer", a, "--root", r], "warn");
            assert_eq!(
                run.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
        let log = commands_log(&root);
        let status =
            String::from_utf8_lossy(&agent(&["status", "--root", r], "warn").stdout).into_owned();
        if forward {
            assert_eq!(
                log.matches("/usr/sbin/sendmail -i root").count(),
                1,
                "{log}"
            );
            assert!(!log.contains("Subject"), "{log}");
            assert!(
                status.contains("mail through Proxmox's notifications: recorded, not sent"),
                "{status}"
            );
        } else {
            assert!(!log.contains("sendmail"), "{log}");
            assert!(
                status.contains(
                    "not sent: /root/.forward does not hand root's mail to proxmox-mail-forward"
                ),
                "{status}"
            );
        }
    }
}
