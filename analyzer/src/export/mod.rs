//! What apitap hands to other tools: OpenAPI documents of the inventory (and comparisons
//! with them), block lists in each enforcer's format, and alerts for SIEMs.

pub mod blocklist;
pub mod openapi;
pub mod siem;
