//! The static table of gcc and clang flags meshcc knows, and how each is treated.
//!
//! Facts come from gcc 12 and clang 14 (checked by running them), icecc's `client/arg.cpp` and
//! distcc's `src/arg.c`; where meshcc deliberately differs from them:
//! - icecc compares `-fexec-charset` and friends without their `=`, so the real spelling
//!   `-fexec-charset=UTF-8` never matched; here the `=` forms are the entries.
//! - icecc and distcc list only some profile flags (`-fprofile-generate` but not
//!   `-fprofile-generate=dir`, no `-fprofile-instr-*`); here every `-fprofile-…` is local.
//! - distcc runs every `-x` locally; icecc accepts only `-x c`/`-x c++`. Here `-x` takes effect
//!   for the inputs after it, as in gcc, and the language decides (see `language.rs`).
//! - icecc treats any `-M…` it does not know as "only preprocesses"; here it is local too, but
//!   `-MJ` (clang's compilation-database fragment) is a modelled output.
//!
//! A flag that is not in the table is distributable: the worker runs the same compiler with the
//! same flags. An unknown flag that takes a separate argument makes its argument look like a
//! second input, which runs the command locally: a safe mistake. Unknown `-f…=value` options
//! whose name suggests a file (see [`looks_like_file_option`]) run locally too.

use super::reason::LocalReason;
use super::Mode;

/// How a flag's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// The whole word is the flag: `-c`.
    Exact,
    /// The value is the next word: `-Xclang -load`.
    Separate,
    /// The value is the rest of the word (which may be empty): `-fprofile-generate=dir`.
    Joined,
    /// `-Ipath` or `-I path`.
    JoinedOrSeparate,
}

/// What a flag does, as far as distributing is concerned.
#[derive(Clone, Copy, Debug)]
pub(super) enum Action {
    /// Affects compilation (and maybe preprocessing); passed unchanged.
    Compiler,
    /// Affects only the preprocessor.
    Preprocessor,
    /// Affects only the linker, which `-c`/`-S` does not run.
    Linker,
    /// Runs the command locally, with this reason.
    Local(fn(String) -> LocalReason),
    /// Runs locally if the value is one of these, else [`Action::Compiler`].
    LocalIfValue(&'static [&'static str], fn(String) -> LocalReason),
    /// `-c` / `-S`.
    SetMode(Mode),
    /// Names the main output.
    Output,
    /// `-x LANG`.
    Language,
    /// `-MD`, `-MMD`: a dependency file as a side effect of compiling.
    DepGenerate,
    /// `-M`, `-MM`: only a dependency list, unless `-MD`/`-MMD` is also given.
    DepOnly,
    /// `-M` itself is [`Action::DepOnly`]; any other `-M…` not in the table is unknown.
    DepPrefix,
    /// `-MF path`.
    DepFile,
    /// `-MT`/`-MQ`: the target named in the dependency file, not its file name.
    DepTarget,
    /// `-MP`, `-MG`, `-MV`: change the dependency file's content only.
    DepModifier,
    /// `-Wp,a,b`.
    PreprocessorList,
    /// `-Wa,a,b`.
    AssemblerList,
    /// `-Xassembler OPT`.
    Xassembler,
    /// `-Xclang OPT`.
    Xclang,
    /// `-Xpreprocessor OPT`.
    Xpreprocessor,
    /// `-g…`: may switch debug info on or off (clang writes `.dwo` only with debug info).
    Debug,
    /// `-gsplit-dwarf` (true) / `-gno-split-dwarf` (false).
    SplitDwarf(bool),
    /// clang's `-gsplit-dwarf=split|single`.
    SplitDwarfMode,
    /// `-fstack-usage`: a `.su` file (neither gcc 12 nor clang 14 has `-fno-stack-usage`).
    StackUsage,
    /// gcc's `-fcallgraph-info[=…]`: a `.ci` file.
    CallGraph,
    /// clang's `-ftime-trace`: a `.json` file.
    TimeTrace,
    /// `-fsave-optimization-record`.
    OptRecord,
    /// clang's `-foptimization-record-file=path`.
    OptRecordFile,
    /// gcc's `-fopt-info[…][=file]`: local only when it names a file.
    OptInfo,
    /// clang's `-MJ path`.
    CompilationDatabase,
    /// clang's `--serialize-diagnostics path`.
    SerializeDiagnostics,
}

/// One row of [`FLAGS`].
#[derive(Debug)]
pub(super) struct FlagSpec {
    pub name: &'static str,
    pub form: Form,
    pub action: Action,
}

const fn e(name: &'static str, form: Form, action: Action) -> FlagSpec {
    FlagSpec { name, form, action }
}

use Action::*;
use Form::*;
use LocalReason::*;

/// Every flag meshcc treats specially, sorted by name (bytewise) so that it reads like an index
/// and can be binary-searched; `flag_table_is_sorted` checks the order.
#[rustfmt::skip]
pub(super) static FLAGS: &[FlagSpec] = &[
    e("-###", Exact, Local(Query)),
    e("--analyze", Exact, Local(WritesUnmodeledFile)),
    e("--assemble", Exact, SetMode(Mode::Assembly)),
    e("--compile", Exact, SetMode(Mode::Object)),
    e("--config", Separate, Local(ToolchainOverride)),
    e("--config-system-dir=", Joined, Local(ToolchainOverride)),
    e("--config-user-dir=", Joined, Local(ToolchainOverride)),
    e("--config=", Joined, Local(ToolchainOverride)),
    e("--coverage", Exact, Local(Profiling)),
    e("--define-macro", Separate, Preprocessor),
    e("--define-macro=", Joined, Preprocessor),
    e("--dependencies", Exact, DepOnly),
    e("--gcc-toolchain=", Joined, Local(ToolchainOverride)),
    e("--help", Joined, Local(Query)),
    e("--include-directory", Separate, Preprocessor),
    e("--include-directory=", Joined, Preprocessor),
    e("--language", Separate, Language),
    e("--language=", Joined, Language),
    e("--output", Separate, Output),
    e("--output=", Joined, Output),
    e("--param", Separate, Compiler),
    e("--param=", Joined, Compiler),
    e("--precompile", Exact, Local(Modules)),
    e("--prefix", Separate, Local(ToolchainOverride)),
    e("--prefix=", Joined, Local(ToolchainOverride)),
    e("--preprocess", Exact, Local(Preprocess)),
    e("--print-", Joined, Local(Query)),
    e("--save-temps", Exact, Local(SaveTemps)),
    e("--serialize-diagnostics", Separate, SerializeDiagnostics),
    e("--specs", Separate, Local(ToolchainOverride)),
    e("--specs=", Joined, Local(ToolchainOverride)),
    e("--sysroot", Separate, Compiler),
    e("--sysroot=", Joined, Compiler),
    e("--target-help", Exact, Local(Query)),
    e("--target=", Joined, Compiler),
    e("--undefine-macro", Separate, Preprocessor),
    e("--undefine-macro=", Joined, Preprocessor),
    e("--user-dependencies", Exact, DepOnly),
    e("--verbose", Exact, Local(Query)),
    e("--version", Exact, Local(Query)),
    e("--write-dependencies", Exact, DepGenerate),
    e("--write-user-dependencies", Exact, DepGenerate),
    e("-A", JoinedOrSeparate, Preprocessor),
    e("-B", JoinedOrSeparate, Local(ToolchainOverride)),
    e("-C", Exact, Preprocessor),
    e("-CC", Exact, Preprocessor),
    e("-D", JoinedOrSeparate, Preprocessor),
    e("-E", Exact, Local(Preprocess)),
    e("-H", Exact, Preprocessor),
    e("-I", JoinedOrSeparate, Preprocessor),
    e("-L", JoinedOrSeparate, Linker),
    e("-M", Joined, DepPrefix),
    e("-MD", Exact, DepGenerate),
    e("-MF", JoinedOrSeparate, DepFile),
    e("-MG", Exact, DepModifier),
    e("-MJ", JoinedOrSeparate, CompilationDatabase),
    e("-MM", Exact, DepOnly),
    e("-MMD", Exact, DepGenerate),
    e("-MP", Exact, DepModifier),
    e("-MQ", JoinedOrSeparate, DepTarget),
    e("-MT", JoinedOrSeparate, DepTarget),
    e("-MV", Exact, DepModifier),
    e("-P", Exact, Preprocessor),
    e("-S", Exact, SetMode(Mode::Assembly)),
    e("-T", JoinedOrSeparate, Linker),
    e("-U", JoinedOrSeparate, Preprocessor),
    e("-Wa,", Joined, AssemblerList),
    e("-Wl,", Joined, Linker),
    e("-Wp,", Joined, PreprocessorList),
    e("-Xassembler", Separate, Xassembler),
    e("-Xclang", Separate, Xclang),
    e("-Xlinker", Separate, Linker),
    e("-Xpreprocessor", Separate, Xpreprocessor),
    e("-arch", Separate, Compiler),
    e("-aux-info", Separate, Local(WritesUnmodeledFile)),
    e("-c", Exact, SetMode(Mode::Object)),
    e("-ccc-", Joined, Local(ToolchainOverride)),
    e("-coverage", Exact, Local(Profiling)),
    e("-cxx-isystem", JoinedOrSeparate, Preprocessor),
    e("-d", Joined, Local(DumpFiles)),
    e("-dumpbase", Separate, Local(AuxOutputNames)),
    e("-dumpbase-ext", Separate, Local(AuxOutputNames)),
    e("-dumpdir", Separate, Local(AuxOutputNames)),
    e("-dumpfullversion", Exact, Local(Query)),
    e("-dumpmachine", Exact, Local(Query)),
    e("-dumpspecs", Exact, Local(Query)),
    e("-dumpversion", Exact, Local(Query)),
    e("-emit-ast", Exact, Local(WritesUnmodeledFile)),
    e("-emit-pch", Exact, Local(PchCreation)),
    e("-fauto-profile", Joined, Local(Profiling)),
    e("-fbranch-probabilities", Exact, Local(Profiling)),
    e("-fcallgraph-info", Exact, CallGraph),
    e("-fcallgraph-info=", Joined, CallGraph),
    e("-fconstexpr-backtrace-limit=", Joined, Compiler),
    e("-fcoverage-compilation-dir=", Joined, Compiler),
    e("-fcoverage-mapping", Exact, Local(Profiling)),
    e("-fcoverage-prefix-map=", Joined, Compiler),
    e("-fcrash-diagnostics-dir=", Joined, Compiler),
    e("-fcs-profile-generate", Joined, Local(Profiling)),
    e("-fcxx-modules", Exact, Local(Modules)),
    e("-fdebug-compilation-dir", Separate, Compiler),
    e("-fdebug-compilation-dir=", Joined, Compiler),
    e("-fdebug-prefix-map=", Joined, Compiler),
    e("-fdiagnostics-format=", Joined, LocalIfValue(&["json-file", "sarif-file"], WritesUnmodeledFile)),
    e("-fdiagnostics-path-format=", Joined, Compiler),
    e("-fdirectives-only", Exact, Preprocessor),
    e("-fdump-", Joined, Local(DumpFiles)),
    e("-fexec-charset=", Joined, Local(Charset)),
    e("-ffile-compilation-dir=", Joined, Compiler),
    e("-ffile-prefix-map=", Joined, Compiler),
    e("-fimplicit-module", Joined, Local(Modules)),
    e("-finput-charset=", Joined, Local(Charset)),
    e("-fmacro-backtrace-limit=", Joined, Compiler),
    e("-fmacro-prefix-map=", Joined, Compiler),
    e("-fmemory-profile", Joined, Local(Profiling)),
    e("-fmodule-", Joined, Local(Modules)),
    e("-fmodules", Joined, Local(Modules)),
    e("-fopt-info", Joined, OptInfo),
    e("-foptimization-record-file=", Joined, OptRecordFile),
    e("-fpass-plugin=", Joined, Local(Plugin)),
    e("-fpch-", Joined, Local(PchCreation)),
    e("-fpch-deps", Exact, Preprocessor),
    e("-fpch-preprocess", Exact, Preprocessor),
    e("-fplugin", Joined, Local(Plugin)),
    e("-fprebuilt-module-path=", Joined, Local(Modules)),
    e("-fprofile-", Joined, Local(Profiling)),
    e("-frepo", Exact, Local(WritesUnmodeledFile)),
    e("-frewrite-map-file=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-blacklist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-coverage-allowlist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-coverage-blacklist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-coverage-blocklist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-coverage-ignorelist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-coverage-whitelist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-ignorelist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsanitize-system-ignorelist=", Joined, Local(ReadsUnlistedFile)),
    e("-fsave-optimization-record", Exact, OptRecord),
    e("-fsave-optimization-record=", Joined, Local(WritesUnmodeledFile)),
    e("-fstack-usage", Exact, StackUsage),
    e("-fsyntax-only", Exact, Local(SyntaxOnly)),
    e("-ftemplate-backtrace-limit=", Joined, Compiler),
    e("-ftest-coverage", Exact, Local(Profiling)),
    e("-fthinlto-index=", Joined, Local(ReadsUnlistedFile)),
    e("-ftime-trace", Exact, TimeTrace),
    e("-ftime-trace-granularity=", Joined, Compiler),
    e("-ftime-trace=", Joined, Local(WritesUnmodeledFile)),
    e("-fwide-exec-charset=", Joined, Local(Charset)),
    e("-fxray-always-instrument=", Joined, Local(ReadsUnlistedFile)),
    e("-fxray-attr-list=", Joined, Local(ReadsUnlistedFile)),
    e("-fxray-never-instrument=", Joined, Local(ReadsUnlistedFile)),
    e("-g", Joined, Debug),
    e("-gcc-toolchain", Separate, Local(ToolchainOverride)),
    e("-gno-split-dwarf", Exact, SplitDwarf(false)),
    e("-gsplit-dwarf", Exact, SplitDwarf(true)),
    e("-gsplit-dwarf=", Joined, SplitDwarfMode),
    e("-help", Exact, Local(Query)),
    e("-idirafter", JoinedOrSeparate, Preprocessor),
    e("-iframework", JoinedOrSeparate, Preprocessor),
    e("-iframeworkwithsysroot", JoinedOrSeparate, Preprocessor),
    e("-imacros", JoinedOrSeparate, Preprocessor),
    e("-imultiarch", JoinedOrSeparate, Preprocessor),
    e("-imultilib", JoinedOrSeparate, Preprocessor),
    e("-include", JoinedOrSeparate, Preprocessor),
    e("-include-pch", Separate, Preprocessor),
    e("-iprefix", JoinedOrSeparate, Preprocessor),
    e("-iquote", JoinedOrSeparate, Preprocessor),
    e("-isysroot", JoinedOrSeparate, Preprocessor),
    e("-isystem", JoinedOrSeparate, Preprocessor),
    e("-isystem-after", JoinedOrSeparate, Preprocessor),
    e("-ivfsoverlay", JoinedOrSeparate, Local(ReadsUnlistedFile)),
    e("-iwithprefix", JoinedOrSeparate, Preprocessor),
    e("-iwithprefixbefore", JoinedOrSeparate, Preprocessor),
    e("-iwithsysroot", JoinedOrSeparate, Preprocessor),
    e("-l", JoinedOrSeparate, Linker),
    e("-march=", Joined, LocalIfValue(&["native"], NativeCpu)),
    e("-mcpu=", Joined, LocalIfValue(&["native"], NativeCpu)),
    e("-mllvm", Separate, Compiler),
    e("-mtune=", Joined, LocalIfValue(&["native"], NativeCpu)),
    e("-nodefaultlibs", Exact, Linker),
    e("-nostartfiles", Exact, Linker),
    e("-nostdinc", Exact, Preprocessor),
    e("-nostdinc++", Exact, Preprocessor),
    e("-nostdlib", Exact, Linker),
    e("-o", JoinedOrSeparate, Output),
    e("-p", Exact, Local(Profiling)),
    e("-pg", Exact, Local(Profiling)),
    e("-pie", Exact, Linker),
    e("-print-", Joined, Local(Query)),
    e("-rdynamic", Exact, Linker),
    e("-s", Exact, Linker),
    e("-save-stats", Joined, Local(WritesUnmodeledFile)),
    e("-save-temps", Exact, Local(SaveTemps)),
    e("-save-temps=", Joined, Local(SaveTemps)),
    e("-serialize-diagnostics", Separate, SerializeDiagnostics),
    e("-shared", Exact, Linker),
    e("-specs", Separate, Local(ToolchainOverride)),
    e("-specs=", Joined, Local(ToolchainOverride)),
    e("-static", Exact, Linker),
    e("-target", Separate, Compiler),
    e("-traditional-cpp", Exact, Preprocessor),
    e("-u", JoinedOrSeparate, Linker),
    e("-undef", Exact, Preprocessor),
    e("-v", Exact, Local(Query)),
    e("-wrapper", Separate, Local(ToolchainOverride)),
    e("-x", JoinedOrSeparate, Language),
    e("-z", Separate, Linker),
];

/// The table row for `arg` and the value attached to it (`None` when the value is the next
/// word, or for an exact flag). An exact name wins; otherwise the longest prefix that takes a
/// joined value.
pub(super) fn lookup(arg: &str) -> Option<(&'static FlagSpec, Option<&str>)> {
    if let Ok(i) = FLAGS.binary_search_by(|f| f.name.cmp(arg)) {
        let spec = &FLAGS[i];
        let value = match spec.form {
            Exact | Separate | JoinedOrSeparate => None,
            Joined => Some(""),
        };
        return Some((spec, value));
    }
    // Every prefix of `arg` sorts before it, and a longer prefix after a shorter one, so the
    // first prefix found walking back from `arg`'s place is the longest.
    let end = FLAGS.partition_point(|f| f.name < arg);
    FLAGS[..end]
        .iter()
        .rev()
        .find(|f| matches!(f.form, Joined | JoinedOrSeparate) && arg.starts_with(f.name))
        .map(|f| (f, Some(&arg[f.name.len()..])))
}

/// Whether an unknown `-opt=value` flag looks like it names a file to read or write.
pub(super) fn looks_like_file_option(arg: &str) -> bool {
    const HINTS: [&str; 8] = [
        "file", "output", "dump", "record", "save", "dir", "path", "list",
    ];
    match arg.split_once('=') {
        Some((name, _)) => HINTS.iter().any(|h| name.contains(h)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_table_is_sorted() {
        for pair in FLAGS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{:?} must sort before {:?}",
                pair[1].name,
                pair[0].name
            );
        }
    }

    #[test]
    fn exact_entries_win_over_prefixes() {
        let (spec, value) = lookup("-fpch-deps").unwrap();
        assert_eq!((spec.name, value), ("-fpch-deps", None));
        let (spec, value) = lookup("-include-pch").unwrap();
        assert_eq!((spec.name, value), ("-include-pch", None));
        let (spec, _) = lookup("-MD").unwrap();
        assert_eq!(spec.name, "-MD");
    }

    #[test]
    fn longest_prefix_wins() {
        let (spec, value) = lookup("-iwithprefixbeforefoo").unwrap();
        assert_eq!((spec.name, value), ("-iwithprefixbefore", Some("foo")));
        let (spec, value) = lookup("-includefoo.h").unwrap();
        assert_eq!((spec.name, value), ("-include", Some("foo.h")));
        let (spec, value) = lookup("-fprofile-generate=/tmp/p").unwrap();
        assert_eq!((spec.name, value), ("-fprofile-", Some("generate=/tmp/p")));
        let (spec, value) = lookup("-MFdep.d").unwrap();
        assert_eq!((spec.name, value), ("-MF", Some("dep.d")));
    }

    #[test]
    fn exact_and_separate_entries_are_not_prefixes() {
        // `-c` must not swallow `-cfoo`, `-p` must not swallow `-pthread`.
        assert!(lookup("-pthread").is_none());
        assert!(lookup("-cfoo").is_none());
        assert!(lookup("-Wall").is_none());
        assert!(lookup("-O2").is_none());
    }

    #[test]
    fn file_option_heuristic() {
        assert!(looks_like_file_option("-fsomething-file=x"));
        assert!(looks_like_file_option("-fnew-dump-dir=/tmp"));
        assert!(!looks_like_file_option("-fvisibility=hidden"));
        assert!(!looks_like_file_option("-ffile-prefix")); // no value
    }
}
