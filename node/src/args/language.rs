//! The language of the input: from the `-x` in force before it, else from its extension.
//!
//! meshcc ships C and C++ (and their preprocessed forms `.i`/`.ii`). Objective-C and
//! Objective-C++ run locally for now: gcc compiles them with `cc1obj`/`cc1objplus`, which the
//! toolchain package (driver, `cc1`, `cc1plus`, `as`, …) does not carry, and no test covers them
//! yet. Headers are precompiled-header creation; assembler is cheap and reads `.include` files
//! that no dependency list shows.

use std::path::Path;

/// A language meshcc can ship.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// C source.
    C,
    /// C++ source.
    Cxx,
    /// Preprocessed C (`.i`, `-x cpp-output`).
    PreprocessedC,
    /// Preprocessed C++ (`.ii`, `-x c++-cpp-output`).
    PreprocessedCxx,
}

/// What an input is, before deciding whether it can be shipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum InputKind {
    Ship(Language),
    Header,
    Assembler,
    ObjectiveC,
    Other,
}

/// The kind named by `-x VALUE`; `None` for `-x none`, which restores extension rules.
pub(super) fn from_x(value: &str) -> Option<InputKind> {
    Some(match value {
        "none" => return None,
        "c" => InputKind::Ship(Language::C),
        "c++" => InputKind::Ship(Language::Cxx),
        "cpp-output" => InputKind::Ship(Language::PreprocessedC),
        "c++-cpp-output" => InputKind::Ship(Language::PreprocessedCxx),
        "assembler" | "assembler-with-cpp" => InputKind::Assembler,
        v if v.ends_with("-header") || v.contains("-header-") => InputKind::Header,
        v if v.starts_with("objective-c") || v.starts_with("objc") => InputKind::ObjectiveC,
        _ => InputKind::Other,
    })
}

/// The kind gcc and clang give a file by its extension. The C++ drivers (`g++`, `clang++`)
/// compile `.c` and `.i` as C++ (checked: both emit the mangled `_Z1fv` for `int f(void)`).
pub(super) fn from_extension(path: &Path, cxx_driver: bool) -> InputKind {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return InputKind::Other;
    };
    match ext {
        "c" if cxx_driver => InputKind::Ship(Language::Cxx),
        "c" => InputKind::Ship(Language::C),
        "i" if cxx_driver => InputKind::Ship(Language::PreprocessedCxx),
        "i" => InputKind::Ship(Language::PreprocessedC),
        "ii" => InputKind::Ship(Language::PreprocessedCxx),
        "cc" | "cp" | "cxx" | "cpp" | "CPP" | "c++" | "C" => InputKind::Ship(Language::Cxx),
        "h" | "hh" | "H" | "hp" | "hxx" | "hpp" | "HPP" | "h++" | "tcc" => InputKind::Header,
        "s" | "S" | "sx" => InputKind::Assembler,
        "m" | "mi" | "mm" | "M" | "mii" => InputKind::ObjectiveC,
        _ => InputKind::Other,
    }
}
