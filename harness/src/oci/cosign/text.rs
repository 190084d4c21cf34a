//! Registry- or user-supplied text in messages: quoted, escaped, bounded. A
//! leaf.

/// At most 4 items, then `and N more`.
pub(super) fn listed(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut out = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        out.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    out
}

/// Registry- or user-supplied text for a message: escaped, at most 100 characters.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 100;
    let escaped: String = text.escape_debug().collect();
    let mut out: String = escaped.chars().take(MAX).collect();
    if escaped.chars().count() > MAX {
        out.push('…');
    }
    format!("\"{out}\"")
}
