//! Every bound and knob of the packet path in one place, passed down explicitly (no globals).
//! The defaults are what `apitap replay` uses; docs/ARCHITECTURE.md lists the bounds.

/// Configuration of the whole sensor.
#[derive(Clone, Debug)]
pub struct SensorConfig {
    pub decode: DecodeConfig,
    pub flow: FlowConfig,
    pub http: HttpConfig,
    /// Global memory bound, in bytes. The pipeline sets aside its own buffers
    /// ([`crate::pipeline::memory_reserve`]); flow state, reassembly buffers and pending
    /// transactions get the rest, enforced by evicting the least recently active flows.
    pub max_memory: usize,
    /// Key of the keyed hash applied to credentials (see [`crate::hash`]).
    pub hash_key: [u8; 32],
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            decode: DecodeConfig::default(),
            flow: FlowConfig::default(),
            http: HttpConfig::default(),
            max_memory: 512 << 20,
            hash_key: [0; 32],
        }
    }
}

/// Decoder bounds.
#[derive(Clone, Debug)]
pub struct DecodeConfig {
    /// Datagrams being reassembled from IP fragments at once; the oldest is dropped beyond.
    pub max_fragment_datagrams: usize,
    /// Bytes held by the fragment reassembler at once.
    pub max_fragment_bytes: usize,
    /// Seconds of packet time an incomplete datagram waits for its fragments.
    pub fragment_timeout_secs: u64,
    /// How many tunnel layers are peeled before giving up on a frame.
    pub max_tunnel_depth: u8,
    /// UDP ports decoded as VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// UDP ports decoded as GENEVE.
    pub geneve_ports: Vec<u16>,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_fragment_datagrams: 4096,
            max_fragment_bytes: 16 << 20,
            fragment_timeout_secs: 30,
            max_tunnel_depth: 4,
            vxlan_ports: vec![4789, 8472],
            geneve_ports: vec![6081],
        }
    }
}

/// Flow table and reassembly bounds.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Connections tracked at once; the least recently active is evicted beyond.
    pub max_flows: usize,
    /// Seconds of packet time without a packet before an open connection is finished.
    pub idle_timeout_secs: u64,
    /// Seconds of packet time a reset or fully closed connection lingers for late segments.
    pub closed_linger_secs: u64,
    /// Out-of-order bytes buffered per direction before the hole is declared a gap.
    pub max_buffered_per_stream: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1_000_000,
            idle_timeout_secs: 300,
            closed_linger_secs: 2,
            max_buffered_per_stream: 1 << 20,
        }
    }
}

/// HTTP parser bounds and options.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Bytes of a request or response head (start line and headers) kept for parsing.
    pub max_head_bytes: usize,
    /// Header lines kept per message.
    pub max_headers: usize,
    /// Requests waiting for a response on one connection (pipelining depth).
    pub max_pending: usize,
    /// Decoded (decompressed) bytes produced per body before decoding stops.
    pub max_decoded_body: u64,
    /// First N decoded body bytes written to records as `request_body`/`response_body`.
    pub body_sample: usize,
    /// First N decoded bytes of JSON and form bodies kept in memory beside each record for
    /// analysis (the inventory reads their fields); never written. 0 keeps none. Inflating
    /// gzip bodies to get them costs more than measuring them by their trailer.
    pub capture_bodies: usize,
    /// Bytes of each direction scanned for an HTTP message start before a connection that
    /// shows none is left alone.
    pub max_probe_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 64 << 10,
            max_headers: 256,
            max_pending: 64,
            max_decoded_body: 64 << 20,
            body_sample: 0,
            capture_bodies: 0,
            max_probe_bytes: 64 << 10,
        }
    }
}
