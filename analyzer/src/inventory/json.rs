//! JSON bodies as flat fields: `{"items":[{"sku":"A1"}]}` yields `items` (array),
//! `items[]` (object) and `items[].sku` (string `A1`).
//!
//! A tolerant walker rather than a parser: bodies arrive cut at the capture bound, so a
//! document that stops midway still yields every field before the cut, and malformed input
//! ends the walk without an error. Bounded: nesting beyond [`MAX_DEPTH`] is skipped, at
//! most [`MAX_FIELDS`] values are reported, paths stop growing at [`MAX_PATH`] bytes and
//! string values are cut at [`MAX_STRING`] characters. Nothing allocates per value but the
//! string being decoded.

pub const MAX_DEPTH: usize = 16;
pub const MAX_FIELDS: usize = 512;
pub const MAX_PATH: usize = 256;
pub const MAX_STRING: usize = 1024;

/// One value in a JSON document.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue<'a> {
    String(&'a str),
    Number(f64, bool),
    Bool,
    Null,
    Object,
    Array,
}

/// Whether `body` starts like a JSON document (object or array).
pub fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// Calls `f(path, value)` for every value in `body`, in document order.
pub fn walk(body: &[u8], f: &mut dyn FnMut(&str, JsonValue<'_>)) {
    let mut w = Walker { b: body, i: 0, fields: 0, path: String::new() };
    w.ws();
    match w.peek() {
        Some(b'{') => w.value(0, f),
        Some(b'[') => {
            // A top-level array's elements are named `[]`.
            w.path.push_str("[]");
            w.array_items(0, f);
        }
        _ => {}
    }
}

struct Walker<'a> {
    b: &'a [u8],
    i: usize,
    fields: usize,
    path: String,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn emit(&mut self, f: &mut dyn FnMut(&str, JsonValue<'_>), v: JsonValue<'_>) {
        if self.fields < MAX_FIELDS && !self.path.is_empty() {
            self.fields += 1;
            f(&self.path, v);
        }
    }

    /// One value at the current position, reported under the current path.
    fn value(&mut self, depth: usize, f: &mut dyn FnMut(&str, JsonValue<'_>)) {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.emit(f, JsonValue::Object);
                if depth >= MAX_DEPTH {
                    return self.skip();
                }
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'}') => {
                            self.i += 1;
                            return;
                        }
                        Some(b',') => self.i += 1,
                        Some(b'"') => {
                            let Some(key) = self.string() else { return self.stop() };
                            self.ws();
                            if self.peek() != Some(b':') {
                                return self.stop();
                            }
                            self.i += 1;
                            let saved = self.path.len();
                            if !self.path.is_empty() && self.path.len() < MAX_PATH {
                                self.path.push('.');
                            }
                            if self.path.len() + key.len() <= MAX_PATH {
                                self.path.push_str(&key);
                            }
                            self.value(depth + 1, f);
                            self.path.truncate(saved);
                        }
                        _ => return self.stop(),
                    }
                }
            }
            Some(b'[') => {
                self.emit(f, JsonValue::Array);
                if depth >= MAX_DEPTH {
                    return self.skip();
                }
                let saved = self.path.len();
                if self.path.len() < MAX_PATH {
                    self.path.push_str("[]");
                }
                self.array_items(depth, f);
                self.path.truncate(saved);
            }
            Some(b'"') => match self.string() {
                Some(s) => self.emit(f, JsonValue::String(&s)),
                None => self.stop(),
            },
            Some(b't') | Some(b'f') => {
                self.literal();
                self.emit(f, JsonValue::Bool);
            }
            Some(b'n') => {
                self.literal();
                self.emit(f, JsonValue::Null);
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
                let integral = !text.contains(['.', 'e', 'E']);
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => self.emit(f, JsonValue::Number(n, integral)),
                    _ => self.stop(),
                }
            }
            _ => self.stop(),
        }
    }

    /// The elements of an array whose `[` is at the cursor; the path already ends in `[]`.
    fn array_items(&mut self, depth: usize, f: &mut dyn FnMut(&str, JsonValue<'_>)) {
        self.i += 1;
        loop {
            self.ws();
            match self.peek() {
                Some(b']') => {
                    self.i += 1;
                    return;
                }
                Some(b',') => self.i += 1,
                Some(_) => {
                    let before = self.i;
                    self.value(depth + 1, f);
                    if self.i == before {
                        return self.stop();
                    }
                }
                None => return,
            }
        }
    }

    /// A string at the cursor, unescaped and cut at MAX_STRING characters (the rest is
    /// still consumed). `None` when the input ends inside it.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = 0usize;
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    let ch = match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let hex = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
                            self.i += 4;
                            let mut cp = u32::from_str_radix(hex, 16).ok()?;
                            // A high surrogate followed by a low one is one character.
                            if (0xd800..0xdc00).contains(&cp) && self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                                if let Some(lo) = self.b.get(self.i + 2..self.i + 6).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u32::from_str_radix(h, 16).ok()) {
                                    if (0xdc00..0xe000).contains(&lo) {
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                        self.i += 6;
                                    }
                                }
                            }
                            char::from_u32(cp).unwrap_or('\u{fffd}')
                        }
                        other => other as char,
                    };
                    if chars < MAX_STRING {
                        out.push(ch);
                        chars += 1;
                    }
                }
                _ => {
                    // Copy a run of plain bytes at once.
                    let start = self.i;
                    while self.peek().is_some_and(|c| c != b'"' && c != b'\\') {
                        self.i += 1;
                    }
                    if chars < MAX_STRING {
                        let run = String::from_utf8_lossy(&self.b[start..self.i]);
                        for ch in run.chars() {
                            if chars == MAX_STRING {
                                break;
                            }
                            out.push(ch);
                            chars += 1;
                        }
                    }
                }
            }
        }
    }

    fn literal(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
    }

    /// Skips one value too deep to report, tracking strings so brackets inside them do not
    /// count.
    fn skip(&mut self) {
        let mut depth = 0usize;
        let mut in_string = false;
        while let Some(c) = self.peek() {
            self.i += 1;
            if in_string {
                match c {
                    b'\\' => self.i += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// Malformed input: report nothing more.
    fn stop(&mut self) {
        self.i = self.b.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        walk(body.as_bytes(), &mut |p, v| {
            let v = match v {
                JsonValue::String(s) => format!("s:{s}"),
                JsonValue::Number(n, i) => format!("{}:{n}", if i { "i" } else { "n" }),
                JsonValue::Bool => "bool".into(),
                JsonValue::Null => "null".into(),
                JsonValue::Object => "object".into(),
                JsonValue::Array => "array".into(),
            };
            out.push((p.to_string(), v));
        });
        out
    }

    #[test]
    fn nested_paths() {
        let f = fields(r#"{"id": 7, "name": "A\"b\u00e9", "items": [{"sku": "X1", "qty": 2.5}], "tags": ["a"], "ok": true, "n": null, "user": {"email": "a@b.co"}}"#);
        let want: Vec<(String, String)> = [
            ("id", "i:7"),
            ("name", "s:A\"bé"),
            ("items", "array"),
            ("items[]", "object"),
            ("items[].sku", "s:X1"),
            ("items[].qty", "n:2.5"),
            ("tags", "array"),
            ("tags[]", "s:a"),
            ("ok", "bool"),
            ("n", "null"),
            ("user", "object"),
            ("user.email", "s:a@b.co"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(f, want);
    }

    #[test]
    fn top_level_array_and_cut_documents() {
        let f = fields(r#"[{"id": 1}, {"id": 2}"#);
        assert_eq!(f.iter().filter(|(p, _)| p == "[].id").count(), 2);
        // Cut inside a string: everything before it is reported.
        let f = fields(r#"{"a": 1, "b": "unterminated"#);
        assert_eq!(f, vec![("a".to_string(), "i:1".to_string())]);
        assert!(fields("not json").is_empty());
        assert!(fields("").is_empty());
        assert!(fields(r#"{"a" 1}"#).is_empty());
    }

    #[test]
    fn bounded() {
        let deep = format!("{}{}", "{\"a\":".repeat(100), "1");
        let f = fields(&deep);
        assert!(f.len() <= MAX_DEPTH + 1);
        let many = format!("[{}]", (0..5000).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        assert_eq!(fields(&many).len(), MAX_FIELDS);
        let long = format!(r#"{{"s": "{}", "after": 1}}"#, "x".repeat(5000));
        let f = fields(&long);
        assert_eq!(f[0].1.len(), 2 + MAX_STRING);
        assert_eq!(f[1].0, "after");
        assert!(looks_like_json(b"  {\"a\":1}"));
        assert!(!looks_like_json(b"a=1"));
    }

    #[test]
    fn surrogate_pairs_and_bad_escapes() {
        let f = fields(r#"{"e": "\ud83d\ude00", "bad": "\ud83d", "x": "\uZZZZ"}"#);
        assert_eq!(f[0].1, "s:😀");
        assert_eq!(f[1].1, "s:\u{fffd}");
        assert_eq!(f.len(), 2);
    }
}
