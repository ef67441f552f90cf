//! Integration tests of the sandbox: real jails, real gcc, a probe inside the jail.
//!
//! Tests that build jails need root and user namespaces; where those are missing they fail
//! under `CI` and print "skipped: …" elsewhere.

mod util;

mod battery;
mod compile;
mod measure;
mod run;
