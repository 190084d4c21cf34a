//! The admitted object, seen only through what the policy needs: the images
//! it makes the kubelet pull (every container list and every image volume),
//! its attestation annotations and its break-glass mark.
//!
//! A narrow borrowed view rather than the full `k8s-openapi` types: the
//! policy runs in a fresh instance for every admission, and deserialising a
//! whole Pod or Deployment into owned structs would spend most of the
//! evaluation allocating fields nobody reads. Fields that are read are typed
//! strictly, so a malformed object is refused, never half-read.

use core::fmt;
use std::borrow::Cow;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::settings::Text;

/// How a kind embeds its pod spec (or, for the old ephemeral-containers
/// subresource, its container list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `spec` is the PodSpec.
    Pod,
    /// `spec.template` is a PodTemplateSpec (Deployment, ReplicaSet,
    /// StatefulSet, DaemonSet, Job, ReplicationController).
    Template,
    /// `spec.jobTemplate.spec.template` is a PodTemplateSpec.
    CronJob,
    /// `pods/ephemeralcontainers` as Kubernetes 1.16–1.21 sent it: kind
    /// `EphemeralContainers`, the list `ephemeralContainers` at the top level
    /// next to the Pod's metadata. Ignoring it would let `kubectl debug` add
    /// an unverified image to a running Pod on those clusters.
    EphemeralContainers,
}

impl Shape {
    /// The shape of a kind, or `None` for kinds that run no images.
    #[must_use]
    pub fn of(group: &str, kind: &str) -> Option<Shape> {
        match (group, kind) {
            ("", "Pod") => Some(Shape::Pod),
            ("", "EphemeralContainers") => Some(Shape::EphemeralContainers),
            ("", "ReplicationController")
            | ("apps" | "extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
            | ("apps", "StatefulSet")
            | ("batch", "Job") => Some(Shape::Template),
            ("batch", "CronJob") => Some(Shape::CronJob),
            _ => None,
        }
    }

    /// JSON pointer of the pod spec inside the object (empty: the object
    /// itself holds the container list).
    #[must_use]
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            Shape::Pod => "/spec",
            Shape::Template => "/spec/template/spec",
            Shape::CronJob => "/spec/jobTemplate/spec/template/spec",
            Shape::EphemeralContainers => "",
        }
    }

    /// Where the attestation annotation must sit for the Pods to carry it.
    #[must_use]
    pub fn attestations_path(self) -> &'static str {
        match self {
            Shape::Pod | Shape::EphemeralContainers => "metadata.annotations",
            Shape::Template => "spec.template.metadata.annotations",
            Shape::CronJob => "spec.jobTemplate.spec.template.metadata.annotations",
        }
    }

    /// The same place as a field path for messages, with its trailing dot.
    #[must_use]
    pub fn pod_spec_path(self) -> &'static str {
        match self {
            Shape::Pod => "spec.",
            Shape::Template => "spec.template.spec.",
            Shape::CronJob => "spec.jobTemplate.spec.template.spec.",
            Shape::EphemeralContainers => "",
        }
    }
}

/// The three container lists of a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    /// `containers`
    Containers,
    /// `initContainers`
    InitContainers,
    /// `ephemeralContainers`
    EphemeralContainers,
}

impl ContainerList {
    /// The field name.
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// Where an image is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// `<list>[index].image`.
    Container(ContainerList, usize),
    /// `volumes[index].image.reference` (an ImageVolume, KEP-4639: the
    /// kubelet pulls it like a container image).
    Volume(usize),
}

impl Site {
    /// JSON pointer of the image string inside the object.
    #[must_use]
    pub fn pointer(self, shape: Shape) -> String {
        let base = shape.pod_spec_pointer();
        match self {
            Site::Container(list, i) => format!("{base}/{}/{i}/image", list.field()),
            Site::Volume(i) => format!("{base}/volumes/{i}/image/reference"),
        }
    }

    /// Field path of the container or volume, for messages
    /// (`spec.template.spec.volumes[0]`).
    #[must_use]
    pub fn path(self, shape: Shape) -> String {
        let base = shape.pod_spec_path();
        match self {
            Site::Container(list, i) => format!("{base}{}[{i}]", list.field()),
            Site::Volume(i) => format!("{base}volumes[{i}]"),
        }
    }
}

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

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    annotations: Option<Annotations<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
}

/// Kubernetes' limit on the annotations of one object's metadata: the sum
/// of the lengths of every key and value (`TotalAnnotationSizeLimitB` in
/// apimachinery's `ValidateAnnotationsSize`). The API server enforces it
/// only after mutating webhooks have run, so a mutating deployment of this
/// policy can be sent more; the policy refuses such an object before
/// reading a single attestation.
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

const ATTESTATIONS_KEY: &str = "kritis.grafeas.io/attestations";
const BREAKGLASS_KEY: &str = "kritis.grafeas.io/breakglass";

/// One metadata's annotations: the two the policy reads, and the total size
/// of all of them as Kubernetes counts it.
#[derive(Default)]
struct Annotations<'a> {
    attestations: Option<Text<'a>>,
    breakglass: bool,
    /// Sum of the lengths of every key and (string) value.
    bytes: usize,
}

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AnnotationsVisitor)
    }
}

struct AnnotationsVisitor;

impl<'de> Visitor<'de> for AnnotationsVisitor {
    type Value = Annotations<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of annotations")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut a = Annotations::default();
        let mut breakglass_seen = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            a.bytes = a.bytes.saturating_add(key.len());
            match key.as_ref() {
                ATTESTATIONS_KEY => {
                    if a.attestations.is_some() {
                        return Err(de::Error::duplicate_field(ATTESTATIONS_KEY));
                    }
                    let value: Text<'de> = map.next_value()?;
                    a.bytes = a.bytes.saturating_add(value.len());
                    a.attestations = Some(value);
                }
                BREAKGLASS_KEY => {
                    if breakglass_seen {
                        return Err(de::Error::duplicate_field(BREAKGLASS_KEY));
                    }
                    breakglass_seen = true;
                    a.bytes = a.bytes.saturating_add(map.next_value::<ValueLength>()?.0);
                    a.breakglass = true;
                }
                _ => a.bytes = a.bytes.saturating_add(map.next_value::<ValueLength>()?.0),
            }
        }
        Ok(a)
    }
}

/// The length of an annotation value: a string's length, nothing for any
/// other JSON value (the API server accepts only strings).
struct ValueLength(usize);

impl<'de> Deserialize<'de> for ValueLength {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueLength;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an annotation value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueLength, E> {
                Ok(ValueLength(v.len()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueLength, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValueLength(0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueLength, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValueLength(0))
            }
        }
        d.deserialize_any(V)
    }
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

/// `volumes[].image.reference`: a string, or what it is instead.
struct Reference<'a>(ImageField<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Reference<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReferenceVisitor).map(Reference)
    }
}

struct ReferenceVisitor;

impl<'de> Visitor<'de> for ReferenceVisitor {
    type Value = ImageField<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ImageField::Text(Text(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ImageField::Text(Text(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(ImageField::Text(Text(Cow::Owned(v))))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ImageField::NotText("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ImageField::NotText("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ImageField::NotText("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ImageField::NotText("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ImageField::Missing)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ImageField::NotText("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(ImageField::NotText("an object"))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    fn images(w: &Workload<'_>, shape: Shape) -> Vec<(String, String)> {
        w.images
            .iter()
            .map(|u| (u.site.path(shape), u.text().unwrap_or("-").to_owned()))
            .collect()
    }

    fn pod_spec() -> serde_json::Value {
        json!({
            "containers": [{"name": "a", "image": "img-a"}, {"name": "b", "image": "img-b"}],
            "initContainers": [{"name": "i", "image": "img-i"}],
            "ephemeralContainers": [{"name": "e", "image": "img-e"}],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "x"}},
                {"name": "tools", "image": {"reference": "img-v", "pullPolicy": "IfNotPresent"}}
            ]
        })
    }

    fn expected(shape: Shape) -> Vec<(String, String)> {
        let base = shape.pod_spec_path();
        [
            ("containers[0]", "img-a"),
            ("containers[1]", "img-b"),
            ("initContainers[0]", "img-i"),
            ("ephemeralContainers[0]", "img-e"),
            ("volumes[1]", "img-v"),
        ]
        .map(|(p, s)| (format!("{base}{p}"), s.to_owned()))
        .to_vec()
    }

    #[test]
    fn every_shape_and_every_list() {
        let ann = json!({"kritis.grafeas.io/attestations": "[1]", "kritis.grafeas.io/breakglass": "yes", "other": "x"});
        let tann = json!({"kritis.grafeas.io/attestations": "[2]"});
        let template = json!({"metadata": {"annotations": tann}, "spec": pod_spec()});
        // A Pod's own annotation counts; a controller's counts only in its
        // pod template (the Pods never see the controller's own metadata).
        let objects = [
            (
                Shape::Pod,
                json!({"metadata": {"annotations": ann, "namespace": "ns"}, "spec": pod_spec()}),
                "[1]",
                false,
            ),
            (
                Shape::Template,
                json!({"metadata": {"annotations": ann}, "spec": {"template": template}}),
                "[2]",
                true,
            ),
            (
                Shape::CronJob,
                json!({"metadata": {"annotations": ann}, "spec": {"jobTemplate": {"spec": {"template": template}}}}),
                "[2]",
                true,
            ),
        ];
        for (shape, object, counted, misplaced) in objects {
            let r = raw(object);
            let w = read(&r, shape).unwrap();
            assert_eq!(images(&w, shape), expected(shape), "{shape:?}");
            assert_eq!(w.attestations, [counted], "{shape:?}");
            assert_eq!(w.misplaced_attestations, misplaced, "{shape:?}");
            assert!(w.breakglass);
        }
    }

    #[test]
    fn image_volume_pointers_and_paths() {
        assert_eq!(
            Site::Volume(2).pointer(Shape::Template),
            "/spec/template/spec/volumes/2/image/reference"
        );
        assert_eq!(
            Site::Volume(0).path(Shape::CronJob),
            "spec.jobTemplate.spec.template.spec.volumes[0]"
        );
        assert_eq!(
            Site::Container(ContainerList::EphemeralContainers, 1)
                .pointer(Shape::EphemeralContainers),
            "/ephemeralContainers/1/image"
        );
    }

    #[test]
    fn image_volume_references_of_every_kind() {
        let r = raw(json!({"spec": {"volumes": [
            {"name": "a", "image": {}},
            {"name": "b", "image": {"reference": null}},
            {"name": "c", "image": {"reference": ""}},
            {"name": "d", "image": {"reference": 5}},
            {"name": "e", "image": {"reference": ["x"]}},
            {"name": "f", "image": {"reference": {"x": 1}}},
            {"name": "g", "image": {"reference": true}},
            {"name": "h", "image": null},
            {"name": "i", "image": {"reference": "plain"}}
        ]}}));
        let w = read(&r, Shape::Pod).unwrap();
        let got: Vec<(Site, ImageField<'_>)> =
            w.images.iter().map(|u| (u.site, u.image.clone())).collect();
        assert_eq!(
            got,
            vec![
                (Site::Volume(0), ImageField::Missing),
                (Site::Volume(1), ImageField::Missing),
                (Site::Volume(2), ImageField::Text("".into())),
                (Site::Volume(3), ImageField::NotText("a number")),
                (Site::Volume(4), ImageField::NotText("an array")),
                (Site::Volume(5), ImageField::NotText("an object")),
                (Site::Volume(6), ImageField::NotText("a boolean")),
                (Site::Volume(8), ImageField::Text("plain".into())),
            ]
        );
        // An escaped string is read too (owned, not borrowed).
        let esc = RawValue::from_string(
            r#"{"spec":{"volumes":[{"image":{"reference":"esc\u0061ped"}}]}}"#.into(),
        )
        .unwrap();
        let w = read(&esc, Shape::Pod).unwrap();
        assert_eq!(w.images[0].text(), Some("escaped"));
        // A source that is not an object, or a doubled reference, is refused.
        assert!(read(
            &raw(json!({"spec": {"volumes": [{"image": "x"}]}})),
            Shape::Pod
        )
        .is_err());
        let dup = RawValue::from_string(
            r#"{"spec":{"volumes":[{"image":{"reference":"a","reference":"b"}}]}}"#.into(),
        )
        .unwrap();
        assert!(read(&dup, Shape::Pod).is_err());
    }

    #[test]
    fn old_ephemeral_containers_object() {
        let r = raw(json!({"apiVersion": "v1", "kind": "EphemeralContainers",
            "metadata": {"name": "p", "namespace": "ns", "annotations": {"kritis.grafeas.io/attestations": "[]"}},
            "ephemeralContainers": [{"name": "debugger", "image": "busybox:1"}]}));
        let w = read(&r, Shape::EphemeralContainers).unwrap();
        assert_eq!(
            images(&w, Shape::EphemeralContainers),
            vec![("ephemeralContainers[0]".to_owned(), "busybox:1".to_owned())]
        );
        assert_eq!(w.attestations.len(), 1);
        assert_eq!(w.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn kinds() {
        assert_eq!(
            Shape::of("", "EphemeralContainers"),
            Some(Shape::EphemeralContainers)
        );
        assert_eq!(Shape::of("", "Pod"), Some(Shape::Pod));
        assert_eq!(Shape::of("apps", "StatefulSet"), Some(Shape::Template));
        assert_eq!(Shape::of("batch", "CronJob"), Some(Shape::CronJob));
        assert_eq!(Shape::of("", "ConfigMap"), None);
        assert_eq!(Shape::of("example.com", "Pod"), None);
    }

    #[test]
    fn nulls_and_absences_are_empty() {
        let r = raw(json!({"metadata": {"annotations": null}, "spec": {"containers": null}}));
        let w = read(&r, Shape::Pod).unwrap();
        assert!(w.images.is_empty() && w.attestations.is_empty() && !w.breakglass);
        let r = raw(json!({"spec": {"template": null}}));
        assert!(read(&r, Shape::Template).unwrap().images.is_empty());
    }

    #[test]
    fn malformed_objects_are_errors() {
        for bad in [
            json!({"spec": {"containers": [{"image": 5}]}}),
            json!({"spec": {"containers": {"image": "x"}}}),
            json!({"metadata": {"annotations": {"kritis.grafeas.io/attestations": []}}}),
            json!({"spec": {"initContainers": "x"}}),
        ] {
            assert!(read(&raw(bad.clone()), Shape::Pod).is_err(), "{bad}");
        }
        let dup =
            RawValue::from_string(r#"{"spec":{"containers":[{"image":"a","image":"b"}]}}"#.into())
                .unwrap();
        assert!(read(&dup, Shape::Pod).is_err());
    }

    #[test]
    fn container_without_image_is_kept() {
        let r = raw(json!({"spec": {"containers": [{"name": "x"}]}}));
        let w = read(&r, Shape::Pod).unwrap();
        assert_eq!(w.images.len(), 1);
        assert_eq!(w.images[0].image, ImageField::Missing);
    }
}
