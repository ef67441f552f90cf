//! The compiler-argument model: what a gcc or clang command line compiles, what it writes, and
//! whether meshcc may run it on another machine.
//!
//! [`parse`] is pure: it reads no files and runs nothing. It answers "one C or C++ source,
//! `-c` or `-S`, outputs meshcc can name" with an [`Invocation`], and anything else with the
//! [`LocalReason`] it runs locally. The worker runs the *original* command unchanged in the
//! same directory, so every flag stays in [`Invocation::args`]; the parser only has to know
//! which files the command reads and writes, and which flags it cannot reproduce elsewhere.
//!
//! Response files (`@file`) are expanded beforehand by [`expand_response_files`], the one
//! function here that touches the filesystem; an `@…` that reaches [`parse`] runs locally.
//!
//! The output-naming rules were checked against gcc 12 and clang 14; `tests.rs` holds them.

mod family;
mod flags;
mod language;
mod outputs;
mod reason;
mod response;
mod scan;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::PathBuf;

pub use family::{Compiler, Family};
pub use language::Language;
pub use reason::LocalReason;
pub use response::{expand_response_files, ResponseFileError};

/// What the compile stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `-c`: an object file.
    Object,
    /// `-S`: an assembly file. `-S` wins over `-c` when both are given, as in gcc and clang.
    Assembly,
}

/// What kind of file a compile writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// The object (`-c`).
    Object,
    /// The assembly (`-S`).
    Assembly,
    /// Make-style dependencies (`-MD`, `-MMD`, `-MF`, `-Wp,-MD,…`).
    Dependencies,
    /// Split DWARF (`-gsplit-dwarf`).
    SplitDwarf,
    /// Stack usage (`-fstack-usage`).
    StackUsage,
    /// gcc's call graph (`-fcallgraph-info`).
    CallGraph,
    /// clang's time trace (`-ftime-trace`).
    TimeTrace,
    /// Optimization remarks (`-fsave-optimization-record`, `-foptimization-record-file=`).
    OptimizationRecord,
    /// clang's compilation-database fragment (`-MJ`).
    CompilationDatabase,
    /// clang's serialized diagnostics (`--serialize-diagnostics`).
    SerializedDiagnostics,
}

/// A file the compile writes, with its path as the compiler will open it: relative paths are
/// relative to the command's working directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Output {
    /// Where the compiler writes it.
    pub path: PathBuf,
    /// What it is.
    pub kind: OutputKind,
}

/// What each word of the command line is for, so that later stages can build a preprocessing
/// command from the same flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgRole {
    /// The source file.
    Input,
    /// `-c` or `-S`.
    Mode,
    /// `-o` and its value.
    Output,
    /// Dependency-file generation (`-MD`, `-MF x`, `-MT x`, `-Wp,-MD,x`, …).
    Dependency,
    /// Flags that only make the compile write another file (`-MJ x`, `-ftime-trace`, …).
    SideOutput,
    /// Flags that affect only the preprocessor (`-D`, `-I`, `-include`, `-Wp,…`).
    Preprocessor,
    /// Every other flag: it affects compilation and may affect preprocessing too (`-O2`,
    /// `-std=`, `-m…` and `-f…` change predefined macros and so the header set).
    Compiler,
    /// Linker flags, which `-c`/`-S` ignores.
    Linker,
}

/// A command meshcc can distribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The compiler, from its name.
    pub compiler: Compiler,
    /// The input's language (after `-x`).
    pub language: Language,
    /// The one input, as written on the command line.
    pub input: PathBuf,
    /// `-c` or `-S`.
    pub mode: Mode,
    /// Every file the compile writes; the object or assembly first.
    pub outputs: Vec<Output>,
    /// The arguments after the compiler, unchanged and in order.
    pub args: Vec<OsString>,
    /// The role of each word of [`Invocation::args`] (same length).
    pub roles: Vec<ArgRole>,
}

impl Invocation {
    /// The object or assembly file.
    pub fn main_output(&self) -> &Output {
        &self.outputs[0]
    }

    /// The words whose role is one of `roles`, in their original order.
    pub fn args_with_roles(&self, roles: &[ArgRole]) -> Vec<OsString> {
        self.args
            .iter()
            .zip(&self.roles)
            .filter(|(_, role)| roles.contains(role))
            .map(|(arg, _)| arg.clone())
            .collect()
    }

    /// Flags that affect only the preprocessor.
    pub fn preprocessor_args(&self) -> Vec<OsString> {
        self.args_with_roles(&[ArgRole::Preprocessor])
    }

    /// Flags that affect compilation (and possibly preprocessing), but not the preprocessor
    /// alone; linker flags, outputs and dependency options excluded.
    pub fn compiler_args(&self) -> Vec<OsString> {
        self.args_with_roles(&[ArgRole::Compiler])
    }

    /// The words for `compiler <these> -E …`: the input and every flag that can change what
    /// is read, without the mode, the outputs and the dependency options.
    pub fn args_for_preprocessing(&self) -> Vec<OsString> {
        self.args_with_roles(&[ArgRole::Input, ArgRole::Preprocessor, ArgRole::Compiler])
    }
}

/// Parses the arguments that follow `compiler` (a program name or path such as `gcc-12` or
/// `/usr/bin/clang++`), after [`expand_response_files`].
pub fn parse(compiler: &str, args: &[OsString]) -> Result<Invocation, LocalReason> {
    parse_as(Compiler::from_name(compiler), args)
}

/// As [`parse`], for a compiler already identified (e.g. `cc` found to be clang by probing).
pub fn parse_as(compiler: Compiler, args: &[OsString]) -> Result<Invocation, LocalReason> {
    scan::scan(compiler, args)
}
