//! The table-driven test: one row per command line, with the decision and, for a distributable
//! command, every output in order (main output first, then `.d`, `.dwo`, `.su`, others).
//!
//! Every output name below was checked by running gcc 12.2 and clang 14.0.6 on the same line
//! in an empty directory and listing the files it wrote (rows marked "verified" record a case
//! where gcc and clang differ, or where the rule is surprising).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::LocalReason::{self, *};
use super::OutputKind::{self, *};
use super::{parse, ArgRole, Language, Mode};

enum Expect {
    Distribute(&'static [(&'static str, OutputKind)]),
    Local(LocalReason),
}

struct Row {
    compiler: &'static str,
    line: &'static str,
    expect: Expect,
}

fn dist(
    compiler: &'static str,
    line: &'static str,
    outs: &'static [(&'static str, OutputKind)],
) -> Row {
    Row {
        compiler,
        line,
        expect: Expect::Distribute(outs),
    }
}

fn local(compiler: &'static str, line: &'static str, reason: LocalReason) -> Row {
    Row {
        compiler,
        line,
        expect: Expect::Local(reason),
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn p(text: &str) -> PathBuf {
    PathBuf::from(text)
}

fn words(line: &str) -> Vec<OsString> {
    line.split_whitespace().map(OsString::from).collect()
}

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        // The main output: -o, -ox, the last -o, or the input's name in the working directory.
        dist("gcc", "-c src/a.c -o obj/a.o", &[("obj/a.o", Object)]),
        dist("gcc", "-c src/a.c -oobj/a.o", &[("obj/a.o", Object)]),
        dist("gcc", "-c src/a.c", &[("a.o", Object)]),
        dist("clang", "-c src/c.tar.c", &[("c.tar.o", Object)]),
        dist("gcc", "-S src/a.c", &[("a.s", Assembly)]),
        dist("clang", "-S src/a.c -o x.s", &[("x.s", Assembly)]),
        dist("gcc", "-c -S src/a.c", &[("a.s", Assembly)]), // verified: -S wins
        dist("clang", "-c src/a.c -o x.o -o y.o", &[("y.o", Object)]), // verified: last -o wins
        dist("gcc", "--compile src/a.c --output obj/a.o --write-dependencies", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("clang", "--compile src/a.c --output=obj/a.o", &[("obj/a.o", Object)]),
        dist("gcc", "-c src/a.c -o /abs/sub/abs.o -MD -g -gsplit-dwarf", &[("/abs/sub/abs.o", Object), ("/abs/sub/abs.d", Dependencies), ("/abs/sub/abs.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -emit-llvm -o a.bc", &[("a.bc", Object)]),
        // Dependency files.
        dist("gcc", "-c src/a.c -o obj/a.o -MD", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("clang", "-c src/a.c -o obj/a.o -MD", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -MD", &[("a.o", Object), ("a.d", Dependencies)]),
        dist("clang", "-c src/a.c -MMD", &[("a.o", Object), ("a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o -MMD -MF dep.d", &[("obj/a.o", Object), ("dep.d", Dependencies)]),
        dist("clang", "-c src/a.c -oobj/a.o -MD -MFdep.d", &[("obj/a.o", Object), ("dep.d", Dependencies)]),
        dist("gcc", "-c -MD -MF dep.d src/a.c", &[("a.o", Object), ("dep.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.x -MD", &[("obj/a.x", Object), ("obj/a.d", Dependencies)]),
        dist("clang", "-c src/a.c -o obj/a -MD", &[("obj/a", Object), ("obj/a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o o.d/a -MD", &[("o.d/a", Object), ("o.d/a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o.tmp -MD", &[("obj/a.o.tmp", Object), ("obj/a.o.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o ./a.o -MD", &[("./a.o", Object), ("./a.d", Dependencies)]),
        dist("gcc", "-S src/a.c -MD", &[("a.s", Assembly), ("a.d", Dependencies)]),
        dist("clang", "-S src/a.c -o x.s -MD", &[("x.s", Assembly), ("x.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o -Wp,-MD,obj/.a.o.d", &[("obj/a.o", Object), ("obj/.a.o.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o -Wp,-MMD,obj/.a.o.d", &[("obj/a.o", Object), ("obj/.a.o.d", Dependencies)]),
        dist("clang", "-c src/a.c -o obj/a.o -Wp,-MD,obj/.a.o.d", &[("obj/a.o", Object), ("obj/.a.o.d", Dependencies)]),
        dist("clang", "-c src/a.c -o obj/a.o -Wp,-MMD,w.d -MT foo", &[("obj/a.o", Object), ("w.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o -MD -MT foo -MQ bar", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o -MD -MTfoo -MQbar -MP", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -o obj/a.o -MMD -MD", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("clang", "-c src/a.c -o obj/a.o -M -MD", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]), // verified
        dist("clang", "-c src/a.c -o obj/a.o -MF m.d", &[("obj/a.o", Object)]), // verified: no -MD, no file
        // Split DWARF: gcc 12 writes .dwo with -c whatever the debug level; clang 14 only with
        // debug info, and for -S names it after the input in the working directory.
        dist("gcc", "-c src/a.c -o obj/a.o -gsplit-dwarf", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf", &[("obj/a.o", Object)]),
        dist("clang", "-c src/a.c -o obj/a.o -g -gsplit-dwarf", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf -g", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("gcc", "-c src/a.c -gsplit-dwarf", &[("a.o", Object), ("a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -g -gsplit-dwarf", &[("a.o", Object), ("a.dwo", SplitDwarf)]),
        dist("gcc", "-c src/a.c -o obj/a.x -g -gsplit-dwarf", &[("obj/a.x", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a -g -gsplit-dwarf", &[("obj/a", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("gcc", "-S src/a.c -o x.s -g -gsplit-dwarf", &[("x.s", Assembly)]),
        dist("clang", "-S src/a.c -o sub/x.s -g -gsplit-dwarf", &[("sub/x.s", Assembly), ("a.dwo", SplitDwarf)]),
        dist("clang", "-S src/a.c -g -gsplit-dwarf", &[("a.s", Assembly), ("a.dwo", SplitDwarf)]),
        dist("gcc", "-c src/a.c -o obj/a.o -g -gsplit-dwarf -g0", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a.o -g -gsplit-dwarf -g0", &[("obj/a.o", Object)]),
        dist("gcc", "-c src/a.c -o obj/a.o -gsplit-dwarf -g -gno-split-dwarf", &[("obj/a.o", Object)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf -g -gno-split-dwarf", &[("obj/a.o", Object)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf=single -g", &[("obj/a.o", Object)]),
        dist("clang", "-c src/a.c -o obj/a.o -g -gsplit-dwarf=split", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf -gline-tables-only", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf -gdwarf-5", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf -gz", &[("obj/a.o", Object)]),
        dist("clang", "-c src/a.c -o obj/a.o -gsplit-dwarf -g -gline-directives-only", &[("obj/a.o", Object)]),
        dist("x86_64-linux-gnu-gcc-12", "-c src/a.c -o obj/a.o -gsplit-dwarf", &[("obj/a.o", Object), ("obj/a.dwo", SplitDwarf)]),
        dist("clang++-14", "-c src/a.cc -o obj/a.o -gsplit-dwarf", &[("obj/a.o", Object)]),
        // Stack usage and the other auxiliary outputs.
        dist("gcc", "-c src/a.c -o obj/a.o -fstack-usage", &[("obj/a.o", Object), ("obj/a.su", StackUsage)]),
        dist("clang", "-c src/a.c -o obj/a.o -fstack-usage", &[("obj/a.o", Object), ("obj/a.su", StackUsage)]),
        dist("gcc", "-c src/a.c -fstack-usage", &[("a.o", Object), ("a.su", StackUsage)]),
        dist("gcc", "-S src/a.c -o sub/x.s -fstack-usage", &[("sub/x.s", Assembly), ("sub/x.su", StackUsage)]),
        dist("clang", "-c src/a.c -o obj/a.x -fstack-usage", &[("obj/a.x", Object), ("obj/a.su", StackUsage)]),
        dist("clang", "-S src/a.c -o sub/x.s -fstack-usage", &[("sub/x.s", Assembly), ("sub/x.su", StackUsage)]),
        dist("gcc", "-c src/a.c -o obj/.a -MD -fstack-usage -g -gsplit-dwarf", &[("obj/.a", Object), ("obj/.d", Dependencies), ("obj/.a.dwo", SplitDwarf), ("obj/.a.su", StackUsage)]),
        dist("clang", "-c src/a.c -o obj/.a -MD -fstack-usage -g -gsplit-dwarf", &[("obj/.a", Object), ("obj/.d", Dependencies), ("obj/.dwo", SplitDwarf), ("obj/.su", StackUsage)]),
        dist("gcc", "-c src/a.c -o obj/a.b.o -MD -gsplit-dwarf -g -fstack-usage", &[("obj/a.b.o", Object), ("obj/a.b.d", Dependencies), ("obj/a.b.dwo", SplitDwarf), ("obj/a.b.su", StackUsage)]),
        dist("clang", "-c -x c src/b.txt -MD -fstack-usage -g -gsplit-dwarf", &[("b.o", Object), ("b.d", Dependencies), ("b.dwo", SplitDwarf), ("b.su", StackUsage)]),
        dist("gcc", "-c src/a.c -o obj/a.o -fcallgraph-info", &[("obj/a.o", Object), ("obj/a.ci", CallGraph)]),
        dist("gcc", "-S src/a.c -o sub/x.s -fcallgraph-info", &[("sub/x.s", Assembly), ("sub/x.ci", CallGraph)]),
        dist("gcc", "-c src/a.c -fcallgraph-info=su", &[("a.o", Object), ("a.ci", CallGraph)]),
        dist("clang", "-c src/a.c -o obj/a.o -ftime-trace", &[("obj/a.o", Object), ("obj/a.json", TimeTrace)]),
        dist("clang", "-S src/a.c -o sub/x.s -ftime-trace", &[("sub/x.s", Assembly), ("sub/x.json", TimeTrace)]),
        dist("clang", "-c src/a.c -ftime-trace -ftime-trace-granularity=100", &[("a.o", Object), ("a.json", TimeTrace)]),
        dist("clang", "-c src/a.c -o obj/a.o -fsave-optimization-record", &[("obj/a.o", Object), ("obj/a.opt.yaml", OptimizationRecord)]),
        dist("clang", "-c src/a.c -fsave-optimization-record", &[("a.o", Object), ("a.opt.yaml", OptimizationRecord)]),
        dist("clang", "-c src/a.c -o obj/a.o -foptimization-record-file=r.yaml", &[("obj/a.o", Object), ("r.yaml", OptimizationRecord)]),
        dist("gcc", "-c src/a.c -o sub/x.o -O2 -fsave-optimization-record", &[("sub/x.o", Object), ("sub/x.c.opt-record.json.gz", OptimizationRecord)]),
        dist("gcc", "-S src/a.c -O2 -fsave-optimization-record", &[("a.s", Assembly), ("a.c.opt-record.json.gz", OptimizationRecord)]),
        dist("clang", "-c src/a.c -o obj/a.o -MJ cdb.json", &[("obj/a.o", Object), ("cdb.json", CompilationDatabase)]),
        dist("clang", "-c src/a.c -o obj/a.o -MJcdb.json", &[("obj/a.o", Object), ("cdb.json", CompilationDatabase)]),
        dist("clang", "-c src/a.c -o obj/a.o --serialize-diagnostics d.dia", &[("obj/a.o", Object), ("d.dia", SerializedDiagnostics)]),
        // Flags with separate arguments must not be taken for inputs.
        dist("gcc", "-c -I include -D FOO -D BAR=1 -include config.h -isystem /opt/inc -idirafter late -iquote q -imacros m.h -U BAZ src/a.c -o obj/a.o", &[("obj/a.o", Object)]),
        dist("gcc", "-c -Iinclude -DFOO -includeconfig.h -isystem/opt/inc src/a.c", &[("a.o", Object)]),
        dist("gcc", "-c -iprefix /p -iwithprefix w -iwithprefixbefore wb -imultilib m -isysroot /s --sysroot /s src/a.c", &[("a.o", Object)]),
        dist("clang", "-c -target aarch64-linux-gnu --sysroot=/sys -arch x86_64 src/a.c -o a.o", &[("a.o", Object)]),
        dist("clang", "-c -Xclang -fdebug-compilation-dir -Xclang . src/a.c", &[("a.o", Object)]),
        dist("clang", "-c -mllvm -inline-threshold=100 src/a.c", &[("a.o", Object)]),
        dist("gcc", "--param max-inline-insns-single=100 --param=inline-unit-growth=50 -c src/a.c", &[("a.o", Object)]),
        dist("gcc", "-c src/a.c -Wl,-rpath,/x -Xlinker --no-undefined -lm -L/usr/lib -L /opt/lib -l pthread", &[("a.o", Object)]),
        dist("gcc", "-c src/a.c -Xpreprocessor -DFOO -Wp,-DBAR,-UBAZ", &[("a.o", Object)]),
        dist("gcc", "-c src/a.c -Wa,--noexecstack -Wa,--defsym,FOO=1 -Xassembler --noexecstack", &[("a.o", Object)]),
        // Languages.
        dist("gcc", "-c -x c++ src/a.c -o obj/a.o -MD", &[("obj/a.o", Object), ("obj/a.d", Dependencies)]),
        dist("gcc", "-c src/a.c -x c++", &[("a.o", Object)]), // verified: -x after the input has no effect
        dist("gcc", "-x c++ -c src/h.h", &[("h.o", Object)]),
        dist("clang", "-xc++ -c src/h.h -o obj/h.o", &[("obj/h.o", Object)]),
        dist("gcc", "-c src/a.ii", &[("a.o", Object)]),
        dist("gcc", "-c -x cpp-output src/a.pp", &[("a.o", Object)]),
        dist("g++", "-c src/a.c", &[("a.o", Object)]),
        dist("gcc", "-c -x c++ -x none src/a.c", &[("a.o", Object)]),
        // Flags that are fine to distribute.
        dist("gcc", "-pipe -c src/a.c -frecord-gcc-switches -ftime-report -H", &[("a.o", Object)]),
        dist("gcc", "-c src/a.c -march=x86-64-v3 -mtune=generic -O2 -fopt-info-vec", &[("a.o", Object)]),
        dist("gcc", "-c src/a.c -fdebug-prefix-map=/src=. -ffile-prefix-map=/a=/b -fmacro-prefix-map=/c=/d", &[("a.o", Object)]),
        dist("gcc", "-c src/a.c -fno-profile-arcs -fpch-deps -fvisibility=hidden -std=c11", &[("a.o", Object)]),
        dist("clang", "-c src/a.c -fcolor-diagnostics -fcrash-diagnostics-dir=/tmp/crash", &[("a.o", Object)]),
        // Not a compile.
        local("gcc", "src/a.c -o a", NoCompile),
        local("gcc", "a.o b.o -o prog", NoCompile),
        local("gcc", "-c", NoInput),
        local("gcc", "-c src/a.c src/b.c", MultipleInputs(p("src/a.c"), p("src/b.c"))),
        local("gcc", "-c src/a.c foo.o", MultipleInputs(p("src/a.c"), p("foo.o"))),
        local("gcc", "-c -x c -", StdinInput),
        local("gcc", "-c src/a.c -o -", StdoutOutput(s("-o -"))),
        local("gcc", "-c src/a.c -MD -MF -", StdoutOutput(s("-MF -"))),
        local("gcc", "-E src/a.c", Preprocess(s("-E"))),
        local("clang", "-c -E src/a.c", Preprocess(s("-E"))),
        local("gcc", "--preprocess src/a.c", Preprocess(s("--preprocess"))),
        local("gcc", "-c src/a.c -M", DependenciesOnly(s("-M"))),
        local("clang", "-c src/a.c -MM -MF m.d", DependenciesOnly(s("-MM"))),
        local("gcc", "-c src/a.c -MX", UnknownDependencyFlag(s("-MX"))),
        local("gcc", "-c src/a.c -Wp,-MD,w.d -MD", ConflictingDependencyFiles),
        local("clang", "-c src/a.c -Wp,-MD,w.d -MF m.d", ConflictingDependencyFiles),
        local("gcc", "-c src/a.c -fsyntax-only", SyntaxOnly(s("-fsyntax-only"))),
        // Queries.
        local("gcc", "--version", Query(s("--version"))),
        local("gcc", "-v -c src/a.c", Query(s("-v"))),
        local("clang", "-### -c src/a.c", Query(s("-###"))),
        local("gcc", "-print-prog-name=cc1", Query(s("-print-prog-name=cc1"))),
        local("clang", "--print-resource-dir", Query(s("--print-resource-dir"))),
        local("gcc", "-dumpmachine", Query(s("-dumpmachine"))),
        local("gcc", "-dumpversion", Query(s("-dumpversion"))),
        // Intermediate and dump files.
        local("gcc", "-c src/a.c -save-temps", SaveTemps(s("-save-temps"))),
        local("gcc", "-c src/a.c -save-temps=obj", SaveTemps(s("-save-temps=obj"))),
        local("clang", "-c src/a.c --save-temps", SaveTemps(s("--save-temps"))),
        local("gcc", "-c src/a.c -fdump-tree-all", DumpFiles(s("-fdump-tree-all"))),
        local("gcc", "-c src/a.c -dr", DumpFiles(s("-dr"))),
        local("gcc", "-c src/a.c -fstack-usage -dumpbase foo", AuxOutputNames(s("-dumpbase foo"))),
        local("gcc", "-c src/a.c -dumpdir sub/", AuxOutputNames(s("-dumpdir sub/"))),
        local("gcc", "-c src/a.c -aux-info aux.txt", WritesUnmodeledFile(s("-aux-info aux.txt"))),
        local("gcc", "-c src/a.c -O2 -fopt-info-vec=opt.txt", WritesUnmodeledFile(s("-fopt-info-vec=opt.txt"))),
        local("clang", "-c src/a.c -ftime-trace=t.json", WritesUnmodeledFile(s("-ftime-trace=t.json"))),
        local("clang", "-c src/a.c -fsave-optimization-record=bitstream", WritesUnmodeledFile(s("-fsave-optimization-record=bitstream"))),
        local("clang", "-c src/a.c --analyze", WritesUnmodeledFile(s("--analyze"))),
        local("clang", "-c src/a.c -save-stats=obj", WritesUnmodeledFile(s("-save-stats=obj"))),
        local("gcc", "-c src/a.c -fsomething-file=x", UnknownFileOption(s("-fsomething-file=x"))),
        // Profiling and coverage, every spelling.
        local("gcc", "-c src/a.c -pg", Profiling(s("-pg"))),
        local("gcc", "-c src/a.c -p", Profiling(s("-p"))),
        local("gcc", "-c src/a.c --coverage", Profiling(s("--coverage"))),
        local("gcc", "-c src/a.c -fprofile-arcs", Profiling(s("-fprofile-arcs"))),
        local("gcc", "-c src/a.c -ftest-coverage", Profiling(s("-ftest-coverage"))),
        local("gcc", "-c src/a.c -fprofile-generate", Profiling(s("-fprofile-generate"))),
        local("gcc", "-c src/a.c -fprofile-generate=/tmp/p", Profiling(s("-fprofile-generate=/tmp/p"))),
        local("gcc", "-c src/a.c -fprofile-use", Profiling(s("-fprofile-use"))),
        local("gcc", "-c src/a.c -fprofile-use=prof/", Profiling(s("-fprofile-use=prof/"))),
        local("clang", "-c src/a.c -fprofile-instr-generate", Profiling(s("-fprofile-instr-generate"))),
        local("clang", "-c src/a.c -fprofile-instr-generate=x.profraw", Profiling(s("-fprofile-instr-generate=x.profraw"))),
        local("clang", "-c src/a.c -fprofile-instr-use=x.profdata", Profiling(s("-fprofile-instr-use=x.profdata"))),
        local("clang", "-c src/a.c -fprofile-sample-use=s.prof", Profiling(s("-fprofile-sample-use=s.prof"))),
        local("gcc", "-c src/a.c -fauto-profile", Profiling(s("-fauto-profile"))),
        local("gcc", "-c src/a.c -fauto-profile=a.afdo", Profiling(s("-fauto-profile=a.afdo"))),
        local("clang", "-c src/a.c -fcs-profile-generate=dir", Profiling(s("-fcs-profile-generate=dir"))),
        local("gcc", "-c src/a.c -fprofile-dir=d", Profiling(s("-fprofile-dir=d"))),
        local("gcc", "-c src/a.c -fprofile-update=atomic", Profiling(s("-fprofile-update=atomic"))),
        local("gcc", "-c src/a.c -fbranch-probabilities", Profiling(s("-fbranch-probabilities"))),
        local("clang", "-c src/a.c -fcoverage-mapping", Profiling(s("-fcoverage-mapping"))),
        // The local machine's CPU.
        local("gcc", "-c src/a.c -march=native", NativeCpu(s("-march=native"))),
        local("gcc", "-c src/a.c -mtune=native", NativeCpu(s("-mtune=native"))),
        local("clang", "-c src/a.c -mcpu=native", NativeCpu(s("-mcpu=native"))),
        // Precompiled headers.
        local("gcc", "-c src/h.h", PchCreation(s("src/h.h"))),
        local("g++", "-c src/a.hpp -o a.hpp.gch", PchCreation(s("src/a.hpp"))),
        local("gcc", "-x c-header -c src/a.c", PchCreation(s("-x c-header"))),
        local("clang", "-x c++-header src/a.h -c", PchCreation(s("-x c++-header"))),
        local("clang", "-c src/a.c -Xclang -emit-pch", PchCreation(s("-Xclang -emit-pch"))),
        local("clang", "-c src/a.cc -fpch-instantiate-templates", PchCreation(s("-fpch-instantiate-templates"))),
        // Languages and inputs meshcc does not ship.
        local("gcc", "-x assembler -c src/a.c", UnsupportedLanguage(s("assembler"))),
        local("gcc", "-x assembler-with-cpp -c src/a.c", UnsupportedLanguage(s("assembler-with-cpp"))),
        local("gcc", "-c -x f95 src/a.c", UnsupportedLanguage(s("f95"))),
        local("gcc", "-c -x ada src/a.c", UnsupportedLanguage(s("ada"))),
        local("gcc", "-c -xobjective-c src/a.c", UnsupportedLanguage(s("objective-c"))),
        local("gcc", "-c src/a.s", AssemblerInput(p("src/a.s"))),
        local("gcc", "-c src/a.S", AssemblerInput(p("src/a.S"))),
        local("clang", "-c src/a.sx", AssemblerInput(p("src/a.sx"))),
        local("gcc", "-c src/a.f90", UnsupportedInput(p("src/a.f90"))),
        local("gcc", "-c src/a.adb", UnsupportedInput(p("src/a.adb"))),
        local("clang", "-c src/a.m", UnsupportedInput(p("src/a.m"))),
        local("clang", "-c src/a.cu", UnsupportedInput(p("src/a.cu"))),
        local("gcc", "-c Makefile", UnsupportedInput(p("Makefile"))),
        // Plugins and toolchain overrides.
        local("gcc", "-c src/a.c -fplugin=foo.so", Plugin(s("-fplugin=foo.so"))),
        local("gcc", "-c src/a.c -fplugin-arg-foo-bar=1", Plugin(s("-fplugin-arg-foo-bar=1"))),
        local("clang", "-c src/a.c -fpass-plugin=p.so", Plugin(s("-fpass-plugin=p.so"))),
        local("clang", "-c src/a.c -Xclang -load -Xclang p.so", Plugin(s("-Xclang -load"))),
        local("clang", "-c src/a.c -Xclang -plugin -Xclang x", Plugin(s("-Xclang -plugin"))),
        local("clang", "-c src/a.c -Xclang -add-plugin -Xclang x", Plugin(s("-Xclang -add-plugin"))),
        local("clang", "-c src/a.c -Xclang -plugin-arg-x -Xclang y", Plugin(s("-Xclang -plugin-arg-x"))),
        local("gcc", "-c src/a.c -B/opt/bin", ToolchainOverride(s("-B/opt/bin"))),
        local("gcc", "-c src/a.c -B /opt/bin", ToolchainOverride(s("-B /opt/bin"))),
        local("gcc", "-c src/a.c -specs=my.specs", ToolchainOverride(s("-specs=my.specs"))),
        local("gcc", "-c src/a.c --specs=my.specs", ToolchainOverride(s("--specs=my.specs"))),
        local("gcc", "-c src/a.c -wrapper gdb,--args", ToolchainOverride(s("-wrapper gdb,--args"))),
        local("clang", "-c src/a.c --config my.cfg", ToolchainOverride(s("--config my.cfg"))),
        local("clang", "-c src/a.c --config=my.cfg", ToolchainOverride(s("--config=my.cfg"))),
        local("clang", "-c src/a.c --gcc-toolchain=/opt/gcc", ToolchainOverride(s("--gcc-toolchain=/opt/gcc"))),
        // Assembler options that touch files.
        local("gcc", "-c src/a.c -Wa,-adhln=list.txt", PassThrough(s("-Wa,-adhln=list.txt"))),
        local("gcc", "-c src/a.c -Wa,-al", PassThrough(s("-Wa,-al"))),
        local("gcc", "-c src/a.c -Wa,--MD,asm.d", PassThrough(s("-Wa,--MD,asm.d"))),
        local("gcc", "-c src/a.c -Wa,src/code16gcc.s", PassThrough(s("-Wa,src/code16gcc.s"))),
        local("gcc", "-c src/a.c -Wa,-Iasm", PassThrough(s("-Wa,-Iasm"))),
        local("gcc", "-c src/a.c -Xassembler -alh", PassThrough(s("-Xassembler -alh"))),
        local("gcc", "-c src/a.c -Xpreprocessor -MD", PassThrough(s("-Xpreprocessor -MD"))),
        local("gcc", "-c src/a.c -Wp,-MF,x.d", PassThrough(s("-Wp,-MF,x.d"))),
        // Character sets, response files, autoconf, unlisted inputs, modules.
        local("gcc", "-c src/a.c -finput-charset=latin1", Charset(s("-finput-charset=latin1"))),
        local("gcc", "-c src/a.c -fexec-charset=UTF-8", Charset(s("-fexec-charset=UTF-8"))),
        local("gcc", "-c src/a.c -fwide-exec-charset=UTF-32LE", Charset(s("-fwide-exec-charset=UTF-32LE"))),
        local("gcc", "@args.rsp", ResponseFile(s("@args.rsp"))),
        local("gcc", "-c src/a.c @more.rsp", ResponseFile(s("@more.rsp"))),
        local("gcc", "-c conftest.c", Autoconf(p("conftest.c"))),
        local("g++", "-c conftest.cpp -o conftest.o", Autoconf(p("conftest.cpp"))),
        local("clang", "-c src/a.c -fsanitize=address -fsanitize-ignorelist=ign.txt", ReadsUnlistedFile(s("-fsanitize-ignorelist=ign.txt"))),
        local("clang", "-c src/a.c -fsanitize-blacklist=b.txt", ReadsUnlistedFile(s("-fsanitize-blacklist=b.txt"))),
        local("clang", "-c src/a.c -ivfsoverlay ov.yaml", ReadsUnlistedFile(s("-ivfsoverlay ov.yaml"))),
        local("clang", "-c src/a.cc -fmodules", Modules(s("-fmodules"))),
        local("g++", "-c src/a.cc -std=c++20 -fmodules-ts", Modules(s("-fmodules-ts"))),
        local("clang", "-c src/a.cc -fmodule-map-file=m.modulemap", Modules(s("-fmodule-map-file=m.modulemap"))),
        local("clang", "-c src/a.cc -fmodules-cache-path=/tmp/mc", Modules(s("-fmodules-cache-path=/tmp/mc"))),
        local("clang", "-c src/a.cc -fcxx-modules", Modules(s("-fcxx-modules"))),
        local("clang++", "--precompile src/a.cppm -o a.pcm", Modules(s("--precompile"))),
        // Malformed lines.
        local("gcc", "-c src/a.c -o", MissingArgument(s("-o"))),
        local("gcc", "-c src/a.c -I", MissingArgument(s("-I"))),
        local("gcc", "-c src/a.c -Wp,-MD", MissingArgument(s("-Wp,-MD"))),
    ]
}

#[test]
fn command_lines() {
    let rows = rows();
    assert!(rows.len() >= 100, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let got = parse(row.compiler, &words(row.line));
        let ok = match (&row.expect, &got) {
            (Expect::Distribute(want), Ok(inv)) => {
                let got: Vec<_> = inv
                    .outputs
                    .iter()
                    .map(|o| (o.path.clone(), o.kind))
                    .collect();
                let want: Vec<_> = want.iter().map(|(path, kind)| (p(path), *kind)).collect();
                got == want && inv.args == words(row.line) && inv.roles.len() == inv.args.len()
            }
            (Expect::Local(want), Err(reason)) => want == reason,
            _ => false,
        };
        if !ok {
            failures.push(format!("{} {}\n    got {:?}", row.compiler, row.line, got));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn languages_follow_x_and_the_driver() {
    let lang = |cc: &str, line: &str| parse(cc, &words(line)).unwrap().language;
    assert_eq!(lang("gcc", "-c src/a.c"), Language::C);
    assert_eq!(lang("g++", "-c src/a.c"), Language::Cxx);
    assert_eq!(lang("clang++-14", "-c src/a.c"), Language::Cxx);
    assert_eq!(lang("gcc", "-c src/a.C"), Language::Cxx);
    assert_eq!(lang("gcc", "-c src/a.c++"), Language::Cxx);
    assert_eq!(lang("gcc", "-c -x c++ src/a.c"), Language::Cxx);
    assert_eq!(lang("gcc", "-c src/a.c -x c++"), Language::C);
    assert_eq!(lang("g++", "-c -x c src/a.cc"), Language::C);
    assert_eq!(lang("gcc", "-c src/a.i"), Language::PreprocessedC);
    assert_eq!(lang("g++", "-c src/a.i"), Language::PreprocessedCxx);
    assert_eq!(lang("gcc", "-c src/a.ii"), Language::PreprocessedCxx);
}

#[test]
fn roles_split_preprocessor_and_compiler_flags() {
    let line = "-c -DFOO -I inc -include-pch p.pch -O2 -MD -MF a.d src/a.c -o a.o -Wp,-DBAR -std=c11 -lm -MJ c.json";
    let inv = parse("clang", &words(line)).unwrap();
    assert_eq!(inv.mode, Mode::Object);
    assert_eq!(inv.input, p("src/a.c"));
    assert_eq!(
        inv.preprocessor_args(),
        words("-DFOO -I inc -include-pch p.pch -Wp,-DBAR")
    );
    assert_eq!(inv.compiler_args(), words("-O2 -std=c11"));
    assert_eq!(
        inv.args_for_preprocessing(),
        words("-DFOO -I inc -include-pch p.pch -O2 src/a.c -Wp,-DBAR -std=c11")
    );
    assert_eq!(
        inv.args_with_roles(&[ArgRole::Dependency]),
        words("-MD -MF a.d")
    );
    assert_eq!(
        inv.args_with_roles(&[ArgRole::SideOutput]),
        words("-MJ c.json")
    );
    assert_eq!(
        inv.args_with_roles(&[ArgRole::Output, ArgRole::Mode, ArgRole::Linker]),
        words("-c -o a.o -lm")
    );
}

#[test]
fn non_utf8_paths_are_inputs_and_non_utf8_options_run_locally() {
    let input = OsString::from_vec(b"src/\xffa.c".to_vec());
    let inv = parse("gcc", &[OsString::from("-c"), input.clone()]).unwrap();
    assert_eq!(inv.input, PathBuf::from(input));
    let option = OsString::from_vec(b"-f\xff".to_vec());
    let err = parse(
        "gcc",
        &[OsString::from("-c"), OsString::from("a.c"), option],
    )
    .unwrap_err();
    assert!(matches!(err, NonUtf8Option(_)), "{err}");
}

#[test]
fn reasons_read_as_sentences() {
    assert_eq!(
        Preprocess(s("-E")).to_string(),
        "`-E` only preprocesses; nothing to distribute"
    );
    assert_eq!(
        MultipleInputs(p("a.c"), p("b.c")).to_string(),
        "there are several inputs (`a.c`, `b.c`, …); meshcc distributes one source per command"
    );
}

/// Runs every distributable row with the real compiler in an empty directory and checks that
/// it writes exactly the outputs the row names: the table's facts stay true for the compilers
/// installed. A compiler that is not installed is skipped with a message.
#[test]
fn distributable_rows_match_the_installed_compilers() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows() {
        let Expect::Distribute(want) = row.expect else {
            continue;
        };
        if want.iter().any(|(path, _)| path.starts_with('/')) {
            continue; // writes outside the scratch directory
        }
        let dir = tempfile::tempdir().unwrap();
        for sub in ["src", "obj", "o.d", "sub"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        for file in ["a.c", "a.cc", "a.ii", "a.pp", "b.txt", "c.tar.c", "h.h"] {
            std::fs::write(
                dir.path().join("src").join(file),
                "int f(void) { return 1; }\n",
            )
            .unwrap();
        }
        for file in ["config.h", "m.h"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let before = files_under(dir.path());
        let run = std::process::Command::new(row.compiler)
            .args(words(row.line))
            .current_dir(dir.path())
            .output();
        let run = match run {
            Ok(run) => run,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "SKIPPED (compiler {} not installed): {}",
                    row.compiler, row.line
                );
                continue;
            }
            Err(e) => panic!("{}: {e}", row.compiler),
        };
        checked += 1;
        let mut written: Vec<_> = files_under(dir.path())
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        written.sort();
        let mut expected: Vec<_> = want
            .iter()
            .map(|(path, _)| p(path.trim_start_matches("./")))
            .collect();
        expected.sort();
        if !run.status.success() || written != expected {
            failures.push(format!(
                "{} {}\n    status {}, wrote {:?}, expected {:?}\n    {}",
                row.compiler,
                row.line,
                run.status,
                written,
                expected,
                String::from_utf8_lossy(&run.stderr).trim()
            ));
        }
    }
    eprintln!("checked {checked} rows against the installed compilers");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn files_under(root: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out
}
