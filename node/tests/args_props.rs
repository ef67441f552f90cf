//! Properties of the compiler-argument model on generated command lines, run in CI (the fuzz
//! targets in `fuzz/` explore further but need libFuzzer): it never panics, what it calls
//! distributable is self-consistent, and no flag that reaches outside the packaged toolchain
//! is ever distributed, wherever it sits on the line.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use meshcc::args::parse;
use proptest::prelude::*;

const COMPILERS: &[&str] = &[
    "gcc",
    "g++",
    "cc",
    "clang",
    "clang++",
    "x86_64-linux-gnu-gcc-12",
];

/// Flags that appear in real builds, to mix into generated lines.
const BENIGN: &[&str] = &[
    "-O2",
    "-g",
    "-Wall",
    "-DX=1",
    "-Iinclude",
    "-std=c11",
    "-fPIC",
    "-MD",
    "-MMD",
    "-pipe",
    "-Werror",
    "-UNDEBUG",
    "-include",
    "config.h",
    "-x",
    "c",
    "-gsplit-dwarf",
    "-fstack-usage",
];

/// Flags that take no separate value, so that a word inserted after them is not their value.
const SINGLE_WORD: &[&str] = &[
    "-O2",
    "-g",
    "-Wall",
    "-DX=1",
    "-Iinclude",
    "-std=c11",
    "-fPIC",
    "-MD",
    "-pipe",
    "-Werror",
];

/// Flags a worker must never run: they load code or configuration from outside the toolchain.
const FORBIDDEN: &[&[&str]] = &[
    &["-fplugin=/tmp/evil.so"],
    &["-specs=/tmp/evil.specs"],
    &["-B/tmp/evil/"],
    &["-B", "/tmp/evil/"],
    &["-wrapper", "/bin/sh,-c,id"],
    &["@/tmp/evil.rsp"],
];

fn arbitrary_word() -> impl Strategy<Value = OsString> {
    prop_oneof![
        prop::sample::select(BENIGN).prop_map(OsString::from),
        "-[a-zA-Z=,/.]{0,12}".prop_map(OsString::from),
        "[a-z/.]{0,10}\\.(c|cc|o|h|s|i)".prop_map(OsString::from),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| OsStr::from_bytes(&b).to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any command line gets an answer, and a distributable one names its outputs and keeps
    /// every argument, each with a role.
    #[test]
    fn any_line_parses_without_panicking(
        compiler in prop::sample::select(COMPILERS),
        args in prop::collection::vec(arbitrary_word(), 0..16),
    ) {
        if let Ok(inv) = parse(compiler, &args) {
            prop_assert!(!inv.outputs.is_empty());
            prop_assert_eq!(&inv.args, &args);
            prop_assert_eq!(inv.roles.len(), inv.args.len());
        }
    }

    /// A distributable compile with a forbidden flag put anywhere in it is never distributed.
    #[test]
    fn forbidden_flags_are_never_distributed(
        compiler in prop::sample::select(COMPILERS),
        extra in prop::collection::vec(prop::sample::select(SINGLE_WORD), 0..6),
        forbidden in prop::sample::select(FORBIDDEN),
        at in any::<prop::sample::Index>(),
    ) {
        let mut args: Vec<OsString> = ["-c", "main.c", "-omain.o"].map(OsString::from).to_vec();
        args.extend(extra.iter().map(OsString::from));
        // Between whole words, so a flag's value is never split from it.
        let mut words: Vec<Vec<OsString>> = args.into_iter().map(|a| vec![a]).collect();
        words.insert(at.index(words.len() + 1), forbidden.iter().map(OsString::from).collect());
        let line: Vec<OsString> = words.concat();
        prop_assert!(parse(compiler, &line).is_err(), "{:?} was distributable", line);
    }
}
