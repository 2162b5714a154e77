//! Pure HTTP/1.x syntax: start lines, header blocks, chunk-size lines, and the probes that
//! find where a message starts. No state, no allocation beyond the header list.
//!
//! httparse is the strict fast path. What it rejects goes to a lax parser that accepts what
//! real servers accept and what Zeek and libhtp log (missing versions, odd spacing, bytes
//! outside the URI grammar, lower-case `http/`, folded headers), and names each liberty as
//! an anomaly, because traffic a strict parser drops is exactly the traffic an attacker
//! would send.

use crate::anomaly::{Anomaly, AnomalySet};
use crate::record::Text;

/// RFC 9110 `tchar`: the characters of a method or header name.
pub fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
        || b.is_ascii_alphanumeric()
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Characters of RFC 2396 URIs (reserved, unreserved and `%`), the set Zeek scans a URI
/// with before it looks for the version.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b";/?:@&=+$,[]-_.!~*'()%".contains(&b)
}

/// Bytes as text for records: valid UTF-8 is kept, every other byte becomes the four
/// characters `\xNN`.
pub fn escape_bytes(b: &[u8]) -> String {
    // Header values are nearly always ASCII, which a word-at-a-time check confirms faster
    // than full UTF-8 validation of a short string.
    if b.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return unsafe { String::from_utf8_unchecked(b.to_vec()) };
    }
    if let Ok(s) = std::str::from_utf8(b) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    out
}

/// `b` as record text: borrowed when it is exactly one of `common`, escaped and owned
/// otherwise. Exact bytes only, so the record reads the same either way.
pub fn text(b: &[u8], common: &[&'static str]) -> Text {
    match common.iter().find(|c| c.as_bytes() == b) {
        Some(c) => Text::Borrowed(c),
        None => Text::Owned(escape_bytes(b)),
    }
}

/// Versions and reason phrases as almost every exchange sends them.
pub const COMMON_VERSIONS: &[&str] = &["1.1", "1.0"];
pub const COMMON_REASONS: &[&str] = &[
    "OK", "Created", "Accepted", "No Content", "Moved Permanently", "Found", "Not Modified", "Bad Request", "Unauthorized",
    "Forbidden", "Not Found", "Method Not Allowed", "Conflict", "Unprocessable Entity", "Too Many Requests",
    "Internal Server Error", "Bad Gateway", "Service Unavailable", "Gateway Timeout",
];

/// What the bytes at the start of a message position look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Yes,
    No,
    /// Too few bytes to tell.
    NeedMore,
}

/// Longest method token apitap believes (real ones are under 20; `VERSION-CONTROL` is 15).
const MAX_METHOD: usize = 32;

/// Could `d` be the start of a request line: a method token then whitespace?
pub fn probe_request(d: &[u8]) -> Probe {
    for (i, &b) in d.iter().enumerate().take(MAX_METHOD + 1) {
        if is_tchar(b) {
            continue;
        }
        return if i > 0 && is_ws(b) { Probe::Yes } else { Probe::No };
    }
    if d.len() > MAX_METHOD { Probe::No } else { Probe::NeedMore }
}

/// Could `d` be the start of a status line: `HTTP/`, any case?
pub fn probe_status(d: &[u8]) -> Probe {
    const P: &[u8] = b"HTTP/";
    let n = d.len().min(P.len());
    if !d[..n].eq_ignore_ascii_case(&P[..n]) {
        Probe::No
    } else if n < P.len() {
        Probe::NeedMore
    } else {
        Probe::Yes
    }
}

/// End of the first line in `d`: (end of its content, start of the next line).
pub fn line_end(d: &[u8]) -> Option<(usize, usize)> {
    let nl = memchr::memchr(b'\n', d)?;
    let end = if nl > 0 && d.get(nl - 1) == Some(&b'\r') { nl - 1 } else { nl };
    Some((end, nl + 1))
}

/// Index just past the blank line that ends a head, searching from `from` (a resume point
/// that must be a position already scanned, so slow arrival costs linear time).
pub fn head_end(d: &[u8], from: usize) -> Option<usize> {
    use std::sync::LazyLock;
    // Two vector scans over the whole head rather than one call per line: the CRLF ending
    // first, then a bare LF one before it (rare, but the earliest ending wins).
    static CRLF: LazyLock<memchr::memmem::Finder<'static>> = LazyLock::new(|| memchr::memmem::Finder::new(b"\n\r\n"));
    static LF: LazyLock<memchr::memmem::Finder<'static>> = LazyLock::new(|| memchr::memmem::Finder::new(b"\n\n"));
    let rest = d.get(from..)?;
    let crlf = CRLF.find(rest);
    let lf = LF.find(crlf.map_or(rest, |c| rest.get(..c + 2).unwrap_or(rest)));
    match (lf, crlf) {
        (Some(l), Some(c)) if l <= c => Some(from + l + 2),
        (Some(l), None) => Some(from + l + 2),
        (_, Some(c)) => Some(from + c + 3),
        (None, None) => None,
    }
}

/// Where [`head_end`] can resume after scanning all of `d` without success.
pub fn head_end_resume(d: &[u8]) -> usize {
    d.len().saturating_sub(2)
}

/// A parsed request line. Slices borrow the line.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    pub uri: &'a [u8],
    /// The version after `HTTP/`, or `None` for an HTTP/0.9 request.
    pub version: Option<&'a [u8]>,
}

/// Parses a request line (without its line ending) the way Zeek does: a method token,
/// whitespace, then the URI up to the first whitespace followed by `HTTP/`. No `HTTP/` means
/// HTTP/0.9. `None` when there is no method token followed by whitespace.
pub fn parse_request_line<'a>(line: &'a [u8], anomalies: &mut AnomalySet) -> Option<RequestLine<'a>> {
    let mlen = line.iter().take_while(|b| is_tchar(**b)).count();
    if mlen == 0 || mlen > MAX_METHOD || !line.get(mlen).is_some_and(|b| is_ws(*b)) {
        return None;
    }
    let method = &line[..mlen];
    let mut rest_start = mlen;
    while line.get(rest_start).is_some_and(|b| is_ws(*b)) {
        rest_start += 1;
    }
    let rest = &line[rest_start..];
    if rest.starts_with(b"HTTP/") {
        anomalies.insert(Anomaly::MissingUri);
        let version = version_token(&rest[5..], anomalies);
        return Some(RequestLine { method, uri: &rest[..0], version: Some(version) });
    }
    // Scan URI characters first so that whitespace inside a URI that is followed by more
    // URI is kept (Zeek logs `/a b` for `GET /a b HTTP/1.1`).
    let scanned = rest.iter().take_while(|b| is_uri_char(**b)).count();
    let mut i = scanned;
    while i < rest.len() {
        if is_ws(rest[i]) {
            let mut j = i;
            while rest.get(j).is_some_and(|b| is_ws(*b)) {
                j += 1;
            }
            if rest.get(j..j + 5) == Some(b"HTTP/") {
                if scanned < i || rest[..i].iter().any(|b| !is_uri_char(*b)) {
                    anomalies.insert(Anomaly::LaxRequestLine);
                }
                let version = version_token(&rest[j + 5..], anomalies);
                return Some(RequestLine { method, uri: &rest[..i], version: Some(version) });
            }
            i = j;
        } else {
            i += 1;
        }
    }
    anomalies.insert(Anomaly::Http09);
    let mut end = rest.len();
    while end > 0 && is_ws(rest[end - 1]) {
        end -= 1;
    }
    Some(RequestLine { method, uri: &rest[..end], version: None })
}

fn version_token<'a>(v: &'a [u8], anomalies: &mut AnomalySet) -> &'a [u8] {
    let n = v.iter().take_while(|b| !is_ws(**b)).count();
    let tok = &v[..n];
    if v[n..].iter().any(|b| !is_ws(*b)) {
        anomalies.insert(Anomaly::TrailingRequestLineData);
    }
    if !(tok.len() == 3 && tok[0].is_ascii_digit() && tok[1] == b'.' && tok[2].is_ascii_digit()) {
        anomalies.insert(Anomaly::LaxRequestLine);
    }
    tok
}

/// A parsed status line.
#[derive(Debug, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub version: &'a [u8],
    pub code: u16,
    pub reason: &'a [u8],
}

/// Parses a status line laxly: `HTTP/` in any case, a version, whitespace, a 3-digit code,
/// an optional reason. `None` when it does not start with `HTTP/` or has no code.
pub fn parse_status_line<'a>(line: &'a [u8], anomalies: &mut AnomalySet) -> Option<StatusLine<'a>> {
    if probe_status(line) != Probe::Yes {
        return None;
    }
    if !line.starts_with(b"HTTP/") {
        anomalies.insert(Anomaly::LaxStatusLine);
    }
    let rest = &line[5..];
    let vlen = rest.iter().take_while(|b| !is_ws(**b)).count();
    let version = &rest[..vlen];
    let mut i = vlen;
    while rest.get(i).is_some_and(|b| is_ws(*b)) {
        i += 1;
    }
    let digits = rest[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    if digits != 3 || i != vlen + 1 {
        anomalies.insert(Anomaly::LaxStatusLine);
    }
    let code = rest[i..i + digits.min(3)].iter().fold(0u16, |a, b| a * 10 + u16::from(b - b'0'));
    let mut r = i + digits;
    while rest.get(r).is_some_and(|b| is_ws(*b)) {
        r += 1;
    }
    Some(StatusLine { version, code, reason: &rest[r..] })
}

/// One header as sent; the name keeps its case, the value is trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawHeader<'a> {
    pub name: &'a [u8],
    pub value: std::borrow::Cow<'a, [u8]>,
}

/// Parses header lines (everything after the start line up to, not including, the blank
/// line). Folded lines are joined to the previous header with one space.
pub fn parse_headers<'a>(mut block: &'a [u8], max: usize, out: &mut Vec<RawHeader<'a>>, anomalies: &mut AnomalySet) {
    while !block.is_empty() {
        let (end, next) = line_end(block).unwrap_or((block.len(), block.len()));
        let line = &block[..end];
        block = &block[next..];
        if line.is_empty() {
            break;
        }
        if is_ws(line[0]) {
            anomalies.insert(Anomaly::ObsFoldHeader);
            let cont = trim(line);
            if let Some(last) = out.last_mut() {
                let mut v = last.value.to_vec();
                if !v.is_empty() && !cont.is_empty() {
                    v.push(b' ');
                }
                v.extend_from_slice(cont);
                last.value = v.into();
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            anomalies.insert(Anomaly::InvalidHeaderLine);
            continue;
        };
        let raw_name = &line[..colon];
        let name = trim_end(raw_name);
        if name.len() != raw_name.len() {
            anomalies.insert(Anomaly::SpaceBeforeColon);
        }
        if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
            anomalies.insert(Anomaly::InvalidHeaderLine);
            continue;
        }
        if out.len() >= max {
            anomalies.insert(Anomaly::TooManyHeaders);
            break;
        }
        out.push(RawHeader { name, value: trim(&line[colon + 1..]).into() });
    }
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if is_ws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    trim_end(s)
}

/// Parses a request head with httparse: `Some((line, headers))` when it accepts it.
pub fn strict_request<'a>(head: &'a [u8], max: usize, out: &mut Vec<RawHeader<'a>>) -> Option<RequestLine<'a>> {
    // Uninitialised storage spares a 2 KiB memset per head; httparse fills what it returns.
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; 64];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut storage) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    if req.headers.len() > max {
        return None;
    }
    // httparse hands back &str for method and path; recover the byte slices of `head`.
    let method = req.method?.as_bytes();
    let path = req.path?.as_bytes();
    let version: &'static [u8] = match req.version? {
        0 => b"1.0",
        _ => b"1.1",
    };
    for h in req.headers.iter() {
        out.push(RawHeader { name: h.name.as_bytes(), value: trim(h.value).into() });
    }
    Some(RequestLine { method: subslice(head, method)?, uri: subslice(head, path)?, version: Some(version) })
}

/// Parses a response head with httparse: `Some((status line, headers))` when it accepts
/// it. The status line's version is reported as `1.0` or `1.1`, as httparse reads it.
pub fn strict_response<'a>(head: &'a [u8], max: usize, out: &mut Vec<RawHeader<'a>>) -> Option<StatusLine<'a>> {
    // Uninitialised storage, as for requests: httparse's default config, as `parse` uses.
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; 64];
    let mut rsp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut rsp, head, &mut storage) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    if rsp.headers.len() > max {
        return None;
    }
    let version: &'static [u8] = match rsp.version? {
        0 => b"1.0",
        _ => b"1.1",
    };
    let code = rsp.code?;
    let reason = subslice(head, rsp.reason?.as_bytes())?;
    for h in rsp.headers.iter() {
        out.push(RawHeader { name: h.name.as_bytes(), value: trim(h.value).into() });
    }
    Some(StatusLine { version, code, reason })
}

/// The sub-slice of `whole` that `part` points into (httparse returns views of its input).
fn subslice<'a>(whole: &'a [u8], part: &[u8]) -> Option<&'a [u8]> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    whole.get(start..start + part.len())
}

/// Parses a chunk-size line (without line ending): hex digits, then optional extensions.
/// `None` when there are no digits or the size does not fit in 63 bits.
pub fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = trim(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return None;
    }
    let rest = trim(&line[digits..]);
    if !rest.is_empty() && rest[0] != b';' {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &line[..digits] {
        let v = (b as char).to_digit(16)? as u64;
        n = n.checked_mul(16)?.checked_add(v)?;
    }
    if n > i64::MAX as u64 {
        return None;
    }
    Some(n)
}

/// Finds the start of the next line in `d` (at or after `from`) that begins a plausible
/// request: a method token, whitespace, and `HTTP/` later on the same complete line, or a
/// known method with a complete line. Used to resynchronize after gaps and garbage.
pub fn find_request_start(d: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let start = if pos == 0 { 0 } else { pos + memchr::memchr(b'\n', d.get(pos - 1..)?)? };
        let line = d.get(start..)?;
        let (end, next) = line_end(line)?;
        let l = &line[..end];
        if probe_request(l) == Probe::Yes {
            let mut scratch = AnomalySet::default();
            if let Some(rl) = parse_request_line(l, &mut scratch) {
                if rl.version.is_some() || is_known_method(rl.method) {
                    return Some(start);
                }
            }
        }
        pos = start + next;
        if pos >= d.len() {
            return None;
        }
    }
}

/// Finds the start of the next line in `d` (at or after `from`) that is a status line with a
/// three-digit code.
pub fn find_status_start(d: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let start = if pos == 0 { 0 } else { pos + memchr::memchr(b'\n', d.get(pos - 1..)?)? };
        let line = d.get(start..)?;
        let (end, next) = line_end(line)?;
        let mut scratch = AnomalySet::default();
        if let Some(sl) = parse_status_line(&line[..end], &mut scratch) {
            if (100..600).contains(&sl.code) && sl.version.first().is_some_and(|b| b.is_ascii_digit()) {
                return Some(start);
            }
        }
        pos = start + next;
        if pos >= d.len() {
            return None;
        }
    }
}

/// Methods of RFC 9110, WebDAV and the QUERY draft, the most sent first: enough to trust a
/// request line without a version during resync, and the methods a record borrows.
pub const KNOWN_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "QUERY", "PROPFIND", "PROPPATCH",
    "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH",
];

pub fn is_known_method(m: &[u8]) -> bool {
    KNOWN_METHODS.iter().any(|k| k.as_bytes() == m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_text_is_borrowed_and_reads_as_sent() {
        assert!(matches!(text(b"GET", KNOWN_METHODS), Text::Borrowed("GET")));
        assert!(matches!(text(b"OK", COMMON_REASONS), Text::Borrowed("OK")));
        // Exact bytes only: another case, a near miss or bytes to escape stay as sent.
        for sent in [&b"get"[..], b"GETX", b"1.1 ", b"O\xffK"] {
            let t = text(sent, KNOWN_METHODS);
            assert!(matches!(t, Text::Owned(_)), "{sent:?}");
            assert_eq!(t, escape_bytes(sent), "{sent:?}");
        }
        assert_eq!(text(b"O\xffK", COMMON_REASONS), "O\\xffK");
    }

    fn req(l: &str) -> Option<(String, String, Option<String>, Vec<Anomaly>)> {
        let mut a = AnomalySet::default();
        parse_request_line(l.as_bytes(), &mut a).map(|r| {
            (
                escape_bytes(r.method),
                escape_bytes(r.uri),
                r.version.map(escape_bytes),
                a.iter().collect(),
            )
        })
    }

    #[test]
    fn request_lines_as_zeek_reads_them() {
        assert_eq!(req("GET / HTTP/1.1").unwrap().1, "/");
        assert_eq!(req("OPTIONS * HTTP/1.1").unwrap().1, "*");
        let (_, uri, v, a) = req("OPTIONS HTTP/1.1").unwrap();
        assert_eq!((uri.as_str(), v.as_deref()), ("", Some("1.1")));
        assert!(a.contains(&Anomaly::MissingUri));
        assert!(req("OPTIONSHTTP/1.1").is_none());
        assert!(req("OPTIONS").is_none());
        assert!(req("GET/ HTTP/1.1").is_none());
        assert!(req("\u{c3}\u{83} / HTTP/1.1").is_none());
        let (_, uri, v, a) = req("GET /HTTP/1.1").unwrap();
        assert_eq!((uri.as_str(), v), ("/HTTP/1.1", None));
        assert!(a.contains(&Anomaly::Http09));
        assert_eq!(req("GET / HTTP/1.").unwrap().2.as_deref(), Some("1."));
        assert_eq!(req("CONNECT host:25 / HTTP/1.0").unwrap().1, "host:25 /");
        assert_eq!(req("GET /a b/c HTTP/1.1").unwrap().1, "/a b/c");
        assert_eq!(req("CCM_POST / HTTP/1.1").unwrap().0, "CCM_POST");
    }

    #[test]
    fn status_lines() {
        let mut a = AnomalySet::default();
        let s = parse_status_line(b"HTTP/1.1 200 OK", &mut a).unwrap();
        assert_eq!((s.version, s.code, s.reason), (&b"1.1"[..], 200, &b"OK"[..]));
        assert!(a.is_empty());
        let s = parse_status_line(b"http/1.1 404", &mut a).unwrap();
        assert_eq!(s.code, 404);
        assert!(a.contains(Anomaly::LaxStatusLine));
        assert!(parse_status_line(b"HTTP/1.1 OK", &mut a).is_none());
        assert!(parse_status_line(b"SSH-2.0-OpenSSH", &mut a).is_none());
    }

    #[test]
    fn heads_end_on_crlf_or_lf() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\nA: b\n\nrest", 0), Some(21));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        // The earliest ending wins, whichever kind.
        assert_eq!(head_end(b"A\n\r\nB\n\n", 0), Some(4));
        assert_eq!(head_end(b"A\r\nB\n\nC\r\n\r\n", 0), Some(6));
        assert_eq!(head_end(b"A\r\nB\n\nC\r\n\r\n", 7), Some(11));
        assert_eq!(head_end(b"A\r\n", 9), None);
    }

    #[test]
    fn headers_lax() {
        let mut out = Vec::new();
        let mut a = AnomalySet::default();
        parse_headers(b"Host: x\r\nTransfer-Encoding:\r\n chunked\r\nBad line\r\nX-A : 1\r\n", 10, &mut out, &mut a);
        assert_eq!(out.len(), 3);
        assert_eq!(&*out[1].value, b"chunked");
        assert_eq!(out[2].name, b"X-A");
        assert!(a.contains(Anomaly::ObsFoldHeader));
        assert!(a.contains(Anomaly::InvalidHeaderLine));
        assert!(a.contains(Anomaly::SpaceBeforeColon));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a"), Some(26));
        assert_eq!(parse_chunk_size(b"1A;ext=1"), Some(26));
        assert_eq!(parse_chunk_size(b"10000000000000000"), None);
        assert_eq!(parse_chunk_size(b"zz"), None);
        assert_eq!(parse_chunk_size(b""), None);
    }

    #[test]
    fn resync_probes() {
        let d = b"garbage\r\nmore\r\nGET /x HTTP/1.1\r\n";
        assert_eq!(find_request_start(d, 0), Some(15));
        assert_eq!(find_request_start(b"AAAA", 0), None);
        let r = b"xx\nHTTP/1.1 200 OK\r\n";
        assert_eq!(find_status_start(r, 0), Some(3));
        assert_eq!(find_status_start(r, 4), None);
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
    }

    #[test]
    fn strict_response_matches_lax() {
        let head = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX: y\r\n\r\n";
        let mut out = Vec::new();
        let sl = strict_response(head, 64, &mut out).unwrap();
        let mut a = AnomalySet::default();
        let lax = parse_status_line(b"HTTP/1.1 404 Not Found", &mut a).unwrap();
        assert_eq!(sl, lax);
        assert_eq!(out.len(), 2);
        assert!(strict_response(b"http/1.1 200 OK\r\n\r\n", 64, &mut Vec::new()).is_none());
    }

    #[test]
    fn strict_fast_path_matches_lax() {
        let head = b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        let mut out = Vec::new();
        let rl = strict_request(head, 64, &mut out).unwrap();
        assert_eq!((rl.method, rl.uri, rl.version), (&b"POST"[..], &b"/a?b=1"[..], Some(&b"1.1"[..])));
        assert_eq!(out.len(), 2);
    }
}
