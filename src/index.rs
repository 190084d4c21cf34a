//! The annotation's attestations indexed by (digest, normalised repository).

use crate::attestation::Attestation;
use crate::image::parse_repository;

/// The parsed annotation, with its attestations indexed by (digest,
/// normalised repository): finding the attestations for an image is a binary
/// search, so many images naming one digest under many repositories cannot
/// make every image scan every attestation.
pub(crate) struct AttestationIndex {
    /// The attestations, in annotation order.
    pub list: Vec<Attestation>,
    /// The normalised repository each payload names (`None`: not a valid
    /// repository, which no image can match).
    repositories: Vec<Option<String>>,
    /// Indices into `list`, sorted by digest, then repository, then position.
    index: Vec<usize>,
}

/// The attestations naming an image's digest.
pub(crate) struct Candidates<'p> {
    /// Those that also name its repository, in order.
    pub matching: &'p [usize],
    /// One that names the digest for another repository, if any.
    pub other: Option<usize>,
}

impl AttestationIndex {
    /// Indexes `list`.
    pub fn new(list: Vec<Attestation>) -> Self {
        let repositories: Vec<Option<String>> = list
            .iter()
            .map(|a| {
                parse_repository(&a.claims.docker_reference)
                    .ok()
                    .map(|r| r.to_string())
            })
            .collect();
        let mut index: Vec<usize> = (0..list.len()).collect();
        // Ties keep annotation order (the index breaks them), so the unstable
        // sort, a fraction of the stable one's code, gives the same order.
        index.sort_unstable_by(|&a, &b| {
            (
                list[a].claims.digest.as_str(),
                repositories[a].as_deref(),
                a,
            )
                .cmp(&(
                    list[b].claims.digest.as_str(),
                    repositories[b].as_deref(),
                    b,
                ))
        });
        AttestationIndex {
            list,
            repositories,
            index,
        }
    }

    /// The attestations naming `digest`, split by whether they name
    /// `repository` (normalised). `None` when no attestation names `digest`.
    pub fn candidates(&self, digest: &str, repository: &str) -> Option<Candidates<'_>> {
        let d = |i: &usize| self.list[*i].claims.digest.as_str();
        let start = self.index.partition_point(|i| d(i) < digest);
        let len = self.index[start..].partition_point(|i| d(i) == digest);
        let same_digest = &self.index[start..start + len];
        let first = *same_digest.first()?;
        let r = |i: &usize| self.repositories[*i].as_deref();
        let from = same_digest.partition_point(|i| r(i) < Some(repository));
        let to = from + same_digest[from..].partition_point(|i| r(i) == Some(repository));
        let other = if from > 0 {
            Some(first)
        } else {
            same_digest.get(to).copied()
        };
        Some(Candidates {
            matching: &same_digest[from..to],
            other,
        })
    }
}
