//! The files a compile writes, named as gcc 12 and clang 14 name them (checked by running
//! both; `tests.rs` keeps each fact as a table row):
//!
//! - object/assembly: `-o` (the last one wins), else the input's file name with its last
//!   extension replaced by `.o`/`.s`, in the working directory (`src/c.tar.c` → `c.tar.o`).
//! - `.d` for `-MD`/`-MMD`: `-MF`, else the main output with its extension replaced by `.d`
//!   (`obj/a.x` → `obj/a.d`, `obj/a` → `obj/a.d`, `obj/.a` → `obj/.d`). `-Wp,-MD,path`: path.
//! - auxiliary outputs (`.dwo`, `.su`, `.ci`, `.json`, `.opt.yaml`) sit beside the main
//!   output with its extension replaced, with one difference: for a main output named like
//!   `obj/.a`, gcc keeps the whole name (`obj/.a.su`) and clang strips it (`obj/.su`).
//! - `.dwo`: gcc writes one for `-gsplit-dwarf` with `-c` even without `-g` (and with `-g0`),
//!   never with `-S`. clang writes one only when debug info is on, and with `-S` names it after
//!   the input in the working directory (`-S src/a.c -o sub/x.s` → `a.dwo`).
//! - gcc's `-fsave-optimization-record` keeps the input's extension:
//!   `-o sub/x.o` for `a.c` → `sub/x.c.opt-record.json.gz`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::reason::LocalReason;
use super::scan::Seen;
use super::{Family, Mode, Output, OutputKind};

pub(super) fn outputs(
    family: Family,
    mode: Mode,
    input: &Path,
    seen: &Seen,
) -> Result<Vec<Output>, LocalReason> {
    let input_stem = strip_extension(input.file_name().unwrap_or_default(), true);
    let main = match (&seen.output, mode) {
        (Some(path), _) => path.clone(),
        (None, Mode::Object) => with_suffix(&input_stem, ".o"),
        (None, Mode::Assembly) => with_suffix(&input_stem, ".s"),
    };
    if main.as_os_str() == "-" {
        return Err(LocalReason::StdoutOutput("-o -".to_owned()));
    }
    let main_kind = match mode {
        Mode::Object => OutputKind::Object,
        Mode::Assembly => OutputKind::Assembly,
    };
    let mut out = vec![Output {
        path: main.clone(),
        kind: main_kind,
    }];
    let mut add = |path: PathBuf, kind| out.push(Output { path, kind });

    let dep = match (&seen.wp_md, seen.md, &seen.mf) {
        (Some(path), _, _) => Some(path.clone()),
        (None, true, Some(path)) => Some(path.clone()),
        (None, true, None) => Some(with_suffix(&strip_extension(main.as_os_str(), false), ".d")),
        (None, false, _) => None,
    };
    if let Some(dep) = dep {
        if dep.as_os_str() == "-" {
            return Err(LocalReason::StdoutOutput("-MF -".to_owned()));
        }
        add(dep, OutputKind::Dependencies);
    }

    let aux = strip_extension(main.as_os_str(), family == Family::Gcc);
    let dwo = match family {
        Family::Gcc => seen.split_dwarf && mode == Mode::Object,
        Family::Clang => seen.split_dwarf && seen.debug,
    };
    if dwo {
        let base = match mode {
            Mode::Assembly => &input_stem,
            Mode::Object => &aux,
        };
        add(with_suffix(base, ".dwo"), OutputKind::SplitDwarf);
    }
    if seen.stack_usage {
        add(with_suffix(&aux, ".su"), OutputKind::StackUsage);
    }
    // gcc's and clang's own flags are modelled for both families: a `cc` that is really clang
    // still gets its outputs, and the other family rejects the flag with an error anyway.
    if seen.callgraph {
        add(with_suffix(&aux, ".ci"), OutputKind::CallGraph);
    }
    if seen.time_trace {
        add(with_suffix(&aux, ".json"), OutputKind::TimeTrace);
    }
    match (&seen.opt_record_file, seen.opt_record, family) {
        (Some(path), _, _) => add(path.clone(), OutputKind::OptimizationRecord),
        (None, true, Family::Clang) => add(
            with_suffix(&aux, ".opt.yaml"),
            OutputKind::OptimizationRecord,
        ),
        (None, true, Family::Gcc) => {
            let ext = input.extension().map(OsStr::as_bytes).unwrap_or_default();
            let mut suffix = if ext.is_empty() {
                vec![]
            } else {
                [b".", ext].concat()
            };
            suffix.extend_from_slice(b".opt-record.json.gz");
            add(
                with_suffix(&aux, &String::from_utf8_lossy(&suffix)),
                OutputKind::OptimizationRecord,
            )
        }
        (None, false, _) => {}
    }
    if let Some(path) = &seen.compilation_database {
        add(path.clone(), OutputKind::CompilationDatabase);
    }
    if let Some(path) = &seen.serialized_diagnostics {
        add(path.clone(), OutputKind::SerializedDiagnostics);
    }
    Ok(out)
}

/// `path` without the last extension of its file name. A file name whose only dot is its first
/// character (`.a`) is kept whole if `keep_dotfile`, else reduced to nothing (`obj/.a` → `obj/`).
fn strip_extension(path: &OsStr, keep_dotfile: bool) -> OsString {
    let bytes = path.as_bytes();
    let name_start = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    match bytes[name_start..].iter().rposition(|&b| b == b'.') {
        Some(0) if keep_dotfile => path.to_owned(),
        Some(dot) => OsString::from_vec(bytes[..name_start + dot].to_vec()),
        None => path.to_owned(),
    }
}

fn with_suffix(stem: &OsStr, suffix: &str) -> PathBuf {
    let mut s = stem.to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_extension_cases() {
        let strip = |p: &str, keep| strip_extension(OsStr::new(p), keep);
        assert_eq!(strip("obj/a.o", false), "obj/a");
        assert_eq!(strip("obj/a.b.o", false), "obj/a.b");
        assert_eq!(strip("o.d/a", false), "o.d/a");
        assert_eq!(strip("obj/.a", false), "obj/");
        assert_eq!(strip("obj/.a", true), "obj/.a");
        assert_eq!(strip("a", true), "a");
        assert_eq!(strip("./a.o", true), "./a");
    }
}
