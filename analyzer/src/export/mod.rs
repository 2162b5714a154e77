//! What the inventory is turned into for other tools: OpenAPI documents, and comparisons
//! with them.

pub mod openapi;
