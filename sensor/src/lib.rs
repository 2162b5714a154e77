//! apitap's packet path: packets in, API call records out.
//!
//! ```text
//! capture -> decode -> flow -> reassembly -> http -> record
//! ```
//!
//! - [`capture`] reads frames from libpcap (files, stdin, and later live interfaces).
//! - [`decode`] turns a frame into a TCP segment: link layers, VLAN/MPLS/PPPoE, IPv4/IPv6 with
//!   fragment reassembly, and the tunnels mirrored traffic arrives in.
//! - [`flow`] keeps one entry per TCP connection and runs the TCP state machine.
//! - [`reassembly`] turns segments into an ordered byte stream per direction, with gaps.
//! - [`http`] parses HTTP/1.x from those streams and pairs requests with responses.
//! - [`record`] is the API call record, the contract with the analyzer.
//! - [`pipeline`] wires the stages together and keeps the counters.
//!
//! # Hostile input
//! Every byte this crate parses came off a network an attacker may control. No function on
//! the packet path panics on any input: there is no `unwrap` and no unchecked indexing on
//! packet bytes, arithmetic on lengths and sequence numbers is checked or wrapping on purpose,
//! and every buffer has a bound whose overflow is a counted event, not an error.

pub mod alloc;
pub mod anomaly;
pub mod capture;
pub mod config;
pub mod decode;
pub mod flow;
pub mod hash;
pub mod http;
pub mod pipeline;
pub mod reassembly;
pub mod record;
pub mod time;

pub use anomaly::Anomaly;
pub use config::SensorConfig;
pub use record::ApiCall;
pub use time::Timestamp;
