//! Figures for the closing note, printed by every test run (the timings are reported, not
//! asserted: this machine is shared and noisy):
//! `cargo test -p meshcc-sandbox --test integration -- --nocapture --test-threads=1 measure`.

use std::time::{Duration, Instant};

use meshcc_sandbox::run;

use crate::compile::{compile_spec, toolchain, Project, HELLO};
use crate::util::{can_jail, helper, report, Fixture};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Pass: 20 trivial jobs all succeed; prints the median time to materialise a root and start
/// the job, and the spread.
#[test]
fn measure_materialise_and_start() {
    if !can_jail("measure_materialise_and_start") {
        return;
    }
    let fx = Fixture::new();
    let mut samples = Vec::new();
    for _ in 0..20 {
        let spec = fx.probe_spec(&["true"]);
        let started = Instant::now();
        let outcome = run(helper(), &spec).unwrap();
        samples.push(started.elapsed());
        assert!(outcome.success());
    }
    let (min, max) = (
        *samples.iter().min().unwrap(),
        *samples.iter().max().unwrap(),
    );
    let med = median(samples);
    report(&format!(
        "measure: materialise root + start trivial job: median {:.1} ms (min {:.1}, max {:.1}, n=20)",
        ms(med),
        ms(min),
        ms(max)
    ));
}

/// Pass: 10 gcc -O2 -g compiles succeed in the jail; prints the median time against a direct
/// compile and the number of inputs.
#[test]
fn measure_compile_overhead() {
    if !can_jail("measure_compile_overhead") {
        return;
    }
    let fx = Fixture::new();
    let tc = toolchain(&fx);
    let project = Project::new(&[("hello.c", HELLO)]);
    let args = ["-O2", "-g", "-c", "hello.c", "-o", "hello.o"];
    let (mut local, mut jailed) = (Vec::new(), Vec::new());
    let mut inputs = 0;
    for _ in 0..10 {
        let started = Instant::now();
        assert!(project.local(&args).status.success());
        local.push(started.elapsed());
        let spec = compile_spec(&fx, &tc, &project, &args, &["hello.o"]);
        inputs = spec.inputs.len();
        let started = Instant::now();
        assert!(run(helper(), &spec).unwrap().success());
        jailed.push(started.elapsed());
    }
    let (local, jailed) = (median(local), median(jailed));
    report(&format!(
        "measure: gcc -O2 -g -c hello.c ({inputs} inputs): local median {:.1} ms, sandboxed median {:.1} ms, overhead {:.1} ms",
        ms(local),
        ms(jailed),
        ms(jailed.saturating_sub(local))
    ));
}
