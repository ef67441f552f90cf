//! Small network probes run inside lab hosts, to prove what the lab promises: multicast crosses
//! the wire (mDNS depends on it), and round-trip times are what was asked for.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::thread;
use std::time::Duration;

/// The mDNS group and port: what the agents' discovery really uses.
pub const MDNS_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The mDNS port.
pub const MDNS_PORT: u16 = 5353;

/// Waits up to `timeout` for one datagram sent to `group:port` (joined on every interface the
/// multicast route allows); returns its sender and payload.
pub fn multicast_recv(
    group: Ipv4Addr,
    port: u16,
    timeout: Duration,
) -> std::io::Result<(SocketAddr, Vec<u8>)> {
    let sock = bind_reusable(port)?;
    sock.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)?;
    sock.set_read_timeout(Some(timeout))?;
    let mut buf = vec![0u8; 2048];
    let (n, from) = sock.recv_from(&mut buf)?;
    buf.truncate(n);
    Ok((from, buf))
}

/// Sends `payload` to `group:port` `count` times, `interval` apart (receivers may start late).
pub fn multicast_send(
    group: Ipv4Addr,
    port: u16,
    payload: &[u8],
    count: u32,
    interval: Duration,
) -> std::io::Result<()> {
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
    sock.set_multicast_loop_v4(false)?;
    for i in 0..count {
        if i > 0 {
            thread::sleep(interval);
        }
        sock.send_to(payload, SocketAddrV4::new(group, port))?;
    }
    Ok(())
}

/// mDNS responders bind the port with SO_REUSEADDR so that several can share it.
fn bind_reusable(port: u16) -> std::io::Result<UdpSocket> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(0, 0, 0, 0, port),
    )?;
    Ok(UdpSocket::from(fd))
}

/// Round-trip times from `ping`'s summary line, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rtt {
    /// Fastest.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Slowest.
    pub max: f64,
    /// Packets answered out of those sent.
    pub received: u32,
}

/// Parses iputils `ping` output (`… 3 received …` and `rtt min/avg/max/mdev = a/b/c/d ms`).
pub fn parse_ping(output: &str) -> Option<Rtt> {
    let received = output
        .lines()
        .find(|l| l.contains(" received"))?
        .split(',')
        .find(|part| part.contains("received"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let summary = output
        .lines()
        .find(|l| l.starts_with("rtt ") || l.starts_with("round-trip"))?;
    let numbers: Vec<f64> = summary
        .split('=')
        .nth(1)?
        .trim()
        .trim_end_matches("ms")
        .trim()
        .split('/')
        .filter_map(|n| n.parse().ok())
        .collect();
    Some(Rtt {
        min: *numbers.first()?,
        avg: *numbers.get(1)?,
        max: *numbers.get(2)?,
        received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iputils_ping() {
        let out = "PING 10.199.0.2 (10.199.0.2) 56(84) bytes of data.\n\
                   \n--- 10.199.0.2 ping statistics ---\n\
                   5 packets transmitted, 5 received, 0% packet loss, time 804ms\n\
                   rtt min/avg/max/mdev = 8.736/11.465/19.386/3.979 ms\n";
        let rtt = parse_ping(out).unwrap();
        assert_eq!(
            rtt,
            Rtt {
                min: 8.736,
                avg: 11.465,
                max: 19.386,
                received: 5
            }
        );
    }

    #[test]
    fn no_reply_parses_to_none() {
        let out = "--- 10.199.0.3 ping statistics ---\n\
                   2 packets transmitted, 0 received, 100% packet loss, time 1010ms\n";
        assert_eq!(parse_ping(out), None);
    }
}
