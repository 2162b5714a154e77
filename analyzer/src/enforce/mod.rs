//! Enforcement: turning alerts into verdicts others act on. [`blocklist`] keeps what is
//! blocked and why, under an allow list and guardrails; [`decision`] answers a gateway's
//! sideband call against it; [`notify`] sends alerts to SIEMs (syslog, webhooks) through a
//! bounded queue. The export formats live in [`crate::export`].

pub mod blocklist;
pub mod decision;
pub mod notify;
