//! The submitter's dispatch queue, with real agents on loopback: jobs wait in the submitter
//! until the worker has a free slot, and the biggest waiting job is sent first, whatever order
//! make started them in.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{bin, needs_root, worker_and_submitter, Agent};

/// A file that takes seconds to compile at -O2: it keeps the worker's one slot busy.
fn slow_source(functions: usize) -> String {
    (0..functions)
        .map(|i| {
            format!(
                "int f{i}(int *a, int n) {{ int s = 0;\n\
                 for (int i = 0; i < n; i++) {{\n\
                   for (int j = 0; j < n; j++) s += a[i] * a[j] ^ (i + {i}) * (j - {i});\n\
                   if (s > {}) s /= 3; else s *= {};\n\
                 }} return s; }}\n",
                i * 7,
                i % 5 + 2
            )
        })
        .collect()
}

fn compile(dir: &Path, agent: &Agent, source: &str) -> Child {
    let object = source.replace(".c", ".o");
    Command::new(bin("meshcc"))
        .args(["gcc", "-O2", "-c", source, "-o", &object])
        .current_dir(dir)
        .env("MESHCC_SOCKET", agent.socket())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The outputs of the submitter's "job sent" log lines, in order.
fn sent_order(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("job sent"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("output="))
                .map(|o| o.trim_matches('"').to_owned())
        })
        .collect()
}

#[test]
fn the_biggest_waiting_job_is_sent_first_and_every_object_matches_a_local_compile() {
    if !needs_root("remote compiles run jobs in a sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("slow.c"), slow_source(500)).unwrap();
    std::fs::write(src.join("next.c"), slow_source(150)).unwrap();
    std::fs::write(src.join("big.c"), slow_source(60)).unwrap();
    for i in 1..=3 {
        std::fs::write(
            src.join(format!("small{i}.c")),
            format!("int s{i}(void) {{ return {i}; }}\n"),
        )
        .unwrap();
    }
    let (_worker, submitter) = worker_and_submitter(tmp.path(), 1);
    // The first compile finds gcc not packaged yet and no slot here (`--slots 0`): it waits
    // for the packaging, then goes remote, and the worker fetches the toolchain.
    compile(&src, &submitter, "small1.c").wait().unwrap();
    assert_eq!(
        sent_order(&submitter.log()),
        ["small1.o"],
        "the first compile waits for the packaging and runs remotely; submitter log:\n{}",
        submitter.log()
    );

    // The worker's one slot is taken...
    let mut children = vec![compile(&src, &submitter, "slow.c")];
    std::thread::sleep(Duration::from_millis(500));
    // ...so these wait in the submitter, in make's order, with the two biggest not first.
    for source in ["small1.c", "next.c", "small2.c", "small3.c", "big.c"] {
        children.push(compile(&src, &submitter, source));
        std::thread::sleep(Duration::from_millis(150));
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\nsubmitter log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            submitter.log()
        );
    }

    let order = sent_order(&submitter.log());
    assert_eq!(
        order,
        ["small1.o", "slow.o", "next.o", "big.o", "small1.o", "small2.o", "small3.o"],
        "sent order (after the first, warm-up job): the one running, then biggest first; \
         submitter log:\n{}",
        submitter.log()
    );
    for source in [
        "slow.c", "next.c", "big.c", "small1.c", "small2.c", "small3.c",
    ] {
        let object = source.replace(".c", ".o");
        let remote = std::fs::read(src.join(&object)).unwrap();
        let status = Command::new("gcc")
            .args(["-O2", "-c", source, "-o", "local.o"])
            .current_dir(&src)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            remote,
            std::fs::read(src.join("local.o")).unwrap(),
            "{object} differs from a local compile"
        );
    }
}
