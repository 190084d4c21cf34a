//! Lists inside messages, bounded: a hostile object can make any list as
//! long as the request allows, so at most [`MAX_LISTED`] items are kept and
//! the rest counted.

use core::fmt;

use super::MAX_LISTED;

/// At most [`MAX_LISTED`] items of a list, and how many more there were: a
/// hostile attestation can make a list as long as the request allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The first items.
    pub shown: Vec<T>,
    /// How many more were not kept.
    pub more: usize,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            shown: Vec::new(),
            more: 0,
        }
    }
}

impl<T> Listed<T> {
    /// Keeps `item` if there is room, else counts it.
    pub fn push(&mut self, item: T) {
        if self.shown.len() < MAX_LISTED {
            self.shown.push(item);
        } else {
            self.more += 1;
        }
    }

    /// Keeps the item `make` builds if there is room, else only counts it
    /// (nothing is built for items that would not be shown).
    pub fn push_with(&mut self, make: impl FnOnce() -> T) {
        if self.shown.len() < MAX_LISTED {
            self.shown.push(make());
        } else {
            self.more += 1;
        }
    }

    /// True when nothing was pushed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty() && self.more == 0
    }
}

impl<T> FromIterator<T> for Listed<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut l = Listed::default();
        for item in iter {
            l.push(item);
        }
        l
    }
}

/// Writes at most `cap` of `items` separated by `sep`, then
/// `{sep}… and N more{noun}` for the `items.len() - cap + extra` left out.
pub(crate) fn capped<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    extra: usize,
    cap: usize,
    sep: &str,
    noun: &str,
    mut each: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().take(cap).enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        each(f, item)?;
    }
    let more = items.len().saturating_sub(cap) + extra;
    if more > 0 {
        if items.is_empty() {
            write!(f, "{more} {}", noun.trim_start())
        } else {
            write!(f, "{sep}… and {more} more{noun}")
        }
    } else {
        Ok(())
    }
}
