//! What a parsed head means: the fields a record carries, body framing (RFC 9112 §6 with
//! the smuggling-shaped cases named), and credentials turned into keyed hashes.

use super::body::{Coding, Framing};
use super::parse::{escape_bytes, text, trim, RawHeader, RequestLine, StatusLine, COMMON_REASONS, COMMON_VERSIONS, KNOWN_METHODS};
use crate::anomaly::{Anomaly, AnomalySet};
use crate::hash::CredentialHasher;
use crate::record::Text;
use base64::Engine as _;

/// A credential seen on a request, reduced to what is safe to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// `basic`, `bearer`, `digest`, `api_key`, `query_key`, `cookie`, or the scheme token.
    pub scheme: Text,
    /// Keyed hash of the secret part.
    pub hash: String,
    /// The user name, where the scheme sends one in the clear (Basic, Digest).
    pub user: Option<String>,
    /// What a bearer JWT says about itself (never its signature or claim values).
    pub jwt: Option<crate::record::JwtRecord>,
}

/// A request head.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub method: Text,
    pub uri: String,
    /// `None` for HTTP/0.9.
    pub version: Option<Text>,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub forwarded: Option<String>,
    pub true_client_ip: Option<String>,
    pub cookie_names: Vec<String>,
    pub credential: Option<Credential>,
    pub upgrade: Option<String>,
    pub framing: Option<Framing>,
    pub coding: Option<Coding>,
    /// Header bytes of the head (start line included), as sent.
    pub head_len: u64,
}

impl RequestInfo {
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
    pub fn is_connect(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT")
    }
    pub fn is_http09(&self) -> bool {
        self.version.is_none()
    }
}

/// A response head.
#[derive(Clone, Debug, Default)]
pub struct ResponseInfo {
    pub version: Text,
    pub code: u16,
    pub reason: Text,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub set_cookie_names: Vec<String>,
    pub upgrade: Option<String>,
    pub framing: Option<Framing>,
    pub coding: Option<Coding>,
    pub head_len: u64,
}

fn header<'h>(headers: &'h [RawHeader<'_>], name: &str) -> Option<&'h [u8]> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name.as_bytes())).map(|h| &*h.value)
}

fn header_str(headers: &[RawHeader<'_>], name: &str) -> Option<String> {
    header(headers, name).map(escape_bytes)
}

fn all<'h>(headers: &'h [RawHeader<'_>], name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
    headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name.as_bytes())).map(|h| &*h.value)
}

/// Cookie names from `Cookie: a=1; b=2` (values dropped: they are secrets).
fn cookie_names(v: &[u8], out: &mut Vec<String>) {
    for part in v.split(|b| *b == b';') {
        let name = trim(part.split(|b| *b == b'=').next().unwrap_or(&[]));
        if !name.is_empty() && out.len() < 64 {
            out.push(escape_bytes(name));
        }
    }
}

/// Content-Length values, across repeated headers and comma lists.
fn content_length(headers: &[RawHeader<'_>], anomalies: &mut AnomalySet) -> Option<Option<u64>> {
    let mut seen: Option<u64> = None;
    let mut any = false;
    let mut bad = false;
    for v in all(headers, "content-length") {
        for part in v.split(|b| *b == b',') {
            any = true;
            let p = trim(part);
            if p.is_empty() || !p.iter().all(u8::is_ascii_digit) {
                bad = true;
                continue;
            }
            if p.len() > 1 && p[0] == b'0' {
                anomalies.insert(Anomaly::ContentLengthLeadingZeros);
            }
            let digits = &p[p.iter().take_while(|b| **b == b'0').count().min(p.len() - 1)..];
            // Beyond i64 no real body exists; treat as invalid as Zeek and most servers do.
            let n = digits.iter().try_fold(0i64, |n, d| n.checked_mul(10)?.checked_add(i64::from(d - b'0')));
            match (n, seen) {
                (None, _) => bad = true,
                (Some(n), None) => seen = Some(n as u64),
                (Some(n), Some(s)) if n as u64 != s => anomalies.insert(Anomaly::MultipleContentLength),
                _ => {}
            }
        }
    }
    if !any {
        return None;
    }
    if bad {
        anomalies.insert(Anomaly::BadContentLength);
        if seen.is_none() {
            return Some(None);
        }
    }
    Some(seen)
}

/// Transfer codings, lower-cased: `None` when there is no Transfer-Encoding header.
fn transfer_codings(headers: &[RawHeader<'_>]) -> Option<(Vec<Vec<u8>>, usize)> {
    let mut codings = Vec::new();
    let mut n = 0;
    for v in all(headers, "transfer-encoding") {
        n += 1;
        for part in v.split(|b| *b == b',') {
            let p = trim(part);
            if !p.is_empty() {
                codings.push(p.to_ascii_lowercase());
            }
        }
    }
    (n > 0).then_some((codings, n))
}

fn content_coding(headers: &[RawHeader<'_>]) -> (Option<String>, Coding) {
    match header(headers, "content-encoding") {
        Some(v) => (Some(escape_bytes(v)), Coding::from_header(v)),
        None => (None, Coding::Identity),
    }
}

/// The request's body framing (RFC 9112 §6.3 for requests: no body unless declared).
fn request_framing(method: &str, headers: &[RawHeader<'_>], anomalies: &mut AnomalySet) -> Framing {
    let cl = content_length(headers, anomalies);
    let framing = match transfer_codings(headers) {
        Some((codings, n)) => {
            if cl.is_some() {
                anomalies.insert(Anomaly::ContentLengthAndChunked);
            }
            let chunked_last = codings.last().is_some_and(|c| c == b"chunked");
            if !chunked_last || codings.len() != 1 || n != 1 {
                anomalies.insert(Anomaly::BadTransferEncoding);
            }
            // A request whose final coding is not chunked cannot be framed (a server
            // answers 400); what follows is read as the next message.
            if chunked_last { Framing::Chunked } else { Framing::None }
        }
        None => match cl {
            Some(Some(n)) => Framing::Length(n),
            _ => Framing::None,
        },
    };
    let has_body = !matches!(framing, Framing::None | Framing::Length(0));
    if has_body && matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS" | "TRACE") {
        anomalies.insert(Anomaly::BodyOnSafeMethod);
    }
    framing
}

/// The response's body framing, which depends on the request (RFC 9112 §6.3).
fn response_framing(code: u16, req: Option<&RequestInfo>, headers: &[RawHeader<'_>], anomalies: &mut AnomalySet) -> Framing {
    if (100..200).contains(&code) || code == 204 || code == 304 {
        return Framing::None;
    }
    if let Some(r) = req {
        if r.is_head() || (r.is_connect() && (200..300).contains(&code)) {
            return Framing::None;
        }
    }
    let cl = content_length(headers, anomalies);
    if let Some((codings, n)) = transfer_codings(headers) {
        if cl.is_some() {
            anomalies.insert(Anomaly::ContentLengthAndChunked);
        }
        let chunked_last = codings.last().is_some_and(|c| c == b"chunked");
        if !chunked_last || codings.len() != 1 || n != 1 {
            anomalies.insert(Anomaly::BadTransferEncoding);
        }
        return if chunked_last { Framing::Chunked } else { Framing::Close };
    }
    match cl {
        Some(Some(n)) => Framing::Length(n),
        _ => Framing::Close,
    }
}

const API_KEY_HEADERS: &[&str] =
    &["x-api-key", "api-key", "apikey", "x-apikey", "x-api-token", "x-auth-token", "x-access-token", "x-token"];
const QUERY_KEYS: &[&str] = &["api_key", "apikey", "api-key", "access_token", "auth_token", "token", "key"];
const SESSION_COOKIES: &[&str] = &[
    "sessionid", "session", "sid", "jsessionid", "phpsessid", "connect.sid", "asp.net_sessionid", "_session_id",
    "session_id", "laravel_session", "ci_session", "_gitlab_session",
];

/// Authorization schemes recognised by name, lowercase.
const KNOWN_SCHEMES: [&str; 5] = ["bearer", "basic", "digest", "negotiate", "ntlm"];

/// The credential a request carries, found as records find it: `Authorization`, then an
/// API-key header, then a key in the query string, then a session cookie. Public so that
/// enforcement (the decision API) hashes a live request exactly as the records did.
pub fn credential(headers: &[RawHeader<'_>], query: Option<&[u8]>, hasher: &CredentialHasher) -> Option<Credential> {
    if let Some(v) = header(headers, "authorization") {
        let v = trim(v);
        let sp = v.iter().position(|b| *b == b' ' || *b == b'\t').unwrap_or(v.len());
        let secret = trim(&v[sp..]);
        // The common schemes by name: no lowercased copy to make and escape.
        let scheme_s = match KNOWN_SCHEMES.iter().find(|k| v[..sp].eq_ignore_ascii_case(k.as_bytes())) {
            Some(k) => Text::Borrowed(k),
            None => Text::Owned(escape_bytes(&v[..sp].to_ascii_lowercase())),
        };
        let scheme = scheme_s.as_bytes();
        let user = match scheme {
            b"basic" => base64::engine::general_purpose::STANDARD
                .decode(secret)
                .ok()
                .map(|d| escape_bytes(d.split(|b| *b == b':').next().unwrap_or(&[]))),
            b"digest" => digest_username(secret),
            _ => None,
        };
        let jwt = if scheme == b"bearer" { super::jwt::parse(secret) } else { None };
        return Some(Credential { scheme: scheme_s, hash: hasher.hash(secret), user, jwt });
    }
    for name in API_KEY_HEADERS {
        if let Some(v) = header(headers, name) {
            return Some(Credential { scheme: "api_key".into(), hash: hasher.hash(trim(v)), user: None, jwt: None });
        }
    }
    if let Some(q) = query {
        for pair in q.split(|b| *b == b'&') {
            let mut kv = pair.splitn(2, |b| *b == b'=');
            let (k, v) = (kv.next().unwrap_or(&[]), kv.next().unwrap_or(&[]));
            if !v.is_empty() && QUERY_KEYS.iter().any(|n| k.eq_ignore_ascii_case(n.as_bytes())) {
                return Some(Credential { scheme: "query_key".into(), hash: hasher.hash(v), user: None, jwt: None });
            }
        }
    }
    for v in all(headers, "cookie") {
        for part in v.split(|b| *b == b';') {
            let mut kv = part.splitn(2, |b| *b == b'=');
            let (k, val) = (trim(kv.next().unwrap_or(&[])), trim(kv.next().unwrap_or(&[])));
            if !val.is_empty() && SESSION_COOKIES.iter().any(|n| k.eq_ignore_ascii_case(n.as_bytes())) {
                return Some(Credential { scheme: "cookie".into(), hash: hasher.hash(val), user: None, jwt: None });
            }
        }
    }
    None
}

fn digest_username(params: &[u8]) -> Option<String> {
    for p in params.split(|b| *b == b',') {
        let p = trim(p);
        if p.len() > 9 && p[..9].eq_ignore_ascii_case(b"username=") {
            let v = trim(&p[9..]);
            let v = v.strip_prefix(b"\"").unwrap_or(v);
            let v = v.strip_suffix(b"\"").unwrap_or(v);
            return Some(escape_bytes(v));
        }
    }
    None
}

/// The query string of a URI, if any.
pub fn query_of(uri: &[u8]) -> Option<&[u8]> {
    let q = memchr::memchr(b'?', uri)?;
    let rest = &uri[q + 1..];
    Some(&rest[..memchr::memchr(b'#', rest).unwrap_or(rest.len())])
}

/// The path of a URI: origin-form as is, absolute-form without scheme and authority,
/// without query or fragment.
pub fn path_of(uri: &[u8]) -> &[u8] {
    let mut u = uri;
    for scheme in [&b"http://"[..], b"https://"] {
        if u.len() >= scheme.len() && u[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let after = &u[scheme.len()..];
            u = match memchr::memchr(b'/', after) {
                Some(p) => &after[p..],
                None => b"/",
            };
            break;
        }
    }
    let end = memchr::memchr2(b'?', b'#', u).unwrap_or(u.len());
    &u[..end]
}

/// Builds the request from its parsed start line and headers.
pub fn request_info(
    line: &RequestLine<'_>,
    headers: &[RawHeader<'_>],
    head_len: usize,
    hasher: &CredentialHasher,
    anomalies: &mut AnomalySet,
) -> RequestInfo {
    let method = text(line.method, KNOWN_METHODS);
    let version = line.version.map(|v| text(v, COMMON_VERSIONS));
    let hosts = all(headers, "host").count();
    if hosts > 1 {
        anomalies.insert(Anomaly::MultipleHost);
    }
    if hosts == 0 && version.as_deref() == Some("1.1") {
        anomalies.insert(Anomaly::MissingHost);
    }
    let mut cookies = Vec::new();
    for v in all(headers, "cookie") {
        cookie_names(v, &mut cookies);
    }
    let (content_encoding, coding) = content_coding(headers);
    let framing = if line.version.is_some() { request_framing(&method, headers, anomalies) } else { Framing::None };
    RequestInfo {
        uri: escape_bytes(line.uri),
        version,
        host: header_str(headers, "host"),
        user_agent: header_str(headers, "user-agent"),
        content_type: header_str(headers, "content-type"),
        content_encoding,
        x_forwarded_for: header_str(headers, "x-forwarded-for"),
        forwarded: header_str(headers, "forwarded"),
        true_client_ip: header_str(headers, "true-client-ip"),
        cookie_names: cookies,
        credential: credential(headers, query_of(line.uri), hasher),
        upgrade: header_str(headers, "upgrade"),
        framing: Some(framing),
        coding: Some(coding),
        head_len: head_len as u64,
        method,
    }
}

/// Builds the response from its parsed status line and headers.
pub fn response_info(
    line: &StatusLine<'_>,
    headers: &[RawHeader<'_>],
    head_len: usize,
    req: Option<&RequestInfo>,
    anomalies: &mut AnomalySet,
) -> ResponseInfo {
    let mut set_cookies = Vec::new();
    for v in all(headers, "set-cookie") {
        let first = v.split(|b| *b == b';').next().unwrap_or(&[]);
        cookie_names(first, &mut set_cookies);
    }
    let (content_encoding, coding) = content_coding(headers);
    ResponseInfo {
        version: text(line.version, COMMON_VERSIONS),
        code: line.code,
        reason: text(line.reason, COMMON_REASONS),
        content_type: header_str(headers, "content-type"),
        content_encoding,
        set_cookie_names: set_cookies,
        upgrade: header_str(headers, "upgrade"),
        framing: Some(response_framing(line.code, req, headers, anomalies)),
        coding: Some(coding),
        head_len: head_len as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(list: &[(&'static str, &'static str)]) -> Vec<RawHeader<'static>> {
        list.iter().map(|(n, v)| RawHeader { name: n.as_bytes(), value: v.as_bytes().into() }).collect()
    }

    fn framing(list: &[(&'static str, &'static str)]) -> (Framing, Vec<Anomaly>) {
        let mut a = AnomalySet::default();
        let f = request_framing("POST", &hdrs(list), &mut a);
        (f, a.iter().collect())
    }

    #[test]
    fn smuggling_shapes() {
        assert_eq!(framing(&[("Content-Length", "5")]).0, Framing::Length(5));
        let (f, a) = framing(&[("Transfer-Encoding", "chunked"), ("Content-Length", "50")]);
        assert_eq!(f, Framing::Chunked);
        assert!(a.contains(&Anomaly::ContentLengthAndChunked));
        let (f, a) = framing(&[("Content-Length", "18446744073709551615")]);
        assert_eq!(f, Framing::None);
        assert!(a.contains(&Anomaly::BadContentLength));
        assert_eq!(framing(&[("Content-Length", "-1")]).0, Framing::None);
        let (f, a) = framing(&[("Content-Length", "00050")]);
        assert_eq!(f, Framing::Length(50));
        assert!(a.contains(&Anomaly::ContentLengthLeadingZeros));
        let (f, a) = framing(&[("Transfer-Encoding", "chunked, identity")]);
        assert_eq!(f, Framing::None);
        assert!(a.contains(&Anomaly::BadTransferEncoding));
        let (_, a) = framing(&[("Content-Length", "5"), ("Content-Length", "6")]);
        assert!(a.contains(&Anomaly::MultipleContentLength));
    }

    #[test]
    fn response_framing_depends_on_request() {
        let mut a = AnomalySet::default();
        let head = RequestInfo { method: "HEAD".into(), ..Default::default() };
        let h = hdrs(&[("Content-Length", "100")]);
        assert_eq!(response_framing(200, Some(&head), &h, &mut a), Framing::None);
        assert_eq!(response_framing(204, None, &h, &mut a), Framing::None);
        assert_eq!(response_framing(200, None, &h, &mut a), Framing::Length(100));
        assert_eq!(response_framing(200, None, &[], &mut a), Framing::Close);
        let connect = RequestInfo { method: "CONNECT".into(), ..Default::default() };
        assert_eq!(response_framing(200, Some(&connect), &[], &mut a), Framing::None);
    }

    #[test]
    fn credentials_are_hashed_never_kept() {
        let hasher = CredentialHasher::new([7; 32]);
        let h = hdrs(&[("Authorization", "Basic dXNlcjpzM2NyZXQ=")]);
        let c = credential(&h, None, &hasher).unwrap();
        assert_eq!((&*c.scheme, c.user.as_deref()), ("basic", Some("user")));
        assert_eq!(c.hash, hasher.hash(b"dXNlcjpzM2NyZXQ="));
        let h = hdrs(&[("X-API-Key", "abc123")]);
        assert_eq!(credential(&h, None, &hasher).unwrap().scheme, "api_key");
        // Schemes are case-insensitive and reported lowercase, known or not.
        for (sent, reported) in [("BEARER abc", "bearer"), ("NTLM abc", "ntlm"), ("Custom-Scheme abc", "custom-scheme"), ("Bearerx abc", "bearerx")] {
            let h = hdrs(&[("Authorization", sent)]);
            let c = credential(&h, None, &hasher).unwrap();
            assert_eq!((&*c.scheme, c.hash), (reported, hasher.hash(b"abc")), "{sent}");
        }
        let c = credential(&[], Some(b"q=1&api_key=zzz"), &hasher).unwrap();
        assert_eq!((&*c.scheme, c.hash), ("query_key", hasher.hash(b"zzz")));
        let h = hdrs(&[("Cookie", "theme=dark; JSESSIONID=s3cr3t")]);
        assert_eq!(credential(&h, None, &hasher).unwrap().scheme, "cookie");
    }

    #[test]
    fn paths_and_queries() {
        assert_eq!(path_of(b"/a/b?x=1#f"), b"/a/b");
        assert_eq!(path_of(b"http://h:80/p?q"), b"/p");
        assert_eq!(path_of(b"HTTP://h"), b"/");
        assert_eq!(query_of(b"/a?x=1&y#frag"), Some(&b"x=1&y"[..]));
        assert_eq!(query_of(b"/a"), None);
    }
}
