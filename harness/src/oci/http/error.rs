//! Why a registry read failed, and the helpers that word it.

use std::fmt;

use super::{BLOB_DEADLINE, CONNECT_TIMEOUT, MANIFEST_DEADLINE, READ_TIMEOUT};

/// Why a registry read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The registry answered 404 (its error body, cut).
    NotFound {
        /// The URL asked.
        url: String,
        /// The registry's body (cut).
        body: String,
    },
    /// Another non-success status.
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The registry's body (cut).
        body: String,
    },
    /// The size declared (by a descriptor or `Content-Length`) is over the cap.
    DeclaredTooLarge {
        /// What was read (`manifest`, `layer sha256:…`).
        what: String,
        /// The declared size.
        declared: u64,
        /// The cap.
        limit: usize,
    },
    /// The body went past its cap or past its declared size: cut off.
    TooLong {
        /// What was read.
        what: String,
        /// The cap or the declared size, whichever was smaller.
        limit: u64,
        /// `true` when the limit was the declared size.
        declared: bool,
    },
    /// Transport: connection, TLS, timeout, redirect refused.
    Transport {
        /// The URL asked.
        url: String,
        /// What went wrong (the whole error chain).
        reason: String,
    },
    /// Anything else (a token endpoint's answer, a client that cannot be built).
    Other(String),
}

impl HttpError {
    /// `true` for a 404 answer.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { url, body } => write!(f, "{url}: not found (HTTP 404){}", tail(body)),
            Self::Status { url, status, body } => {
                write!(f, "{url}: HTTP {status}{}", tail(body))
            }
            Self::DeclaredTooLarge {
                what,
                declared,
                limit,
            } => write!(
                f,
                "the registry declares a {what} of {declared} bytes, more than the {limit} bytes \
                 policy-harness reads: refused before reading"
            ),
            Self::TooLong {
                what,
                limit,
                declared: true,
            } => write!(
                f,
                "the registry sent a {what} longer than the {limit} bytes it declares: cut off"
            ),
            Self::TooLong {
                what,
                limit,
                declared: false,
            } => write!(
                f,
                "the registry sent a {what} of more than {limit} bytes, the most policy-harness \
                 reads: cut off"
            ),
            Self::Transport { url, reason } => write!(f, "{url}: {reason}"),
            Self::Other(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for HttpError {}

fn tail(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        // The registry's words, escaped (no control characters in messages).
        let cut: String = body.chars().take(300).collect();
        format!(": {}", cut.escape_debug())
    }
}

/// The error and its sources, `: `-joined (reqwest's own text says only
/// "error following redirect"; the reason is in the source).
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

pub(super) fn transport(url: &str, error: &reqwest::Error) -> HttpError {
    let reason = if error.is_timeout() {
        format!(
            "timed out (connect {}s, each read {}s, whole request {}s or {}s for a blob): {}",
            CONNECT_TIMEOUT.as_secs(),
            READ_TIMEOUT.as_secs(),
            MANIFEST_DEADLINE.as_secs(),
            BLOB_DEADLINE.as_secs(),
            chain(error)
        )
    } else {
        chain(error)
    };
    HttpError::Transport {
        url: url.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::http::MAX_MODULE_BYTES;

    #[test]
    fn messages_say_what_and_how_much() {
        let e = HttpError::DeclaredTooLarge {
            what: "blob sha256:ab".to_owned(),
            declared: 1 << 40,
            limit: MAX_MODULE_BYTES,
        };
        assert!(e.to_string().contains("1099511627776 bytes"), "{e}");
        let e = HttpError::TooLong {
            what: "manifest".to_owned(),
            limit: 4 << 20,
            declared: false,
        };
        assert!(e.to_string().contains("cut off"), "{e}");
    }
}
