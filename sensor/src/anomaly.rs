//! Protocol oddities as data. Each variant has a stable snake_case name that appears in a
//! record's `anomalies` array and in the run summary; names never change meaning once
//! shipped, and `docs/anomalies.md` lists every one (a test keeps the two in step).

use serde::{Serialize, Serializer};

macro_rules! anomalies {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// A named protocol oddity seen in one transaction or connection.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Anomaly {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Anomaly {
            /// Every anomaly, in declaration order.
            pub const ALL: &'static [Anomaly] = &[$(Anomaly::$variant,)*];

            /// The stable name used in records, summaries and docs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Anomaly::$variant => $name,)*
                }
            }

            pub fn from_name(name: &str) -> Option<Anomaly> {
                match name {
                    $($name => Some(Anomaly::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

anomalies! {
    // --- request line and status line
    /// A request line without an HTTP version: HTTP/0.9 semantics, the response is read as
    /// raw bytes (header lines that follow the request line are still read, as libhtp does).
    Http09 => "http09",
    /// A request line with a method but no URI before the version.
    MissingUri => "missing_uri",
    /// A request line httparse rejects but the lax parser accepted (odd spacing, bytes
    /// outside the URI grammar, an odd version string).
    LaxRequestLine => "lax_request_line",
    /// A status line httparse rejects but the lax parser accepted (lower-case `http/`, a
    /// missing reason phrase, odd spacing).
    LaxStatusLine => "lax_status_line",
    /// Bytes where a request line should start that do not form one; no request was made.
    BadRequestLine => "bad_request_line",
    /// Bytes where a status line should start that do not form one.
    BadStatusLine => "bad_status_line",
    /// Bytes after the request line's version.
    TrailingRequestLineData => "trailing_request_line_data",
    // --- headers
    /// A header line without a colon, or whose name is not a token; it was skipped.
    InvalidHeaderLine => "invalid_header_line",
    /// Whitespace between a header name and its colon (a classic smuggling vector).
    SpaceBeforeColon => "space_before_colon",
    /// An obsolete folded header line (starts with whitespace).
    ObsFoldHeader => "obs_fold_header",
    /// The message head exceeded the head-size bound; the rest of the head was skipped.
    HeaderTooLong => "header_too_long",
    /// More header lines than the header-count bound; the rest were skipped.
    TooManyHeaders => "too_many_headers",
    /// An HTTP/1.1 request without a Host header.
    MissingHost => "missing_host",
    /// More than one Host header.
    MultipleHost => "multiple_host",
    // --- framing (most are request-smuggling shaped)
    /// Both Content-Length and Transfer-Encoding: chunked; chunked framing was used.
    ContentLengthAndChunked => "content_length_and_chunked",
    /// A Content-Length that is not a plain decimal number (sign, garbage, overflow).
    BadContentLength => "bad_content_length",
    /// Several Content-Length values that disagree.
    MultipleContentLength => "multiple_content_length",
    /// Content-Length with leading zeros.
    ContentLengthLeadingZeros => "content_length_leading_zeros",
    /// A Transfer-Encoding that is not exactly `chunked` (unknown codings, chunked not last,
    /// several values, odd spelling).
    BadTransferEncoding => "bad_transfer_encoding",
    /// A chunk-size line that is not a hex number that fits in 63 bits.
    BadChunkSize => "bad_chunk_size",
    /// A chunk's data not followed by CRLF.
    BadChunkTerminator => "bad_chunk_terminator",
    /// Trailer fields after the last chunk.
    ChunkedTrailers => "chunked_trailers",
    /// A GET, HEAD, DELETE or OPTIONS request with a body.
    BodyOnSafeMethod => "body_on_safe_method",
    // --- pairing
    /// A response with no request to pair with.
    UnmatchedResponse => "unmatched_response",
    /// A request that never got a response.
    NoResponse => "no_response",
    /// More requests waiting for responses than the pipelining bound; the oldest was
    /// written without its response.
    TooManyPendingRequests => "too_many_pending_requests",
    /// More than one interim (1xx) response before the final one.
    RepeatedInterimResponse => "repeated_interim_response",
    /// The response's major HTTP version differs from the request's.
    VersionMismatch => "version_mismatch",
    // --- loss and truncation
    /// Bytes of the request missing from the capture.
    GapInRequest => "gap_in_request",
    /// Bytes of the response missing from the capture.
    GapInResponse => "gap_in_response",
    /// Parsing resumed at this message after a gap or garbage skipped earlier messages.
    Resynced => "resynced",
    /// Bytes before the first request line in a stream (midstream pickup or garbage).
    DataBeforeRequest => "data_before_request",
    /// Bytes before the first status line in a stream.
    DataBeforeResponse => "data_before_response",
    /// The connection ended before the request's framing did.
    RequestTruncated => "request_truncated",
    /// The connection ended before the response's framing did.
    ResponseTruncated => "response_truncated",
    /// Frames of this message were cut by the capture's snaplen.
    SnaplenTruncated => "snaplen_truncated",
    /// A retransmission or overlap carried different bytes than the first copy (evasion
    /// shaped); the first copy was kept.
    ConflictingOverlap => "conflicting_overlap",
    // --- bodies
    /// A Content-Encoding apitap does not decode; body length counts the encoded bytes.
    UnknownContentEncoding => "unknown_content_encoding",
    /// A compressed body that failed to decode; body length counts what decoded.
    ContentDecodingError => "content_decoding_error",
    /// Decoded output reached the decompression bound (a bomb, or just large); decoding
    /// stopped there.
    DecompressionLimit => "decompression_limit",
    // --- connection
    /// The flow was evicted under memory or flow-count pressure before it ended.
    FlowEvicted => "flow_evicted",
}

impl Serialize for Anomaly {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small ordered set of anomalies: records rarely carry more than two, so a sorted Vec
/// beats a hash set, and the order is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnomalySet(Vec<Anomaly>);

impl AnomalySet {
    pub fn insert(&mut self, a: Anomaly) {
        if let Err(at) = self.0.binary_search(&a) {
            self.0.insert(at, a);
        }
    }

    pub fn remove(&mut self, a: Anomaly) {
        if let Ok(at) = self.0.binary_search(&a) {
            self.0.remove(at);
        }
    }

    pub fn contains(&self, a: Anomaly) -> bool {
        self.0.binary_search(&a).is_ok()
    }

    pub fn extend(&mut self, other: &AnomalySet) {
        for a in &other.0 {
            self.insert(*a);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Anomaly> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for AnomalySet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for a in Anomaly::ALL {
            let n = a.as_str();
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{n}");
            assert!(seen.insert(n), "duplicate {n}");
            assert_eq!(Anomaly::from_name(n), Some(*a));
        }
    }

    #[test]
    fn set_is_sorted_and_deduplicated() {
        let mut s = AnomalySet::default();
        s.insert(Anomaly::NoResponse);
        s.insert(Anomaly::Http09);
        s.insert(Anomaly::NoResponse);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Anomaly::Http09, Anomaly::NoResponse]);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["http09","no_response"]"#);
    }
}
