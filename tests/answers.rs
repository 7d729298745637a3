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

/// The `ok/` fixtures and the shipped example, which is a fixture too: it must stay valid
/// and mean what it says.
fn ok_cases() -> Vec<PathBuf> {
    let mut cases = inputs(&dir("ok"));
    cases.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homeserver.toml"));
    cases
}

#[test]
fn ok_fixtures_normalize_as_expected() {
    let mut bad = Vec::new();
    for input in ok_cases() {
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

/// Every value `validate --print` redacted, taken back from the answer it printed.
fn put_back_secrets(printed: &mut toml::Table, original: &toml::Table) {
    for (k, v) in printed.iter_mut() {
        match v {
            toml::Value::String(s) if s == answer::REDACTED => {
                *v = original
                    .get(k)
                    .cloned()
                    .expect("a redacted key was in the answer");
            }
            toml::Value::Table(t) => {
                if let Some(toml::Value::Table(o)) = original.get(k) {
                    put_back_secrets(t, o);
                }
            }
            // Arrays of tables (`[[storage]]`), entry by entry in file order.
            toml::Value::Array(a) => {
                if let Some(toml::Value::Array(o)) = original.get(k) {
                    for (p, o) in a.iter_mut().zip(o) {
                        if let (toml::Value::Table(p), toml::Value::Table(o)) = (p, o) {
                            put_back_secrets(p, o);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// `validate --print` round-trips: the printed answer, with the redacted secrets put back,
/// is valid and prints the same. A printed answer that lost a key, or printed a value the
/// reader does not take (a count for a list, a placeholder), fails here.
#[test]
fn printed_answers_read_back_the_same() {
    let mut bad = Vec::new();
    for input in ok_cases() {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&input).unwrap();
        let Ok(first) = answer::parse(&name, text.as_bytes()) else {
            bad.push(format!("{name} should be valid"));
            continue;
        };
        let printed = answer::normalized(&first.answer);
        let mut back: toml::Table = toml::from_str(&printed)
            .unwrap_or_else(|e| panic!("{name}: the printed answer is not TOML: {e}\n{printed}"));
        put_back_secrets(&mut back, &toml::from_str(&text).unwrap());
        let again = toml::to_string(&back).unwrap();
        match answer::parse(&format!("printed {name}"), again.as_bytes()) {
            Ok(second) => {
                let reprinted = answer::normalized(&second.answer);
                if reprinted != printed {
                    bad.push(format!(
                        "{name}: printed differently when read back:\n--- first\n{printed}--- second\n{reprinted}"
                    ));
                }
            }
            Err(r) => bad.push(format!(
                "{name}: the printed answer is refused:\n{r}{printed}"
            )),
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

/// One step of a path into a TOML document.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Idx(usize),
}

/// Every path to a value in `v`, tables and arrays included.
fn paths(v: &toml::Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                at.push(Seg::Key(k.clone()));
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Seg::Idx(i));
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Replace (or with `None`, remove) the value at `path`.
fn set(v: &mut toml::Value, path: &[Seg], new: Option<toml::Value>) {
    let (last, up) = path.split_last().expect("a non-empty path");
    let mut cur = v;
    for s in up {
        cur = match (cur, s) {
            (toml::Value::Table(t), Seg::Key(k)) => t.get_mut(k).unwrap(),
            (toml::Value::Array(a), Seg::Idx(i)) => &mut a[*i],
            _ => unreachable!("paths() only yields existing paths"),
        };
    }
    match (cur, last, new) {
        (toml::Value::Table(t), Seg::Key(k), None) => {
            t.remove(k);
        }
        (toml::Value::Table(t), Seg::Key(k), Some(n)) => {
            t.insert(k.clone(), n);
        }
        (toml::Value::Array(a), Seg::Idx(i), None) => {
            a.remove(*i);
        }
        (toml::Value::Array(a), Seg::Idx(i), Some(n)) => a[*i] = n,
        _ => unreachable!(),
    }
}

/// `NAME:LINE:COL: error: KEY.PATH: ...` with a key path, or None.
fn error_key<'l>(name: &str, line: &'l str) -> Option<&'l str> {
    let rest = line.strip_prefix(name)?.strip_prefix(':')?;
    let (l, rest) = rest.split_once(':')?;
    let (c, rest) = rest.split_once(": error: ")?;
    l.parse::<usize>().ok()?;
    c.parse::<usize>().ok()?;
    let (key, msg) = rest.split_once(": ")?;
    (!key.is_empty() && !key.contains(' ') && !msg.is_empty()).then_some(key)
}

/// No silent refusals (issue 13): every key of several valid answers is removed, emptied
/// and given a value of each other type; whenever the answer is then refused, the refusal
/// names at least one `FILE:LINE:COL: error: KEY.PATH: ...` line. This walks the schema's
/// error paths from the outside, so a new table or key is covered without listing it.
#[test]
fn every_refusal_names_an_error_and_its_key() {
    let mut sources: Vec<PathBuf> = [
        "dhcp-everything",
        "newer-installer-keys",
        "fqdn-domain-only",
        "btrfs-upper-case-raid",
        "disk-list-dev-path",
        "vm-docker-and-gaming",
    ]
    .iter()
    .map(|n| dir("ok").join(format!("{n}.toml")))
    .collect();
    sources.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homeserver.toml"));
    let values = || {
        let mut t = toml::Table::new();
        t.insert("x".into(), toml::Value::Integer(1));
        [
            None,
            Some(toml::Value::String(String::new())),
            Some(toml::Value::String("x".into())),
            Some(toml::Value::Integer(0)),
            Some(toml::Value::Integer(-1)),
            Some(toml::Value::Float(1.5)),
            Some(toml::Value::Boolean(true)),
            Some(toml::Value::Array(Vec::new())),
            Some(toml::Value::Table(toml::Table::new())),
            Some(toml::Value::Table(t)),
        ]
    };
    let (mut refused, mut bad) = (0, Vec::new());
    for src in sources {
        let doc = toml::Value::Table(toml::from_str(&fs::read_to_string(&src).unwrap()).unwrap());
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        for path in &all {
            for new in values() {
                let mut v = doc.clone();
                set(&mut v, path, new.clone());
                let Ok(text) = toml::to_string(&v) else {
                    continue;
                };
                let Err(r) = answer::parse("m.toml", text.as_bytes()) else {
                    continue;
                };
                refused += 1;
                let named = r
                    .lines
                    .iter()
                    .filter(|l| error_key("m.toml", l).is_some())
                    .count();
                if r.errors == 0 || named == 0 {
                    bad.push(format!("{path:?} = {new:?}:\n{r}"));
                }
            }
        }
    }
    assert!(refused > 1000, "only {refused} refusals walked");
    assert!(
        bad.is_empty(),
        "{} silent or keyless refusals:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// What `image` writes for Proxmox's installer is what the admin's `[installer.*]` tables
/// say, value by value, plus our `[first-boot]` table, in TOML 1.0 syntax (the installer's
/// parser), for every valid answer and one whose string needs an escape (1.0's `\u`, not
/// 1.1's `\e`).
#[test]
fn the_iso_answer_means_the_installer_tables() {
    let mut texts: Vec<(String, String)> = ok_cases()
        .iter()
        .map(|p| (p.display().to_string(), fs::read_to_string(p).unwrap()))
        .collect();
    texts.push((
        "an escape".into(),
        fs::read_to_string(dir("ok").join("minimal.toml")).unwrap()
            + "\n[installer.post-installation-webhook]\nurl = \"https://x.example/h\"\n\
               cert-fingerprint = \"a\\u001bb\"\n",
    ));
    for (name, text) in texts {
        let written = pve_firstboot::image::iso::proxmox_answer(&text).unwrap();
        assert_eq!(
            answer::toml_1_1_syntax(&written),
            Vec::<String>::new(),
            "{name}: {written}"
        );
        let mut got: toml::Table = toml::from_str(&written).unwrap();
        let fb = got.remove("first-boot").expect("the first-boot table");
        assert_eq!(fb["source"].as_str(), Some("from-iso"));
        let mut want: toml::Table = toml::from_str(&text).unwrap();
        let want = want.remove("installer").unwrap();
        assert_eq!(toml::Value::Table(got), want, "{name}");
    }
}
