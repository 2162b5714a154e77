//! A request path as the inventory sees it: decoded segments, the way a server routes them.
//!
//! - Empty segments are dropped, so `/users/`, `/users` and `//users` are one path (whether a
//!   trailing slash was sent is reported beside it).
//! - `.` and `..` are resolved as RFC 3986 §5.2.4 says; `..` never climbs above the root.
//! - Each segment is percent-decoded after splitting, so an encoded `/` (`%2F`) stays inside
//!   its segment. Bytes that do not decode to UTF-8 keep their `%XX` form.
//! - Matrix parameters (`/cars;color=red/2024`) are split off their segment and returned.
//! - Bounded: at most [`MAX_SEGMENTS`] segments of [`MAX_SEGMENT`] bytes; the rest of a
//!   longer path is folded into the last segment, so hostile paths cost bounded memory.

use percent_encoding::percent_decode_str;

pub const MAX_SEGMENTS: usize = 32;
pub const MAX_SEGMENT: usize = 256;

/// A normalized path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NormalizedPath {
    pub segments: Vec<String>,
    /// Matrix parameters, with the index of the segment that carried them.
    pub matrix: Vec<(usize, String, String)>,
    pub trailing_slash: bool,
}

/// Normalizes `path` (the part of a URI before `?`).
pub fn normalize(path: &str) -> NormalizedPath {
    let mut out = NormalizedPath { trailing_slash: path.len() > 1 && path.ends_with('/'), ..Default::default() };
    for raw in path.split('/') {
        if raw.is_empty() {
            continue;
        }
        let (name, params) = match raw.split_once(';') {
            Some((n, p)) => (n, Some(p)),
            None => (raw, None),
        };
        let seg = decode(name);
        match seg.as_str() {
            "." => continue,
            ".." => {
                out.segments.pop();
                out.matrix.retain(|(i, _, _)| *i < out.segments.len());
                continue;
            }
            "" if params.is_none() => continue,
            _ => {}
        }
        if out.segments.len() == MAX_SEGMENTS {
            // Fold the rest into the last segment rather than grow without bound.
            if let Some(last) = out.segments.last_mut() {
                if last.len() < MAX_SEGMENT {
                    last.push('/');
                    last.push_str(&seg);
                    truncate(last);
                }
            }
            continue;
        }
        let index = out.segments.len();
        for p in params.into_iter().flat_map(|p| p.split(';')) {
            if p.is_empty() {
                continue;
            }
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            if out.matrix.len() < MAX_SEGMENTS {
                out.matrix.push((index, decode(k), decode(v)));
            }
        }
        let mut seg = seg;
        truncate(&mut seg);
        out.segments.push(seg);
    }
    out
}

fn truncate(s: &mut String) {
    if s.len() > MAX_SEGMENT {
        let mut cut = MAX_SEGMENT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Percent-decodes; keeps the original text when the bytes are not UTF-8.
pub fn decode(s: &str) -> String {
    match percent_decode_str(s).decode_utf8() {
        Ok(d) => d.into_owned(),
        Err(_) => s.to_string(),
    }
}

/// File extensions that end path segments (`report.pdf`, `123.json`): a fixed list, since
/// any short word after a dot would also match names (`john.smith`).
const EXTENSIONS: &[&str] = &[
    "json", "xml", "yaml", "yml", "csv", "tsv", "txt", "html", "htm", "md", "pdf", "png", "jpg", "jpeg", "gif", "svg",
    "webp", "ico", "bmp", "tif", "tiff", "mp3", "mp4", "m4a", "wav", "ogg", "webm", "mov", "avi", "zip", "gz", "tgz",
    "tar", "bz2", "xz", "7z", "rar", "js", "mjs", "css", "map", "wasm", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
    "odt", "ods", "rtf", "atom", "rss", "ics", "vcf", "proto", "bin", "log", "jar", "war", "apk", "ipa", "exe", "dmg",
    "deb", "rpm", "whl", "gem", "pem", "crt", "cer", "key", "pub", "asc", "sig", "sha256", "msgpack", "avro", "parquet",
];

/// `name.ext` split when `ext` is a known file extension (any case).
pub fn split_extension(seg: &str) -> Option<(&str, &str)> {
    let dot = seg.rfind('.')?;
    let (stem, ext) = (&seg[..dot], &seg[dot + 1..]);
    let known = ext.len() <= 8 && EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext));
    (!stem.is_empty() && known).then_some((stem, ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        normalize(p).segments
    }

    #[test]
    fn shapes() {
        assert_eq!(segs("/users/42"), ["users", "42"]);
        assert_eq!(segs("/users/42/"), ["users", "42"]);
        assert!(normalize("/users/42/").trailing_slash);
        assert!(!normalize("/").trailing_slash);
        assert_eq!(segs("//users///42"), ["users", "42"]);
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(segs(""), Vec::<String>::new());
        assert_eq!(segs("/a/./b/../c"), ["a", "c"]);
        assert_eq!(segs("/../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(segs("/files/a%2Fb"), ["files", "a/b"]);
        assert_eq!(segs("/caf%C3%A9"), ["café"]);
        assert_eq!(segs("/bad%FF"), ["bad%FF"]);
        assert_eq!(segs("/%2e%2e/x"), ["x"]);
    }

    #[test]
    fn matrix_parameters() {
        let n = normalize("/cars;color=red;year=2024/models;jsessionid=ABC");
        assert_eq!(n.segments, ["cars", "models"]);
        assert_eq!(
            n.matrix,
            [(0, "color".into(), "red".into()), (0, "year".into(), "2024".into()), (1, "jsessionid".into(), "ABC".into())]
        );
    }

    #[test]
    fn bounded() {
        let long = "/x".repeat(1000);
        let n = normalize(&long);
        assert_eq!(n.segments.len(), MAX_SEGMENTS);
        assert!(n.segments.iter().all(|s| s.len() <= MAX_SEGMENT));
        let wide = format!("/{}", "é".repeat(1000));
        assert!(normalize(&wide).segments[0].len() <= MAX_SEGMENT);
    }

    #[test]
    fn extensions() {
        assert_eq!(split_extension("123.json"), Some(("123", "json")));
        assert_eq!(split_extension("report.pdf"), Some(("report", "pdf")));
        assert_eq!(split_extension("v1.2"), None);
        assert_eq!(split_extension(".hidden"), None);
        assert_eq!(split_extension("archive.tar.gz"), Some(("archive.tar", "gz")));
        assert_eq!(split_extension("noext"), None);
        assert_eq!(split_extension("john.smith"), None);
        assert_eq!(split_extension("Calls.JSON"), Some(("Calls", "JSON")));
    }
}
