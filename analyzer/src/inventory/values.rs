//! What a parameter's values look like: JSON types, OpenAPI formats, numeric and length
//! ranges, how often it is present, and a masked example. Values themselves are never
//! kept: the example keeps only the shape (`alice@example.com` becomes
//! `xxxxx@xxxxxxx.xxx`).

use super::segment::{classify, SegmentKind};

/// JSON types seen, as bits.
pub mod types {
    pub const INTEGER: u8 = 1;
    pub const NUMBER: u8 = 2;
    pub const BOOLEAN: u8 = 4;
    pub const STRING: u8 = 8;
    pub const NULL: u8 = 16;
    pub const OBJECT: u8 = 32;
    pub const ARRAY: u8 = 64;

    pub const NAMES: [(u8, &str); 7] = [
        (INTEGER, "integer"),
        (NUMBER, "number"),
        (BOOLEAN, "boolean"),
        (STRING, "string"),
        (NULL, "null"),
        (OBJECT, "object"),
        (ARRAY, "array"),
    ];
}

/// String formats seen, as bits; names are OpenAPI's where it has one.
pub mod formats {
    pub const UUID: u16 = 1;
    pub const DATE: u16 = 2;
    pub const DATE_TIME: u16 = 4;
    pub const EMAIL: u16 = 8;
    pub const URI: u16 = 16;
    pub const IPV4: u16 = 32;
    pub const IPV6: u16 = 64;
    pub const HEX: u16 = 128;
    pub const TOKEN: u16 = 256;
    pub const IDENTIFIER: u16 = 512;

    pub const NAMES: [(u16, &str); 10] = [
        (UUID, "uuid"),
        (DATE, "date"),
        (DATE_TIME, "date-time"),
        (EMAIL, "email"),
        (URI, "uri"),
        (IPV4, "ipv4"),
        (IPV6, "ipv6"),
        (HEX, "hex"),
        (TOKEN, "token"),
        (IDENTIFIER, "id"),
    ];
}

/// Longest masked example kept.
const EXAMPLE_MAX: usize = 32;

/// Everything known about one parameter of one endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamStats {
    pub present: u64,
    pub types: u8,
    pub formats: u16,
    pub num_min: Option<f64>,
    pub num_max: Option<f64>,
    pub len_min: Option<u32>,
    pub len_max: Option<u32>,
    pub example: Option<String>,
}

impl ParamStats {
    /// A value from a query string, form body, path or header: text whose type is read
    /// off its shape (`42` is an integer, `true` a boolean).
    pub fn observe_text(&mut self, v: &str) {
        self.present += 1;
        if let Ok(n) = v.parse::<i64>() {
            if !(v.starts_with('+') || (v.len() > 1 && v.starts_with('0'))) {
                self.types |= types::INTEGER;
                self.number(n as f64);
                return self.example_once(v);
            }
        }
        if v.contains('.') && v.parse::<f64>().is_ok_and(f64::is_finite) && v.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            self.types |= types::NUMBER;
            self.number(v.parse::<f64>().unwrap_or(0.0));
            return self.example_once(v);
        }
        if v == "true" || v == "false" {
            self.types |= types::BOOLEAN;
            return self.example_once(v);
        }
        self.string(v);
    }

    /// A JSON string value.
    pub fn observe_string(&mut self, v: &str) {
        self.present += 1;
        self.string(v);
    }

    /// A JSON number.
    pub fn observe_number(&mut self, n: f64, integral: bool) {
        self.present += 1;
        self.types |= if integral { types::INTEGER } else { types::NUMBER };
        self.number(n);
    }

    /// A JSON `true`/`false`, `null`, object or array (only the type is kept).
    pub fn observe_type(&mut self, t: u8) {
        self.present += 1;
        self.types |= t;
    }

    fn number(&mut self, n: f64) {
        self.num_min = Some(self.num_min.map_or(n, |m| m.min(n)));
        self.num_max = Some(self.num_max.map_or(n, |m| m.max(n)));
    }

    fn string(&mut self, v: &str) {
        self.types |= types::STRING;
        self.formats |= format_of(v);
        let len = v.chars().count().min(u32::MAX as usize) as u32;
        self.len_min = Some(self.len_min.map_or(len, |m| m.min(len)));
        self.len_max = Some(self.len_max.map_or(len, |m| m.max(len)));
        self.example_once(v);
    }

    fn example_once(&mut self, v: &str) {
        if self.example.is_none() {
            self.example = Some(mask(v));
        }
    }

    pub fn merge(&mut self, o: &ParamStats) {
        self.present += o.present;
        self.types |= o.types;
        self.formats |= o.formats;
        for (mine, theirs, min) in [
            (&mut self.num_min, o.num_min, true),
            (&mut self.num_max, o.num_max, false),
        ] {
            *mine = match (*mine, theirs) {
                (Some(a), Some(b)) => Some(if min { a.min(b) } else { a.max(b) }),
                (a, b) => a.or(b),
            };
        }
        self.len_min = match (self.len_min, o.len_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.len_max = match (self.len_max, o.len_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if self.example.is_none() {
            self.example.clone_from(&o.example);
        }
    }

    /// Type names, comma-separated, in a fixed order.
    pub fn type_names(&self) -> String {
        names(types::NAMES.iter().map(|(b, n)| (u16::from(*b), *n)), u16::from(self.types))
    }

    pub fn format_names(&self) -> String {
        names(formats::NAMES.iter().copied(), self.formats)
    }
}

fn names(all: impl Iterator<Item = (u16, &'static str)>, bits: u16) -> String {
    all.filter(|(b, _)| bits & b != 0).map(|(_, n)| n).collect::<Vec<_>>().join(",")
}

/// Parses names back into bits (what [`ParamStats::type_names`] wrote).
pub fn type_bits(s: &str) -> u8 {
    s.split(',').filter_map(|n| types::NAMES.iter().find(|(_, m)| *m == n).map(|(b, _)| *b)).fold(0, |a, b| a | b)
}

pub fn format_bits(s: &str) -> u16 {
    s.split(',').filter_map(|n| formats::NAMES.iter().find(|(_, m)| *m == n).map(|(b, _)| *b)).fold(0, |a, b| a | b)
}

/// The OpenAPI-style format of a string value, as a bit (0 when it has none).
pub fn format_of(v: &str) -> u16 {
    if v.len() > 2048 {
        return 0;
    }
    if v.parse::<std::net::Ipv4Addr>().is_ok() {
        return formats::IPV4;
    }
    if v.contains(':') && v.parse::<std::net::Ipv6Addr>().is_ok() {
        return formats::IPV6;
    }
    if (v.starts_with("http://") || v.starts_with("https://")) && v.len() > 8 {
        return formats::URI;
    }
    match classify(v) {
        SegmentKind::Uuid => formats::UUID,
        SegmentKind::Date if v.len() > 10 => formats::DATE_TIME,
        SegmentKind::Date => formats::DATE,
        SegmentKind::Email => formats::EMAIL,
        SegmentKind::Hash | SegmentKind::Hex => formats::HEX,
        SegmentKind::Token => formats::TOKEN,
        SegmentKind::Identifier => formats::IDENTIFIER,
        SegmentKind::Integer | SegmentKind::Literal => 0,
    }
}

/// The shape of a value without its content: letters become `x`/`X`, digits `9`,
/// everything else stays; at most [`EXAMPLE_MAX`] characters.
pub fn mask(v: &str) -> String {
    let mut out = String::with_capacity(v.len().min(EXAMPLE_MAX));
    for (i, c) in v.chars().enumerate() {
        if i == EXAMPLE_MAX {
            out.push('…');
            break;
        }
        out.push(match c {
            'a'..='z' => 'x',
            'A'..='Z' => 'X',
            '0'..='9' => '9',
            c if c.is_alphabetic() => 'x',
            c if c.is_numeric() => '9',
            c => c,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_text() {
        let mut p = ParamStats::default();
        for v in ["3", "17", "-2"] {
            p.observe_text(v);
        }
        assert_eq!(p.type_names(), "integer");
        assert_eq!((p.num_min, p.num_max), (Some(-2.0), Some(17.0)));
        p.observe_text("2.5");
        assert_eq!(p.type_names(), "integer,number");
        let mut s = ParamStats::default();
        s.observe_text("007");
        s.observe_text("alice@example.com");
        assert_eq!(s.type_names(), "string");
        assert_eq!(s.format_names(), "email");
        assert_eq!((s.len_min, s.len_max), (Some(3), Some(17)));
        assert_eq!(s.example.as_deref(), Some("999"));
        let mut b = ParamStats::default();
        b.observe_text("true");
        assert_eq!(b.type_names(), "boolean");
        assert_eq!(type_bits(&s.type_names()), s.types);
        assert_eq!(format_bits("email,uuid"), formats::EMAIL | formats::UUID);
    }

    #[test]
    fn formats_and_masks() {
        assert_eq!(format_of("550e8400-e29b-41d4-a716-446655440000"), formats::UUID);
        assert_eq!(format_of("2024-01-31"), formats::DATE);
        assert_eq!(format_of("2024-01-31T10:00:00Z"), formats::DATE_TIME);
        assert_eq!(format_of("10.0.0.1"), formats::IPV4);
        assert_eq!(format_of("2001:db8::1"), formats::IPV6);
        assert_eq!(format_of("https://example.com/x"), formats::URI);
        assert_eq!(format_of("hello"), 0);
        assert_eq!(mask("alice@example.com"), "xxxxx@xxxxxxx.xxx");
        assert_eq!(mask("SKU-00123"), "XXX-99999");
        assert_eq!(mask(&"a".repeat(100)).chars().count(), EXAMPLE_MAX + 1);
        assert_eq!(mask("Zürich"), "Xxxxxx");
    }

    #[test]
    fn merge_widens() {
        let (mut a, mut b) = (ParamStats::default(), ParamStats::default());
        a.observe_text("5");
        b.observe_text("50");
        b.observe_text("x");
        a.merge(&b);
        assert_eq!(a.present, 3);
        assert_eq!((a.num_min, a.num_max), (Some(5.0), Some(50.0)));
        assert_eq!(a.type_names(), "integer,string");
    }
}
