//! `allowlist::matches` (a linear automaton) must agree with a plain
//! backtracking matcher written straight from ACK's rules:
//!
//! - without `*` the match is exact;
//! - a `*` that ends the pattern (it and everything after it are `*`)
//!   matches any run of characters except `/`;
//! - any other `*` matches a run of ASCII letters, digits, `-` and `_`;
//! - a `*` may match nothing;
//! - a pattern with a `*` longer than `MAX_PATTERN_LEN` matches nothing.
//!
//! Input layout: byte 0 chooses the mode, byte 1 where the rest is split into
//! (pattern, image). Mode "alphabet" maps every byte onto a small alphabet
//! rich in stars and separators, so the fuzzer reaches interesting pairs
//! fast; mode "raw" uses the bytes as UTF-8. Both strings are capped at
//! `CAP` bytes, which keeps the reference (and shrinking) fast.
#![no_main]

use kritis_attestation_policy::allowlist::{matches, MAX_PATTERN_LEN};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 24;
const ALPHABET: &[u8; 16] = b"ab0A-_./:@***x*Z";

/// ACK's rules, restated as directly as possible: a backtracking matcher,
/// memoised on (pattern position, image position) only so that runs of stars
/// (`*-*-*-*…`) cannot make a single input take seconds.
fn reference(pattern: &[u8], image: &[u8]) -> bool {
    if !pattern.contains(&b'*') {
        return pattern == image;
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return false;
    }
    let mut failed = vec![false; (pattern.len() + 1) * (image.len() + 1)];
    backtrack(pattern, image, 0, 0, &mut failed)
}

fn backtrack(p: &[u8], s: &[u8], i: usize, j: usize, failed: &mut [bool]) -> bool {
    let key = i * (s.len() + 1) + j;
    if failed[key] {
        return false;
    }
    let ok = match p.get(i) {
        None => j == s.len(),
        Some(&b'*') => {
            let ends_pattern = p[i + 1..].iter().all(|&c| c == b'*');
            let star_takes = |c: u8| {
                if ends_pattern {
                    c != b'/'
                } else {
                    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
                }
            };
            // Try every run the star can take, shortest (nothing) first.
            let mut k = j;
            loop {
                if backtrack(p, s, i + 1, k, failed) {
                    break true;
                }
                match s.get(k) {
                    Some(&c) if star_takes(c) => k += 1,
                    _ => break false,
                }
            }
        }
        Some(&c) => s.get(j) == Some(&c) && backtrack(p, s, i + 1, j + 1, failed),
    };
    if !ok {
        failed[key] = true;
    }
    ok
}

fuzz_target!(|data: &[u8]| {
    let [mode, split, rest @ ..] = data else {
        return;
    };
    let split = usize::from(*split).min(rest.len());
    let (p, s) = rest.split_at(split);
    let (p, s) = (&p[..p.len().min(CAP)], &s[..s.len().min(CAP)]);
    let (pattern, image) = if mode & 1 == 0 {
        let map = |b: &[u8]| -> String {
            b.iter()
                .map(|&x| char::from(ALPHABET[usize::from(x) % ALPHABET.len()]))
                .collect()
        };
        (map(p), map(s))
    } else {
        match (std::str::from_utf8(p), std::str::from_utf8(s)) {
            (Ok(p), Ok(s)) => (p.to_owned(), s.to_owned()),
            _ => return,
        }
    };
    let got = matches(&pattern, &image);
    let want = reference(pattern.as_bytes(), image.as_bytes());
    assert_eq!(
        got, want,
        "allowlist::matches({pattern:?}, {image:?}) = {got}, the rules say {want}"
    );
});
