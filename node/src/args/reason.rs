//! Why a command line runs locally. Each variant's `Display` is the sentence the log shows.

use std::path::PathBuf;

/// Why a command cannot be distributed. The wrapper then runs it locally, unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalReason {
    /// No `-c` or `-S`: the driver links (or does nothing).
    #[error("there is no -c or -S, so the command links; meshcc distributes only compiles")]
    NoCompile,
    /// `-E` and its spellings.
    #[error("`{0}` only preprocesses; nothing to distribute")]
    Preprocess(String),
    /// `-M`/`-MM` without `-MD`/`-MMD`: only a dependency list is produced.
    #[error("`{0}` without -MD or -MMD only lists dependencies; nothing to distribute")]
    DependenciesOnly(String),
    /// A `-M…` option meshcc does not know; it may write files or stop after preprocessing.
    #[error("`{0}` is a dependency option meshcc does not know")]
    UnknownDependencyFlag(String),
    /// `-Wp,-MD,a` together with `-MD`, `-MMD` or `-MF`: gcc 12 lets `-Wp,` win, clang 14 the
    /// last one given, so the dependency file's name is not certain.
    #[error("both -Wp,-MD and -MD/-MMD/-MF name a dependency file; gcc and clang disagree on which wins")]
    ConflictingDependencyFiles,
    /// `-fsyntax-only`.
    #[error("`{0}` only checks the source; nothing to distribute")]
    SyntaxOnly(String),
    /// `--version`, `-v`, `-###`, `-print-…`, `-dumpmachine`, …
    #[error("`{0}` asks the compiler about itself; nothing to distribute")]
    Query(String),
    /// No input file at all.
    #[error("there is no input file on the command line")]
    NoInput,
    /// More than one input (or an object/library given to a compile).
    #[error("there are several inputs (`{}`, `{}`, …); meshcc distributes one source per command", .0.display(), .1.display())]
    MultipleInputs(PathBuf, PathBuf),
    /// `-` as the input.
    #[error("the source is read from standard input")]
    StdinInput,
    /// `-o -` or `-MF -`.
    #[error("`{0}` writes to standard output, which meshcc does not model as a file")]
    StdoutOutput(String),
    /// `.s`, `.S`, `.sx` input or `-x assembler[-with-cpp]`.
    #[error("`{}` is assembler; assembling is cheap and meshcc does not distribute it", .0.display())]
    AssemblerInput(PathBuf),
    /// An input whose extension is not C or C++ (Fortran, Ada, unknown …).
    #[error("`{}` is not C or C++ by its extension; meshcc ships only C and C++", .0.display())]
    UnsupportedInput(PathBuf),
    /// `-x LANG` for a language meshcc does not ship.
    #[error(
        "`-x {0}` is a language meshcc does not ship (only c, c++ and their preprocessed forms)"
    )]
    UnsupportedLanguage(String),
    /// Compiling a header, or clang's PCH flags.
    #[error(
        "`{0}` creates a precompiled header, which is written beside its header and runs locally"
    )]
    PchCreation(String),
    /// `-pg`, `--coverage`, `-fprofile-…`, `-fbranch-probabilities`, …
    #[error("`{0}` is a profiling or coverage flag: profile data is read or written beside the object, and meshcc does not ship it")]
    Profiling(String),
    /// `-march=native` and friends, not expanded locally.
    #[error("`{0}` tunes for the CPU of the machine that compiles, and a worker's CPU may differ")]
    NativeCpu(String),
    /// `-save-temps` in any spelling.
    #[error("`{0}` keeps intermediate files that meshcc does not collect")]
    SaveTemps(String),
    /// `-fdump-…`, `-d<letters>`: compiler dumps written next to the output.
    #[error("`{0}` writes compiler dump files that meshcc does not collect")]
    DumpFiles(String),
    /// A flag that writes a file meshcc does not model as an output.
    #[error("`{0}` writes a file that meshcc does not collect")]
    WritesUnmodeledFile(String),
    /// A flag that makes the compiler read a file the dependency list does not show.
    #[error("`{0}` makes the compiler read a file that the dependency list does not show")]
    ReadsUnlistedFile(String),
    /// `-fplugin=`, `-fpass-plugin=`, `-Xclang -load`, …
    #[error("`{0}` loads a compiler plugin, which is not part of the packaged toolchain")]
    Plugin(String),
    /// `-B`, `-specs=`, `-wrapper`, `--config`: the driver would run programs or read specs
    /// from outside the packaged toolchain.
    #[error("`{0}` changes where the driver finds its programs or configuration, outside the packaged toolchain")]
    ToolchainOverride(String),
    /// `-finput-charset=` and friends.
    #[error("`{0}` converts character sets with the host's iconv modules, which a worker's sandbox does not have")]
    Charset(String),
    /// An `@file` argument left after response-file expansion.
    #[error("`{0}` is a response file that meshcc has not expanded")]
    ResponseFile(String),
    /// autoconf's `conftest.c`: configure probes must see the local machine.
    #[error("`{}` is an autoconf test; configure checks run locally", .0.display())]
    Autoconf(PathBuf),
    /// Clang modules and C++20 modules.
    #[error("`{0}` uses modules, whose module files and cache meshcc does not ship")]
    Modules(String),
    /// `-dumpbase`, `-dumpdir`: gcc renames auxiliary outputs.
    #[error("`{0}` renames auxiliary outputs in ways meshcc does not model")]
    AuxOutputNames(String),
    /// `-Xpreprocessor`, `-Xassembler`, `-Wa,`, `-Xclang` carrying an option that writes or
    /// reads files.
    #[error("`{0}` passes an option that reads or writes files through to another tool")]
    PassThrough(String),
    /// An unknown `-opt=value` whose name suggests it reads or writes a file.
    #[error(
        "`{0}` is an option meshcc does not know, and its name suggests it reads or writes a file"
    )]
    UnknownFileOption(String),
    /// A flag that needs a following argument is last on the line.
    #[error("`{0}` expects an argument, but it is the last word on the command line")]
    MissingArgument(String),
    /// An option that is not valid UTF-8 cannot be classified.
    #[error("`{0}` is an option that is not valid UTF-8, so meshcc cannot classify it")]
    NonUtf8Option(String),
}
