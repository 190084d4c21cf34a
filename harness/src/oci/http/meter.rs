//! The cost oracle: per-thread counts of requests, redirects and body bytes
//! (see the parent module's doc).

use std::cell::Cell;

thread_local! {
    pub(super) static REQUESTS: Cell<u64> = const { Cell::new(0) };
    pub(super) static REDIRECTS: Cell<u64> = const { Cell::new(0) };
    pub(super) static BYTES: Cell<u64> = const { Cell::new(0) };
}

/// What this thread has asked of registries so far (see [`Meter::read`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meter {
    /// Requests sent (each redirect hop and token request included).
    pub requests: u64,
    /// Redirects followed.
    pub redirects: u64,
    /// Body bytes received.
    pub bytes: u64,
}

impl Meter {
    /// The counts of the calling thread.
    #[must_use]
    pub fn read() -> Self {
        Self {
            requests: REQUESTS.with(Cell::get),
            redirects: REDIRECTS.with(Cell::get),
            bytes: BYTES.with(Cell::get),
        }
    }

    /// Sets the calling thread's counts to zero.
    pub fn reset() {
        REQUESTS.with(|c| c.set(0));
        REDIRECTS.with(|c| c.set(0));
        BYTES.with(|c| c.set(0));
    }

    /// What happened since `earlier`.
    #[must_use]
    pub fn since(earlier: Self) -> Self {
        let now = Self::read();
        Self {
            requests: now.requests.saturating_sub(earlier.requests),
            redirects: now.redirects.saturating_sub(earlier.redirects),
            bytes: now.bytes.saturating_sub(earlier.bytes),
        }
    }
}

pub(super) fn count(cell: &'static std::thread::LocalKey<Cell<u64>>, n: u64) {
    cell.with(|c| c.set(c.get().saturating_add(n)));
}
