//! Sensitive data in parameter values: what kind it is, never the value.
//!
//! Each detector checks the structure that makes a false positive unlikely rather than a
//! loose pattern: card numbers need a known issuer prefix, a length that issuer uses and a
//! valid Luhn digit; IBANs need the ISO 7064 mod-97 check; SSNs need valid area, group and
//! serial numbers. Kinds that have no checkable structure (phone numbers without a `+`,
//! nine-digit SSNs, dates of birth, passwords) are reported only when the field's name says
//! what it holds. Values over [`MAX_SCAN`] bytes are scanned on their first [`MAX_SCAN`].

/// Bytes of a value that are scanned.
pub const MAX_SCAN: usize = 4096;

/// A kind of sensitive data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensitive {
    Email,
    Phone,
    CreditCard,
    Ssn,
    Iban,
    Jwt,
    PrivateKey,
    CloudKey,
    Secret,
    IpAddress,
    DateOfBirth,
}

impl Sensitive {
    pub const ALL: [Sensitive; 11] = [
        Sensitive::Email,
        Sensitive::Phone,
        Sensitive::CreditCard,
        Sensitive::Ssn,
        Sensitive::Iban,
        Sensitive::Jwt,
        Sensitive::PrivateKey,
        Sensitive::CloudKey,
        Sensitive::Secret,
        Sensitive::IpAddress,
        Sensitive::DateOfBirth,
    ];

    /// Stable snake_case name, as stored and printed.
    pub fn name(self) -> &'static str {
        match self {
            Sensitive::Email => "email",
            Sensitive::Phone => "phone",
            Sensitive::CreditCard => "credit_card",
            Sensitive::Ssn => "us_ssn",
            Sensitive::Iban => "iban",
            Sensitive::Jwt => "jwt",
            Sensitive::PrivateKey => "private_key",
            Sensitive::CloudKey => "cloud_key",
            Sensitive::Secret => "secret",
            Sensitive::IpAddress => "ip_address",
            Sensitive::DateOfBirth => "date_of_birth",
        }
    }

    pub fn from_name(s: &str) -> Option<Sensitive> {
        Sensitive::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The kinds of sensitive data in `value`, a field named `name` (its last path component
/// is what counts: `user.phone_number`). Each kind is reported at most once.
pub fn scan(name: &str, value: &str, out: &mut dyn FnMut(Sensitive)) {
    let mut cut = value.len().min(MAX_SCAN);
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let v = value[..cut].trim();
    if v.is_empty() {
        return;
    }
    let hint = name_hint(name);
    let mut seen = [false; Sensitive::ALL.len()];
    let mut report = |k: Sensitive| {
        let i = k as usize;
        if !seen[i] {
            seen[i] = true;
            out(k);
        }
    };
    if let Some(k) = hint {
        let named = match k {
            Hint::Phone => is_phone_loose(v).then_some(Sensitive::Phone),
            Hint::Ssn => is_ssn(v, true).then_some(Sensitive::Ssn),
            Hint::Birth => is_date_text(v).then_some(Sensitive::DateOfBirth),
            Hint::Secret => (v.len() >= 4 && v != "null" && v != "***").then_some(Sensitive::Secret),
        };
        if let Some(k) = named {
            report(k);
        }
    }
    let b = v.as_bytes();
    if b.contains(&b'@') && contains_email(b) {
        report(Sensitive::Email);
    }
    if v.starts_with('+') && is_e164(v) {
        report(Sensitive::Phone);
    }
    if b.iter().filter(|c| c.is_ascii_digit()).count() >= 9 {
        if contains_card(b) {
            report(Sensitive::CreditCard);
        }
        if contains_ssn(b) {
            report(Sensitive::Ssn);
        }
    }
    if is_iban(v) {
        report(Sensitive::Iban);
    }
    if contains_jwt(v) {
        report(Sensitive::Jwt);
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        report(Sensitive::PrivateKey);
    }
    if contains_cloud_key(b) {
        report(Sensitive::CloudKey);
    }
    if v.parse::<std::net::IpAddr>().is_ok() {
        report(Sensitive::IpAddress);
    }
}

enum Hint {
    Phone,
    Ssn,
    Birth,
    Secret,
}

fn name_hint(name: &str) -> Option<Hint> {
    let last = name.rsplit(['.', '[', ']']).find(|s| !s.is_empty()).unwrap_or(name);
    let n: String = last.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    if n.is_empty() {
        return None;
    }
    let has = |w: &str| n.contains(w);
    if has("phone") || has("mobile") || n == "tel" || has("telephone") || has("msisdn") || n == "fax" {
        Some(Hint::Phone)
    } else if n == "ssn" || has("socialsecurity") {
        Some(Hint::Ssn)
    } else if n == "dob" || has("birth") {
        Some(Hint::Birth)
    } else if has("password")
        || has("passwd")
        || has("secret")
        || n == "pin"
        || has("apikey")
        || has("accesskey")
        || has("privatekey")
        || n == "token"
        || has("accesstoken")
        || has("refreshtoken")
    {
        Some(Hint::Secret)
    } else {
        None
    }
}

fn contains_email(b: &[u8]) -> bool {
    let local_char = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain_char = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    for (at, _) in b.iter().enumerate().filter(|(_, c)| **c == b'@') {
        let local = b[..at].iter().rev().take_while(|c| local_char(**c)).count();
        let domain = &b[at + 1..];
        let dlen = domain.iter().take_while(|c| domain_char(**c)).count();
        let d = &domain[..dlen];
        let d = d.strip_suffix(b".").unwrap_or(d);
        let tld = d.rsplit(|c| *c == b'.').next().unwrap_or(&[]);
        if local > 0 && d.contains(&b'.') && !d.starts_with(b".") && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) {
            return true;
        }
    }
    false
}

fn is_e164(v: &str) -> bool {
    let d: Vec<u8> = v[1..].bytes().filter(|c| !matches!(c, b' ' | b'-' | b'(' | b')' | b'.')).collect();
    (8..=15).contains(&d.len()) && d.iter().all(u8::is_ascii_digit) && d[0] != b'0'
}

fn is_phone_loose(v: &str) -> bool {
    let mut digits = 0;
    for c in v.bytes() {
        match c {
            b'0'..=b'9' => digits += 1,
            b' ' | b'-' | b'(' | b')' | b'.' | b'+' | b'/' => {}
            _ => return false,
        }
    }
    (7..=15).contains(&digits)
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, c) in d.iter().rev().enumerate() {
        let mut x = u32::from(c - b'0');
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum % 10 == 0
}

/// Issuer prefixes and the lengths each issues.
fn card_shape(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| d.get(..k).and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    match d.first() {
        Some(b'4') => matches!(n, 13 | 16 | 19),
        Some(b'5') => (51..=55).contains(&p(2)) && n == 16,
        Some(b'2') => (2221..=2720).contains(&p(4)) && n == 16,
        Some(b'3') => {
            (matches!(p(2), 34 | 37) && n == 15)
                || ((3528..=3589).contains(&p(4)) && (16..=19).contains(&n))
                || (((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38)) && n == 14)
        }
        Some(b'6') => (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) && (16..=19).contains(&n),
        _ => false,
    }
}

/// A card number: 13 to 19 digits, optionally grouped by single spaces or dashes, not part of
/// a longer run of digits.
fn contains_card(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let mut digits = Vec::with_capacity(19);
        let mut j = i;
        while j < b.len() && digits.len() < 19 {
            match b[j] {
                c @ b'0'..=b'9' => digits.push(c),
                b' ' | b'-' if b.get(j + 1).is_some_and(u8::is_ascii_digit) && b[j - 1].is_ascii_digit() => {}
                _ => break,
            }
            j += 1;
            // A card ends where a group of digits ends (never inside a longer run): test
            // every length such a boundary allows.
            let boundary = b.get(j).is_none_or(|c| !c.is_ascii_digit());
            if boundary && (13..=19).contains(&digits.len()) && card_shape(&digits) && luhn(&digits) {
                return true;
            }
        }
        i = j.max(i + 1);
    }
    false
}

/// `AAA-GG-SSSS` with the numbers the SSA issues.
fn contains_ssn(b: &[u8]) -> bool {
    b.windows(11).enumerate().any(|(i, w)| {
        let bounded = (i == 0 || !b[i - 1].is_ascii_digit()) && b.get(i + 11).is_none_or(|c| !c.is_ascii_digit());
        bounded && w[3] == b'-' && w[6] == b'-' && std::str::from_utf8(w).is_ok_and(|s| is_ssn(s, false))
    })
}

fn is_ssn(v: &str, plain_ok: bool) -> bool {
    let d: Vec<u8> = v.bytes().filter(|c| *c != b'-' && *c != b' ').collect();
    let dashed = v.len() == 11 && v.as_bytes()[3] == b'-' && v.as_bytes()[6] == b'-';
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) || !(dashed || plain_ok) {
        return false;
    }
    let area = &d[..3];
    let group = &d[3..5];
    let serial = &d[5..];
    area != b"000" && area != b"666" && area[0] != b'9' && group != b"00" && serial != b"0000"
}

fn is_iban(v: &str) -> bool {
    let s: Vec<u8> = v.bytes().filter(|c| *c != b' ').collect();
    if !(15..=34).contains(&s.len())
        || !s[..2].iter().all(u8::is_ascii_uppercase)
        || !s[2..4].iter().all(u8::is_ascii_digit)
        || !s.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    // ISO 7064 mod 97-10 over the rearranged string, letters as 10..35.
    let mut rem = 0u32;
    for c in s[4..].iter().chain(&s[..4]) {
        let x = if c.is_ascii_digit() { u32::from(c - b'0') } else { u32::from(c - b'A') + 10 };
        rem = if x >= 10 { (rem * 100 + x) % 97 } else { (rem * 10 + x) % 97 };
    }
    rem == 1
}

fn contains_jwt(v: &str) -> bool {
    let Some(start) = v.find("eyJ") else { return false };
    let t = &v[start..];
    let end = t.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(t.len());
    let parts: Vec<&str> = t[..end].split('.').collect();
    parts.len() == 3 && parts[0].len() >= 10 && parts[1].starts_with("eyJ") && parts[1].len() >= 10
}

fn contains_cloud_key(b: &[u8]) -> bool {
    let run = |at: usize, n: usize, ok: fn(u8) -> bool| b.get(at..at + n).is_some_and(|s| s.iter().all(|c| ok(*c)));
    let upper_digit = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let b64url = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    for i in 0..b.len() {
        let rest = &b[i..];
        let hit = ((rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA")) && run(i + 4, 16, upper_digit))
            || (rest.starts_with(b"AIza") && run(i + 4, 35, b64url))
            || ((rest.starts_with(b"ghp_") || rest.starts_with(b"gho_") || rest.starts_with(b"ghu_") || rest.starts_with(b"ghs_") || rest.starts_with(b"ghr_"))
                && run(i + 4, 36, alnum))
            || (rest.starts_with(b"github_pat_") && run(i + 11, 22, b64url))
            || ((rest.starts_with(b"xoxb-") || rest.starts_with(b"xoxp-") || rest.starts_with(b"xoxa-") || rest.starts_with(b"xoxr-")) && run(i + 5, 10, |c| c.is_ascii_alphanumeric() || c == b'-'))
            || ((rest.starts_with(b"sk_live_") || rest.starts_with(b"rk_live_")) && run(i + 8, 20, alnum));
        if hit {
            return true;
        }
    }
    false
}

fn is_date_text(v: &str) -> bool {
    let b = v.as_bytes();
    let d = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => d(&b[..4]) && d(&b[5..7]) && d(&b[8..]),
        10 if (b[2] == b'/' || b[2] == b'.' || b[2] == b'-') && b[5] == b[2] => d(&b[..2]) && d(&b[3..5]) && d(&b[6..]),
        8 => d(b),
        _ => b.len() > 10 && is_date_text(&v[..10]) && matches!(b[10], b'T' | b' '),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(name: &str, v: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        scan(name, v, &mut |k| out.push(k.name()));
        out
    }

    #[test]
    fn detects_with_structure() {
        assert_eq!(kinds("x", "mail me at bob.smith@example.co.uk please"), ["email"]);
        assert_eq!(kinds("x", "+14155552671"), ["phone"]);
        assert_eq!(kinds("x", "4111 1111 1111 1111"), ["credit_card"]);
        assert_eq!(kinds("x", "5555-5555-5555-4444"), ["credit_card"]);
        assert_eq!(kinds("x", "378282246310005"), ["credit_card"]);
        assert_eq!(kinds("x", "123-45-6789"), ["us_ssn"]);
        assert_eq!(kinds("x", "GB82 WEST 1234 5698 7654 32"), ["iban"]);
        assert_eq!(kinds("x", "DE89370400440532013000"), ["iban"]);
        assert_eq!(kinds("x", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc"), ["jwt"]);
        assert_eq!(kinds("x", "-----BEGIN RSA PRIVATE KEY-----\nMIIE"), ["private_key"]);
        assert_eq!(kinds("x", "AKIAIOSFODNN7EXAMPLE"), ["cloud_key"]);
        assert_eq!(kinds("x", "key=AIzaSyA1234567890abcdefghijklmnopqrstuv"), ["cloud_key"]);
        assert_eq!(kinds("x", "10.1.2.3"), ["ip_address"]);
        assert_eq!(kinds("x", "2001:db8::1"), ["ip_address"]);
    }

    #[test]
    fn names_make_the_loose_kinds() {
        assert_eq!(kinds("user.phone_number", "(415) 555-2671"), ["phone"]);
        assert!(kinds("comment", "(415) 555-2671").is_empty());
        assert_eq!(kinds("ssn", "123456789"), ["us_ssn"]);
        assert!(kinds("count", "123456789").is_empty());
        assert_eq!(kinds("dateOfBirth", "1990-04-01"), ["date_of_birth"]);
        assert!(kinds("created", "1990-04-01").is_empty());
        assert_eq!(kinds("password", "hunter22"), ["secret"]);
        assert_eq!(kinds("items[].api_key", "abcd1234"), ["secret"]);
    }

    #[test]
    fn no_false_positives_on_lookalikes() {
        // Luhn-valid but no issuer uses the prefix; a long id; a number inside a longer run.
        assert!(kinds("x", "1234567812345670").is_empty());
        assert!(kinds("x", "order 41111111111111119999").is_empty());
        assert!(kinds("x", "4111111111111112").is_empty());
        assert!(kinds("x", "000-12-3456").is_empty());
        assert!(kinds("x", "666-12-3456").is_empty());
        assert!(kinds("x", "GB82WEST12345698765433").is_empty());
        assert!(kinds("x", "user@localhost").is_empty());
        assert!(kinds("x", "a@b.c1").is_empty());
        assert!(kinds("x", "1.2.3").is_empty());
        assert!(kinds("x", "").is_empty());
        assert!(kinds("password", "").is_empty());
    }

    #[test]
    fn total_on_any_input() {
        for v in ["@", "@@@", "+", "+0", "eyJ", "eyJ.eyJ.", "-----BEGIN", "AKIA", "é@é.éé", "4", "\u{0}"] {
            let _ = kinds("phone", v);
            let _ = kinds("x", v);
        }
        let big = "4111 1111 1111 1111 ".repeat(1000);
        assert_eq!(kinds("x", &big), ["credit_card"]);
    }
}
