//! `aws.lambda.permission`: one statement of a Lambda function's resource policy, letting a
//! service (API Gateway, EventBridge, S3, ...) or an account invoke the function. Its cloud
//! id is `FUNCTION/STATEMENT_ID` (what `terrane import` takes).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::inputs::{input_str, put_str, require_str, wanted};
use terrane_aws_core::{api_error, gone_is_ok, unless_gone};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::AwsClients;

pub const TYPE_NAME: &str = "aws.lambda.permission";

const NOT_FOUND: &str = "ResourceNotFoundException";

/// Functions whose policy is read at once during an observe.
const CONCURRENCY: usize = 8;

pub struct Permission {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A statement of a Lambda function's resource policy: who may invoke the \
                      function (API Gateway, EventBridge, S3, another account). AWS has no \
                      update of a statement: every change replaces it.",
        attributes: vec![
            AttrSchema::required("function_name", String)
                .forces_replacement()
                .describe("The function's name (or ARN, as given; the id keeps it as written)."),
            AttrSchema::required("statement_id", String)
                .forces_replacement()
                .describe("The statement's id (`Sid`), unique in the function's policy."),
            AttrSchema::optional("action", String)
                .default(DefaultValue::Str("lambda:InvokeFunction"))
                .forces_replacement()
                .describe("The action allowed."),
            AttrSchema::required("principal", String)
                .forces_replacement()
                .describe("Who is allowed: a service (`apigateway.amazonaws.com`, `events.amazonaws.com`) or an account id or ARN."),
            AttrSchema::optional("source_arn", String)
                .forces_replacement()
                .describe("Only on behalf of this resource (an API's execute-api ARN pattern, a rule's ARN): without it any such resource of any account may invoke the function."),
            AttrSchema::optional("source_account", String)
                .forces_replacement()
                .describe("Only on behalf of resources of this account (for S3, whose bucket ARNs name no account)."),
            AttrSchema::optional("qualifier", String)
                .forces_replacement()
                .describe("A version or alias of the function the statement applies to."),
            AttrSchema::computed("id", String).describe("`FUNCTION/STATEMENT_ID`."),
        ],
        taggable: false,
        id_attribute: "id",
        normalize: None,
        example: "api_invokes_handler:\n  type: aws.lambda.permission\n  properties:\n    function_name: ${handler.name}\n    statement_id: api-gateway\n    principal: apigateway.amazonaws.com\n    source_arn: ${api.execution_arn}/*\n",
    }
}

impl Permission {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Permission {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_lambda::Client {
        crate::client(&self.clients, region)
    }

    /// The statements of `function`'s policy, by statement id (none when it has no policy
    /// or is gone).
    async fn statements(
        &self,
        region: &str,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<HashMap<String, Attributes>, ProviderError> {
        let out = unless_gone(
            "GetPolicy",
            self.client(region)
                .get_policy()
                .function_name(function)
                .set_qualifier(qualifier.map(str::to_string))
                .send()
                .await,
            &[NOT_FOUND],
        )?;
        let Some(policy) = out.and_then(|o| o.policy().map(str::to_string)) else {
            return Ok(HashMap::new());
        };
        let doc: serde_json::Value = serde_json::from_str(&policy).map_err(|e| {
            ProviderError::api("GetPolicy", format!("a policy that is not JSON: {e}"))
        })?;
        let statements: &[serde_json::Value] = match &doc["Statement"] {
            serde_json::Value::Array(items) => items,
            one @ serde_json::Value::Object(_) => std::slice::from_ref(one),
            _ => &[],
        };
        Ok(statements
            .iter()
            .filter_map(|s| {
                let sid = s["Sid"].as_str()?;
                Some((
                    sid.to_string(),
                    statement_attributes(function, qualifier, s),
                ))
            })
            .collect())
    }
}

/// A policy statement as this type's attributes.
fn statement_attributes(
    function: &str,
    qualifier: Option<&str>,
    s: &serde_json::Value,
) -> Attributes {
    let sid = s["Sid"].as_str().unwrap_or_default();
    let mut a = Attributes::new();
    a.insert(
        "id".into(),
        Value::string(permission_id(function, qualifier, sid)),
    );
    a.insert("function_name".into(), Value::string(function));
    a.insert("statement_id".into(), Value::string(sid));
    put_str(&mut a, "action", first_value(&s["Action"]).as_deref());
    let principal = match &s["Principal"] {
        serde_json::Value::Object(p) => p
            .get("Service")
            .or_else(|| p.get("AWS"))
            .and_then(first_value),
        other => other.as_str().map(str::to_string),
    };
    put_str(&mut a, "principal", principal.as_deref());
    let condition = |op: &str, key: &str| {
        s["Condition"][op]
            .as_object()
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .and_then(first_value)
    };
    put_str(
        &mut a,
        "source_arn",
        condition("ArnLike", "AWS:SourceArn")
            .or_else(|| condition("ArnEquals", "AWS:SourceArn"))
            .as_deref(),
    );
    put_str(
        &mut a,
        "source_account",
        condition("StringEquals", "AWS:SourceAccount").as_deref(),
    );
    put_str(&mut a, "qualifier", qualifier);
    a
}

fn first_value(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Array(items) => {
            items.first().and_then(|i| i.as_str().map(str::to_string))
        }
        other => other.as_str().map(str::to_string),
    }
}

/// `FUNCTION[:QUALIFIER]/STATEMENT_ID`.
fn permission_id(function: &str, qualifier: Option<&str>, sid: &str) -> String {
    match qualifier {
        Some(q) => format!("{function}:{q}/{sid}"),
        None => format!("{function}/{sid}"),
    }
}

/// An id split into function, qualifier and statement id (at its last `/`: neither a
/// function name nor its ARN has one). A function ARN has 7 `:`-parts, 8 with a qualifier.
fn split_id(id: &str) -> Option<(&str, Option<&str>, &str)> {
    let (function, sid) = id
        .rsplit_once('/')
        .filter(|(f, s)| !f.is_empty() && !s.is_empty())?;
    let qualified = if function.starts_with("arn:") {
        function.matches(':').count() == 7
    } else {
        function.contains(':')
    };
    Some(match function.rsplit_once(':') {
        Some((name, qualifier)) if qualified => (name, Some(qualifier), sid),
        _ => (function, None, sid),
    })
}

#[async_trait]
impl ResourceType for Permission {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// Lambda reads a function's policy whole (GetPolicy, one call per function, no
    /// batched form): the statements asked for are grouped by function, and the functions
    /// read concurrently.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        // Owned keys: the stream's futures must not borrow from this call's arguments.
        let mut by_policy: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
        for id in wanted(req.ids) {
            if let Some((function, qualifier, sid)) = split_id(id) {
                by_policy
                    .entry((function.to_string(), qualifier.map(str::to_string)))
                    .or_default()
                    .push(sid.to_string());
            }
        }
        let region = req.region.to_string();
        let read: Vec<_> = futures::stream::iter(by_policy)
            .map(|((function, qualifier), sids)| {
                let region = region.clone();
                async move {
                    let statements = self
                        .statements(&region, &function, qualifier.as_deref())
                        .await?;
                    Ok::<_, ProviderError>(
                        sids.into_iter()
                            .filter_map(|sid| {
                                statements.get(&sid).map(|a| {
                                    (
                                        permission_id(&function, qualifier.as_deref(), &sid),
                                        a.clone(),
                                    )
                                })
                            })
                            .collect::<Vec<_>>(),
                    )
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(ObserveResponse {
            found: read.into_iter().flatten().collect(),
        })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        let inputs = req.inputs;
        let function = require_str(inputs, "function_name")?;
        let sid = require_str(inputs, "statement_id")?;
        let qualifier = input_str(inputs, "qualifier");
        self.client(req.region)
            .add_permission()
            .function_name(&function)
            .statement_id(&sid)
            .action(input_str(inputs, "action").unwrap_or_else(|| "lambda:InvokeFunction".into()))
            .principal(require_str(inputs, "principal")?)
            .set_source_arn(input_str(inputs, "source_arn"))
            .set_source_account(input_str(inputs, "source_account"))
            .set_qualifier(qualifier.clone())
            .send()
            .await
            .map_err(api_error("AddPermission"))?;
        let attributes = self
            .statements(req.region, &function, qualifier.as_deref())
            .await?
            .remove(&sid)
            .ok_or_else(|| {
                ProviderError::api(
                    "AddPermission",
                    format!("statement {sid} is not in {function}'s policy afterwards"),
                )
            })?;
        Ok(CreateResponse {
            id: permission_id(&function, qualifier.as_deref(), &sid),
            attributes,
        })
    }

    /// Every attribute forces replacement: there is nothing to change in place.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        Ok(UpdateResponse {
            attributes: req.prior.clone(),
        })
    }

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let Some((function, qualifier, sid)) = split_id(req.id) else {
            return Err(ProviderError::Invalid(format!(
                "`{}` is not FUNCTION/STATEMENT_ID",
                req.id
            )));
        };
        gone_is_ok(
            "RemovePermission",
            self.client(req.region)
                .remove_permission()
                .function_name(function)
                .statement_id(sid)
                .set_qualifier(qualifier.map(str::to_string))
                .send()
                .await,
            &[NOT_FOUND],
        )
    }

    /// Policy statements carry no tags: nothing to find by ownership.
    async fn find_by_ownership(
        &self,
        _req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        Ok(BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::split_id;

    #[test]
    fn ids_name_the_function_its_qualifier_and_the_statement() {
        assert_eq!(split_id("api/apigw"), Some(("api", None, "apigw")));
        assert_eq!(
            split_id("api:live/apigw"),
            Some(("api", Some("live"), "apigw"))
        );
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:api";
        assert_eq!(split_id(&format!("{arn}/s")), Some((arn, None, "s")));
        assert_eq!(split_id(&format!("{arn}:7/s")), Some((arn, Some("7"), "s")));
        assert_eq!(split_id("api"), None);
        assert_eq!(split_id("/s"), None);
    }
}
