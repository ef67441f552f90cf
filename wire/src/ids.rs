//! Identifiers that travel between processes. Each is its own type, so a toolchain id is never
//! passed where a file's hash is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! blake3_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(#[serde(with = "serde_bytes")] pub [u8; 32]);

        impl $name {
            /// The BLAKE3 hash of `bytes`.
            pub fn of(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }

            /// The first 8 hex digits, for logs and tables.
            pub fn short(&self) -> String {
                self.to_string()[..8].to_owned()
            }
        }

        impl From<blake3::Hash> for $name {
            fn from(h: blake3::Hash) -> Self {
                Self(*h.as_bytes())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = blake3::HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                blake3::Hash::from_hex(s).map(Self::from)
            }
        }
    };
}

blake3_id!(
    /// A toolchain: the BLAKE3 hash of its deterministic archive.
    ToolchainId
);
blake3_id!(
    /// A file's content (a source, a header, an output): its BLAKE3 hash.
    BlobHash
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ToolchainId::of(b"gcc");
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ToolchainId>().unwrap(), id);
        assert_eq!(id.short(), text[..8]);
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert!("xyz".parse::<BlobHash>().is_err());
    }
}
