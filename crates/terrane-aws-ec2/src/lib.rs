//! EC2 resource types, and what they share: tag specifications, describe filters and
//! reading inputs.

pub mod eip;
pub mod flow_log;
pub mod internet_gateway;
pub mod launch_template;
pub mod nat_gateway;
pub mod network_acl;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod security_group_rule;
pub mod subnet;
pub mod vpc;
pub mod vpc_endpoint;
pub mod vpc_peering_connection;

use std::collections::{BTreeMap, BTreeSet};
pub(crate) use terrane_aws_core::inputs::{input_bool, input_str, put_str, require_str};

use aws_sdk_ec2::types::{Filter, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use terrane_core::{OWNERSHIP_TAG_ADDRESS, OWNERSHIP_TAG_STACK, Value};
use terrane_provider::{Attributes, FindRequest, ProviderError};

use std::sync::Arc;

pub use terrane_aws_core::AwsClients;
use terrane_aws_core::tags::{tags_from_inputs, tags_value};
pub(crate) use terrane_aws_core::{AwsError, api_error, gone_is_ok, waiter_error};
use terrane_provider::Registry;

/// Registers every EC2 resource type. Adding a type is one line here.
pub fn register(registry: &mut Registry, clients: &Arc<AwsClients>) {
    registry.register(Arc::new(vpc::Vpc::new(clients.clone())));
    registry.register(Arc::new(subnet::Subnet::new(clients.clone())));
    registry.register(Arc::new(internet_gateway::InternetGateway::new(
        clients.clone(),
    )));
    registry.register(Arc::new(security_group::SecurityGroup::new(
        clients.clone(),
    )));
    registry.register(Arc::new(security_group_rule::SecurityGroupRule::new(
        clients.clone(),
    )));
    registry.register(Arc::new(eip::Eip::new(clients.clone())));
    registry.register(Arc::new(nat_gateway::NatGateway::new(clients.clone())));
    registry.register(Arc::new(route_table::RouteTable::new(clients.clone())));
    registry.register(Arc::new(route::Route::new(clients.clone())));
    registry.register(Arc::new(
        route_table_association::RouteTableAssociation::new(clients.clone()),
    ));
    registry.register(Arc::new(network_acl::NetworkAcl::new(clients.clone())));
    registry.register(Arc::new(vpc_endpoint::VpcEndpoint::new(clients.clone())));
    registry.register(Arc::new(flow_log::FlowLog::new(clients.clone())));
    registry.register(Arc::new(vpc_peering_connection::VpcPeeringConnection::new(
        clients.clone(),
    )));
    registry.register(Arc::new(launch_template::LaunchTemplate::new(
        clients.clone(),
    )));
}

/// The EC2 client for `region`, counting its calls.
pub(crate) fn client(clients: &AwsClients, region: &str) -> aws_sdk_ec2::Client {
    clients.client(region, |config, region, calls| {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(config)
                .region(region)
                .interceptor(calls)
                .build(),
        )
    })
}

/// How long a create waits for a new resource to become visible and usable through the
/// SDK's waiters (EC2 is eventually consistent: a modify right after a create can otherwise
/// fail with a not-found error).
pub(crate) const WAIT_FOR_CREATE: std::time::Duration = std::time::Duration::from_secs(300);

/// Ids per describe call. A filter with more values is split into several calls; EC2
/// limits the number of values one filter may carry.
pub(crate) const MAX_FILTER_VALUES: usize = 200;

/// Describes the resources with these ids, `filter_name` carrying the ids (not the id-list
/// parameter: with that, one unknown id fails the whole call). One paginated describe per
/// [`MAX_FILTER_VALUES`] ids; ids not found are absent from the result.
pub async fn describe_ids<F, Fut>(
    ids: &[String],
    filter_name: &str,
    describe: F,
) -> Result<BTreeMap<String, Attributes>, ProviderError>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: std::future::Future<Output = Result<BTreeMap<String, Attributes>, ProviderError>>,
{
    let unique: Vec<&String> = ids.iter().collect::<BTreeSet<_>>().into_iter().collect();
    let mut found = BTreeMap::new();
    for chunk in unique.chunks(MAX_FILTER_VALUES) {
        found.extend(describe(vec![filter(filter_name, chunk.iter().map(|s| s.as_str()))]).await?);
    }
    Ok(found)
}

pub(crate) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// Filters selecting what carries terrane's ownership tag for a stack. Filter values are
/// patterns to EC2 (`*` and `?` are wildcards), so the value is escaped to match literally.
/// The address is matched by [`retain_owned`] on this side rather than in a filter:
/// addresses such as `subnet["a"]` hold brackets, which some EC2-compatible endpoints read
/// as glob classes, and a lookup that silently finds nothing would defeat crash recovery.
pub(crate) fn ownership_filters(req: &FindRequest<'_>) -> Vec<Filter> {
    vec![filter(
        &format!("tag:{OWNERSHIP_TAG_STACK}"),
        [escape_filter_value(req.stack)],
    )]
}

/// A literal EC2 filter value: `\`, `*` and `?` escaped with a backslash.
fn escape_filter_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | '*' | '?') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Keeps the described resources whose ownership tags are exactly the requested ones.
pub(crate) fn retain_owned(
    req: &FindRequest<'_>,
    mut found: BTreeMap<String, Attributes>,
) -> BTreeMap<String, Attributes> {
    found.retain(|_, attrs| {
        let tag = |key: &str| {
            attrs
                .get("tags")
                .and_then(Value::as_map)
                .and_then(|t| t.get(key))
                .and_then(Value::as_str)
        };
        tag(OWNERSHIP_TAG_STACK) == Some(req.stack)
            && req
                .address
                .is_none_or(|a| tag(OWNERSHIP_TAG_ADDRESS) == Some(a))
    });
    found
}

/// The `tags` input as a TagSpecification for `resource_type`, so that tags are set
/// atomically with creation. `None` when there are no tags (EC2 refuses an empty one).
pub(crate) fn tag_specification(
    resource_type: Ec2ResourceType,
    inputs: &Attributes,
) -> Option<TagSpecification> {
    let tags = sdk_tags(tags_from_inputs(inputs));
    if tags.is_empty() {
        return None;
    }
    Some(
        TagSpecification::builder()
            .resource_type(resource_type)
            .set_tags(Some(tags))
            .build(),
    )
}

fn sdk_tags(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// EC2 tags as terrane's `tags` value: a map of strings. Keys under `aws:` are AWS's own
/// (CloudFormation, Service Catalog...): no stack can set or remove them, so they are not
/// shown as part of the resource's tags.
pub(crate) fn tags_to_value(tags: &[Tag]) -> Value {
    tags_value(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
            .filter(|(k, _)| !k.starts_with("aws:")),
    )
}

/// Brings the resource's tags from `prior` to the `tags` of `inputs`: deletes the keys no
/// longer wanted, then creates or overwrites the ones that are new or changed.
pub(crate) async fn sync_tags(
    client: &aws_sdk_ec2::Client,
    id: &str,
    inputs: &Attributes,
    prior: &Attributes,
) -> Result<(), ProviderError> {
    let want: BTreeMap<String, String> = tags_from_inputs(inputs).into_iter().collect();
    let have: BTreeMap<String, String> = tags_from_inputs(prior).into_iter().collect();
    let removed: BTreeSet<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    let changed: Vec<(String, String)> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !removed.is_empty() {
        client
            .delete_tags()
            .resources(id)
            .set_tags(Some(
                removed
                    .into_iter()
                    .map(|k| Tag::builder().key(k).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(api_error("DeleteTags"))?;
    }
    if !changed.is_empty() {
        client
            .create_tags()
            .resources(id)
            .set_tags(Some(sdk_tags(changed)))
            .send()
            .await
            .map_err(api_error("CreateTags"))?;
    }
    Ok(())
}

/// The AWS partition of a region, for building ARNs.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `arn:{partition}:ec2:{region}:{owner}:{kind}/{id}`.
pub(crate) fn arn(region: &str, owner: &str, kind: &str, id: &str) -> String {
    format!("arn:{}:ec2:{region}:{owner}:{kind}/{id}", partition(region))
}

/// Whether `name` is among the inputs an update must change.
pub(crate) fn is_changed(changed: &[String], name: &str) -> bool {
    changed.iter().any(|c| c == name)
}

/// A list-of-strings input; `None` when unset or null. Non-string items are written as text.
pub(crate) fn input_strings(
    inputs: &Attributes,
    name: &str,
) -> Result<Option<Vec<String>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(ProviderError::Invalid(format!(
                    "`{name}` must be a list of strings, found a {} in it",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a list of strings, found a {}",
            other.type_name()
        ))),
    }
}

/// An integer input (numbers written as text accepted); `None` when unset or null.
pub(crate) fn input_int(inputs: &Attributes, name: &str) -> Result<Option<i64>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                other => {
                    return Err(ProviderError::Invalid(format!(
                        "`{name}` must be a number, found a {}",
                        other.type_name()
                    )));
                }
            };
            text.trim().parse::<i64>().map(Some).map_err(|_| {
                ProviderError::Invalid(format!("`{name}` must be an integer, not {text}"))
            })
        }
    }
}

/// A sorted list of strings, for set-like attributes.
pub(crate) fn strings_value<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    let set: BTreeSet<&str> = items.into_iter().collect();
    Value::List(set.into_iter().map(Value::string).collect())
}

/// The id a create call returned, or an error naming the call.
pub(crate) fn created_id(
    operation: &'static str,
    id: Option<&str>,
) -> Result<String, ProviderError> {
    id.map(str::to_string)
        .ok_or_else(|| ProviderError::api(operation, "the response carries no id"))
}
