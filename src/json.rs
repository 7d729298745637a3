//! A small JSON reader for the few documents the agent reads from publishers (GitHub's
//! release API, version.home-assistant.io). Reading them by searching for a key's text
//! would take a key inside a string, or another object's key, for the one we want; a
//! crate (serde_json) would add to the hook's every byte. Values only, no serialisation;
//! nesting and size are bounded, so a hostile server cannot make us recurse without end.

/// A JSON value. Numbers stay text: nothing read here computes with them.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    /// Members in document order (a repeated key: the first wins in `get`).
    Obj(Vec<(String, Json)>),
}

/// Deeper nesting than any publisher's document has.
const MAX_DEPTH: usize = 64;

impl Json {
    /// A member of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }
}

/// Parse a whole document; the error says what was wrong and at which byte.
pub fn parse(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("text after the end of the document"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.i)
    }

    fn ws(&mut self) {
        while self
            .s
            .get(self.i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end")),
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat(b'}') {
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a member name"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b':') {
                        return Err(self.err("expected ':'"));
                    }
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    if self.eat(b'}') {
                        return Ok(Json::Obj(members));
                    }
                    if !self.eat(b',') {
                        return Err(self.err("expected ',' or '}'"));
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b']') {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b']') {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(b',') {
                        return Err(self.err("expected ',' or ']'"));
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.i += 1;
                }
                let n = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII");
                if n.parse::<f64>().is_err() {
                    return Err(self.err("malformed number"));
                }
                Ok(Json::Num(n.to_string()))
            }
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.err("unexpected word"))
        }
    }

    /// A string at `self.i` (the opening quote), with its escapes decoded.
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self
                .s
                .get(self.i)
                .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
            {
                self.i += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("not UTF-8"))?,
            );
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.s.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair: the low half must follow.
                                if !(self.s.get(self.i + 1) == Some(&b'\\')
                                    && self.s.get(self.i + 2) == Some(&b'u'))
                                {
                                    return Err(self.err("lone surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("bad surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.err("bad \\u escape"))?
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    out.push(c);
                    self.i += 1;
                }
                Some(_) => return Err(self.err("control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// The four hex digits after `\u` (`self.i` on the `u`); leaves `self.i` on the last.
    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i + 1..self.i + 5)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_publishers_send() {
        let v = parse(
            r#"{"tag_name": "16.3", "assets": [{"name": "a \"b\" \u00e9\ud83d\ude00",
               "size": 1.5e3, "digest": null, "ok": true}], "x": []}"#,
        )
        .unwrap();
        assert_eq!(v.get("tag_name").and_then(Json::as_str), Some("16.3"));
        let a = &v.get("assets").and_then(Json::as_array).unwrap()[0];
        assert_eq!(a.get("name").and_then(Json::as_str), Some("a \"b\" é😀"));
        assert_eq!(a.get("size"), Some(&Json::Num("1.5e3".into())));
        assert_eq!(a.get("digest"), Some(&Json::Null));
        assert_eq!(a.get("ok"), Some(&Json::Bool(true)));
    }

    /// Every escape RFC 8259 defines, as publishers send them: GitHub's release notes with
    /// `\r\n` and tabs, encoders that escape `/` (PHP's `json_encode`) in every URL.
    #[test]
    fn decodes_every_escape() {
        let v = parse(
            r#"{"body": "Release 16.3\r\n\r\n\t- fix\n", "url": "https:\/\/github.com\/x",
               "ctl": "a\bb\fc", "q": "\"\\", "u": "\u00e9\u20AC"}"#,
        )
        .unwrap();
        let s = |k: &str| v.get(k).and_then(Json::as_str).unwrap().to_string();
        assert_eq!(s("body"), "Release 16.3\r\n\r\n\t- fix\n");
        assert_eq!(s("url"), "https://github.com/x");
        assert_eq!(s("ctl"), "a\u{8}b\u{c}c");
        assert_eq!(s("q"), "\"\\");
        assert_eq!(s("u"), "é€");
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "{\"a\": 1} x",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"a\nb\"",
            "01x",
            "tru",
            &"[".repeat(100),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
