//! Container image references, parsed and normalised the way Docker does it.
//!
//! Written by hand rather than taken from a crate: the maintained parsers
//! (`oci-spec`, `oci-client`'s `Reference`) allocate, pull in regex engines or
//! networking code, and this one has to run, allocation-free, for every image
//! of every admission inside a small wasm module. It follows the grammar of
//! `distribution/reference` and refuses anything outside it, because a
//! reference this parser half-understands is one an attacker can bend.

use core::fmt;

/// Longest repository name Docker accepts (`distribution/reference`).
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest tag the grammar allows (1 + 127 characters).
const TAG_LENGTH_MAX: usize = 128;

/// A content digest as written after `@`: `sha256:` + 64 or `sha512:` + 128
/// lowercase hex digits. Upper case is refused rather than folded, so the
/// digest compared with an attestation is exactly the one the runtime pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest<'a>(&'a str);

impl<'a> Digest<'a> {
    /// Parses `algorithm:hex`.
    ///
    /// # Errors
    /// [`ReferenceError::Digest`] when the algorithm is not sha256/sha512 or
    /// the hex part has the wrong length or characters.
    pub fn parse(s: &'a str) -> Result<Self, ReferenceError> {
        let (algorithm, hex) = s.split_once(':').ok_or(ReferenceError::Digest(
            "a digest is written algorithm:hex, e.g. sha256:<64 hex digits>",
        ))?;
        let expected = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Err(ReferenceError::Digest(
                    "only sha256 and sha512 digests are supported",
                ))
            }
        };
        if hex.len() != expected {
            return Err(ReferenceError::Digest(
                "the digest has the wrong length for its algorithm",
            ));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::Digest(
                "the digest must be lowercase hexadecimal",
            ));
        }
        Ok(Digest(s))
    }

    /// The digest as written, e.g. `sha256:ddba…`.
    #[must_use]
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// A repository name split into its registry and path, with Docker's implied
/// parts remembered instead of allocated: `alpine` is `docker.io/library/alpine`.
/// Equality and hashing are those of the normalised name (as [`same_as`]), so
/// a repository can key the per-request memo of verified digests.
///
/// [`same_as`]: Repository::same_as
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repository<'a> {
    /// The registry host as written, or `docker.io` when none is written.
    domain: &'a str,
    /// `library/` is implied (Docker Hub official image written without it).
    library: bool,
    /// The path after the registry, as written.
    path: &'a str,
}

impl Repository<'_> {
    /// True when both name the same repository after Docker normalisation.
    #[must_use]
    pub fn same_as(&self, other: &Repository<'_>) -> bool {
        self.domain == other.domain && self.library == other.library && self.path == other.path
    }
}

impl fmt::Display for Repository<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let library = if self.library { "library/" } else { "" };
        write!(f, "{}/{}{}", self.domain, library, self.path)
    }
}

/// A parsed image reference: `[registry/]path[:tag][@digest]`.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    /// The repository, normalised.
    pub repository: Repository<'a>,
    /// The name part exactly as written (before any tag or digest).
    pub name: &'a str,
    /// The tag, if written.
    pub tag: Option<&'a str>,
    /// The digest, if written. Only such references can be verified.
    pub digest: Option<Digest<'a>>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceError {
    /// Nothing was written.
    Empty,
    /// A character outside the reference grammar (whitespace, control, Unicode).
    Character,
    /// More than one `@`.
    MultipleAt,
    /// The registry part is not a host name, IP address or `host:port`.
    Domain,
    /// A path component breaks `[a-z0-9]+([._-]|__)...` or is empty.
    Path,
    /// The name is longer than 255 characters.
    TooLong,
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    Tag,
    /// The digest is malformed.
    Digest(&'static str),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceError::Empty => f.write_str("the image reference is empty"),
            ReferenceError::Character => f.write_str(
                "the image reference contains a character outside the reference grammar",
            ),
            ReferenceError::MultipleAt => {
                f.write_str("the image reference contains more than one '@'")
            }
            ReferenceError::Domain => f.write_str("the registry host is not valid"),
            ReferenceError::Path => f.write_str("the repository path is not valid"),
            ReferenceError::TooLong => {
                f.write_str("the repository name is longer than 255 characters")
            }
            ReferenceError::Tag => f.write_str("the tag is not valid"),
            ReferenceError::Digest(why) => f.write_str(why),
        }
    }
}

impl<'a> ImageRef<'a> {
    /// Parses an image reference as Kubernetes passes it to the runtime.
    ///
    /// # Errors
    /// A [`ReferenceError`] saying which part breaks the grammar.
    pub fn parse(s: &'a str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ReferenceError::Character);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                if digest.contains('@') {
                    return Err(ReferenceError::MultipleAt);
                }
                (rest, Some(Digest::parse(digest)?))
            }
            None => (s, None),
        };
        // A tag is the part after the last ':' that follows the last '/'
        // (a ':' before a '/' is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::Tag);
            }
        }
        let repository = parse_name(name)?;
        Ok(ImageRef {
            repository,
            name,
            tag,
            digest,
        })
    }
}

/// Parses a repository name (no tag, no digest) and normalises it.
fn parse_name(name: &str) -> Result<Repository<'_>, ReferenceError> {
    if name.is_empty() {
        return Err(ReferenceError::Path);
    }
    // Docker's rule: the first component is a registry when it has a '.' or
    // ':', is "localhost", or has upper case (which a path may not have).
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            if !valid_domain(first) {
                return Err(ReferenceError::Domain);
            }
            (first, rest)
        }
        _ => ("docker.io", name),
    };
    if !path.split('/').all(valid_path_component) {
        return Err(ReferenceError::Path);
    }
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    // Docker Hub's official images: `alpine`, `library/alpine` and
    // `docker.io/library/alpine` are one repository.
    let (library, path) = match path.strip_prefix("library/") {
        Some(rest) if domain == "docker.io" && !rest.contains('/') => (true, rest),
        _ => (domain == "docker.io" && !path.contains('/'), path),
    };
    // Docker limits the normalised name (`docker.io/library/…` included).
    let library_len = if library { "library/".len() } else { 0 };
    if domain.len() + 1 + library_len + path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::TooLong);
    }
    Ok(Repository {
        domain,
        library,
        path,
    })
}

/// Parses the `docker-reference` of a signed payload: a name, optionally with
/// a tag or digest, which only its repository counts for.
///
/// # Errors
/// A [`ReferenceError`] when it is not a reference.
pub fn parse_repository(s: &str) -> Result<Repository<'_>, ReferenceError> {
    ImageRef::parse(s).map(|r| r.repository)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is DNS labels, an IPv4 address or `[IPv6]`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((ip6, after)) = rest.split_once(']') else {
            return false;
        };
        if ip6.is_empty()
            || !ip6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (d, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.is_empty() {
        // Only the IPv6 branch leaves the host empty, and it is checked.
        return d.starts_with('[');
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
            return false;
        };
        first.is_ascii_alphanumeric()
            && last.is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    match b.first() {
        Some(&first) if word(first) && b.len() <= TAG_LENGTH_MAX => {
            b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45";

    fn norm(s: &str) -> String {
        ImageRef::parse(s)
            .map(|r| r.repository.to_string())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(norm("alpine"), "docker.io/library/alpine");
        assert_eq!(norm("alpine:3.11"), "docker.io/library/alpine");
        assert_eq!(norm("docker.io/alpine"), "docker.io/library/alpine");
        assert_eq!(
            norm("index.docker.io/library/alpine"),
            "docker.io/library/alpine"
        );
        assert_eq!(norm("team/app"), "docker.io/team/app");
        assert_eq!(norm("library/alpine"), "docker.io/library/alpine");
        assert_eq!(norm("docker.io/library/a/b"), "docker.io/library/a/b");
        assert_eq!(norm("localhost/app"), "localhost/app");
        assert_eq!(norm("localhost:5000/app:v1"), "localhost:5000/app");
        assert_eq!(
            norm("registry.example.com/team/app"),
            "registry.example.com/team/app"
        );
        assert_eq!(norm("[::1]:5000/app"), "[::1]:5000/app");
        assert_eq!(norm("10.0.0.1:5000/a/b/c"), "10.0.0.1:5000/a/b/c");
        assert_eq!(norm("Registry.Example.com/app"), "Registry.Example.com/app");
    }

    #[test]
    fn same_repository_across_spellings() {
        let a = parse_repository("alpine").unwrap();
        let b = parse_repository("docker.io/library/alpine:3.11").unwrap();
        let c = parse_repository("docker.io/other/alpine").unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&c));
    }

    #[test]
    fn tags_and_digests() {
        let s = format!("registry.example.com:5000/app:v1@{D}");
        let r = ImageRef::parse(&s).unwrap();
        assert_eq!(r.name, "registry.example.com:5000/app");
        assert_eq!(r.tag, Some("v1"));
        assert_eq!(r.digest.map(|d| d.as_str()), Some(D));
        let r = ImageRef::parse("registry.example.com:5000/app").unwrap();
        assert_eq!((r.tag, r.digest), (None, None));
    }

    #[test]
    fn malformed_references_are_refused() {
        let upper = D.to_uppercase().replace("SHA256", "sha256");
        let bad = [
            ("", ReferenceError::Empty),
            ("alpine ", ReferenceError::Character),
            ("alp\u{0456}ne", ReferenceError::Character),
            ("alpine\n", ReferenceError::Character),
            ("a@b@c", ReferenceError::MultipleAt),
            ("Alpine", ReferenceError::Path),
            ("a//b", ReferenceError::Path),
            ("a/", ReferenceError::Path),
            ("-a/b", ReferenceError::Path),
            ("a..b", ReferenceError::Path),
            ("a___b", ReferenceError::Path),
            ("a:", ReferenceError::Tag),
            ("a:.x", ReferenceError::Tag),
            ("reg.io:port/a", ReferenceError::Domain),
            ("reg-.io/a", ReferenceError::Domain),
            ("[zz]:5000/a", ReferenceError::Domain),
        ];
        for (s, want) in bad {
            assert_eq!(ImageRef::parse(s).err(), Some(want), "{s:?}");
        }
        for d in [
            "sha256:abc",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            upper.as_str(),
            "sha256",
            "sha512:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45",
        ] {
            let s = format!("alpine@{d}");
            assert!(
                matches!(ImageRef::parse(&s), Err(ReferenceError::Digest(_))),
                "{s}"
            );
        }
        let long = format!("a/{}", "b".repeat(300));
        assert_eq!(ImageRef::parse(&long).err(), Some(ReferenceError::TooLong));
        // The limit applies to the normalised name (found by fuzzing).
        let hub = "a".repeat(238);
        assert_eq!(ImageRef::parse(&hub).err(), Some(ReferenceError::TooLong));
        assert!(ImageRef::parse(&"a".repeat(237)).is_ok());
        let long_tag = format!("a:{}", "b".repeat(129));
        assert_eq!(ImageRef::parse(&long_tag).err(), Some(ReferenceError::Tag));
    }

    #[test]
    fn accepted_corner_cases() {
        for s in [
            "a__b",
            "a-----b",
            "a.b_c",
            "a:latest",
            "a:_x",
            &format!("a/b@sha512:{}", "0".repeat(128)),
        ] {
            assert!(ImageRef::parse(s).is_ok(), "{s}");
        }
    }
}
