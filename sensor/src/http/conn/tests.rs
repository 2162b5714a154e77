//! Unit tests of the connection parser's helpers.

use super::*;

#[test]
fn analyzable_content_types_ignore_case_and_parameters() {
    for ct in ["application/json", "Application/JSON; charset=utf-8", " text/json ", "application/problem+json", "application/X-WWW-form-urlencoded"] {
        assert!(analyzable(Some(ct)), "{ct}");
    }
    for ct in ["text/html", "application/jsonx", "json", "", "application/xml; x=+json"] {
        assert!(!analyzable(Some(ct)), "{ct}");
    }
    assert!(!analyzable(None));
}
