//! `aws.ec2.route`: one IPv4 route of a route table, to one target.
//!
//! A route has no id of its own in AWS: its cloud id here is `<route table id>/<destination
//! CIDR>` (e.g. `rtb-0abc/0.0.0.0/0`), which is what identifies it within EC2. Routes take
//! no tags, so an interrupted create cannot be found by ownership; creating the same route
//! again fails with `RouteAlreadyExists`, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Route as SdkRoute, RouteOrigin, RouteState};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::route_table::describe_route_tables;
use super::{AwsError, MAX_FILTER_VALUES, filter, input_str, put_str, require_str};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.route";

const NOT_FOUND: &[&str] = &["InvalidRoute.NotFound", super::route_table::NOT_FOUND];

/// The attributes naming a route's target; exactly one is set.
const TARGETS: [&str; 5] = [
    "gateway_id",
    "nat_gateway_id",
    "vpc_peering_connection_id",
    "vpc_endpoint_id",
    "transit_gateway_id",
];

pub struct Route {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A route in a route table: traffic to a destination CIDR goes to one target (set exactly one target attribute). Its id is `<route table id>/<destination CIDR>`.",
        attributes: vec![
            AttrSchema::required("route_table_id", String)
                .forces_replacement()
                .describe("The route table the route belongs to."),
            AttrSchema::required("destination_cidr_block", String)
                .forces_replacement()
                .describe("The IPv4 destination, e.g. 0.0.0.0/0."),
            AttrSchema::optional("gateway_id", String).describe(
                "Target: an internet gateway (igw-...) or virtual private gateway (vgw-...).",
            ),
            AttrSchema::optional("nat_gateway_id", String)
                .describe("Target: a NAT gateway (nat-...)."),
            AttrSchema::optional("vpc_peering_connection_id", String)
                .describe("Target: a VPC peering connection (pcx-...)."),
            AttrSchema::optional("vpc_endpoint_id", String)
                .describe("Target: a Gateway Load Balancer endpoint (vpce-...)."),
            AttrSchema::optional("transit_gateway_id", String)
                .describe("Target: a transit gateway (tgw-...)."),
            AttrSchema::computed("id", String).describe("`<route table id>/<destination CIDR>`."),
            AttrSchema::computed("state", String)
                .describe("`active`, or `blackhole` when the target is gone."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: None,
        example: "default_route:\n  type: aws.ec2.route\n  properties:\n    route_table_id: ${private.id}\n    destination_cidr_block: 0.0.0.0/0\n    nat_gateway_id: ${nat.id}\n",
    }
}

/// `(route table id, destination CIDR)` of a route's cloud id.
fn split_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/')
        .filter(|(t, c)| !t.is_empty() && !c.is_empty())
        .ok_or_else(|| {
            ProviderError::Invalid(format!(
                "route id `{id}` is not `<route table id>/<destination CIDR>`"
            ))
        })
}

/// The one target the inputs name: (attribute, value).
fn target(inputs: &Attributes) -> Result<(&'static str, String), ProviderError> {
    let set: Vec<(&'static str, String)> = TARGETS
        .iter()
        .filter_map(|t| input_str(inputs, t).map(|v| (*t, v)))
        .collect();
    match set.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ProviderError::Invalid(format!(
            "a route needs one target: one of {}",
            TARGETS.join(", ")
        ))),
        many => Err(ProviderError::Invalid(format!(
            "a route takes one target, found {}",
            many.iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(" and ")
        ))),
    }
}

/// A route as attributes: its target under the attribute the stack uses for it.
fn route_attributes(table_id: &str, r: &SdkRoute) -> Option<(String, Attributes)> {
    let cidr = r.destination_cidr_block()?;
    let id = format!("{table_id}/{cidr}");
    let mut attrs = Attributes::new();
    attrs.insert("id".into(), Value::string(&id));
    attrs.insert("route_table_id".into(), Value::string(table_id));
    attrs.insert("destination_cidr_block".into(), Value::string(cidr));
    // Gateway Load Balancer endpoints are reported in GatewayId.
    match r.gateway_id() {
        Some(g) if g.starts_with("vpce-") => put_str(&mut attrs, "vpc_endpoint_id", Some(g)),
        g => put_str(&mut attrs, "gateway_id", g),
    }
    put_str(&mut attrs, "nat_gateway_id", r.nat_gateway_id());
    put_str(
        &mut attrs,
        "vpc_peering_connection_id",
        r.vpc_peering_connection_id(),
    );
    put_str(&mut attrs, "transit_gateway_id", r.transit_gateway_id());
    put_str(&mut attrs, "state", r.state().map(RouteState::as_str));
    Some((id, attrs))
}

impl Route {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Route {
            clients,
            schema: schema(),
        }
    }

    /// The routes with these ids: one paginated DescribeRouteTables per
    /// [`MAX_FILTER_VALUES`] route tables, whatever the number of routes.
    async fn describe(
        &self,
        region: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let tables: BTreeSet<&str> = wanted
            .iter()
            .filter_map(|id| split_id(id).ok().map(|(t, _)| t))
            .collect();
        let tables: Vec<&str> = tables.into_iter().collect();
        let client = crate::client(&self.clients, region);
        let mut found = BTreeMap::new();
        for chunk in tables.chunks(MAX_FILTER_VALUES) {
            let filters = vec![filter("route-table-id", chunk.iter().copied())];
            for t in describe_route_tables(&client, filters).await? {
                let Some(table_id) = t.route_table_id() else {
                    continue;
                };
                for r in t.routes() {
                    // The VPC's own `local` route is not one terrane creates.
                    if r.origin() == Some(&RouteOrigin::CreateRouteTable) {
                        continue;
                    }
                    if let Some((id, attrs)) = route_attributes(table_id, r)
                        && wanted.contains(id.as_str())
                    {
                        found.insert(id, attrs);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        self.describe(region, &[id.to_string()])
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("route {id}")))
    }
}

#[async_trait]
impl ResourceType for Route {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let found = self.describe(req.region, req.ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let table = require_str(req.inputs, "route_table_id")?;
        let cidr = require_str(req.inputs, "destination_cidr_block")?;
        let (kind, target) = target(req.inputs)?;
        let call = crate::client(&self.clients, req.region)
            .create_route()
            .route_table_id(&table)
            .destination_cidr_block(&cidr);
        let call = match kind {
            "gateway_id" => call.gateway_id(target),
            "nat_gateway_id" => call.nat_gateway_id(target),
            "vpc_peering_connection_id" => call.vpc_peering_connection_id(target),
            "vpc_endpoint_id" => call.vpc_endpoint_id(target),
            _ => call.transit_gateway_id(target),
        };
        call.send()
            .await
            .map_err(|e| AwsError::from_sdk(e).into_provider("CreateRoute"))?;
        let id = format!("{table}/{cidr}");
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let (table, cidr) = split_id(req.id)?;
        if TARGETS.iter().any(|t| super::is_changed(req.changed, t)) {
            let (kind, target) = target(req.inputs)?;
            let call = crate::client(&self.clients, req.region)
                .replace_route()
                .route_table_id(table)
                .destination_cidr_block(cidr);
            let call = match kind {
                "gateway_id" => call.gateway_id(target),
                "nat_gateway_id" => call.nat_gateway_id(target),
                "vpc_peering_connection_id" => call.vpc_peering_connection_id(target),
                "vpc_endpoint_id" => call.vpc_endpoint_id(target),
                _ => call.transit_gateway_id(target),
            };
            call.send()
                .await
                .map_err(|e| AwsError::from_sdk(e).into_provider("ReplaceRoute"))?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let (table, cidr) = split_id(req.id)?;
        let client = crate::client(&self.clients, req.region);
        super::gone_is_ok(
            "DeleteRoute",
            client
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    /// Routes carry no tags: there is nothing to find them by.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_first_slash() {
        assert_eq!(split_id("rtb-1/0.0.0.0/0").unwrap(), ("rtb-1", "0.0.0.0/0"));
        assert!(split_id("rtb-1").is_err());
        assert!(split_id("/10.0.0.0/8").is_err());
    }

    #[test]
    fn exactly_one_target() {
        let mut inputs = Attributes::new();
        assert!(target(&inputs).is_err());
        inputs.insert("gateway_id".into(), Value::string("igw-1"));
        assert_eq!(target(&inputs).unwrap(), ("gateway_id", "igw-1".into()));
        inputs.insert("nat_gateway_id".into(), Value::string("nat-1"));
        assert!(target(&inputs).is_err());
    }
}
