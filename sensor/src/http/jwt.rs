//! What a bearer JWT says about itself, without the secret parts: the signing algorithm,
//! the issuer, the names of its claims, and its issue and expiry times. The signature and
//! claim values other than `iss`, `sub`, `exp` and `iat` are never read; the token itself is kept
//! only as a keyed hash (see [`crate::hash`]).
//!
//! Bounded: header and payload over [`MAX_PART`] encoded bytes are not decoded, at most
//! [`MAX_CLAIMS`] claim names of [`MAX_NAME`] bytes are kept, the issuer is cut at
//! [`MAX_NAME`] bytes.

use crate::record::JwtRecord;
use base64::Engine as _;

pub const MAX_PART: usize = 8 << 10;
pub const MAX_CLAIMS: usize = 32;
pub const MAX_NAME: usize = 128;

/// The JWT in `token`, if it is one (three base64url parts, header and payload JSON
/// objects, an `alg` in the header).
pub fn parse(token: &[u8]) -> Option<JwtRecord> {
    let mut parts = token.split(|b| *b == b'.');
    let (h, p, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.len() > MAX_PART || p.len() > MAX_PART || !h.starts_with(b"eyJ") {
        return None;
    }
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&b64(h)?).ok()?;
    let payload: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&b64(p)?).ok()?;
    let alg = header.get("alg")?.as_str()?;
    let mut claims: Vec<String> = payload.keys().filter(|k| k.len() <= MAX_NAME).take(MAX_CLAIMS).cloned().collect();
    claims.sort();
    let time = |k: &str| payload.get(k).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
    Some(JwtRecord {
        alg: cut(alg),
        iss: payload.get("iss").and_then(|v| v.as_str()).map(cut),
        sub: payload.get("sub").and_then(|v| v.as_str().map(cut).or_else(|| v.as_i64().map(|n| n.to_string()))),
        claims,
        exp: time("exp"),
        iat: time("iat"),
    })
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// base64url with or without padding (and, leniently, standard base64).
fn b64(part: &[u8]) -> Option<Vec<u8>> {
    let trimmed = part.strip_suffix(b"==").or_else(|| part.strip_suffix(b"=")).unwrap_or(part);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn reads_header_and_claim_names_only() {
        let t = format!(
            "{}.{}.c2lnbmF0dXJl",
            enc(r#"{"alg":"RS256","typ":"JWT"}"#),
            enc(r#"{"sub":"alice","iss":"https://id.example.com","exp":1700003600,"iat":1700000000,"scope":"read"}"#)
        );
        let j = parse(t.as_bytes()).unwrap();
        assert_eq!(j.alg, "RS256");
        assert_eq!(j.iss.as_deref(), Some("https://id.example.com"));
        assert_eq!(j.claims, ["exp", "iat", "iss", "scope", "sub"]);
        assert_eq!((j.exp, j.iat), (Some(1_700_003_600), Some(1_700_000_000)));
    }

    #[test]
    fn alg_none_and_no_exp() {
        let t = format!("{}.{}.", enc(r#"{"alg":"none"}"#), enc(r#"{"sub":"x"}"#));
        let j = parse(t.as_bytes()).unwrap();
        assert_eq!((j.alg.as_str(), j.exp), ("none", None));
    }

    #[test]
    fn not_a_jwt() {
        for t in [&b"opaque-token-123"[..], b"a.b.c", b"eyJ.eyJ.x", b"eyJhbGciOiJIUzI1NiJ9", b"", b"...."] {
            assert!(parse(t).is_none(), "{}", String::from_utf8_lossy(t));
        }
        // A header without alg is not a JWT.
        let t = format!("{}.{}.x", enc(r#"{"typ":"JWT"}"#), enc("{}"));
        assert!(parse(t.as_bytes()).is_none());
        let big = format!("eyJ{}.{}.x", "A".repeat(MAX_PART), enc("{}"));
        assert!(parse(big.as_bytes()).is_none());
    }
}
