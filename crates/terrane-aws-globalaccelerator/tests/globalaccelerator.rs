//! Global Accelerator, offline only: moto 5.2.5 has no Global Accelerator backend at all
//! (no `moto/globalaccelerator`), so nothing can be created, observed or deleted locally.
//! These tests check the schema, and that every call goes to us-west-2 (the only region
//! the API answers in) whatever region the stack gives, without reaching any endpoint.

use std::sync::Arc;

use terrane_aws_globalaccelerator::accelerator::{Accelerator, HOSTED_ZONE_ID};
use terrane_aws_globalaccelerator::endpoint_group::EndpointGroup;
use terrane_aws_globalaccelerator::listener::Listener;
use terrane_aws_globalaccelerator::{API_REGION, AwsClients};
use terrane_core::AttrKind;
use terrane_provider::{ObserveRequest, ResourceType};

#[test]
fn accelerator_schema() {
    let t = Accelerator::new(Arc::new(AwsClients::offline()));
    let schema = t.schema();
    assert_eq!(schema.type_name, "aws.globalaccelerator.accelerator");
    assert!(schema.taggable);
    assert_eq!(schema.id_attribute, "arn");
    for a in &schema.attributes {
        assert!(!a.description.is_empty(), "{} has no description", a.name);
    }
    let attr = |n: &str| schema.attribute(n).unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(attr("name").kind, AttrKind::Required);
    assert!(!attr("name").forces_replacement);
    assert!(!attr("enabled").forces_replacement);
    assert!(!attr("ip_address_type").forces_replacement);
    assert!(attr("ip_addresses").forces_replacement);
    for computed in ["arn", "dns_name", "hosted_zone_id", "ip_sets", "status"] {
        assert_eq!(attr(computed).kind, AttrKind::Computed, "{computed}");
    }
    assert_eq!(HOSTED_ZONE_ID, "Z2BJ6XQ5FK7U4H");
    assert!(schema.example.contains("aws.globalaccelerator.accelerator"));
}

/// The stack says eu-west-1; the call is still made in us-west-2. With no credentials
/// configured the call fails before anything is sent, but the call counter has seen it.
#[tokio::test]
async fn calls_go_to_us_west_2() {
    let clients = Arc::new(AwsClients::offline());
    let t = Accelerator::new(clients.clone());
    let ids = vec!["arn:aws:globalaccelerator::123456789012:accelerator/x".to_string()];
    let _ = t
        .observe(ObserveRequest {
            region: "eu-west-1",
            ids: &ids,
        })
        .await;
    let calls = clients.calls().snapshot();
    assert!(!calls.is_empty(), "no call attempted");
    for (service, operation, region) in calls.keys() {
        assert_eq!(region, API_REGION, "{service} {operation} went to {region}");
    }
}

#[test]
fn listener_and_endpoint_group_schemas() {
    let clients = Arc::new(AwsClients::offline());
    let listener = Listener::new(clients.clone());
    let group = EndpointGroup::new(clients);
    for (t, parent) in [
        (&listener as &dyn ResourceType, "accelerator_arn"),
        (&group as &dyn ResourceType, "listener_arn"),
    ] {
        let schema = t.schema();
        // Neither carries tags: found by ownership through their accelerator only.
        assert!(!schema.taggable, "{}", schema.type_name);
        assert_eq!(schema.id_attribute, "arn");
        for a in &schema.attributes {
            assert!(!a.description.is_empty(), "{} has no description", a.name);
        }
        let p = schema.attribute(parent).unwrap();
        assert_eq!(p.kind, AttrKind::Required);
        assert!(p.forces_replacement, "{parent}");
        assert!(schema.example.contains(schema.type_name));
    }
    let ls = listener.schema();
    assert!(!ls.attribute("port_ranges").unwrap().forces_replacement);
    assert!(ls.attribute("port_ranges").unwrap().unordered);
    let gs = group.schema();
    assert!(
        gs.attribute("endpoint_group_region")
            .unwrap()
            .forces_replacement
    );
    assert!(
        !gs.attribute("endpoint_configurations")
            .unwrap()
            .forces_replacement
    );
}

/// Listeners are listed per accelerator: the accelerator's ARN is read off the listener's.
#[tokio::test]
async fn listener_reads_go_to_us_west_2_per_accelerator() {
    let clients = Arc::new(AwsClients::offline());
    let t = Listener::new(clients.clone());
    let ids = vec![
        "arn:aws:globalaccelerator::123456789012:accelerator/a/listener/1".to_string(),
        "arn:aws:globalaccelerator::123456789012:accelerator/a/listener/2".to_string(),
    ];
    let _ = t
        .observe(ObserveRequest {
            region: "ap-southeast-1",
            ids: &ids,
        })
        .await;
    let calls = clients.calls().snapshot();
    let listed: u64 = calls
        .iter()
        .filter(|((_, op, region), _)| op == "ListListeners" && region == API_REGION)
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(listed, 1, "{calls:?}");
}

#[test]
fn registry_declares_documented_schemas() {
    let mut registry = terrane_provider::Registry::new();
    terrane_aws_globalaccelerator::register(&mut registry, &Arc::new(AwsClients::offline()));
    for name in [
        "aws.globalaccelerator.accelerator",
        "aws.globalaccelerator.listener",
        "aws.globalaccelerator.endpoint_group",
    ] {
        let t = registry
            .get(name)
            .unwrap_or_else(|| panic!("{name} registered"));
        let schema = t.schema();
        assert!(!schema.description.is_empty(), "{name}");
        assert!(schema.example.contains(&format!("type: {name}")), "{name}");
        assert!(
            schema
                .attribute(schema.id_attribute)
                .is_some_and(|a| !a.settable()),
            "{name}"
        );
        assert_eq!(
            schema.taggable,
            schema.attribute("tags").is_some(),
            "{name}"
        );
        for a in &schema.attributes {
            assert!(!a.description.is_empty(), "{name}.{}", a.name);
        }
    }
}
