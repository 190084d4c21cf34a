//! The admitted object, seen only through what the policy needs: the images
//! it makes the kubelet pull (every container list and every image volume),
//! its attestation annotations and its break-glass mark.
//!
//! A narrow borrowed view rather than the full `k8s-openapi` types: the
//! policy runs in a fresh instance for every admission, and deserialising a
//! whole Pod or Deployment into owned structs would spend most of the
//! evaluation allocating fields nobody reads. Fields that are read are typed
//! strictly, so a malformed object is refused, never half-read.
//!
//! This module holds the view itself; how it is read lives in its own files:
//! - `shape`: how each kind embeds its pod spec, and where an image sits in
//!   it (JSON pointers, field paths);
//! - `objects`: each kind's object as serde reads it, and its assembly into
//!   the view;
//! - `annotations`: one metadata's annotations, reading two and sizing all;
//! - `reference`: an image volume's reference, read leniently.

mod annotations;
mod objects;
mod reference;
mod shape;
#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::settings::Text;
pub use annotations::MAX_ANNOTATION_BYTES;
pub use objects::{read, Seed};
pub use shape::{ContainerList, Shape, Site};

/// An image field as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageField<'a> {
    /// A string (possibly empty).
    Text(Text<'a>),
    /// Absent or `null`.
    Missing,
    /// Not a string: what it is instead (`a number`, `an object`…).
    NotText(&'static str),
}

/// One image the object makes the kubelet pull, with where it was found.
#[derive(Debug)]
pub struct ImageUse<'a> {
    /// The container or volume.
    pub site: Site,
    /// The container's or volume's name.
    pub name: Option<Text<'a>>,
    /// The image as written.
    pub image: ImageField<'a>,
}

impl ImageUse<'_> {
    /// The image, when it is a string.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        match &self.image {
            ImageField::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// What the policy reads of an object.
#[derive(Debug, Default)]
pub struct Workload<'a> {
    /// Every container of every list, in order, then every image volume.
    pub images: Vec<ImageUse<'a>>,
    /// Values of the attestation annotation where the Pods carry it: a
    /// Pod's own metadata, or a controller's pod template (a controller
    /// copies only its template into the Pods it creates).
    pub attestations: Vec<Text<'a>>,
    /// A controller (template kind) whose own metadata carries the
    /// attestation annotation: its Pods never see it, so it does not count,
    /// and a rejection says where to move it.
    pub misplaced_attestations: bool,
    /// The object's own metadata carries `kritis.grafeas.io/breakglass`.
    pub breakglass: bool,
    /// `metadata.namespace` of the object, if set.
    pub namespace: Option<Text<'a>>,
    /// A metadata whose annotations exceed [`MAX_ANNOTATION_BYTES`]: its
    /// path and their total size. Such an object is refused unread.
    pub oversized_annotations: Option<(&'static str, usize)>,
}

/// `apiVersion` and `kind` of an object, for requests that lack `request.kind`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta<'a> {
    /// `group/version`, or `version` for the core group.
    #[serde(borrow, default)]
    pub api_version: Option<Text<'a>>,
    /// The kind.
    #[serde(borrow, default)]
    pub kind: Option<Text<'a>>,
}
