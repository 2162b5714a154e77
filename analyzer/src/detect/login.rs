//! Login attempts, found without configuration: a request that sends a password field, or
//! a POST to a path named like a login (`/login`, `/auth/token`, `/signin`) that sends a
//! user name. Its outcome is judged from the answer: a 4xx is a failure; a 2xx or 3xx that
//! issues a token (a `token`/`access_token`/`jwt` response field) or a cookie is a success;
//! a 2xx that issues nothing, from an endpoint that has issued tokens before or with a body
//! that says so, is a failure dressed as success (many apps answer `200 {"error": ...}`).
//!
//! Bounded: bodies are read up to the sensor's capture bound; at most [`MAX_FIELDS`] fields.

use crate::inventory::json::{self, JsonValue};
use sensor::ApiCall;

const MAX_FIELDS: usize = 256;
const PASSWORD_FIELDS: &[&str] = &["password", "passwd", "pwd", "pass", "passcode", "secret", "pin"];
const USER_FIELDS: &[&str] = &["username", "user_name", "user", "login", "email", "userid", "user_id", "account", "name"];
const TOKEN_FIELDS: &[&str] =
    &["token", "access_token", "accesstoken", "id_token", "jwt", "session", "sessionid", "session_id", "auth_token", "refresh_token"];
const LOGIN_WORDS: &[&str] = &["login", "signin", "authenticate", "auth", "token", "session", "sessions", "logon"];

/// How a login attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// No answer seen, or one that says neither.
    Unknown,
}

/// A login attempt read from a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The user name sent, lower-cased; `None` when the body was not captured.
    pub username: Option<String>,
    pub outcome: Outcome,
    /// Whether the answer issued a token or cookie.
    pub issued: bool,
}

fn last_word(path: &str) -> String {
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("").to_ascii_lowercase().replace(['-', '_'], "")
}

fn field_is(name: &str, set: &[&str]) -> bool {
    let leaf = name.rsplit(['.', '[']).next().unwrap_or(name).trim_end_matches(']');
    let l = leaf.to_ascii_lowercase();
    set.iter().any(|f| l == *f)
}

/// Fields of a JSON or form body as (name, string value).
fn fields(body: &[u8], content_type: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if json::looks_like_json(body) {
        json::walk(body, &mut |path, v| {
            if out.len() < MAX_FIELDS {
                let s = match v {
                    JsonValue::String(s) => s.to_string(),
                    JsonValue::Number(n, _) => n.to_string(),
                    _ => String::new(),
                };
                out.push((path.to_string(), s));
            }
        });
    } else if content_type.is_none_or(|c| c.contains("form")) {
        if let Ok(text) = std::str::from_utf8(body) {
            out.extend(crate::inventory::form_pairs(text).take(MAX_FIELDS));
        }
    }
    out
}

/// Whether a body mentions a password-like field at all, in any case: one literal search
/// (regex hands it to Aho-Corasick) rather than a byte-by-byte comparison per word.
fn mentions_secret(body: &[u8]) -> bool {
    static WORDS: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    // A constant pattern: a failure to compile is a bug, caught by the tests.
    WORDS.get_or_init(|| regex::bytes::Regex::new("(?i-u)pass|pwd|secret|pin").expect("literal pattern compiles")).is_match(body)
}

/// Words with which a login answer that is not an error status still says it failed.
const FAILURE_WORDS: &[&str] =
    &["invalid", "incorrect", "failed", "failure", "denied", "wrong", "unauthorized", "not match", "bad credentials"];

/// Whether a login answer's body says the attempt failed (`200 {"error": "invalid
/// credentials"}`, as many web forms answer).
fn says_failure(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(2048)]).to_ascii_lowercase();
    FAILURE_WORDS.iter().any(|w| head.contains(w)) || head.contains("\"success\":false") || head.contains("\"ok\":false")
}

/// The login attempt `call` is, if it is one. `issuer` says whether this endpoint has been
/// seen issuing tokens before (see the module doc).
pub fn attempt(call: &ApiCall, request_body: Option<&[u8]>, response_body: Option<&[u8]>, issuer: bool) -> Option<Attempt> {
    let method = call.method.as_deref()?;
    if !method.eq_ignore_ascii_case("POST") && !method.eq_ignore_ascii_case("PUT") {
        return None;
    }
    let word_match = LOGIN_WORDS.contains(&last_word(call.path.as_deref().unwrap_or("")).as_str());
    // Most POSTs are not logins: read the body's fields only when the path says login or
    // the body mentions a password-like field at all.
    let worth = |b: &[u8]| word_match || mentions_secret(b);
    let f = request_body.filter(|b| worth(b)).map(|b| fields(b, call.request_content_type.as_deref())).unwrap_or_default();
    let has_password = f.iter().any(|(k, _)| field_is(k, PASSWORD_FIELDS));
    let username = f.iter().find(|(k, v)| field_is(k, USER_FIELDS) && !v.is_empty()).map(|(_, v)| v.to_ascii_lowercase());
    if !has_password && !(word_match && (username.is_some() || request_body.is_none())) {
        return None;
    }
    let issued = !call.set_cookie_names.is_empty()
        || response_body.is_some_and(|b| fields(b, Some("json")).iter().any(|(k, v)| field_is(k, TOKEN_FIELDS) && v.len() >= 16));
    let outcome = match call.status_code {
        None => Outcome::Unknown,
        Some(s) if (400..500).contains(&s) => Outcome::Failure,
        Some(s) if (200..400).contains(&s) && issued => Outcome::Success,
        Some(s) if (200..300).contains(&s) && (issuer || response_body.is_some_and(says_failure)) => Outcome::Failure,
        Some(_) => Outcome::Unknown,
    };
    Some(Attempt { username, outcome, issued })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::call;

    #[test]
    fn json_and_form_logins() {
        let mut c = call("POST", "h", "/api/v1/auth/login");
        c.status_code = Some(401);
        let a = attempt(&c, Some(br#"{"username":"Alice","password":"x"}"#), Some(br#"{"error":"invalid"}"#), false).unwrap();
        assert_eq!((a.username.as_deref(), a.outcome), (Some("alice"), Outcome::Failure));
        c.status_code = Some(200);
        let a = attempt(
            &c,
            Some(br#"{"username":"alice","password":"x"}"#),
            Some(br#"{"token":"eyJhbGciOiJIUzI1NiJ9.e30.sig-sig-sig"}"#),
            false,
        )
        .unwrap();
        assert_eq!(a.outcome, Outcome::Success);
        c.request_content_type = Some("application/x-www-form-urlencoded".into());
        let a = attempt(&c, Some(b"email=bob%40x.io&pwd=hunter2"), Some(br#"{"ok":true}"#), true).unwrap();
        assert_eq!((a.username.as_deref(), a.outcome), (Some("bob@x.io"), Outcome::Failure));
        let a = attempt(&c, Some(b"username=bob&password=x"), Some(br#"{"error":"Invalid credentials"}"#), false).unwrap();
        assert_eq!(a.outcome, Outcome::Failure, "a 200 that says it failed");
        let a = attempt(&c, Some(b"username=bob&password=x"), Some(br#"{"welcome":"bob"}"#), false).unwrap();
        assert_eq!(a.outcome, Outcome::Unknown);
    }

    #[test]
    fn ordinary_posts_are_not_logins() {
        let c = call("POST", "h", "/api/v1/orders");
        assert!(attempt(&c, Some(br#"{"items":[{"sku":"a"}]}"#), None, false).is_none());
        let c = call("GET", "h", "/login");
        assert!(attempt(&c, None, None, false).is_none());
    }

    #[test]
    fn a_password_field_anywhere_makes_a_login() {
        // Not a login path: the body's password-like field, in any case, is what counts.
        let c = call("POST", "h", "/api/v1/session/new");
        for body in [&br#"{"user":"eve","PassWord":"x"}"#[..], br#"{"user":"eve","PWD":"x"}"#] {
            assert!(attempt(&c, Some(body), None, false).is_some(), "{}", String::from_utf8_lossy(body));
        }
        assert!(!mentions_secret(br#"{"user":"eve","note":"pa ss"}"#));
        assert!(mentions_secret(b"card_PIN=1234") && mentions_secret(b"client_secret=x"));
    }
}
