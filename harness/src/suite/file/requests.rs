//! A case's AdmissionRequests: from `request:` (an AdmissionReview, as is),
//! or from `resource:` (one request per object, built the way the API
//! server does).

use std::path::Path;

use serde_json::Value;

use super::format::CaseFile;
use super::loaded::CaseRequest;
use crate::host::admission::{admission_request as request_of_review, read_json_file};
use crate::suite::review::{admission_request, deterministic_uid, object_label, RequestOptions};
use crate::suite::yaml::{read_documents, single_document};

/// `cases[INDEX].FIELD`, for messages.
fn at(index: usize, field: &str) -> String {
    format!("cases[{index}].{field}")
}

/// The requests of case `index` of the suite `suite_name`, or why it cannot
/// run.
pub(super) fn case_requests(
    case: &CaseFile,
    index: usize,
    suite_name: &str,
    dir: &Path,
    fallback_namespace: Option<&str>,
) -> Result<Vec<CaseRequest>, String> {
    match (&case.resource, &case.request) {
        (Some(_), Some(_)) => Err(format!(
            "{}: give either resource or request, not both",
            at(index, "request")
        )),
        (None, None) => Err(format!(
            "cases[{index}]: needs resource (an object) or request (an AdmissionReview)"
        )),
        (None, Some(request)) => review_request(case, request, index, dir),
        (Some(resource), None) => {
            resource_requests(case, resource, index, suite_name, dir, fallback_namespace)
        }
    }
}

/// `request:`: a complete AdmissionReview (a file or inline), taken as is.
fn review_request(
    case: &CaseFile,
    request: &Value,
    index: usize,
    dir: &Path,
) -> Result<Vec<CaseRequest>, String> {
    if case.operation.is_some()
        || case.namespace.is_some()
        || case.user_info.is_some()
        || case.old_object.is_some()
        || case.sub_resource.is_some()
        || case.select.is_some()
    {
        return Err(format!(
            "{}: a complete AdmissionRequest; operation, namespace, userInfo, oldObject, \
             subResource and select only go with resource",
            at(index, "request")
        ));
    }
    let document = match request {
        Value::String(file) => read_json_file(&dir.join(file), "request")
            .or_else(|_| {
                single_document(&dir.join(file), "request file").map(Option::unwrap_or_default)
            })
            .map_err(|e| format!("{}: {e:#}", at(index, "request")))?,
        Value::Object(_) => request.clone(),
        other => {
            return Err(format!(
                "{}: expected a file path or an object, found {other}",
                at(index, "request")
            ))
        }
    };
    let request =
        request_of_review(document).map_err(|e| format!("{}: {e:#}", at(index, "request")))?;
    Ok(vec![CaseRequest {
        label: None,
        request,
    }])
}

/// `resource:`: one request per (selected) object.
fn resource_requests(
    case: &CaseFile,
    resource: &Value,
    index: usize,
    suite_name: &str,
    dir: &Path,
    fallback_namespace: Option<&str>,
) -> Result<Vec<CaseRequest>, String> {
    let objects = selected_objects(case, resource, index, dir)?;
    let old_object = old_object(case, index, dir)?;
    let several = objects.len() > 1;
    let mut requests = Vec::with_capacity(objects.len());
    for (n, object) in objects.iter().enumerate() {
        let label = several.then(|| object_label(object));
        let index_text = n.to_string();
        let options = RequestOptions {
            operation: case.operation.unwrap_or_default(),
            namespace: case.namespace.clone(),
            fallback_namespace: fallback_namespace.map(str::to_owned),
            user_info: case.user_info.clone(),
            old_object: old_object.clone(),
            sub_resource: case.sub_resource.clone(),
            uid: deterministic_uid(&[suite_name, &case.name, &index_text]),
        };
        let request = admission_request(object, &options).map_err(|e| {
            let which = label
                .as_ref()
                .map_or_else(String::new, |l| format!(" ({l})"));
            format!("{}{which}: {e:#}", at(index, "resource"))
        })?;
        requests.push(CaseRequest { label, request });
    }
    Ok(requests)
}

/// The objects of `resource`, only those `select` names when it is given.
fn selected_objects(
    case: &CaseFile,
    resource: &Value,
    index: usize,
    dir: &Path,
) -> Result<Vec<Value>, String> {
    let mut objects =
        resource_objects(resource, dir).map_err(|e| format!("{}: {e}", at(index, "resource")))?;
    if let Some(wanted) = &case.select {
        let labels: Vec<String> = objects.iter().map(object_label).collect();
        objects.retain(|o| {
            object_label(o) == *wanted
                || o.pointer("/metadata/name").and_then(Value::as_str) == Some(wanted)
        });
        if objects.is_empty() {
            return Err(format!(
                "{}: no object named {wanted:?} in the resource (it holds {})",
                at(index, "select"),
                labels.join(", ")
            ));
        }
    }
    Ok(objects)
}

/// `oldObject`: exactly one object, when given.
fn old_object(case: &CaseFile, index: usize, dir: &Path) -> Result<Option<Value>, String> {
    match &case.old_object {
        None => Ok(None),
        Some(value) => {
            let mut old = resource_objects(value, dir)
                .map_err(|e| format!("{}: {e}", at(index, "oldObject")))?;
            if old.len() != 1 {
                return Err(format!(
                    "{}: expected one object, found {}",
                    at(index, "oldObject"),
                    old.len()
                ));
            }
            Ok(old.pop())
        }
    }
}

/// Objects of a `resource:` (a file of one or more documents, `List`s
/// expanded; an inline object; or an inline list of objects).
fn resource_objects(value: &Value, dir: &Path) -> Result<Vec<Value>, String> {
    let documents = match value {
        Value::String(file) => {
            read_documents(&dir.join(file), "resource file").map_err(|e| format!("{e:#}"))?
        }
        Value::Object(_) => vec![value.clone()],
        Value::Array(items) => items.clone(),
        other => return Err(format!("expected a file path or an object, found {other}")),
    };
    let mut objects = Vec::new();
    for document in documents {
        expand_list(document, &mut objects);
    }
    if objects.is_empty() {
        return Err("no object".to_owned());
    }
    Ok(objects)
}

/// Appends `document`, or the items of a `List` (nested ones too).
fn expand_list(document: Value, out: &mut Vec<Value>) {
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && document.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = document.get("items") {
            for item in items {
                expand_list(item.clone(), out);
            }
        }
    } else {
        out.push(document);
    }
}
