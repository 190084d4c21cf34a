//! Each kind's object as serde reads it (Pod, pod template controllers,
//! CronJob, the old EphemeralContainers), in the shape its kind gives, and
//! the assembly of its parts into the [`Workload`] view. Separate from the
//! view because these types are the reader's private plumbing: nothing
//! outside reads them.

use serde::de;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::annotations::{Annotations, MAX_ANNOTATION_BYTES};
use super::reference::Reference;
use super::{ContainerList, ImageField, ImageUse, Shape, Site, Workload};
use crate::settings::Text;

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    annotations: Option<Annotations<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec<'a> {
    #[serde(borrow, default)]
    containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    init_containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    ephemeral_containers: Option<Vec<Container<'a>>>,
    #[serde(borrow, default)]
    volumes: Option<Vec<Volume<'a>>>,
}

#[derive(Deserialize)]
struct Container<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    image: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Volume<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    image: Option<ImageVolumeSource<'a>>,
}

#[derive(Deserialize)]
struct ImageVolumeSource<'a> {
    // Read leniently: a reference that is not a string is reported as such,
    // naming the volume, instead of failing the whole object anonymously.
    #[serde(borrow, default)]
    reference: Option<Reference<'a>>,
}

#[derive(Deserialize, Default)]
struct PodTemplate<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<PodSpec<'a>>,
}

#[derive(Deserialize)]
struct PodObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<PodSpec<'a>>,
}

/// The pre-1.22 `EphemeralContainers` object: metadata and the list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EphemeralContainersObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    ephemeral_containers: Option<Vec<Container<'a>>>,
}

#[derive(Deserialize, Default)]
struct TemplateSpec<'a> {
    #[serde(borrow, default)]
    template: Option<PodTemplate<'a>>,
}

#[derive(Deserialize)]
struct TemplateObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<TemplateSpec<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CronJobSpec<'a> {
    #[serde(borrow, default)]
    job_template: Option<JobTemplate<'a>>,
}

#[derive(Deserialize, Default)]
struct JobTemplate<'a> {
    #[serde(borrow, default)]
    spec: Option<TemplateSpec<'a>>,
}

#[derive(Deserialize)]
struct CronJobObject<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    spec: Option<CronJobSpec<'a>>,
}

/// Reads the workload view of an object of the given shape.
///
/// # Errors
/// The JSON error when the object does not have the shape of its kind.
pub fn read<'a>(object: &'a RawValue, shape: Shape) -> Result<Workload<'a>, serde_json::Error> {
    crate::json::from_str_seed(object.get(), Seed(shape))
}

/// Reads the workload view of an object of a known shape wherever it sits
/// in the payload: [`read`] on its own text, or the request's `object` in
/// the payload's one pass (no raw copy scanned first, then parsed again).
#[derive(Debug, Clone, Copy)]
pub struct Seed(pub Shape);

impl<'de> de::DeserializeSeed<'de> for Seed {
    type Value = Workload<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Workload<'de>, D::Error> {
        let shape = self.0;
        let parts = match shape {
            Shape::Pod => {
                let o = PodObject::deserialize(d)?;
                (o.metadata, None, o.spec)
            }
            Shape::EphemeralContainers => {
                let o = EphemeralContainersObject::deserialize(d)?;
                let spec = PodSpec {
                    ephemeral_containers: o.ephemeral_containers,
                    ..PodSpec::default()
                };
                (o.metadata, None, Some(spec))
            }
            Shape::Template => {
                let o = TemplateObject::deserialize(d)?;
                let t = o.spec.and_then(|s| s.template).unwrap_or_default();
                (o.metadata, t.metadata, t.spec)
            }
            Shape::CronJob => {
                let o = CronJobObject::deserialize(d)?;
                let t = o
                    .spec
                    .and_then(|s| s.job_template)
                    .and_then(|j| j.spec)
                    .and_then(|s| s.template)
                    .unwrap_or_default();
                (o.metadata, t.metadata, t.spec)
            }
        };
        Ok(assemble(shape, parts))
    }
}

/// An object's metadata, its pod template's metadata and its pod spec.
type Parts<'a> = (
    Option<Metadata<'a>>,
    Option<Metadata<'a>>,
    Option<PodSpec<'a>>,
);

/// The workload view of an object's parts.
fn assemble(shape: Shape, (metadata, template_metadata, spec): Parts<'_>) -> Workload<'_> {
    let metadata = metadata.unwrap_or_default();
    let own = metadata.annotations.unwrap_or_default();
    let template = template_metadata.and_then(|m| m.annotations);
    let oversized = if own.bytes > MAX_ANNOTATION_BYTES {
        Some(("metadata.annotations", own.bytes))
    } else {
        template
            .as_ref()
            .filter(|t| t.bytes > MAX_ANNOTATION_BYTES)
            .map(|t| (shape.attestations_path(), t.bytes))
    };
    let mut w = Workload {
        breakglass: own.breakglass,
        namespace: metadata.namespace,
        oversized_annotations: oversized,
        ..Workload::default()
    };
    if oversized.is_some() {
        return w;
    }
    match shape {
        Shape::Pod | Shape::EphemeralContainers => w.attestations.extend(own.attestations),
        Shape::Template | Shape::CronJob => w.misplaced_attestations = own.attestations.is_some(),
    }
    if let Some(t) = template {
        w.attestations.extend(t.attestations);
    }
    let spec = spec.unwrap_or_default();
    for (list, containers) in [
        (ContainerList::Containers, spec.containers),
        (ContainerList::InitContainers, spec.init_containers),
        (
            ContainerList::EphemeralContainers,
            spec.ephemeral_containers,
        ),
    ] {
        for (index, c) in containers.unwrap_or_default().into_iter().enumerate() {
            w.images.push(ImageUse {
                site: Site::Container(list, index),
                name: c.name,
                image: c.image.map_or(ImageField::Missing, ImageField::Text),
            });
        }
    }
    for (index, v) in spec.volumes.unwrap_or_default().into_iter().enumerate() {
        // Only image volumes pull an image; other sources are not read.
        let Some(source) = v.image else { continue };
        w.images.push(ImageUse {
            site: Site::Volume(index),
            name: v.name,
            image: source.reference.map_or(ImageField::Missing, |r| r.0),
        });
    }
    w
}
