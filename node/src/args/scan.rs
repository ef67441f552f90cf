//! The walk over the command line: each word is looked up in the flag table, its role noted,
//! and the facts that decide outputs collected in [`Seen`].

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::flags::{self, Action, Form};
use super::language::{self, InputKind};
use super::outputs;
use super::reason::LocalReason;
use super::{ArgRole, Compiler, Invocation, Mode};

/// What the walk has seen so far; later flags override earlier ones as in the compilers.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub object: bool,
    pub assembly: bool,
    pub output: Option<PathBuf>,
    /// Each input with the `-x` in force before it.
    pub inputs: Vec<(PathBuf, Option<InputKind>)>,
    pub x: Option<InputKind>,
    pub x_value: String,
    /// `-MD`/`-MMD` given.
    pub md: bool,
    /// `-M`/`-MM` given (the flag as written).
    pub m_only: Option<String>,
    pub mf: Option<PathBuf>,
    pub wp_md: Option<PathBuf>,
    pub split_dwarf: bool,
    /// clang: the last `-g…` that sets the level leaves debug info on.
    pub debug: bool,
    pub stack_usage: bool,
    pub callgraph: bool,
    pub time_trace: bool,
    pub opt_record: bool,
    pub opt_record_file: Option<PathBuf>,
    pub compilation_database: Option<PathBuf>,
    pub serialized_diagnostics: Option<PathBuf>,
}

pub(super) fn scan(compiler: Compiler, args: &[OsString]) -> Result<Invocation, LocalReason> {
    let mut seen = Seen::default();
    let mut roles = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_os_str();
        let bytes = word.as_bytes();
        if bytes.first() == Some(&b'@') {
            return Err(LocalReason::ResponseFile(lossy(word)));
        }
        if bytes.first() != Some(&b'-') || bytes == b"-" {
            seen.inputs.push((PathBuf::from(word), seen.x.clone()));
            roles.push(ArgRole::Input);
            i += 1;
            continue;
        }
        let Some(arg) = word.to_str() else {
            return Err(LocalReason::NonUtf8Option(lossy(word)));
        };
        let Some((spec, joined)) = flags::lookup(arg) else {
            if flags::looks_like_file_option(arg) {
                return Err(LocalReason::UnknownFileOption(arg.to_owned()));
            }
            roles.push(ArgRole::Compiler);
            i += 1;
            continue;
        };
        let (value, words): (Option<&OsStr>, usize) = match (spec.form, joined) {
            (Form::Exact, _) => (None, 1),
            (_, Some(v)) => (Some(OsStr::new(v)), 1),
            (Form::Separate | Form::JoinedOrSeparate | Form::Joined, None) => match args.get(i + 1)
            {
                Some(next) => (Some(next.as_os_str()), 2),
                None => return Err(LocalReason::MissingArgument(arg.to_owned())),
            },
        };
        let shown = match words {
            2 => format!("{arg} {}", lossy(value.unwrap_or_default())),
            _ => arg.to_owned(),
        };
        let role = apply(&mut seen, spec.action, arg, &shown, joined, value)?;
        roles.extend(std::iter::repeat_n(role, words));
        i += words;
    }
    finish(compiler, seen, args, roles)
}

/// Records what one flag means and returns its role, or why it runs locally.
fn apply(
    seen: &mut Seen,
    action: Action,
    arg: &str,
    shown: &str,
    joined: Option<&str>,
    value: Option<&OsStr>,
) -> Result<ArgRole, LocalReason> {
    let path = || PathBuf::from(value.unwrap_or_default());
    let text = value.map(lossy).unwrap_or_default();
    Ok(match action {
        Action::Compiler => ArgRole::Compiler,
        Action::Preprocessor => ArgRole::Preprocessor,
        Action::Linker => ArgRole::Linker,
        Action::Local(reason) => return Err(reason(shown.to_owned())),
        Action::LocalIfValue(values, reason) if values.contains(&text.as_str()) => {
            return Err(reason(shown.to_owned()))
        }
        Action::LocalIfValue(..) => ArgRole::Compiler,
        Action::SetMode(Mode::Object) => {
            seen.object = true;
            ArgRole::Mode
        }
        Action::SetMode(Mode::Assembly) => {
            seen.assembly = true;
            ArgRole::Mode
        }
        Action::Output => {
            seen.output = Some(path());
            ArgRole::Output
        }
        Action::Language => {
            seen.x = language::from_x(&text);
            seen.x_value = text;
            ArgRole::Compiler
        }
        Action::DepGenerate => {
            seen.md = true;
            ArgRole::Dependency
        }
        Action::DepPrefix if joined != Some("") => {
            return Err(LocalReason::UnknownDependencyFlag(shown.to_owned()))
        }
        Action::DepOnly | Action::DepPrefix => {
            seen.m_only = Some(arg.to_owned());
            ArgRole::Dependency
        }
        Action::DepFile => {
            seen.mf = Some(path());
            ArgRole::Dependency
        }
        Action::DepTarget | Action::DepModifier => ArgRole::Dependency,
        Action::PreprocessorList => preprocessor_list(seen, arg, &text)?,
        Action::AssemblerList => {
            assembler_options(arg, text.split(','))?;
            ArgRole::Compiler
        }
        Action::Xassembler => {
            assembler_options(shown, std::iter::once(text.as_str()))?;
            ArgRole::Compiler
        }
        Action::Xclang => {
            xclang(shown, &text)?;
            ArgRole::Compiler
        }
        Action::Xpreprocessor => {
            if ["-M", "-o", "-d"].iter().any(|p| text.starts_with(p)) {
                return Err(LocalReason::PassThrough(shown.to_owned()));
            }
            ArgRole::Preprocessor
        }
        Action::Debug => {
            if let Some(on) = debug_level(arg) {
                seen.debug = on;
            }
            ArgRole::Compiler
        }
        Action::SplitDwarf(on) => {
            seen.split_dwarf = on;
            ArgRole::Compiler
        }
        Action::SplitDwarfMode => {
            match text.as_str() {
                "split" => seen.split_dwarf = true,
                "single" => seen.split_dwarf = false,
                _ => {}
            }
            ArgRole::Compiler
        }
        Action::StackUsage => {
            seen.stack_usage = true;
            ArgRole::Compiler
        }
        Action::CallGraph => {
            seen.callgraph = true;
            ArgRole::Compiler
        }
        Action::TimeTrace => {
            seen.time_trace = true;
            ArgRole::SideOutput
        }
        Action::OptRecord => {
            seen.opt_record = true;
            ArgRole::SideOutput
        }
        Action::OptRecordFile => {
            seen.opt_record_file = Some(path());
            ArgRole::SideOutput
        }
        Action::OptInfo if text.contains('=') => {
            return Err(LocalReason::WritesUnmodeledFile(shown.to_owned()))
        }
        Action::OptInfo => ArgRole::Compiler,
        Action::CompilationDatabase => {
            seen.compilation_database = Some(path());
            ArgRole::SideOutput
        }
        Action::SerializeDiagnostics => {
            seen.serialized_diagnostics = Some(path());
            ArgRole::SideOutput
        }
    })
}

/// `-Wp,a,b,…`: gcc and clang treat `-Wp,-MD,path` and `-Wp,-MMD,path` as `-MD -MF path`
/// (the Linux kernel's spelling). Other dependency options inside `-Wp,` are not modelled.
fn preprocessor_list(seen: &mut Seen, arg: &str, list: &str) -> Result<ArgRole, LocalReason> {
    let mut items = list.split(',');
    let mut role = ArgRole::Preprocessor;
    while let Some(item) = items.next() {
        match item {
            "-MD" | "-MMD" => {
                let path = items
                    .next()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| LocalReason::MissingArgument(arg.to_owned()))?;
                seen.wp_md = Some(PathBuf::from(path));
                role = ArgRole::Dependency;
            }
            "-MT" | "-MQ" => {
                items.next();
                role = ArgRole::Dependency;
            }
            "-MP" | "-MG" => role = ArgRole::Dependency,
            i if i.starts_with("-M") || i.starts_with("-o") || i.starts_with("-d") => {
                return Err(LocalReason::PassThrough(arg.to_owned()))
            }
            _ => {}
        }
    }
    Ok(role)
}

/// Assembler options given through `-Wa,` or `-Xassembler`: listings (`-a…`, `--listing…`),
/// gas's own dependency file (`--MD`), include directories for `.include`/`.incbin` and extra
/// input files all touch files meshcc does not see. icecc looks only for `-a…=`; distcc for
/// `,-a` and `--MD`.
fn assembler_options<'a>(
    shown: &str,
    items: impl Iterator<Item = &'a str>,
) -> Result<(), LocalReason> {
    let mut after_defsym = false;
    for item in items {
        let touches_files = ["-a", "--MD", "-MD", "-I", "-o", "--listing"]
            .iter()
            .any(|p| item.starts_with(p))
            || (!item.is_empty() && !item.starts_with('-') && !after_defsym);
        if touches_files {
            return Err(LocalReason::PassThrough(shown.to_owned()));
        }
        after_defsym = item == "--defsym";
    }
    Ok(())
}

/// `-Xclang OPT` passes OPT to `clang -cc1`, where it can load plugins or build PCHs/modules.
fn xclang(shown: &str, opt: &str) -> Result<(), LocalReason> {
    let shown = shown.to_owned();
    match opt {
        "-load" | "-plugin" | "-add-plugin" => Err(LocalReason::Plugin(shown)),
        o if o.starts_with("-plugin-arg") || o.starts_with("-load=") => {
            Err(LocalReason::Plugin(shown))
        }
        "-emit-pch" => Err(LocalReason::PchCreation(shown)),
        o if o.starts_with("-emit-module") || o.starts_with("-fmodule") => {
            Err(LocalReason::Modules(shown))
        }
        _ => Ok(()),
    }
}

/// For clang, whether this `-g…` turns debug info on (`Some(true)`), off (`Some(false)`), or
/// leaves the level alone (`-gz`, `-gcolumn-info`, …). clang 14 writes no `.dwo` without it;
/// `-gline-directives-only` has no DWARF to split.
fn debug_level(arg: &str) -> Option<bool> {
    match arg {
        "-g0" | "-ggdb0" | "-gline-directives-only" => Some(false),
        "-g" | "-g1" | "-g2" | "-g3" | "-ggdb" | "-ggdb1" | "-ggdb2" | "-ggdb3" | "-glldb"
        | "-gsce" | "-gdbx" | "-gline-tables-only" | "-gmlt" | "-gfull" | "-gused" => Some(true),
        a if a.starts_with("-gdwarf") => Some(true),
        _ => None,
    }
}

/// The checks that need the whole command line, then the outputs.
fn finish(
    compiler: Compiler,
    seen: Seen,
    args: &[OsString],
    roles: Vec<ArgRole>,
) -> Result<Invocation, LocalReason> {
    let mode = match (seen.object, seen.assembly) {
        (_, true) => Mode::Assembly,
        (true, false) => Mode::Object,
        (false, false) => return Err(LocalReason::NoCompile),
    };
    let (input, x) = match seen.inputs.as_slice() {
        [] => return Err(LocalReason::NoInput),
        [one] => one.clone(),
        [first, second, ..] => {
            return Err(LocalReason::MultipleInputs(
                first.0.clone(),
                second.0.clone(),
            ))
        }
    };
    if input.as_os_str() == "-" {
        return Err(LocalReason::StdinInput);
    }
    let name = input.file_name().unwrap_or_default().as_bytes();
    if name.starts_with(b"conftest.") || name.starts_with(b"tmp.conftest.") {
        return Err(LocalReason::Autoconf(input));
    }
    let kind = match &x {
        Some(kind) => kind.clone(),
        None => language::from_extension(&input, compiler.cxx),
    };
    let language = match (kind, x.is_some()) {
        (InputKind::Ship(language), _) => language,
        (InputKind::Header, true) => {
            return Err(LocalReason::PchCreation(format!("-x {}", seen.x_value)))
        }
        (_, true) => return Err(LocalReason::UnsupportedLanguage(seen.x_value)),
        (InputKind::Header, false) => {
            return Err(LocalReason::PchCreation(lossy(input.as_os_str())))
        }
        (InputKind::Assembler, false) => return Err(LocalReason::AssemblerInput(input)),
        (_, false) => return Err(LocalReason::UnsupportedInput(input)),
    };
    if let (Some(flag), false, None) = (&seen.m_only, seen.md, &seen.wp_md) {
        return Err(LocalReason::DependenciesOnly(flag.clone()));
    }
    if seen.wp_md.is_some() && (seen.md || seen.mf.is_some()) {
        return Err(LocalReason::ConflictingDependencyFiles);
    }
    let outputs = outputs::outputs(compiler.family, mode, &input, &seen)?;
    Ok(Invocation {
        compiler,
        language,
        input,
        mode,
        outputs,
        args: args.to_vec(),
        roles,
    })
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}
