//! What one path segment looks like: a fixed name, or a value of a recognisable kind.
//!
//! Pure and total: any string gets a kind, nothing panics, nothing allocates. The kinds that
//! are values whatever their position (integers, UUIDs, hashes, dates, e-mail addresses,
//! tokens and other high-entropy identifiers) make a path position a parameter on sight;
//! plain names are left to the cardinality learning in [`super::tree`].

/// The kind of a path segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    /// A name: letters, maybe digits that read as part of a word (`v2`, `oauth2`, `s3`).
    Literal,
    /// Decimal digits, optionally signed.
    Integer,
    /// An RFC 4122 UUID, with or without dashes.
    Uuid,
    /// 32, 40, 64 or 128 hex digits: MD5, SHA-1, SHA-256, SHA-512.
    Hash,
    /// Eight or more hex digits with both digits and letters (object ids, short hashes).
    Hex,
    /// A calendar date or timestamp: `2024-01-31`, `20240131`, `2024-01-31T10:00:00Z`.
    Date,
    /// An e-mail address.
    Email,
    /// A long base64 or base64url string (opaque tokens, encoded ids).
    Token,
    /// Letters and digits mixed the way generated ids are (`cus_K2x9Lm8Q`, `a1b2c3d4`).
    Identifier,
}

impl SegmentKind {
    /// Whether a segment of this kind is a value (a parameter) wherever it appears.
    pub fn is_value(self) -> bool {
        self != SegmentKind::Literal
    }

    /// Stable name, as stored in the inventory.
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::Literal => "string",
            SegmentKind::Integer => "integer",
            SegmentKind::Uuid => "uuid",
            SegmentKind::Hash => "hash",
            SegmentKind::Hex => "hex",
            SegmentKind::Date => "date",
            SegmentKind::Email => "email",
            SegmentKind::Token => "token",
            SegmentKind::Identifier => "id",
        }
    }
}

/// Classifies a decoded path segment (no `/`, percent-decoding done).
pub fn classify(s: &str) -> SegmentKind {
    let b = s.as_bytes();
    if b.is_empty() {
        return SegmentKind::Literal;
    }
    if is_integer(b) {
        // Eight digits that make a plausible date are one (`20240131`).
        return if is_date(b) { SegmentKind::Date } else { SegmentKind::Integer };
    }
    if is_uuid(b) {
        return SegmentKind::Uuid;
    }
    if b.iter().all(u8::is_ascii_hexdigit) {
        if matches!(b.len(), 32 | 40 | 64 | 128) {
            return SegmentKind::Hash;
        }
        if b.len() >= 8 && b.iter().any(u8::is_ascii_digit) && b.iter().any(u8::is_ascii_alphabetic) {
            return SegmentKind::Hex;
        }
    }
    if is_date(b) {
        return SegmentKind::Date;
    }
    if is_email(b) {
        return SegmentKind::Email;
    }
    if is_version(b) {
        return SegmentKind::Literal;
    }
    if is_token(b) {
        return SegmentKind::Token;
    }
    if is_identifier(b) {
        return SegmentKind::Identifier;
    }
    SegmentKind::Literal
}

fn is_integer(b: &[u8]) -> bool {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    !digits.is_empty() && digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit)
}

fn is_uuid(b: &[u8]) -> bool {
    match b.len() {
        36 => b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        }),
        // Dashless UUIDs are indistinguishable from MD5s; the version nibble decides.
        32 => b.iter().all(u8::is_ascii_hexdigit) && matches!(b[12], b'1'..=b'8') && matches!(b[16] | 0x20, b'8' | b'9' | b'a' | b'b'),
        _ => false,
    }
}

fn digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

fn is_date(b: &[u8]) -> bool {
    let ymd = |d: &[u8]| -> bool {
        // YYYY-MM-DD with plausible ranges.
        d.len() == 10
            && digits(&d[..4])
            && d[4] == b'-'
            && digits(&d[5..7])
            && d[7] == b'-'
            && digits(&d[8..10])
            && (1..=12).contains(&((d[5] - b'0') * 10 + (d[6] - b'0')))
            && (1..=31).contains(&((d[8] - b'0') * 10 + (d[9] - b'0')))
    };
    if b.len() == 10 {
        return ymd(b);
    }
    if b.len() == 8 && digits(b) {
        // YYYYMMDD between 1900 and 2199: otherwise it is just a number.
        let y = (b[0] - b'0') as u32 * 1000 + (b[1] - b'0') as u32 * 100 + (b[2] - b'0') as u32 * 10 + (b[3] - b'0') as u32;
        let m = (b[4] - b'0') * 10 + (b[5] - b'0');
        let d = (b[6] - b'0') * 10 + (b[7] - b'0');
        return (1900..2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d);
    }
    // A date-time: the date, then `T` or a space, then a time.
    b.len() > 11 && ymd(&b[..10]) && matches!(b[10], b'T' | b't' | b' ') && b[11].is_ascii_digit()
}

fn is_email(b: &[u8]) -> bool {
    let Some(at) = b.iter().position(|c| *c == b'@') else { return false };
    let (local, domain) = (&b[..at], &b[at + 1..]);
    !local.is_empty()
        && domain.len() >= 3
        && domain.contains(&b'.')
        && !domain.starts_with(b".")
        && !domain.ends_with(b".")
        && domain.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
}

/// `v1`, `v2`, `v1.2`, `v2beta1`, `v1alpha`: API versions are names, not values.
fn is_version(b: &[u8]) -> bool {
    let rest = match b.first() {
        Some(b'v' | b'V') => &b[1..],
        _ => return false,
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 4 {
        return false;
    }
    let tail = &rest[n..];
    tail.is_empty()
        || tail.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        || (tail.iter().all(|c| c.is_ascii_alphanumeric()) && tail.len() <= 8 && tail[0].is_ascii_alphabetic())
}

/// Long base64/base64url strings: at least 20 characters from that alphabet, with upper
/// and lower case and digits all present (words never are).
fn is_token(b: &[u8]) -> bool {
    if b.len() < 20 {
        return false;
    }
    let body = b.strip_suffix(b"==").or_else(|| b.strip_suffix(b"=")).unwrap_or(b);
    body.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'+'))
        && body.iter().any(u8::is_ascii_uppercase)
        && body.iter().any(u8::is_ascii_lowercase)
        && body.iter().any(u8::is_ascii_digit)
}

/// Generated identifiers: a run of letters and digits where the digits are not a short
/// suffix of a word (`oauth2`, `s3`, `ipv6`, `utf8` stay names), optionally behind a short
/// prefix and `_` or `-` (`cus_K2x9Lm8Q`, `ord-7f3k2`, `SKU-00123`).
fn is_identifier(b: &[u8]) -> bool {
    // The part after a short type prefix, when there is one.
    let (prefixed, core) = match b.iter().position(|c| *c == b'_' || *c == b'-') {
        Some(p) if (1..=6).contains(&p) && b[..p].iter().all(u8::is_ascii_alphabetic) => (true, &b[p + 1..]),
        _ => (false, b),
    };
    if core.len() < 5 || !core.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let d = core.iter().filter(|c| c.is_ascii_digit()).count();
    if d == 0 && prefixed && core.len() >= 10 {
        // `cus_NffrFeUfNV`: a type prefix and a long run of mixed-case letters. Path words
        // after an underscore are lower case (`external_accounts`).
        let upper = core.iter().filter(|c| c.is_ascii_uppercase()).count();
        return upper >= 2 && core.len() - upper >= 2;
    }
    if d == 0 {
        // All letters: an id only when the case is mixed like random text, not like words
        // in camel case (`findByStatus`, `IpAccessControlLists`), where each capital starts
        // a word. Random text has capitals next to capitals and one-letter lower-case runs
        // between them (`oLcsluZqwQFKvayy`), and few vowels. A leading acronym (`XMLHttp`)
        // is a word.
        if core.len() < 10 {
            return false;
        }
        let lead = core.iter().take_while(|c| c.is_ascii_uppercase()).count();
        let word_after = core[lead.min(core.len())..].iter().take_while(|c| c.is_ascii_lowercase()).count() >= 3;
        let body = if lead >= 2 && word_after { &core[lead - 1..] } else { core };
        let noise = body.windows(2).filter(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase()).count()
            + body
                .windows(3)
                .filter(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_lowercase() && w[2].is_ascii_uppercase())
                .count();
        let vowels = core.iter().filter(|c| matches!(c.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u')).count();
        let lower = core.iter().filter(|c| c.is_ascii_lowercase()).count();
        return lower * 5 >= core.len()
            && (noise >= 4 || (noise >= 3 && vowels * 10 < core.len() * 3) || (noise >= 2 && vowels * 4 < core.len()));
    }
    if d == core.len() {
        return true;
    }
    // Digits only at the end, and few, after a lower-case word read as the word's suffix:
    // `oauth2`, `ipv6`, `html5`. After mixed case they end a random id (`WPzjNGpdYFmGa4`).
    let trailing = core.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let stem = &core[..core.len() - trailing];
    let wordlike = stem.iter().all(u8::is_ascii_lowercase)
        || stem.iter().all(u8::is_ascii_uppercase)
        // `projectsV2`, `apiV1`: a word and a version letter.
        || (stem.len() >= 4 && stem[stem.len() - 1].is_ascii_uppercase() && stem[..stem.len() - 1].iter().all(u8::is_ascii_lowercase));
    if trailing == d && d <= 2 && stem.len() >= 2 && stem.len() <= 16 && wordlike {
        return false;
    }
    // Letters then digits with a prefix, or digits spread through: generated.
    d >= 2 || core.len() >= 8
}

#[cfg(test)]
mod tests {
    use super::*;
    use SegmentKind::*;

    #[test]
    fn kinds() {
        for (s, k) in [
            ("users", Literal),
            ("findByStatus", Literal),
            ("me", Literal),
            ("v1", Literal),
            ("v2beta1", Literal),
            ("v1.2", Literal),
            ("oauth2", Literal),
            ("ipv6", Literal),
            ("s3", Literal),
            ("html5", Literal),
            ("_search", Literal),
            ("user-profile", Literal),
            ("12345", Integer),
            ("0", Integer),
            ("-3", Integer),
            ("550e8400-e29b-41d4-a716-446655440000", Uuid),
            ("550e8400e29b41d4a716446655440000", Uuid),
            ("d41d8cd98f00b204e9800998ecf8427e", Hash),
            ("da39a3ee5e6b4b0d3255bfef95601890afd80709", Hash),
            ("507f1f77bcf86cd799439011", Hex),
            ("deadbeef", Literal),
            ("a1b2c3d4", Hex),
            ("2024-01-31", Date),
            ("20240131", Date),
            ("2024-01-31T10:00:00Z", Date),
            ("12345678", Integer),
            ("alice@example.com", Email),
            ("eyJhbGciOiJIUzI1NiJ9abcDEF", Token),
            ("cus_K2x9Lm8QzP", Identifier),
            ("SKU-00123", Identifier),
            ("ord-7f3k2", Identifier),
            ("x7Kp2", Identifier),
            ("co_fQMCBJEBkigGxi", Identifier),
            ("obj_UlcPlmjoxHdNhp", Identifier),
            ("external_accounts", Literal),
            ("in_WPzjNGpdYFmGa4", Identifier),
            ("HTTP2", Literal),
            ("projectsV2", Literal),
            ("oLcsluZqwQFKvayyjNTGry", Identifier),
            ("getAccountSettings", Literal),
            ("IpAccessControlLists", Literal),
            ("XMLHttpRequest", Literal),
            ("findPetsByTags", Literal),
            ("RHEUJlfNrOloGwoBIySgjf", Identifier),
            ("getUserById", Literal),
            ("PHONE_NUMBERS", Literal),
        ] {
            assert_eq!(classify(s), k, "{s}");
        }
    }

    #[test]
    fn total_on_odd_input() {
        for s in ["", "-", "@", "a@", "@b.c", "v", "V99999", "==", "2024-13-01", "2024-02-31x", "é", "\u{0}"] {
            let _ = classify(s);
        }
        assert_eq!(classify("2024-13-01"), Literal);
    }
}
