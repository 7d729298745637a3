//! Fixture pairs for the answer file, as Proxmox's installer tests its own:
//! `tests/answers/ok/NAME.toml` must be valid and normalize to `NAME.out` (warnings, if
//! any, in `NAME.warn`); `tests/answers/fail/NAME.toml` must be refused with exactly the
//! messages in `NAME.err`. `BLESS=1 cargo test --test answers` rewrites the expected files
//! (review the diff before committing it).

use std::fs;
use std::path::{Path, PathBuf};

use pve_firstboot::answer;

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/answers")
        .join(sub)
}

fn inputs(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// Compare with the expected file, or write it when blessing. Returns a mismatch message.
fn expect(path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("BLESS").is_some() {
        if actual.is_empty() && path.extension().is_some_and(|e| e == "warn") {
            let _ = fs::remove_file(path);
        } else {
            fs::write(path, actual).unwrap();
        }
        return None;
    }
    let want = fs::read_to_string(path).unwrap_or_default();
    (want != actual).then(|| {
        format!(
            "{}:\n--- expected\n{want}--- actual\n{actual}",
            path.display()
        )
    })
}

#[test]
fn ok_fixtures_normalize_as_expected() {
    let mut cases = inputs(&dir("ok"));
    // The shipped example is a fixture too: it must stay valid and mean what it says.
    cases.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homeserver.toml"));
    let mut bad = Vec::new();
    for input in cases {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
        match answer::parse(&name, &fs::read(&input).unwrap()) {
            Ok(l) => {
                bad.extend(expect(
                    &dir("ok").join(format!("{stem}.out")),
                    &answer::normalized(&l.answer),
                ));
                bad.extend(expect(
                    &dir("ok").join(format!("{stem}.warn")),
                    &l.warnings.to_string(),
                ));
            }
            Err(r) => bad.push(format!("{name} should be valid:\n{r}")),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn fail_fixtures_give_exactly_the_expected_errors() {
    let cases = inputs(&dir("fail"));
    assert!(
        cases.len() >= 30,
        "at least 30 failure fixtures, found {}",
        cases.len()
    );
    let mut bad = Vec::new();
    for input in cases {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
        match answer::parse(&name, &fs::read(&input).unwrap()) {
            Ok(_) => bad.push(format!("{name} should be refused")),
            Err(r) => {
                assert!(r.has_errors(), "{name}: refused without an error line");
                for line in &r.lines {
                    // FILE:LINE:COLUMN: error|warning: ...
                    let mut parts = line.splitn(4, ':');
                    let (f, l, c) = (parts.next(), parts.next(), parts.next());
                    assert_eq!(f, Some(name.as_str()), "{line}");
                    assert!(
                        l.unwrap().parse::<usize>().is_ok() && c.unwrap().parse::<usize>().is_ok(),
                        "{line}"
                    );
                }
                bad.extend(expect(
                    &dir("fail").join(format!("{stem}.err")),
                    &r.to_string(),
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn oversized_file_is_refused_without_parsing() {
    let big = vec![b'#'; answer::MAX_ANSWER_BYTES + 1];
    let r = answer::parse("big.toml", &big).err().expect("refused");
    assert_eq!(
        r.lines,
        vec![format!(
            "big.toml:1:1: error: the file is {} bytes; an answer file may be at most {} bytes",
            big.len(),
            answer::MAX_ANSWER_BYTES
        )]
    );
}

/// No input may panic the validator: mangle the example thousands of ways (bytes flipped,
/// cut, duplicated) with a fixed-seed generator so a failure reproduces.
#[test]
fn never_panics_on_mangled_input() {
    let base = answer::EXAMPLE.as_bytes();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let noise = b"[]{}=\"'.,#\n\\ 0123456789abcdefghijklmnopqrstuvwxyz-_\xff\xc3";
    for _ in 0..3000 {
        let mut v = base.to_vec();
        for _ in 0..(next() % 8 + 1) {
            let at = (next() as usize) % v.len().max(1);
            match next() % 4 {
                0 => v[at] = noise[(next() as usize) % noise.len()],
                1 => v.truncate(at),
                2 => {
                    let end = (at + (next() as usize % 200)).min(v.len());
                    let chunk = v[at..end].to_vec();
                    v.splice(at..at, chunk);
                }
                _ => {
                    if at < v.len() {
                        v.remove(at);
                    }
                }
            }
            if v.is_empty() {
                break;
            }
        }
        let _ = answer::parse("mangled.toml", &v);
    }
}
