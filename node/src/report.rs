//! What `meshcc peers`, `stats` and `jobs` print: a table for people, and `--json` for scripts.
//!
//! The JSON shapes are a contract, documented in `docs/json.md`; each object carries a
//! `schema` name with a version that changes only when a field is removed or changes meaning.

use std::fmt::Write as _;

use meshcc_wire::control::{
    ControlResponse, JobsReport, PeerEntry, PeersReport, StatsReport, TransferProgress,
};
use serde::Serialize;

/// One peer, as `meshcc peers --json` prints it.
#[derive(Debug, Serialize)]
pub struct PeerJson {
    /// libp2p peer id.
    pub peer_id: String,
    /// Multiaddrs of its connections (or, for the local agent, its listen addresses).
    pub addresses: Vec<String>,
    /// meshcc release.
    pub agent_version: String,
    /// Wire protocol version.
    pub protocol_version: u32,
    /// CPU architecture.
    pub arch: String,
    /// Operating system.
    pub os: String,
    /// Job slots.
    pub slots: u32,
    /// Slots not running or queued.
    pub slots_free: u32,
    /// Jobs running.
    pub running: u32,
    /// Jobs queued.
    pub queued: u32,
    /// Busy fraction of its CPU allowance, 0 to 1.
    pub load: f64,
    /// Relative speed, 1000 = reference.
    pub speed: u32,
    /// Memory available, MiB.
    pub mem_free_mb: u64,
    /// Whether it takes jobs from others.
    pub accepts_remote: bool,
    /// Toolchain ids held (hex BLAKE3).
    pub toolchains: Vec<String>,
    /// Last ping round trip in milliseconds; null for the local agent or before the first ping.
    pub rtt_ms: Option<f64>,
    /// Milliseconds since its last status.
    pub last_heard_ms: u64,
    /// It failed a result check: it returned a result different from a local compile, and
    /// gets no more jobs from this agent.
    pub untrusted: bool,
}

impl From<&PeerEntry> for PeerJson {
    fn from(e: &PeerEntry) -> Self {
        let s = &e.status;
        Self {
            peer_id: e.peer.to_string(),
            addresses: e.addresses.clone(),
            agent_version: s.agent_version.clone(),
            protocol_version: s.protocol_version,
            arch: s.arch.clone(),
            os: s.os.clone(),
            slots: s.slots,
            slots_free: s.slots.saturating_sub(s.running + s.queued),
            running: s.running,
            queued: s.queued,
            load: f64::from(s.load_permille) / 1000.0,
            speed: s.speed,
            mem_free_mb: s.mem_free_mb,
            accepts_remote: s.accepts_remote,
            toolchains: s.toolchains.iter().map(ToString::to_string).collect(),
            rtt_ms: e.rtt_us.map(|us| us as f64 / 1000.0),
            last_heard_ms: e.last_heard_ms,
            untrusted: e.untrusted,
        }
    }
}

/// `meshcc peers --json`.
#[derive(Debug, Serialize)]
pub struct PeersJson {
    /// Always `meshcc.peers/1`.
    pub schema: &'static str,
    /// The agent answering.
    pub local: PeerJson,
    /// Its peers.
    pub peers: Vec<PeerJson>,
    /// The web monitor's URL; null when the agent serves none.
    pub monitor: Option<String>,
    /// Toolchain fetches and packagings under way.
    pub transfers: Vec<TransferProgress>,
}

/// JSON text for a peer report.
pub fn peers_json(report: &PeersReport) -> String {
    let json = PeersJson {
        schema: "meshcc.peers/1",
        local: (&report.local).into(),
        peers: report.peers.iter().map(Into::into).collect(),
        monitor: report.monitor.clone(),
        transfers: report.transfers.clone(),
    };
    serde_json::to_string_pretty(&json).expect("serializable")
}

/// The peer table for people: the local agent first, marked `*`.
pub fn peers_table(report: &PeersReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<24} {:<8} {:>7} {:>5} {:>6} {:<10} {:>8} {:>7}",
        "PEER", "ADDRESS", "VERSION", "SLOTS", "LOAD", "SPEED", "TOOLCHAINS", "RTT", "HEARD"
    );
    let rows =
        std::iter::once((true, &report.local)).chain(report.peers.iter().map(|p| (false, p)));
    for (local, e) in rows {
        let s = &e.status;
        let free = s.slots.saturating_sub(s.running + s.queued);
        let mut slots = format!("{free}/{}", s.slots);
        if !s.accepts_remote {
            slots = "no-remote".into();
        }
        if e.untrusted {
            slots = "UNTRUSTED".into();
        }
        let toolchains = match s.toolchains.as_slice() {
            [] => "-".to_owned(),
            [one] => one.short(),
            many => format!("{} ({})", many[0].short(), many.len()),
        };
        let _ = writeln!(
            out,
            "{}{:<7} {:<24} {:<8} {:>7} {:>4}% {:>6} {:<10} {:>8} {:>7}",
            if local { '*' } else { ' ' },
            e.peer.short(),
            short_address(e.addresses.first().map_or("-", String::as_str)),
            s.agent_version,
            slots,
            s.load_permille / 10,
            s.speed,
            toolchains,
            e.rtt_us
                .map_or("-".into(), |us| format!("{:.1}ms", us as f64 / 1000.0)),
            if local {
                "-".into()
            } else {
                format!("{:.1}s", e.last_heard_ms as f64 / 1000.0)
            },
        );
    }
    for t in &report.transfers {
        let _ = writeln!(out, "{}", transfer_line(t));
    }
    if let Some(url) = &report.monitor {
        let _ = writeln!(out, "monitor: {url}");
    }
    out
}

/// `fetch toolchain 3f2a9c: 12.0 of 48.2 MiB (25%), 3 of 12 chunks, 4.1 s`, for the table and
/// the log.
pub(crate) fn transfer_line(t: &TransferProgress) -> String {
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let mut line = format!("{} {}: {:.1}", t.kind, t.what, mib(t.done_bytes));
    match t.done_bytes.saturating_mul(100).checked_div(t.total_bytes) {
        Some(pct) => {
            let _ = write!(line, " of {:.1} MiB ({pct}%)", mib(t.total_bytes));
        }
        None => line.push_str(" MiB"),
    }
    let _ = write!(line, ", {} ", t.done_items);
    if t.total_items > 0 {
        let _ = write!(line, "of {} ", t.total_items);
    }
    let _ = write!(
        line,
        "{}, {:.1} s",
        if t.kind == "fetch" { "chunks" } else { "files" },
        t.elapsed_ms as f64 / 1000.0
    );
    line
}

/// `/ip4/10.0.0.2/tcp/7070/p2p/…` as `10.0.0.2:7070/tcp`.
fn short_address(addr: &str) -> String {
    let parts: Vec<&str> = addr.split('/').collect();
    match parts.as_slice() {
        ["", "ip4" | "ip6" | "dns", host, proto @ ("tcp" | "udp"), port, rest @ ..] => {
            let quic = rest.contains(&"quic-v1");
            format!("{host}:{port}/{}", if quic { "quic" } else { proto })
        }
        _ => addr.to_owned(),
    }
}

/// `meshcc stats --json`.
pub fn stats_json(stats: &StatsReport) -> String {
    let mut value = serde_json::to_value(stats).expect("serializable");
    value["schema"] = "meshcc.stats/1".into();
    serde_json::to_string_pretty(&value).expect("serializable")
}

/// `meshcc stats` for people.
pub fn stats_text(s: &StatsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "uptime            {} s", s.uptime_secs);
    let _ = writeln!(out, "peers connected   {}", s.peers_connected);
    let _ = writeln!(
        out,
        "jobs              {} local, {} remote, {} served for peers",
        s.jobs_local, s.jobs_remote, s.jobs_served
    );
    let fallbacks: u64 = s.fallbacks.values().sum();
    let _ = writeln!(out, "fallbacks         {fallbacks}");
    for (reason, n) in &s.fallbacks {
        let _ = writeln!(out, "  {n:>6}  {reason}");
    }
    if s.verified > 0 {
        let _ = writeln!(
            out,
            "result checks     {} remote results compiled again locally, {} differed",
            s.verified, s.verify_mismatches
        );
    }
    let _ = writeln!(
        out,
        "toolchains        {} packaged, {} fetched",
        s.toolchains_packaged, s.toolchains_fetched
    );
    let _ = writeln!(
        out,
        "job traffic       {} B sent, {} B received",
        s.bytes_sent, s.bytes_received
    );
    let _ = writeln!(
        out,
        "gossip            {} msgs / {} B sent, {} msgs / {} B received",
        s.gossip_messages_sent,
        s.gossip_bytes_sent,
        s.gossip_messages_received,
        s.gossip_bytes_received
    );
    out
}

/// `meshcc jobs --json`.
pub fn jobs_json(jobs: &JobsReport) -> String {
    serde_json::json!({ "schema": "meshcc.jobs/1", "jobs": jobs.jobs }).to_string()
}

/// An error and its causes in one line, for people: libp2p's and anyhow's layers often repeat
/// the text of the error they wrap, or have none of their own, and neither helps a reader.
pub fn error_sentence(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in std::iter::successors(Some(error), |e| e.source()) {
        let text = e.to_string();
        if !text.is_empty() && parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// A response's kind, for messages (its contents are of no use to the reader).
pub fn response_name(response: &ControlResponse) -> &'static str {
    match response {
        ControlResponse::Peers(_) => "peers",
        ControlResponse::Stats(_) => "stats",
        ControlResponse::Jobs(_) => "jobs",
        ControlResponse::Plan(_) => "plan",
        ControlResponse::Compiled(_) => "compiled",
        ControlResponse::Fallback(_) => "fallback",
        ControlResponse::Ok => "ok",
        ControlResponse::Error(_) => "error",
        ControlResponse::Health(_) => "health",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_shorten_for_the_table() {
        assert_eq!(short_address("/ip4/10.0.0.2/tcp/7070"), "10.0.0.2:7070/tcp");
        assert_eq!(
            short_address("/ip4/10.0.0.2/udp/7070/quic-v1"),
            "10.0.0.2:7070/quic"
        );
        assert_eq!(short_address("/unix/x"), "/unix/x");
    }

    #[test]
    fn a_transfer_shows_bytes_items_and_share_done() {
        let t = TransferProgress {
            kind: "fetch".into(),
            what: "toolchain 3f2a9c".into(),
            done_bytes: 12 << 20,
            total_bytes: 48 << 20,
            done_items: 3,
            total_items: 12,
            elapsed_ms: 4100,
        };
        assert_eq!(
            transfer_line(&t),
            "fetch toolchain 3f2a9c: 12.0 of 48.0 MiB (25%), 3 of 12 chunks, 4.1 s"
        );
    }
}
