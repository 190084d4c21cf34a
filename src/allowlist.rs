//! Allowlist patterns with ACK kritis-validation-hook's wildcard rules.
//!
//! - A pattern without `*` matches only the identical string.
//! - A `*` that ends the pattern matches any run of characters except `/`.
//! - A `*` anywhere else matches a run of letters, digits, `-` and `_`.
//! - Any `*` may match nothing.
//!
//! These are not glob rules, so no glob crate fits; and since the image is
//! chosen by whoever submits the workload, the matcher must stay linear in
//! the image length whatever the pattern (`*-*-*-*` against a long near-miss
//! would be exponential for a backtracking matcher). It simulates the
//! pattern's automaton with a bit set of live pattern positions: one pass over
//! the image, no allocation, work bounded by image length × pattern length.
//! Patterns are matched straight from the settings text: with thousands of
//! patterns arriving on every request, nothing is compiled ahead.

/// Longest pattern the matcher takes (the settings validation enforces it).
pub const MAX_PATTERN_LEN: usize = 1024;
const WORDS: usize = MAX_PATTERN_LEN.div_ceil(64) + 1;

/// True when `image` (as written in the workload) matches `pattern`.
#[must_use]
pub fn matches(pattern: &str, image: &str) -> bool {
    let p = pattern.as_bytes();
    let s = image.as_bytes();
    let Some(first_star) = p.iter().position(|&b| b == b'*') else {
        return p == s;
    };
    // Cheap reject: the literal text before the first star is a prefix.
    // Compared from its end: the patterns of a long allowlist share their
    // registry and differ near the star (`registry.example.com/team-17/*`),
    // so most fail on the first byte or two, where a forward comparison
    // would walk the common prefix of each (a `memcmp`, byte by byte in wasm).
    let prefix = &p[..first_star];
    match s.get(..first_star) {
        Some(head) if head.iter().rev().eq(prefix.iter().rev()) => {}
        _ => return false,
    }
    if p.len() > MAX_PATTERN_LEN {
        return false;
    }
    // Stars from here on to the end are "final" stars.
    let trailing = p.len() - p.iter().rev().take_while(|&&b| b == b'*').count();
    // The literal text after the last star ends the image: a second cheap reject.
    let last_star = p.iter().rposition(|&b| b == b'*').unwrap_or(first_star);
    if !s[first_star..].ends_with(&p[last_star + 1..]) {
        return false;
    }
    let star_accepts = |i: usize, c: u8| {
        if i >= trailing {
            c != b'/'
        } else {
            c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
        }
    };

    // State bit i: the pattern up to position i has been matched.
    let mut cur = [0u64; WORDS];
    set(&mut cur, first_star);
    close(&mut cur, p);
    for &c in &s[first_star..] {
        let mut next = [0u64; WORDS];
        let mut any = false;
        for (w, &word) in cur.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let Some(&pc) = p.get(i) else { continue };
                if pc == b'*' {
                    if star_accepts(i, c) {
                        set(&mut next, i);
                        any = true;
                    }
                } else if pc == c {
                    set(&mut next, i + 1);
                    any = true;
                }
            }
        }
        if !any {
            return false;
        }
        close(&mut next, p);
        cur = next;
    }
    get(&cur, p.len())
}

fn set(bits: &mut [u64; WORDS], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn get(bits: &[u64; WORDS], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

/// A star may match nothing: a live star position makes the next one live.
/// Ascending order carries this through runs of stars in one pass.
fn close(bits: &mut [u64; WORDS], p: &[u8]) {
    for w in 0..WORDS {
        let mut pending = bits[w];
        while pending != 0 {
            let i = w * 64 + pending.trailing_zeros() as usize;
            pending &= pending - 1;
            if p.get(i) == Some(&b'*') {
                let j = i + 1;
                if j / 64 == w {
                    pending |= (1 << (j % 64)) & !bits[w];
                }
                set(bits, j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules restated as a plain recursive matcher (exponential, fine for
    /// short strings), to check the automaton against.
    fn reference(p: &[u8], s: &[u8], len: usize) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => {
                let is_final = rest.iter().all(|&b| b == b'*');
                let _ = len;
                let ok = |c: u8| {
                    if is_final {
                        c != b'/'
                    } else {
                        c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
                    }
                };
                (0..=s.len())
                    .take_while(|&k| k == 0 || ok(s[k - 1]))
                    .any(|k| reference(rest, &s[k..], len))
            }
            Some((&c, rest)) => s.first() == Some(&c) && reference(rest, &s[1..], len),
        }
    }

    #[test]
    fn ack_documented_examples() {
        assert!(matches("a.com/nginx*", "a.com/nginx:v0.1.0"));
        assert!(!matches("a.com/nginx*", "a.com/nginx/test:v0.1.0"));
        assert!(matches(
            "registry-vpc.cn-*.aliyuncs.com/acs/pause:3.2",
            "registry-vpc.cn-hangzhou.aliyuncs.com/acs/pause:3.2"
        ));
        assert!(matches(
            "registry-vpc.cn-*.aliyuncs.com/acs/pause:3.2",
            "registry-vpc.cn-beijing.aliyuncs.com/acs/pause:3.2"
        ));
        assert!(matches("nginx:v0.1.0", "nginx:v0.1.0"));
        assert!(!matches("nginx:v0.1.0", "nginx:v0.1.01"));
        assert!(!matches("nginx:v0.1.0", "docker.io/library/nginx:v0.1.0"));
        assert!(matches(
            "registry*.*.aliyuncs.com/acs/*",
            "registry-vpc.cn-hangzhou.aliyuncs.com/acs/pause:3.2"
        ));
        assert!(matches(
            "registry*.*.aliyuncs.com/acs/*",
            "registry.cn-beijing.aliyuncs.com/acs/coredns:1.0"
        ));
        assert!(!matches(
            "registry*.*.aliyuncs.com/acs/*",
            "registry.evil.com/x.aliyuncs.com/acs/pause"
        ));
        assert!(!matches(
            "registry*.*.aliyuncs.com/acs/*",
            "registry.cn-beijing.aliyuncs.com/acs/sub/pause"
        ));
        assert!(matches(
            "registry-*.ack.aliyuncs.com/acs/*",
            "registry-cn-hangzhou.ack.aliyuncs.com/acs/pause@sha256:00"
        ));
    }

    #[test]
    fn star_rules() {
        // An inner star does not cross '.', '/', ':' or '@'.
        assert!(!matches("a*b", "a.b"));
        assert!(!matches("a*b", "a/b"));
        assert!(!matches("a*b", "a:b"));
        assert!(matches("a*b", "ab"));
        assert!(matches("a*b", "a-x_9b"));
        // A final star crosses everything but '/'.
        assert!(matches("a*", "a"));
        assert!(matches("a*", "a:b@sha256:00.x"));
        assert!(!matches("a*", "a/b"));
        // Runs of stars.
        assert!(matches("a**", "a.b"));
        assert!(matches("a**b", "a-b"));
        assert!(!matches("a**b", "a.b"));
        assert!(matches("*", "nginx"));
        assert!(!matches("*", "library/nginx"));
        assert!(matches("*/*", "library/nginx:1"));
        // '.' is literal, not "any character".
        assert!(!matches("a.c", "abc"));
    }

    #[test]
    fn linear_on_catastrophic_patterns() {
        let pattern = format!("{}x", "*-".repeat(200));
        let image = "a-".repeat(5000);
        // A backtracking matcher would not return in our lifetime.
        assert!(!matches(&pattern, &image));
        let image_ok = format!("{}x", "a-".repeat(5000));
        assert!(matches(&pattern, &image_ok));
    }

    #[test]
    fn agrees_with_reference_exhaustively() {
        let alphabet = [b'a', b'-', b'.', b'/', b'*', b':'];
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..4 {
            let more: Vec<Vec<u8>> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
                .collect();
            strings.extend(more);
            strings.sort();
            strings.dedup();
        }
        for p in &strings {
            if p.is_empty() {
                continue;
            }
            for s in strings.iter().filter(|s| !s.contains(&b'*')) {
                let (ps, ss) = (
                    std::str::from_utf8(p).unwrap(),
                    std::str::from_utf8(s).unwrap(),
                );
                assert_eq!(
                    matches(ps, ss),
                    reference(p, s, 0),
                    "pattern {ps:?} image {ss:?}"
                );
            }
        }
    }
}
