//! The agent and its mesh: is one running, which peers it sees, why others may be missing,
//! and how far away the ones it sees are.

use std::time::Duration;

use meshcc_wire::control::{
    ConnectionFailure, ControlRequest, ControlResponse, FailureKind, HealthReport, PeersReport,
};

use super::{duration_words, Check};
use crate::client::{Client, ClientError};

/// A round trip above this makes remote compiles slower than they should be on a LAN.
const SLOW_RTT_MS: f64 = 20.0;
/// How long mDNS gets to find somebody before its silence means something.
const MDNS_GRACE_SECS: u64 = 12;

/// What the agent told us, for the later checks.
pub struct AgentView {
    /// Its peer table.
    pub peers: PeersReport,
}

/// Adds the agent, peer, discovery, connection and latency checks; returns the agent's
/// answers when it answered.
pub fn checks(out: &mut Vec<Check>) -> Option<AgentView> {
    let socket = crate::paths::socket();
    let mut client = match Client::connect(&socket, Duration::from_secs(5)) {
        Ok(c) => c,
        Err(e) => {
            out.push(no_agent(&socket, &e));
            return None;
        }
    };
    let peers = match client.ask(&ControlRequest::Peers) {
        Ok(ControlResponse::Peers(p)) => p,
        Ok(other) => {
            out.push(Check::fail(
                "agent",
                format!(
                    "The agent at {} answered a peers question with a {} message.",
                    socket.display(),
                    crate::report::response_name(&other)
                ),
                "Run the same meshcc release as the agent (restart the agent after an upgrade).",
            ));
            return None;
        }
        Err(e) => {
            out.push(Check::fail(
                "agent",
                format!("The agent at {} did not answer: {e}.", socket.display()),
                "Restart the agent (`systemctl restart meshcc-agent`, or stop and start `meshcc agent`).",
            ));
            return None;
        }
    };
    let health = match client.ask(&ControlRequest::Health) {
        Ok(ControlResponse::Health(h)) => Some(h),
        _ => None,
    };
    let local = &peers.local;
    out.push(Check::ok(
        "agent",
        format!(
            "An agent (meshcc {}, peer {}) answers at {}{}, listening on {}.",
            local.status.agent_version,
            local.peer.short(),
            socket.display(),
            health.as_ref().map_or_else(String::new, |h| format!(
                ", up {}",
                duration_words(h.uptime_secs * 1000)
            )),
            if local.addresses.is_empty() {
                "nothing".to_owned()
            } else {
                local.addresses.join(", ")
            }
        ),
    ));
    peer_checks(out, &peers);
    match &health {
        Some(h) => {
            discovery_checks(out, &peers, h);
            for failure in &h.failures {
                out.push(failure_check(failure, h.mesh_key));
            }
        }
        None => out.push(Check::warn(
            "connections",
            "The agent does not report failed connections (it is an older meshcc than this command).",
            "Restart the agent with this release to see why peers may be missing.",
        )),
    }
    latency_checks(out, &peers);
    Some(AgentView { peers })
}

fn no_agent(socket: &std::path::Path, e: &ClientError) -> Check {
    let stale = socket.exists();
    let message = if stale {
        format!(
            "No agent answers at {}: the socket is there but nobody listens ({e}); the agent \
             that made it has stopped.",
            socket.display()
        )
    } else {
        format!(
            "No agent is running at {} (no control socket there). Compiles still work, but \
             only on this machine.",
            socket.display()
        )
    };
    Check::fail(
        "agent",
        message,
        "Start the agent: `systemctl start meshcc-agent` where it is installed as a service, \
         else `meshcc agent` (see `meshcc agent --help`); if one runs with another state \
         directory, point MESHCC_SOCKET at its agent.sock.",
    )
}

fn peer_checks(out: &mut Vec<Check>, peers: &PeersReport) {
    let own = &peers.local.status;
    if peers.peers.is_empty() {
        out.push(Check::warn(
            "peers",
            "The agent sees no peers: every compile runs on this machine.",
            "See the discovery and connection findings below for why; `meshcc agent --peer \
             /ip4/ADDRESS/tcp/PORT` connects to a known agent directly.",
        ));
        return;
    }
    let usable: Vec<_> = peers
        .peers
        .iter()
        .filter(|p| {
            let s = &p.status;
            s.accepts_remote
                && s.arch == own.arch
                && s.os == own.os
                && s.protocol_version == own.protocol_version
        })
        .collect();
    out.push(Check::ok(
        "peers",
        format!(
            "The agent sees {} peer(s); {} of them take this machine's jobs ({} slots).",
            peers.peers.len(),
            usable.len(),
            usable.iter().map(|p| p.status.slots).sum::<u32>()
        ),
    ));
    for p in &peers.peers {
        let s = &p.status;
        let name = format!("Peer {} ({})", p.peer.short(), p.addresses.join(", "));
        if s.protocol_version != own.protocol_version {
            out.push(Check::warn(
                "peers",
                format!(
                    "{name} runs meshcc {} with protocol version {}, this agent {}: they cannot \
                     exchange jobs.",
                    s.agent_version, s.protocol_version, own.protocol_version
                ),
                "Install the same meshcc release on every machine of the mesh.",
            ));
        } else if s.arch != own.arch || s.os != own.os {
            out.push(Check::info(
                "peers",
                format!(
                    "{name} is a {}-{} machine; this one is {}-{}, so it gets no jobs from here.",
                    s.arch, s.os, own.arch, own.os
                ),
            ));
        } else if !s.accepts_remote {
            out.push(Check::info(
                "peers",
                format!("{name} was started with --no-remote: it sends jobs but takes none."),
            ));
        }
    }
}

fn discovery_checks(out: &mut Vec<Check>, peers: &PeersReport, h: &HealthReport) {
    if !h.mdns && h.static_peers.is_empty() {
        let message = "The agent runs without mDNS (--no-mdns) and has no --peer address: it \
                       finds no one itself, and only peers that dial it join.";
        out.push(if peers.peers.is_empty() {
            Check::fail(
                "discovery",
                message,
                "Give it peers with `--peer /ip4/ADDRESS/tcp/PORT` (or `peer = [...]` in its \
                 config file), or start it without --no-mdns.",
            )
        } else {
            Check::info("discovery", message)
        });
    } else if h.mdns && h.mdns_discovered == 0 && h.uptime_secs >= MDNS_GRACE_SECS {
        let check = Check::warn(
            "discovery",
            format!(
                "mDNS has found no other agent in {}: either no other agent runs on this \
                 network, or multicast is blocked (common on Wi-Fi, VPNs and cloud networks).",
                duration_words(h.uptime_secs * 1000)
            ),
            "Allow multicast DNS (UDP port 5353 to 224.0.0.251) between the machines, or give \
             peers directly with `--peer /ip4/ADDRESS/tcp/PORT` (`peer = [...]` in the config \
             file).",
        );
        out.push(if peers.peers.is_empty() {
            check
        } else {
            Check::info("discovery", check.message)
        });
    } else if h.mdns {
        out.push(Check::ok(
            "discovery",
            format!(
                "mDNS works: it has reported {} agent(s) on this network.",
                h.mdns_discovered
            ),
        ));
    }
    if !h.static_peers.is_empty() {
        out.push(Check::info(
            "discovery",
            format!("Static peers dialled: {}.", h.static_peers.join(", ")),
        ));
    }
    if h.failures.is_empty() {
        out.push(Check::ok(
            "connections",
            "No connection has failed since the agent started.",
        ));
    }
}

/// A failed connection, in words, with what to do.
fn failure_check(f: &ConnectionFailure, private: bool) -> Check {
    // The detail ends sentences here; some errors bring their own full stop.
    let detail = f.detail.trim_end_matches('.');
    let times = format!(
        "{} time(s), last {} ago",
        f.count,
        duration_words(f.last_ms_ago)
    );
    let who = match &f.peer {
        Some(p) => format!("{} (peer {})", f.address, p.short()),
        None => f.address.clone(),
    };
    match f.kind {
        FailureKind::Handshake => Check::fail(
            "connections",
            format!(
                "Connections with {who} fail during the handshake ({times}): that agent most \
                 likely uses {}. The network said: {}.",
                if private {
                    "another mesh key, or none"
                } else {
                    "a mesh key while this one has none"
                },
                detail
            ),
            "Give every agent of the mesh the same --mesh-key file (compare them with \
             `sha256sum`), or none to all.",
        ),
        FailureKind::ProtocolVersion => Check::fail(
            "connections",
            format!(
                "{who} is a meshcc agent of another protocol version and is ignored ({times}): {}.",
                detail
            ),
            "Install the same meshcc release on every machine of the mesh.",
        ),
        FailureKind::NotMeshcc => Check::info(
            "connections",
            format!(
                "{who} speaks libp2p but is not a meshcc agent, so it is ignored ({times}): {}.",
                detail
            ),
        ),
        FailureKind::Refused => Check::warn(
            "connections",
            format!("Nothing listens at {who} (connection refused, {times})."),
            "Start the agent on that machine, or correct the --peer address to the port its \
             --listen option names.",
        ),
        FailureKind::NoRoute => Check::warn(
            "connections",
            format!("{who} cannot be reached ({times}): {}.", detail),
            "Check the route and the firewall between the two machines: the agent's TCP port \
             (and, without a mesh key, the same UDP port for QUIC) must be open.",
        ),
        FailureKind::Other => Check::warn(
            "connections",
            format!("Connections with {who} failed ({times}): {}.", detail),
            "Look at the agent's log (MESHCC_LOG_LEVEL=debug) on both machines for the cause.",
        ),
    }
}

fn latency_checks(out: &mut Vec<Check>, peers: &PeersReport) {
    for p in &peers.peers {
        let Some(us) = p.rtt_us else { continue };
        let ms = us as f64 / 1000.0;
        let message = format!(
            "Round trip to peer {} ({}): {ms:.2} ms.",
            p.peer.short(),
            p.addresses.join(", ")
        );
        out.push(if ms > SLOW_RTT_MS {
            Check::warn(
                "latency",
                format!(
                    "{message} A remote compile pays several round trips, so this peer adds \
                     tens of milliseconds to every job it takes."
                ),
                "Prefer peers on the same wired LAN; a peer over Wi-Fi or a VPN is better \
                 started with --no-remote, or left out of the mesh.",
            )
        } else {
            Check::ok("latency", message)
        });
    }
}
