//! Which compiler a command names: the family (gcc or clang rules for output names) and whether
//! it is the C++ driver, from the program name alone.
//!
//! Icecream's "Frequent problems" page says version-suffixed names such as `clang++-3.6` made
//! icecc run everything locally; here `gcc-12`, `clang++-14`, `x86_64-linux-gnu-gcc-12` and the
//! FreeBSD style `clang14` are all recognised. A name we do not know (`cc`, `c++`, `icx`, …) is
//! taken as gcc-compatible: the caller may probe `--version` and use [`super::parse_as`] instead.

use std::path::Path;

/// The compiler families whose output-naming rules differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// GNU gcc, and any unknown gcc-compatible driver.
    Gcc,
    /// LLVM clang.
    Clang,
}

/// What the program name tells about the compiler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Compiler {
    /// Whose rules apply to output names and flags.
    pub family: Family,
    /// The C++ driver (`g++`, `clang++`, `c++`): compiles `.c`, `.h` and `.i` files as C++.
    pub cxx: bool,
    /// The target prefix of a cross driver, e.g. `x86_64-linux-gnu` in
    /// `x86_64-linux-gnu-gcc-12`; `None` for a plain name.
    pub target_prefix: Option<String>,
}

impl Compiler {
    /// Classifies a program name or path (`argv[0]`, or the first argument of `meshcc CC …`).
    pub fn from_name(name: &str) -> Compiler {
        let base = Path::new(name)
            .file_name()
            .and_then(|b| b.to_str())
            .unwrap_or(name);
        let stem = strip_version(base);
        // Longest tool names first, so that `clang++` is not read as `…g++` or `c++`.
        const TOOLS: [(&str, Family, bool); 6] = [
            ("clang++", Family::Clang, true),
            ("clang", Family::Clang, false),
            ("g++", Family::Gcc, true),
            ("gcc", Family::Gcc, false),
            ("c++", Family::Gcc, true),
            ("cc", Family::Gcc, false),
        ];
        for (tool, family, cxx) in TOOLS {
            let Some(prefix) = stem.strip_suffix(tool) else {
                continue;
            };
            // `icc` is not a cross `cc` for target `i`.
            if prefix.is_empty() || prefix.ends_with('-') {
                let target_prefix = prefix
                    .strip_suffix('-')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned);
                return Compiler {
                    family,
                    cxx,
                    target_prefix,
                };
            }
        }
        Compiler {
            family: Family::Gcc,
            cxx: false,
            target_prefix: None,
        }
    }
}

/// `gcc-12` → `gcc`, `clang++-14.0` → `clang++`, `clang14` → `clang`; other names unchanged.
fn strip_version(name: &str) -> &str {
    let without = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if without.len() == name.len() || without.is_empty() {
        return name;
    }
    without.strip_suffix('-').unwrap_or(without)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, family: Family, cxx: bool, target: Option<&str>) {
        let c = Compiler::from_name(name);
        assert_eq!(
            (c.family, c.cxx, c.target_prefix.as_deref()),
            (family, cxx, target),
            "{name}"
        );
    }

    #[test]
    fn plain_names() {
        check("gcc", Family::Gcc, false, None);
        check("g++", Family::Gcc, true, None);
        check("cc", Family::Gcc, false, None);
        check("c++", Family::Gcc, true, None);
        check("clang", Family::Clang, false, None);
        check("clang++", Family::Clang, true, None);
        check("/usr/bin/clang++", Family::Clang, true, None);
    }

    #[test]
    fn version_suffixed_names_are_recognised() {
        check("gcc-12", Family::Gcc, false, None);
        check("g++-12", Family::Gcc, true, None);
        check("gcc-4.8", Family::Gcc, false, None);
        check("clang-14", Family::Clang, false, None);
        check("clang++-14", Family::Clang, true, None);
        check("clang++-3.6", Family::Clang, true, None);
        check("clang14", Family::Clang, false, None);
        check("/usr/lib/llvm-14/bin/clang", Family::Clang, false, None);
    }

    #[test]
    fn target_prefixed_names_keep_their_target() {
        check(
            "x86_64-linux-gnu-gcc-12",
            Family::Gcc,
            false,
            Some("x86_64-linux-gnu"),
        );
        check(
            "aarch64-linux-gnu-g++",
            Family::Gcc,
            true,
            Some("aarch64-linux-gnu"),
        );
        check(
            "x86_64-pc-linux-gnu-clang++-14",
            Family::Clang,
            true,
            Some("x86_64-pc-linux-gnu"),
        );
    }

    #[test]
    fn unknown_names_are_gcc_compatible_c() {
        check("icx", Family::Gcc, false, None);
        check("icc", Family::Gcc, false, None);
        check("meshcc-test-compiler", Family::Gcc, false, None);
        check("12", Family::Gcc, false, None);
    }
}
