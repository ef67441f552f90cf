//! Connections that failed, kept so that `meshcc doctor` can say why a peer is missing: a
//! handshake that fails is nearly always another mesh key, an identify that names another
//! protocol is another meshcc version, and a refused or unreachable dial is a network matter.
//!
//! Failures are grouped by (address, kind) with a count, and the table is bounded: a host
//! redialling a wrong-key peer every 8 s for a week stays one row.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;
use meshcc_wire::control::{ConnectionFailure, FailureKind, PeerName};

/// At most this many (address, kind) rows; the stalest goes first.
const MAX_ROWS: usize = 64;

#[derive(Debug)]
struct Row {
    peer: Option<PeerId>,
    detail: String,
    count: u64,
    last: Instant,
}

/// The failed connections seen since the agent started.
#[derive(Debug, Default)]
pub struct Failures {
    rows: HashMap<(String, FailureKind), Row>,
}

impl Failures {
    /// Records one failure at `address`.
    pub fn record(
        &mut self,
        kind: FailureKind,
        address: String,
        peer: Option<PeerId>,
        detail: String,
    ) {
        if self.rows.len() >= MAX_ROWS && !self.rows.contains_key(&(address.clone(), kind)) {
            if let Some(stalest) = self
                .rows
                .iter()
                .min_by_key(|(_, r)| r.last)
                .map(|(k, _)| k.clone())
            {
                self.rows.remove(&stalest);
            }
        }
        let row = self.rows.entry((address, kind)).or_insert(Row {
            peer: None,
            detail: String::new(),
            count: 0,
            last: Instant::now(),
        });
        row.peer = peer.or(row.peer);
        row.detail = detail;
        row.count += 1;
        row.last = Instant::now();
    }

    /// The rows, most recent first.
    pub fn report(&self) -> Vec<ConnectionFailure> {
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by_key(|(_, r)| std::cmp::Reverse(r.last));
        rows.into_iter()
            .map(|((address, kind), r)| ConnectionFailure {
                kind: *kind,
                address: address.clone(),
                peer: r.peer.map(|p| PeerName(p.to_string())),
                detail: r.detail.clone(),
                count: r.count,
                last_ms_ago: r.last.elapsed().as_millis() as u64,
            })
            .collect()
    }
}

/// Sorts a transport error into a kind, from its text: libp2p wraps the OS error and the
/// handshake's in layers of its own, and the text is what survives all of them.
pub fn classify(error: &str) -> FailureKind {
    let e = error.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| e.contains(w));
    if any(&["connection refused"]) {
        FailureKind::Refused
    } else if any(&[
        "no route",
        "unreachable",
        "timed out",
        "timeout",
        "host is down",
    ]) {
        FailureKind::NoRoute
    } else if any(&[
        "noise",
        "handshake",
        "multistream",
        "negotiat",
        "decrypt",
        "pnet",
        "connection reset",
        "unexpected end of file",
        "early eof",
        "broken pipe",
    ]) {
        FailureKind::Handshake
    } else {
        FailureKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_address_and_kind_is_one_row_with_a_count() {
        let mut f = Failures::default();
        for _ in 0..3 {
            f.record(
                FailureKind::Handshake,
                "/ip4/10.0.0.2/tcp/7070".into(),
                None,
                "x".into(),
            );
        }
        f.record(
            FailureKind::Refused,
            "/ip4/10.0.0.3/tcp/7070".into(),
            None,
            "y".into(),
        );
        let report = f.report();
        assert_eq!(report.len(), 2);
        assert_eq!(report[0].kind, FailureKind::Refused, "most recent first");
        assert_eq!(report[1].count, 3);
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut f = Failures::default();
        for i in 0..(MAX_ROWS + 10) {
            f.record(
                FailureKind::NoRoute,
                format!("/ip4/10.0.0.{i}/tcp/1"),
                None,
                String::new(),
            );
        }
        assert_eq!(f.report().len(), MAX_ROWS);
    }

    #[test]
    fn errors_are_sorted_by_their_words() {
        assert_eq!(
            classify("Transport([(/ip4/1.2.3.4/tcp/1, Other(Custom { kind: Other, error: Connection refused (os error 111) }))])"),
            FailureKind::Refused
        );
        assert_eq!(
            classify("No route to host (os error 113)"),
            FailureKind::NoRoute
        );
        assert_eq!(
            classify("Failed to negotiate transport protocol(s)"),
            FailureKind::Handshake
        );
    }
}
