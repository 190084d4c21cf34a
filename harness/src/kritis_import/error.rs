//! Why an input cannot become settings. A leaf.

use std::fmt;

/// Why an input cannot become settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// A document is not YAML at all.
    Syntax {
        /// The file (`stdin` for `-`).
        source: String,
        /// 1-based document number in the file.
        document: usize,
        /// The YAML parser's message.
        message: String,
    },
    /// A field of a resource is missing, of the wrong type or refused.
    Field {
        /// Where the resource is: `seed.yaml: document 3, AttestationAuthority "demo-aa"`.
        at: String,
        /// The YAML path from the document's root: `items[2].spec.publicKeyData`.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// No AttestationAuthority anywhere in the input.
    NoAuthority {
        /// Every source read.
        sources: Vec<String>,
        /// What was found instead (`1 GenericAttestationPolicy`…).
        found: Vec<String>,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Syntax {
                source,
                document,
                message,
            } => write!(
                f,
                "{source}: document {document} is not valid YAML: {message}"
            ),
            ImportError::Field { at, path, problem } => write!(f, "{at}: {path}: {problem}"),
            ImportError::NoAuthority { sources, found } => {
                write!(
                    f,
                    "no AttestationAuthority in {}: the policy needs at least one trusted \
                     authority, so there are no valid settings to print",
                    sources.join(", ")
                )?;
                if found.is_empty() {
                    write!(f, " (the input holds no kritis resource at all)")?;
                } else {
                    write!(f, " (the input holds {})", found.join(", "))?;
                }
                write!(
                    f,
                    "; import them together: kubectl get \
                     attestationauthorities,genericattestationpolicies,admissionallowlists \
                     -A -o yaml | policy-harness kritis-import -"
                )
            }
        }
    }
}

impl std::error::Error for ImportError {}
