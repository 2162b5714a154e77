//! The TCP connection state machine as one pure transition function, in the manner of
//! tls-parser's `tls_states.rs`: `(state, who sent it, flags) -> (state, event)`. The flow
//! table acts on the events; nothing here touches buffers.

use crate::decode::TcpFlags;

/// Where a connection is in its life, as far as a passive observer can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// Picked up without a handshake (midstream), or nothing decisive seen yet.
    Unknown,
    /// A SYN was seen from the originator.
    SynSent,
    /// The responder's SYN-ACK was seen.
    SynReceived,
    /// Data or the final ACK of the handshake was seen.
    Established,
    /// One side sent a FIN; `orig` says which.
    HalfClosed { orig_fin: bool },
    /// Both sides sent a FIN.
    Closed,
    /// A RST was seen.
    Reset,
}

/// What a packet did to the connection, for the flow table to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    None,
    /// The handshake began (or a SYN showed who the originator is).
    Opening,
    /// A SYN arrived on a connection that had ended: the ports were reused for a new one.
    Reopened,
    /// The first FIN.
    HalfClosed,
    /// The second FIN.
    Closed,
    /// A RST.
    Reset,
}

/// Applies one packet. `from_orig` is whether the sender is the originator.
pub fn transition(state: TcpState, from_orig: bool, flags: TcpFlags) -> (TcpState, TcpEvent) {
    use TcpState::*;
    let syn_only = flags.syn() && !flags.ack();
    if flags.rst() {
        return (Reset, if state == Reset { TcpEvent::None } else { TcpEvent::Reset });
    }
    if syn_only && matches!(state, Closed | Reset) {
        return (SynSent, TcpEvent::Reopened);
    }
    let next = match (state, flags.syn(), flags.ack()) {
        (Unknown, true, false) => return (SynSent, TcpEvent::Opening),
        (Unknown | SynSent, true, true) => return (SynReceived, TcpEvent::Opening),
        (SynSent, true, false) => SynSent,
        (SynReceived, false, true) | (SynSent, false, true) | (Unknown, false, _) => Established,
        (s, _, _) => s,
    };
    if flags.fin() {
        return match next {
            HalfClosed { orig_fin } if orig_fin != from_orig => (Closed, TcpEvent::Closed),
            HalfClosed { .. } | Closed | Reset => (next, TcpEvent::None),
            _ => (HalfClosed { orig_fin: from_orig }, TcpEvent::HalfClosed),
        };
    }
    (next, TcpEvent::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: TcpFlags = TcpFlags(TcpFlags::SYN);
    const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
    const ACK: TcpFlags = TcpFlags(TcpFlags::ACK);
    const FINACK: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
    const RST: TcpFlags = TcpFlags(TcpFlags::RST);

    #[test]
    fn full_life() {
        let mut s = TcpState::Unknown;
        let mut events = Vec::new();
        for (orig, f) in [(true, SYN), (false, SYNACK), (true, ACK), (true, FINACK), (false, FINACK), (true, ACK)] {
            let (n, e) = transition(s, orig, f);
            s = n;
            events.push(e);
        }
        assert_eq!(s, TcpState::Closed);
        assert_eq!(
            events,
            vec![TcpEvent::Opening, TcpEvent::Opening, TcpEvent::None, TcpEvent::HalfClosed, TcpEvent::Closed, TcpEvent::None]
        );
    }

    #[test]
    fn midstream_reset_and_reuse() {
        let (s, _) = transition(TcpState::Unknown, true, ACK);
        assert_eq!(s, TcpState::Established);
        let (s, e) = transition(s, false, RST);
        assert_eq!((s, e), (TcpState::Reset, TcpEvent::Reset));
        let (s, e) = transition(s, true, SYN);
        assert_eq!((s, e), (TcpState::SynSent, TcpEvent::Reopened));
    }

    #[test]
    fn same_side_fin_twice_is_not_close() {
        let (s, _) = transition(TcpState::Established, true, FINACK);
        let (s, e) = transition(s, true, FINACK);
        assert_eq!((s, e), (TcpState::HalfClosed { orig_fin: true }, TcpEvent::None));
    }
}
