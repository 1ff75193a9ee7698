//! `aws.ec2.launch_template`: a launch template for instances (AMI, instance type, user
//! data, security groups).
//!
//! The template's data lives in versions. A change of the data creates a new version from
//! the stack's inputs and makes it the default; older versions are kept (they are the
//! rollback history, and AWS keeps up to 10,000). Observing reads the templates and the
//! default version of every template of the region: two paginated calls per region,
//! whatever the number of templates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplate as Lt, RequestLaunchTemplateData,
    ResourceType as Ec2ResourceType, ResponseLaunchTemplateData,
};
use terrane_core::{AttrSchema, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use super::{
    api_error, arn, created_id, gone_is_ok, input_str, input_strings, is_changed,
    ownership_filters, put_str, require_str, retain_owned, strings_value, sync_tags,
    tag_specification, tags_to_value,
};
use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.ec2.launch_template";

const NOT_FOUND: &[&str] = &[
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
];

/// The inputs that live in a version's data: changing one makes a new version.
const DATA: [&str; 4] = [
    "image_id",
    "instance_type",
    "user_data",
    "security_group_ids",
];

/// The largest page these describe calls allow.
const PAGE: i32 = 200;

pub struct LaunchTemplate {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A launch template: how to launch instances (AMI, instance type, user data, security groups). A change makes a new version, which becomes the default.",
        attributes: vec![
            AttrSchema::required("name", String)
                .forces_replacement()
                .describe("The template's name, unique in the region."),
            AttrSchema::optional("image_id", String).describe("The AMI id (ami-...)."),
            AttrSchema::optional("instance_type", String)
                .describe("The instance type, e.g. t3.micro."),
            AttrSchema::optional("user_data", String)
                .describe("The user data, as text (terrane base64-encodes it for AWS)."),
            AttrSchema::optional("security_group_ids", List)
                .unordered()
                .describe("Security groups of the instances' primary network interface."),
            AttrSchema::optional("tags", Map)
                .describe("Tags on the launch template itself (not on the instances it launches)."),
            AttrSchema::computed("id", String).describe("The launch template id (lt-...)."),
            AttrSchema::computed("arn", String).describe("The launch template's ARN."),
            AttrSchema::computed("default_version", Number)
                .describe("The version instances launch from by default."),
            AttrSchema::computed("latest_version", Number).describe("The newest version."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: None,
        example: "app:\n  type: aws.ec2.launch_template\n  properties:\n    name: app\n    image_id: ami-0abcdef1234567890\n    instance_type: t3.micro\n    security_group_ids: [\"${web.id}\"]\n    user_data: |\n      #!/bin/sh\n      echo hello\n",
    }
}

// ---------------------------------------------------------------------------------------
// Base64, for user data (RFC 4648, with padding).

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------

/// The version data the inputs describe.
fn request_data(inputs: &Attributes) -> Result<RequestLaunchTemplateData, ProviderError> {
    Ok(RequestLaunchTemplateData::builder()
        .set_image_id(input_str(inputs, "image_id"))
        .set_instance_type(
            input_str(inputs, "instance_type").map(|t| InstanceType::from(t.as_str())),
        )
        .set_user_data(input_str(inputs, "user_data").map(|u| base64_encode(u.as_bytes())))
        .set_security_group_ids(input_strings(inputs, "security_group_ids")?)
        .build())
}

fn data_attributes(attrs: &mut Attributes, data: &ResponseLaunchTemplateData) {
    put_str(attrs, "image_id", data.image_id());
    put_str(
        attrs,
        "instance_type",
        data.instance_type().map(InstanceType::as_str),
    );
    if let Some(u) = data.user_data() {
        let text = base64_decode(u)
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| u.to_string());
        attrs.insert("user_data".into(), Value::string(text));
    }
    attrs.insert(
        "security_group_ids".into(),
        strings_value(data.security_group_ids().iter().map(String::as_str)),
    );
}

impl LaunchTemplate {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        LaunchTemplate {
            clients,
            schema: schema(),
        }
    }

    /// The templates matching `filters` (and `ids`, when given), by id, with the data of
    /// their default version.
    async fn describe(
        &self,
        region: &str,
        filters: Vec<Filter>,
        ids: Option<&BTreeSet<&str>>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = crate::client(&self.clients, region);
        // No filter on ids: `launch-template-id` is not a filter every EC2-compatible
        // endpoint knows, and the id-list parameter fails the whole call on one unknown id.
        let templates: Vec<Lt> = client
            .describe_launch_templates()
            .set_filters((!filters.is_empty()).then_some(filters))
            .max_results(PAGE)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeLaunchTemplates"))?;
        let mut found = BTreeMap::new();
        for t in &templates {
            let Some(id) = t.launch_template_id() else {
                continue;
            };
            if ids.is_some_and(|ids| !ids.contains(id)) {
                continue;
            }
            let mut attrs = Attributes::new();
            attrs.insert("id".into(), Value::string(id));
            put_str(&mut attrs, "name", t.launch_template_name());
            if let Some(v) = t.default_version_number() {
                attrs.insert("default_version".into(), Value::int(v));
            }
            if let Some(v) = t.latest_version_number() {
                attrs.insert("latest_version".into(), Value::int(v));
            }
            if let Some(owner) = t.created_by().and_then(|c| c.split(':').nth(4)) {
                attrs.insert(
                    "arn".into(),
                    Value::string(arn(region, owner, "launch-template", id)),
                );
            }
            attrs.insert("tags".into(), tags_to_value(t.tags()));
            found.insert(id.to_string(), attrs);
        }
        if found.is_empty() {
            return Ok(found);
        }
        // The default version of every template of the region, in one paginated call.
        let versions: Vec<_> = client
            .describe_launch_template_versions()
            .versions("$Default")
            .max_results(PAGE)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("DescribeLaunchTemplateVersions"))?;
        for v in &versions {
            if let (Some(id), Some(data)) = (v.launch_template_id(), v.launch_template_data())
                && let Some(attrs) = found.get_mut(id)
            {
                data_attributes(attrs, data);
            }
        }
        Ok(found)
    }

    async fn observe_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        let ids = BTreeSet::from([id]);
        self.describe(region, Vec::new(), Some(&ids))
            .await?
            .remove(id)
            .ok_or_else(|| ProviderError::NotFound(format!("launch template {id}")))
    }
}

#[async_trait]
impl ResourceType for LaunchTemplate {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        if req.ids.is_empty() {
            return Ok(ObserveResponse::default());
        }
        let ids: BTreeSet<&str> = req.ids.iter().map(String::as_str).collect();
        let found = self.describe(req.region, Vec::new(), Some(&ids)).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let out = crate::client(&self.clients, req.region)
            .create_launch_template()
            .launch_template_name(require_str(inputs, "name")?)
            .launch_template_data(request_data(inputs)?)
            .client_token(req.client_token)
            .set_tag_specifications(
                tag_specification(Ec2ResourceType::LaunchTemplate, inputs).map(|t| vec![t]),
            )
            .send()
            .await
            .map_err(api_error("CreateLaunchTemplate"))?;
        let id = created_id(
            "CreateLaunchTemplate",
            out.launch_template().and_then(|t| t.launch_template_id()),
        )?;
        let attributes = self.observe_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = crate::client(&self.clients, req.region);
        if DATA.iter().any(|d| is_changed(req.changed, d)) {
            // A new version holding everything the stack declares, made the default.
            let out = client
                .create_launch_template_version()
                .launch_template_id(req.id)
                .launch_template_data(request_data(req.inputs)?)
                .send()
                .await
                .map_err(api_error("CreateLaunchTemplateVersion"))?;
            let version = out
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| {
                    ProviderError::api(
                        "CreateLaunchTemplateVersion",
                        "the response carries no version number",
                    )
                })?;
            client
                .modify_launch_template()
                .launch_template_id(req.id)
                .default_version(version.to_string())
                .send()
                .await
                .map_err(api_error("ModifyLaunchTemplate"))?;
        }
        if is_changed(req.changed, "tags") {
            sync_tags(&client, req.id, req.inputs, req.prior).await?;
        }
        let attributes = self.observe_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let client = crate::client(&self.clients, req.region);
        gone_is_ok(
            "DeleteLaunchTemplate",
            client
                .delete_launch_template()
                .launch_template_id(req.id)
                .send()
                .await,
            NOT_FOUND,
        )
    }

    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let found = self
            .describe(req.region, ownership_filters(&req), None)
            .await?;
        Ok(retain_owned(&req, found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "#!/bin/sh\necho hi\n",
        ] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("!!").is_none());
    }
}
