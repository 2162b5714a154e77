//! apitap's analysis side: API call records in; inventory, baselines, detections and alerts
//! out: reading records back, the API inventory ([`inventory`]) with its database
//! ([`store`]) and exports ([`export`]), detection ([`detect`]), and enforcement
//! ([`enforce`]: the block list, decisions, alert outputs).

pub mod detect;
pub mod enforce;
pub mod export;
pub mod inventory;
pub mod store;

#[cfg(test)]
pub(crate) mod testutil;

use sensor::ApiCall;
use std::io::BufRead;
use thiserror::Error;

/// A records file that could not be read.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("cannot read records: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: not an API call record: {reason}")]
    Parse { line: usize, reason: String },
}

/// Reads a `records.jsonl` stream into records.
pub fn read_records(r: impl BufRead) -> Result<Vec<ApiCall>, IngestError> {
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let call: ApiCall = serde_json::from_str(&line).map_err(|e| IngestError::Parse { line: i + 1, reason: e.to_string() })?;
        out.push(call);
    }
    Ok(out)
}
