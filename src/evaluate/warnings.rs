//! The warnings of an admitted object: one per image only `warn` policies
//! reject (and the audit annotation listing them all), each cut to a length
//! kubectl prints on one line. Separate because these bounds concern what
//! the API server shows the user, not the evaluation.

use crate::verdict::{Failure, Rejection};

/// Longest warning, in bytes: kubectl prints each on its own line.
pub(super) const MAX_WARNING: usize = 1024;
/// Warnings given for images that `warn` policies reject; the rest are
/// counted in one more warning (the audit annotation lists them all).
const MAX_WARNED_IMAGES: usize = 20;
/// Audit annotation recording what `warn` policies would have rejected. The
/// API server prefixes it with the webhook's name (`<webhook>/would-reject`),
/// so it carries no `/` of its own, which would make that key invalid.
pub const WOULD_REJECT_AUDIT_KEY: &str = "would-reject";

/// `text` cut below `max` bytes, on a character boundary.
pub(super) fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - 4;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …");
    }
    text
}

/// One warning per image that only `warn` policies reject, saying what the
/// rejection would have said, and the audit annotation that records them.
pub(super) fn warn_mode(warned: Vec<Failure>) -> (Vec<String>, Vec<(&'static str, String)>) {
    if warned.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut warnings: Vec<String> = warned
        .iter()
        .take(MAX_WARNED_IMAGES)
        .map(|f| {
            cut(
                format!("enforcement is warn, so admitted; would reject: {f}"),
                MAX_WARNING,
            )
        })
        .collect();
    if warned.len() > MAX_WARNED_IMAGES {
        warnings.push(format!(
            "enforcement is warn: {} more images would be rejected (see the {WOULD_REJECT_AUDIT_KEY} audit annotation)",
            warned.len() - MAX_WARNED_IMAGES
        ));
    }
    let text = Rejection::Images(warned).message();
    (warnings, vec![(WOULD_REJECT_AUDIT_KEY, text)])
}
