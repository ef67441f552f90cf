//! Result rows: the table printed per run, and CSV.

use std::fmt::Write as _;
use std::io::{self, Write};

/// One policy at one mesh size, load and staleness.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Agents.
    pub nodes: usize,
    /// Offered load.
    pub utilisation: f64,
    /// Gossip period in mean job times; `None` for the agent's own rule (on change, rate
    /// limited, heartbeat).
    pub staleness: Option<f64>,
    /// Policy name.
    pub policy: &'static str,
    /// Mean job sojourn (mean job times).
    pub mean: f64,
    /// p99 job sojourn.
    pub p99: f64,
    /// Mean build makespan, for build workloads.
    pub makespan: Option<f64>,
    /// `mean` over the omniscient scheduler's.
    pub rel_mean: f64,
    /// `p99` over the omniscient scheduler's.
    pub rel_p99: f64,
    /// `makespan` over the omniscient scheduler's.
    pub rel_makespan: Option<f64>,
    /// Control messages per job.
    pub messages_per_job: f64,
    /// Control bytes each node sends per second.
    pub bytes_per_node_s: f64,
}

impl Row {
    /// The staleness column as printed.
    pub fn staleness_label(&self) -> String {
        match self.staleness {
            Some(s) => format!("{s}"),
            None => "agent".into(),
        }
    }
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// The table for a set of rows, one line each.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>6} {:>5} {:>6} {:<13} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>10} {:>11}",
        "nodes",
        "util",
        "stale",
        "policy",
        "mean",
        "p99",
        "makespan",
        "mean/o",
        "p99/o",
        "mksp/o",
        "msgs/job",
        "B/node/s"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:>6} {:>5.2} {:>6} {:<13} {:>8.3} {:>8.2} {:>9} {:>7.2} {:>7.2} {:>8} {:>10.1} {:>11.0}",
            r.nodes,
            r.utilisation,
            r.staleness_label(),
            r.policy,
            r.mean,
            r.p99,
            opt(r.makespan, 2),
            r.rel_mean,
            r.rel_p99,
            opt(r.rel_makespan, 2),
            r.messages_per_job,
            r.bytes_per_node_s,
        );
    }
    s
}

/// Write `rows` as CSV with a header line.
pub fn write_csv<W: Write>(mut out: W, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "nodes,utilisation,staleness,policy,mean_sojourn,p99_sojourn,mean_makespan,\
         rel_mean,rel_p99,rel_makespan,messages_per_job,bytes_per_node_s"
    )?;
    for r in rows {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            r.nodes,
            r.utilisation,
            r.staleness_label(),
            r.policy,
            r.mean,
            r.p99,
            opt(r.makespan, 6),
            r.rel_mean,
            r.rel_p99,
            opt(r.rel_makespan, 6),
            r.messages_per_job,
            r.bytes_per_node_s,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_line_per_row_and_the_agent_label() {
        let row = Row {
            nodes: 10,
            utilisation: 0.5,
            staleness: None,
            policy: "p2c",
            mean: 1.0,
            p99: 4.0,
            makespan: None,
            rel_mean: 1.0,
            rel_p99: 1.0,
            rel_makespan: None,
            messages_per_job: 0.0,
            bytes_per_node_s: 0.0,
        };
        let mut out = Vec::new();
        write_csv(&mut out, &[row.clone(), row]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("10,0.5,agent,p2c,"));
    }
}
