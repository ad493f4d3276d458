//! Which resource attributes travel with every span, as Google's own
//! exporters send them: a pure function of the resource, computed once per
//! distinct resource.
//!
//! # Rules
//!
//! 1. The service: `service.name` is sent as **`g.co/gae/app/module`**
//!    (what the Trace UI shows as the service) and as `service.name`.
//! 2. The **monitored resource**: the resource is mapped to a Cloud
//!    Monitoring resource type the way Google's exporters map it
//!    (`cloud.platform` = `gcp_compute_engine` → `gce_instance`;
//!    `gcp_kubernetes_engine` → `k8s_container`, `k8s_pod`, `k8s_node` or
//!    `k8s_cluster`, the most specific the attributes allow;
//!    `aws_ec2` → `aws_ec2_instance`; otherwise `generic_task` when both
//!    `service.name` and `service.instance.id` are set, else
//!    `generic_node`), and each of its labels is sent as
//!    `g.co/r/<type>/<label>`. A label whose attributes are all absent is
//!    left out, except `location`, which falls back to `global`.
//! 3. **Nothing else**, unless the operator opts in with a key regex
//!    (`tracespool upload --resource-labels REGEX`): resource attributes
//!    whose key matches are sent under their own key. `telemetry.sdk.*`
//!    never is: it travels in `g.co/agent`.
//!
//! Within Cloud Trace's 32 slots, `g.co/agent` and `g.co/gae/app/module`
//! come first, then the span's own attributes, then these labels in the
//! order above (see [`super::convert::select_attributes`]).

use std::borrow::Cow;

use regex::Regex;
use tracespool_schema::{Attribute, Resource};

/// The labels derived from one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceLabels {
    /// The service name, sent as `g.co/gae/app/module`.
    pub module: Option<String>,
    /// `service.name`, the `g.co/r/...` labels and the opted-in
    /// attributes, in that order: sent after the span's own attributes.
    pub labels: Vec<Attribute>,
}

/// For each monitored-resource type: its labels and the resource keys
/// that fill each, coalesced in order.
type Mapping = &'static [(&'static str, &'static [&'static str])];

const ZONE: &str = "cloud.availability_zone";
const REGION: &str = "cloud.region";

const GCE_INSTANCE: Mapping = &[("instance_id", &["host.id"]), ("zone", &[ZONE])];
const K8S_CONTAINER: Mapping = &[
    ("cluster_name", &["k8s.cluster.name"]),
    ("container_name", &["k8s.container.name"]),
    ("location", &[ZONE]),
    ("namespace_name", &["k8s.namespace.name"]),
    ("pod_name", &["k8s.pod.name"]),
];
const K8S_POD: Mapping = &[
    ("cluster_name", &["k8s.cluster.name"]),
    ("location", &[ZONE]),
    ("namespace_name", &["k8s.namespace.name"]),
    ("pod_name", &["k8s.pod.name"]),
];
const K8S_NODE: Mapping = &[
    ("cluster_name", &["k8s.cluster.name"]),
    ("location", &[ZONE]),
    ("node_name", &["k8s.node.name"]),
];
const K8S_CLUSTER: Mapping = &[
    ("cluster_name", &["k8s.cluster.name"]),
    ("location", &[ZONE]),
];
const AWS_EC2_INSTANCE: Mapping = &[
    ("aws_account", &["cloud.account.id"]),
    ("instance_id", &["host.id"]),
    ("region", &[ZONE]),
];
const GENERIC_TASK: Mapping = &[
    ("job", &["service.name"]),
    ("location", &[ZONE, REGION]),
    ("namespace", &["service.namespace"]),
    ("task_id", &["service.instance.id"]),
];
const GENERIC_NODE: Mapping = &[
    ("location", &[ZONE, REGION]),
    ("namespace", &["service.namespace"]),
    ("node_id", &["host.id", "host.name"]),
];

/// A resource attribute's value as text (`None` when absent or empty).
fn text<'a>(resource: &'a Resource, key: &str) -> Option<Cow<'a, str>> {
    let a = resource.attributes.iter().rev().find(|a| a.key == key)?;
    let t = crate::value_text::value_text(&a.value);
    (!t.is_empty()).then_some(t)
}

/// The monitored-resource type of `resource` and its mapping.
fn monitored_type(resource: &Resource) -> (&'static str, Mapping) {
    let has = |k: &str| text(resource, k).is_some();
    match text(resource, "cloud.platform").as_deref() {
        Some("gcp_compute_engine") => ("gce_instance", GCE_INSTANCE),
        Some("gcp_kubernetes_engine") if has("k8s.container.name") => {
            ("k8s_container", K8S_CONTAINER)
        }
        Some("gcp_kubernetes_engine") if has("k8s.pod.name") => ("k8s_pod", K8S_POD),
        Some("gcp_kubernetes_engine") if has("k8s.node.name") => ("k8s_node", K8S_NODE),
        Some("gcp_kubernetes_engine") => ("k8s_cluster", K8S_CLUSTER),
        Some("aws_ec2") => ("aws_ec2_instance", AWS_EC2_INSTANCE),
        _ if has("service.name") && has("service.instance.id") => ("generic_task", GENERIC_TASK),
        _ => ("generic_node", GENERIC_NODE),
    }
}

/// The `g.co/r/<type>/<label>` labels of `resource`, in label order.
pub fn monitored_resource_labels(resource: &Resource) -> Vec<Attribute> {
    let (kind, mapping) = monitored_type(resource);
    mapping
        .iter()
        .filter_map(|(label, keys)| {
            let value = keys
                .iter()
                .find_map(|k| text(resource, k))
                .map(Cow::into_owned)
                .or_else(|| (*label == "location").then(|| "global".to_owned()))?;
            Some(Attribute::new(format!("g.co/r/{kind}/{label}"), value))
        })
        .collect()
}

/// The labels `resource` contributes to each of its spans; `opt_in`
/// selects further resource attributes by key.
pub fn resource_labels(resource: &Resource, opt_in: Option<&Regex>) -> ResourceLabels {
    let module = text(resource, "service.name").map(Cow::into_owned);
    let mut labels = Vec::new();
    if let Some(m) = &module {
        labels.push(Attribute::new("service.name", m.clone()));
    }
    labels.extend(monitored_resource_labels(resource));
    if let Some(re) = opt_in {
        labels.extend(
            resource
                .attributes
                .iter()
                .filter(|a| {
                    a.key != "service.name"
                        && !a.key.starts_with("telemetry.sdk.")
                        && re.is_match(&a.key)
                })
                .cloned(),
        );
    }
    ResourceLabels { module, labels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracespool_schema::AttributeValue;

    fn res(attrs: &[(&'static str, &'static str)]) -> Resource {
        Resource::new(attrs.iter().map(|(k, v)| Attribute::new(*k, *v)).collect())
    }

    fn keys(l: &ResourceLabels) -> Vec<String> {
        l.labels.iter().map(|a| a.key.to_string()).collect()
    }

    #[test]
    fn an_edge_box_sends_its_service_and_a_generic_node_only() {
        let r = res(&[
            ("service.name", "kiosk"),
            ("host.name", "edge-17"),
            ("process.pid", "42"),
            ("telemetry.sdk.name", "tracespool"),
            ("service.version", "1.2"),
        ]);
        let l = resource_labels(&r, None);
        assert_eq!(l.module.as_deref(), Some("kiosk"));
        assert_eq!(
            keys(&l),
            [
                "service.name",
                "g.co/r/generic_node/location",
                "g.co/r/generic_node/node_id"
            ]
        );
        assert_eq!(l.labels[1].value, AttributeValue::from("global"));
        assert_eq!(l.labels[2].value, AttributeValue::from("edge-17"));
    }

    #[test]
    fn a_removed_host_name_is_not_sent_at_all() {
        let l = resource_labels(&res(&[("service.name", "kiosk")]), None);
        assert!(!format!("{l:?}").contains("node_id"));
    }

    #[test]
    fn gke_maps_to_the_most_specific_kubernetes_type() {
        let r = res(&[
            ("cloud.platform", "gcp_kubernetes_engine"),
            ("cloud.availability_zone", "europe-west1-b"),
            ("k8s.cluster.name", "c1"),
            ("k8s.namespace.name", "ns"),
            ("k8s.pod.name", "p-1"),
            ("k8s.container.name", "app"),
        ]);
        let l = resource_labels(&r, None);
        assert_eq!(
            keys(&l),
            [
                "g.co/r/k8s_container/cluster_name",
                "g.co/r/k8s_container/container_name",
                "g.co/r/k8s_container/location",
                "g.co/r/k8s_container/namespace_name",
                "g.co/r/k8s_container/pod_name"
            ]
        );
        let r = res(&[
            ("cloud.platform", "gcp_kubernetes_engine"),
            ("k8s.cluster.name", "c1"),
        ]);
        assert_eq!(
            keys(&resource_labels(&r, None)),
            [
                "g.co/r/k8s_cluster/cluster_name",
                "g.co/r/k8s_cluster/location"
            ]
        );
    }

    #[test]
    fn gce_and_generic_task() {
        let r = res(&[
            ("cloud.platform", "gcp_compute_engine"),
            ("host.id", "123"),
            ("cloud.availability_zone", "us-east1-c"),
        ]);
        assert_eq!(
            keys(&resource_labels(&r, None)),
            [
                "g.co/r/gce_instance/instance_id",
                "g.co/r/gce_instance/zone"
            ]
        );
        let r = res(&[
            ("service.name", "job"),
            ("service.instance.id", "i-1"),
            ("cloud.region", "eu"),
        ]);
        let l = resource_labels(&r, None);
        assert_eq!(
            keys(&l),
            [
                "service.name",
                "g.co/r/generic_task/job",
                "g.co/r/generic_task/location",
                "g.co/r/generic_task/task_id"
            ]
        );
        assert_eq!(l.labels[2].value, AttributeValue::from("eu"));
    }

    #[test]
    fn other_resource_attributes_only_when_opted_in() {
        let r = res(&[
            ("service.name", "kiosk"),
            ("service.version", "1.2"),
            ("deployment.environment", "prod"),
            ("telemetry.sdk.version", "0.1.0"),
        ]);
        let re = Regex::new(r"^(service\.|deployment\.|telemetry\.)").unwrap();
        let k = keys(&resource_labels(&r, Some(&re)));
        assert!(k.contains(&"service.version".to_owned()));
        assert!(k.contains(&"deployment.environment".to_owned()));
        assert!(!k.iter().any(|k| k.starts_with("telemetry.sdk")));
        assert_eq!(k.iter().filter(|k| *k == "service.name").count(), 1);
        assert!(!keys(&resource_labels(&r, None)).contains(&"service.version".to_owned()));
    }
}
