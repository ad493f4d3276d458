//! The resource a record carries: the provider's, merged over the
//! recorder's (rules in the crate docs).

use std::borrow::Cow;

use tracespool::adapter::Resource;
use tracespool::Attribute;

/// The provider's resource merged over the recorder's.
pub fn merged_resource(recorder: &Resource, provider: &opentelemetry_sdk::Resource) -> Resource {
    let mut attributes: Vec<Attribute> = recorder.attributes.clone();
    for (key, value) in provider.iter() {
        let key = key.as_str();
        if key.starts_with("telemetry.sdk.") {
            continue;
        }
        let defaulted = key == "service.name" && value.as_str().starts_with("unknown_service");
        if let Some(existing) = attributes.iter_mut().find(|a| a.key == key) {
            if !defaulted {
                *existing = crate::convert::attribute(opentelemetry::KeyValue::new(
                    key.to_owned(),
                    value.clone(),
                ));
            }
        } else {
            attributes.push(crate::convert::attribute(opentelemetry::KeyValue::new(
                key.to_owned(),
                value.clone(),
            )));
        }
    }
    let mut r = Resource::new(attributes);
    r.schema_url = match provider.schema_url() {
        Some(u) if !u.is_empty() => Cow::Owned(u.to_owned()),
        _ => recorder.schema_url.clone(),
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;
    use tracespool::AttributeValue;

    fn get<'a>(r: &'a Resource, k: &str) -> Option<&'a AttributeValue> {
        r.attributes.iter().find(|a| a.key == k).map(|a| &a.value)
    }

    #[test]
    fn the_provider_wins_except_sdk_and_defaulted_service() {
        let recorder = Resource::new(vec![
            Attribute::new("service.name", "kiosk"),
            Attribute::new("telemetry.sdk.name", "tracespool"),
            Attribute::new("host.name", "edge-1"),
        ]);
        let provider = opentelemetry_sdk::Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "unknown_service:app"),
                KeyValue::new("telemetry.sdk.name", "opentelemetry"),
                KeyValue::new("deployment.environment.name", "prod"),
                KeyValue::new("host.name", "edge-2"),
            ])
            .with_schema_url([], "https://opentelemetry.io/schemas/1.26.0")
            .build();
        let m = merged_resource(&recorder, &provider);
        assert_eq!(get(&m, "service.name"), Some(&"kiosk".into()));
        assert_eq!(get(&m, "telemetry.sdk.name"), Some(&"tracespool".into()));
        assert_eq!(get(&m, "host.name"), Some(&"edge-2".into()));
        assert_eq!(get(&m, "deployment.environment.name"), Some(&"prod".into()));
        assert_eq!(m.schema_url, "https://opentelemetry.io/schemas/1.26.0");

        let named = opentelemetry_sdk::Resource::builder_empty()
            .with_attributes([KeyValue::new("service.name", "checkout")])
            .build();
        let m = merged_resource(&recorder, &named);
        assert_eq!(get(&m, "service.name"), Some(&"checkout".into()));
    }
}
