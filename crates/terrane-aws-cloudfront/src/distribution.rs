//! `aws.cloudfront.distribution`: a CloudFront distribution with custom and S3 origins,
//! a default and ordered cache behaviours, certificate, logging and WAF association.
//!
//! The stack-facing shape is compact: each origin and behaviour is a small map, with
//! CloudFront's defaults filled in by the schema's normalizer so that the stack's form and
//! the observed form compare equal. Parts of the distribution terrane does not model
//! (restrictions, custom error responses, origin groups...) are kept as they are on update.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudfront::client::Waiters;
use aws_sdk_cloudfront::types::{
    Aliases, AllowedMethods, CacheBehavior, CacheBehaviors, CachedMethods, CookiePreference,
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags,
    ForwardedValues, ItemSelection, LoggingConfig, Method, MinimumProtocolVersion, Origin,
    OriginProtocolPolicy, Origins, PriceClass, S3OriginConfig, SslSupportMethod, Tag, TagKeys,
    Tags, ViewerCertificate, ViewerProtocolPolicy,
};
use futures::{StreamExt, TryStreamExt};
use terrane_aws_core::{AwsError, api_error, waiter_error};
use terrane_core::{AttrSchema, DefaultValue, ResourceSchema, Value, ValueType};
use terrane_provider::{
    Attributes, CreateRequest, CreateResponse, DeleteRequest, FindRequest, ObserveRequest,
    ObserveResponse, ProviderError, ResourceType, UpdateRequest, UpdateResponse,
};

use crate::{
    AwsClients, built, input_bool, input_str, input_strings, owned_by, tag_map, value_str,
};

pub const TYPE_NAME: &str = "aws.cloudfront.distribution";

const NOT_FOUND: &str = "NoSuchDistribution";

/// The hosted zone of every CloudFront domain name, for Route53 aliases.
pub const CLOUDFRONT_ZONE_ID: &str = "Z2FDTNDATAQYW2";

/// How long a create, update or disable may take to deploy to every edge location.
const WAIT_FOR_DEPLOY: Duration = Duration::from_secs(45 * 60);

/// Per-distribution reads in flight at once.
const CONCURRENCY: usize = 8;

pub struct Distribution {
    clients: Arc<AwsClients>,
    schema: ResourceSchema,
}

fn schema() -> ResourceSchema {
    use ValueType::*;
    ResourceSchema {
        type_name: TYPE_NAME,
        description: "A CloudFront distribution: origins, cache behaviours, certificate and logging.",
        attributes: vec![
            AttrSchema::required("origins", List).unordered().describe(
                "The origins: `{id, domain_name, origin_path, type: custom | s3}`; a custom \
                 origin takes `protocol_policy` (http-only | https-only | match-viewer, default \
                 https-only), `http_port` (80) and `https_port` (443); an S3 origin takes \
                 `origin_access_identity` (default none).",
            ),
            AttrSchema::required("default_cache_behavior", Map).describe(
                "The behaviour of paths no ordered behaviour matches: `{target_origin_id, \
                 viewer_protocol_policy (allow-all | https-only | redirect-to-https, default \
                 redirect-to-https), allowed_methods ([GET, HEAD]), cached_methods ([GET, HEAD]), \
                 compress (false)}` and either `cache_policy_id` or the legacy `min_ttl` (0), \
                 `default_ttl` (86400), `max_ttl` (31536000), `forward_query_string` (false).",
            ),
            AttrSchema::optional("ordered_cache_behaviors", List).describe(
                "Behaviours by `path_pattern`, first match wins; each takes the keys of \
                 `default_cache_behavior`.",
            ),
            AttrSchema::optional("enabled", Bool)
                .default(DefaultValue::Bool(true))
                .describe("Whether the distribution serves requests."),
            AttrSchema::optional("comment", String)
                .default(DefaultValue::Str(""))
                .describe("A comment."),
            AttrSchema::optional("price_class", String)
                .default(DefaultValue::Str("PriceClass_All"))
                .describe("`PriceClass_All`, `PriceClass_200` or `PriceClass_100`."),
            AttrSchema::optional("aliases", List)
                .unordered()
                .describe("Alternate domain names (CNAMEs); they need a matching certificate."),
            AttrSchema::optional("default_root_object", String)
                .describe("The object returned for the root URL, e.g. index.html."),
            AttrSchema::optional("viewer_certificate", Map).describe(
                "An ACM certificate: `{acm_certificate_arn, ssl_support_method (sni-only), \
                 minimum_protocol_version (TLSv1.2_2021)}`. Unset: CloudFront's default \
                 certificate.",
            ),
            AttrSchema::optional("logging", Map).describe(
                "Access logs: `{bucket (e.g. logs.s3.amazonaws.com), prefix, include_cookies}`.",
            ),
            AttrSchema::optional("web_acl_id", String)
                .describe("The ARN of the WAFv2 web ACL protecting the distribution."),
            AttrSchema::optional("tags", Map).describe("Tags on the distribution."),
            AttrSchema::computed("id", String).describe("The distribution's id."),
            AttrSchema::computed("arn", String).describe("The distribution's ARN."),
            AttrSchema::computed("domain_name", String)
                .describe("The distribution's domain name, e.g. d111111abcdef8.cloudfront.net."),
            AttrSchema::computed("hosted_zone_id", String)
                .describe("The Route53 zone id for alias records to the distribution."),
            AttrSchema::computed("status", String).describe("`InProgress` or `Deployed`."),
        ],
        taggable: true,
        id_attribute: "id",
        normalize: Some(normalize),
        example: "cdn:\n  type: aws.cloudfront.distribution\n  properties:\n    comment: website\n    \
                  price_class: PriceClass_100\n    default_root_object: index.html\n    origins:\n      \
                  - { id: web, domain_name: origin.example.com }\n      \
                  - { id: assets, domain_name: assets.s3.amazonaws.com, type: s3 }\n    \
                  default_cache_behavior:\n      target_origin_id: web\n      \
                  cache_policy_id: 658327ea-f89d-4fab-a63d-7e88639e58f6\n    \
                  ordered_cache_behaviors:\n      \
                  - { path_pattern: /static/*, target_origin_id: assets, compress: true }\n    \
                  tags:\n      team: web\n",
    }
}

// ---------------------------------------------------------------------------------------
// Origins and behaviours in their canonical form

fn get_str(m: &BTreeMap<String, Value>, k: &str) -> Option<String> {
    m.get(k).filter(|v| !v.is_null()).and_then(value_str)
}

fn get_i64(m: &BTreeMap<String, Value>, k: &str) -> Option<i64> {
    m.get(k).and_then(Value::as_i64)
}

fn get_bool(m: &BTreeMap<String, Value>, k: &str) -> Option<bool> {
    match m.get(k) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(s == "true"),
        _ => None,
    }
}

fn map_value(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn strings_value(items: &[String]) -> Value {
    Value::List(items.iter().map(Value::string).collect())
}

#[derive(Clone, Debug, PartialEq)]
struct OriginSpec {
    id: String,
    domain_name: String,
    origin_path: String,
    s3: bool,
    protocol_policy: String,
    http_port: i64,
    https_port: i64,
    origin_access_identity: String,
}

impl OriginSpec {
    fn from_map(m: &BTreeMap<String, Value>) -> OriginSpec {
        OriginSpec {
            id: get_str(m, "id").unwrap_or_default(),
            domain_name: get_str(m, "domain_name").unwrap_or_default(),
            origin_path: get_str(m, "origin_path").unwrap_or_default(),
            s3: get_str(m, "type").is_some_and(|t| t.eq_ignore_ascii_case("s3")),
            protocol_policy: get_str(m, "protocol_policy").unwrap_or_else(|| "https-only".into()),
            http_port: get_i64(m, "http_port").unwrap_or(80),
            https_port: get_i64(m, "https_port").unwrap_or(443),
            origin_access_identity: get_str(m, "origin_access_identity").unwrap_or_default(),
        }
    }

    fn to_value(&self) -> Value {
        let mut pairs = vec![
            ("id", Value::string(&self.id)),
            ("domain_name", Value::string(&self.domain_name)),
            ("origin_path", Value::string(&self.origin_path)),
            ("type", Value::string(if self.s3 { "s3" } else { "custom" })),
        ];
        if self.s3 {
            pairs.push((
                "origin_access_identity",
                Value::string(&self.origin_access_identity),
            ));
        } else {
            pairs.push(("protocol_policy", Value::string(&self.protocol_policy)));
            pairs.push(("http_port", Value::int(self.http_port)));
            pairs.push(("https_port", Value::int(self.https_port)));
        }
        map_value(pairs)
    }

    fn from_sdk(o: &Origin) -> OriginSpec {
        let custom = o.custom_origin_config();
        OriginSpec {
            id: o.id().to_string(),
            domain_name: o.domain_name().to_string(),
            origin_path: o.origin_path().unwrap_or_default().to_string(),
            s3: custom.is_none(),
            protocol_policy: custom
                .map(|c| c.origin_protocol_policy().as_str().to_string())
                .unwrap_or_else(|| "https-only".into()),
            http_port: custom.map(|c| c.http_port().into()).unwrap_or(80),
            https_port: custom.map(|c| c.https_port().into()).unwrap_or(443),
            origin_access_identity: o
                .s3_origin_config()
                .map(|s| s.origin_access_identity().to_string())
                .unwrap_or_default(),
        }
    }

    fn to_sdk(&self) -> Result<Origin, ProviderError> {
        let port = |p: i64| {
            i32::try_from(p).map_err(|_| ProviderError::Invalid(format!("port {p} out of range")))
        };
        let mut b = Origin::builder()
            .id(&self.id)
            .domain_name(&self.domain_name)
            .origin_path(&self.origin_path);
        if self.s3 {
            b = b.s3_origin_config(
                S3OriginConfig::builder()
                    .origin_access_identity(&self.origin_access_identity)
                    .build(),
            );
        } else {
            b = b.custom_origin_config(built(
                CustomOriginConfig::builder()
                    .http_port(port(self.http_port)?)
                    .https_port(port(self.https_port)?)
                    .origin_protocol_policy(OriginProtocolPolicy::from(
                        self.protocol_policy.as_str(),
                    ))
                    .build(),
            )?);
        }
        built(b.build())
    }
}

/// A cache behaviour. The legacy cache settings (TTLs, forwarded values) are deprecated in
/// CloudFront's model in favour of cache policies, but a behaviour without a cache policy
/// still needs them: hence the `allow(deprecated)` where they are read or written.
#[derive(Clone, Debug, PartialEq)]
struct BehaviorSpec {
    path_pattern: Option<String>,
    target_origin_id: String,
    viewer_protocol_policy: String,
    allowed_methods: Vec<String>,
    cached_methods: Vec<String>,
    compress: bool,
    cache_policy_id: Option<String>,
    min_ttl: i64,
    default_ttl: i64,
    max_ttl: i64,
    forward_query_string: bool,
}

fn methods(m: &BTreeMap<String, Value>, k: &str) -> Vec<String> {
    let mut v: Vec<String> = m
        .get(k)
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(value_str)
                .map(|s| s.to_uppercase())
                .collect()
        })
        .unwrap_or_else(|| vec!["GET".into(), "HEAD".into()]);
    v.sort();
    v.dedup();
    v
}

impl BehaviorSpec {
    fn from_map(m: &BTreeMap<String, Value>) -> BehaviorSpec {
        BehaviorSpec {
            path_pattern: get_str(m, "path_pattern"),
            target_origin_id: get_str(m, "target_origin_id").unwrap_or_default(),
            viewer_protocol_policy: get_str(m, "viewer_protocol_policy")
                .unwrap_or_else(|| "redirect-to-https".into()),
            allowed_methods: methods(m, "allowed_methods"),
            cached_methods: methods(m, "cached_methods"),
            compress: get_bool(m, "compress").unwrap_or(false),
            cache_policy_id: get_str(m, "cache_policy_id").filter(|s| !s.is_empty()),
            min_ttl: get_i64(m, "min_ttl").unwrap_or(0),
            default_ttl: get_i64(m, "default_ttl").unwrap_or(86400),
            max_ttl: get_i64(m, "max_ttl").unwrap_or(31_536_000),
            forward_query_string: get_bool(m, "forward_query_string").unwrap_or(false),
        }
    }

    fn to_value(&self) -> Value {
        let mut pairs = vec![
            (
                "path_pattern",
                self.path_pattern
                    .as_deref()
                    .map(Value::string)
                    .unwrap_or(Value::Null),
            ),
            ("target_origin_id", Value::string(&self.target_origin_id)),
            (
                "viewer_protocol_policy",
                Value::string(&self.viewer_protocol_policy),
            ),
            ("allowed_methods", strings_value(&self.allowed_methods)),
            ("cached_methods", strings_value(&self.cached_methods)),
            ("compress", Value::Bool(self.compress)),
        ];
        match &self.cache_policy_id {
            Some(p) => pairs.push(("cache_policy_id", Value::string(p))),
            None => {
                pairs.push(("min_ttl", Value::int(self.min_ttl)));
                pairs.push(("default_ttl", Value::int(self.default_ttl)));
                pairs.push(("max_ttl", Value::int(self.max_ttl)));
                pairs.push((
                    "forward_query_string",
                    Value::Bool(self.forward_query_string),
                ));
            }
        }
        map_value(pairs)
    }

    #[allow(clippy::too_many_arguments)]
    fn from_parts(
        path_pattern: Option<&str>,
        target: &str,
        viewer: &ViewerProtocolPolicy,
        allowed: Option<&AllowedMethods>,
        compress: Option<bool>,
        cache_policy_id: Option<&str>,
        ttls: (Option<i64>, Option<i64>, Option<i64>),
        forwarded: Option<&ForwardedValues>,
    ) -> BehaviorSpec {
        let sorted = |items: &[Method]| {
            let mut v: Vec<String> = items.iter().map(|m| m.as_str().to_string()).collect();
            v.sort();
            v
        };
        BehaviorSpec {
            path_pattern: path_pattern.map(str::to_string),
            target_origin_id: target.to_string(),
            viewer_protocol_policy: viewer.as_str().to_string(),
            allowed_methods: allowed
                .map(|a| sorted(a.items()))
                .unwrap_or_else(|| vec!["GET".into(), "HEAD".into()]),
            cached_methods: allowed
                .and_then(|a| a.cached_methods())
                .map(|c| sorted(c.items()))
                .unwrap_or_else(|| vec!["GET".into(), "HEAD".into()]),
            compress: compress.unwrap_or(false),
            cache_policy_id: cache_policy_id
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            min_ttl: ttls.0.unwrap_or(0),
            default_ttl: ttls.1.unwrap_or(86400),
            max_ttl: ttls.2.unwrap_or(31_536_000),
            forward_query_string: forwarded.is_some_and(|f| f.query_string()),
        }
    }

    fn allowed(&self) -> Result<AllowedMethods, ProviderError> {
        let items =
            |v: &[String]| -> Vec<Method> { v.iter().map(|m| Method::from(m.as_str())).collect() };
        built(
            AllowedMethods::builder()
                .quantity(self.allowed_methods.len() as i32)
                .set_items(Some(items(&self.allowed_methods)))
                .cached_methods(built(
                    CachedMethods::builder()
                        .quantity(self.cached_methods.len() as i32)
                        .set_items(Some(items(&self.cached_methods)))
                        .build(),
                )?)
                .build(),
        )
    }

    /// The legacy cache settings, sent only without a cache policy.
    fn forwarded(&self) -> Result<Option<ForwardedValues>, ProviderError> {
        if self.cache_policy_id.is_some() {
            return Ok(None);
        }
        Ok(Some(built(
            ForwardedValues::builder()
                .query_string(self.forward_query_string)
                .cookies(built(
                    CookiePreference::builder()
                        .forward(ItemSelection::None)
                        .build(),
                )?)
                .build(),
        )?))
    }

    fn ttl(&self, v: i64) -> Option<i64> {
        self.cache_policy_id.is_none().then_some(v)
    }

    #[allow(deprecated)]
    fn to_default_sdk(&self) -> Result<DefaultCacheBehavior, ProviderError> {
        built(
            DefaultCacheBehavior::builder()
                .target_origin_id(&self.target_origin_id)
                .viewer_protocol_policy(ViewerProtocolPolicy::from(
                    self.viewer_protocol_policy.as_str(),
                ))
                .allowed_methods(self.allowed()?)
                .compress(self.compress)
                .set_cache_policy_id(self.cache_policy_id.clone())
                .set_forwarded_values(self.forwarded()?)
                .set_min_ttl(self.ttl(self.min_ttl))
                .set_default_ttl(self.ttl(self.default_ttl))
                .set_max_ttl(self.ttl(self.max_ttl))
                .build(),
        )
    }

    #[allow(deprecated)]
    fn to_sdk(&self) -> Result<CacheBehavior, ProviderError> {
        built(
            CacheBehavior::builder()
                .path_pattern(self.path_pattern.clone().unwrap_or_default())
                .target_origin_id(&self.target_origin_id)
                .viewer_protocol_policy(ViewerProtocolPolicy::from(
                    self.viewer_protocol_policy.as_str(),
                ))
                .allowed_methods(self.allowed()?)
                .compress(self.compress)
                .set_cache_policy_id(self.cache_policy_id.clone())
                .set_forwarded_values(self.forwarded()?)
                .set_min_ttl(self.ttl(self.min_ttl))
                .set_default_ttl(self.ttl(self.default_ttl))
                .set_max_ttl(self.ttl(self.max_ttl))
                .build(),
        )
    }
}

#[allow(deprecated)]
fn default_behavior_from_sdk(b: &DefaultCacheBehavior) -> BehaviorSpec {
    BehaviorSpec::from_parts(
        None,
        &b.target_origin_id,
        &b.viewer_protocol_policy,
        b.allowed_methods(),
        b.compress(),
        b.cache_policy_id(),
        (b.min_ttl(), b.default_ttl(), b.max_ttl()),
        b.forwarded_values(),
    )
}

#[allow(deprecated)]
fn behavior_from_sdk(b: &CacheBehavior) -> BehaviorSpec {
    BehaviorSpec::from_parts(
        Some(&b.path_pattern),
        &b.target_origin_id,
        &b.viewer_protocol_policy,
        b.allowed_methods(),
        b.compress(),
        b.cache_policy_id(),
        (b.min_ttl(), b.default_ttl(), b.max_ttl()),
        b.forwarded_values(),
    )
}

fn viewer_certificate_value(m: &BTreeMap<String, Value>) -> Value {
    match get_str(m, "acm_certificate_arn") {
        Some(arn) => map_value(vec![
            ("acm_certificate_arn", Value::string(arn)),
            (
                "ssl_support_method",
                Value::string(
                    get_str(m, "ssl_support_method").unwrap_or_else(|| "sni-only".into()),
                ),
            ),
            (
                "minimum_protocol_version",
                Value::string(
                    get_str(m, "minimum_protocol_version").unwrap_or_else(|| "TLSv1.2_2021".into()),
                ),
            ),
        ]),
        None => Value::Map(BTreeMap::new()),
    }
}

fn logging_value(m: &BTreeMap<String, Value>) -> Value {
    map_value(vec![
        (
            "bucket",
            Value::string(get_str(m, "bucket").unwrap_or_default()),
        ),
        (
            "prefix",
            Value::string(get_str(m, "prefix").unwrap_or_default()),
        ),
        (
            "include_cookies",
            Value::Bool(get_bool(m, "include_cookies").unwrap_or(false)),
        ),
    ])
}

/// The schema's normalizer: origins, behaviours, certificate and logging with CloudFront's
/// defaults filled in; origins sorted by id. Unknown or unreadable values are unchanged.
pub fn normalize(attr: &str, value: &Value) -> Value {
    if value.contains_unknown() {
        return value.clone();
    }
    match (attr, value) {
        ("origins", Value::List(l)) => {
            let mut specs: Vec<OriginSpec> = Vec::new();
            for v in l {
                let Some(m) = v.as_map() else {
                    return value.clone();
                };
                specs.push(OriginSpec::from_map(m));
            }
            specs.sort_by(|a, b| a.id.cmp(&b.id));
            Value::List(specs.iter().map(OriginSpec::to_value).collect())
        }
        ("default_cache_behavior", Value::Map(m)) => BehaviorSpec::from_map(m).to_value(),
        ("ordered_cache_behaviors", Value::List(l)) => {
            let mut out = Vec::new();
            for v in l {
                let Some(m) = v.as_map() else {
                    return value.clone();
                };
                out.push(BehaviorSpec::from_map(m).to_value());
            }
            Value::List(out)
        }
        ("viewer_certificate", Value::Map(m)) => viewer_certificate_value(m),
        ("logging", Value::Map(m)) => logging_value(m),
        _ => value.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Inputs to and from a DistributionConfig

fn list_of_maps<'a>(
    inputs: &'a Attributes,
    name: &str,
) -> Result<Vec<&'a BTreeMap<String, Value>>, ProviderError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(l)) => l
            .iter()
            .map(|v| {
                v.as_map().ok_or_else(|| {
                    ProviderError::Invalid(format!("each of `{name}` must be a map"))
                })
            })
            .collect(),
        Some(other) => Err(ProviderError::Invalid(format!(
            "`{name}` must be a list, found a {}",
            other.type_name()
        ))),
    }
}

/// Writes every input that is set into `cfg`; what the stack leaves unset stays as it is.
fn apply_inputs(cfg: &mut DistributionConfig, inputs: &Attributes) -> Result<(), ProviderError> {
    let origins = list_of_maps(inputs, "origins")?
        .into_iter()
        .map(|m| OriginSpec::from_map(m).to_sdk())
        .collect::<Result<Vec<_>, _>>()?;
    if origins.is_empty() {
        return Err(ProviderError::Invalid(
            "a distribution needs at least one origin".into(),
        ));
    }
    cfg.origins = Some(built(
        Origins::builder()
            .quantity(origins.len() as i32)
            .set_items(Some(origins))
            .build(),
    )?);
    let default = inputs
        .get("default_cache_behavior")
        .and_then(Value::as_map)
        .ok_or_else(|| ProviderError::Invalid("`default_cache_behavior` must be a map".into()))?;
    cfg.default_cache_behavior = Some(BehaviorSpec::from_map(default).to_default_sdk()?);
    if inputs.contains_key("ordered_cache_behaviors") {
        let behaviors = list_of_maps(inputs, "ordered_cache_behaviors")?
            .into_iter()
            .map(|m| BehaviorSpec::from_map(m).to_sdk())
            .collect::<Result<Vec<_>, _>>()?;
        cfg.cache_behaviors = Some(built(
            CacheBehaviors::builder()
                .quantity(behaviors.len() as i32)
                .set_items((!behaviors.is_empty()).then_some(behaviors))
                .build(),
        )?);
    }
    if let Some(enabled) = input_bool(inputs, "enabled")? {
        cfg.enabled = enabled;
    }
    if let Some(comment) = input_str(inputs, "comment") {
        cfg.comment = comment;
    }
    if let Some(p) = input_str(inputs, "price_class") {
        cfg.price_class = Some(PriceClass::from(p.as_str()));
    }
    if inputs.contains_key("aliases") {
        let aliases = input_strings(inputs, "aliases");
        cfg.aliases = Some(built(
            Aliases::builder()
                .quantity(aliases.len() as i32)
                .set_items((!aliases.is_empty()).then_some(aliases))
                .build(),
        )?);
    }
    if let Some(root) = input_str(inputs, "default_root_object") {
        cfg.default_root_object = Some(root);
    }
    if let Some(v) = inputs.get("viewer_certificate") {
        let m = v.as_map().cloned().unwrap_or_default();
        cfg.viewer_certificate = Some(match get_str(&m, "acm_certificate_arn") {
            Some(arn) => ViewerCertificate::builder()
                .acm_certificate_arn(arn)
                .ssl_support_method(SslSupportMethod::from(
                    get_str(&m, "ssl_support_method")
                        .unwrap_or_else(|| "sni-only".into())
                        .as_str(),
                ))
                .minimum_protocol_version(MinimumProtocolVersion::from(
                    get_str(&m, "minimum_protocol_version")
                        .unwrap_or_else(|| "TLSv1.2_2021".into())
                        .as_str(),
                ))
                .build(),
            None => ViewerCertificate::builder()
                .cloud_front_default_certificate(true)
                .build(),
        });
    } else if cfg.viewer_certificate.is_none() {
        cfg.viewer_certificate = Some(
            ViewerCertificate::builder()
                .cloud_front_default_certificate(true)
                .build(),
        );
    }
    if let Some(v) = inputs.get("logging") {
        let m = v.as_map().cloned().unwrap_or_default();
        let bucket = get_str(&m, "bucket").unwrap_or_default();
        cfg.logging = Some(
            LoggingConfig::builder()
                .enabled(!bucket.is_empty())
                .bucket(bucket)
                .prefix(get_str(&m, "prefix").unwrap_or_default())
                .include_cookies(get_bool(&m, "include_cookies").unwrap_or(false))
                .build(),
        );
    }
    if let Some(acl) = input_str(inputs, "web_acl_id") {
        cfg.web_acl_id = Some(acl);
    }
    Ok(())
}

/// The managed inputs of a distribution, as the stack writes them.
fn config_attributes(cfg: &DistributionConfig) -> Attributes {
    let mut a = Attributes::new();
    let origins: Vec<Value> = cfg
        .origins()
        .map(|o| {
            o.items()
                .iter()
                .map(|o| OriginSpec::from_sdk(o).to_value())
                .collect()
        })
        .unwrap_or_default();
    a.insert(
        "origins".into(),
        normalize("origins", &Value::List(origins)),
    );
    if let Some(b) = cfg.default_cache_behavior() {
        a.insert(
            "default_cache_behavior".into(),
            default_behavior_from_sdk(b).to_value(),
        );
    }
    a.insert(
        "ordered_cache_behaviors".into(),
        Value::List(
            cfg.cache_behaviors()
                .map(|c| {
                    c.items()
                        .iter()
                        .map(|b| behavior_from_sdk(b).to_value())
                        .collect()
                })
                .unwrap_or_default(),
        ),
    );
    a.insert("enabled".into(), Value::Bool(cfg.enabled()));
    a.insert("comment".into(), Value::string(cfg.comment()));
    a.insert(
        "price_class".into(),
        Value::string(
            cfg.price_class()
                .map(|p| p.as_str())
                .unwrap_or("PriceClass_All"),
        ),
    );
    a.insert(
        "aliases".into(),
        Value::List(
            cfg.aliases()
                .map(|x| x.items().iter().map(Value::string).collect())
                .unwrap_or_default(),
        ),
    );
    a.insert(
        "default_root_object".into(),
        Value::string(cfg.default_root_object().unwrap_or("")),
    );
    let cert = cfg.viewer_certificate();
    let cert_value = match cert.and_then(|c| c.acm_certificate_arn()) {
        Some(arn) if !arn.is_empty() => map_value(vec![
            ("acm_certificate_arn", Value::string(arn)),
            (
                "ssl_support_method",
                cert.and_then(|c| c.ssl_support_method())
                    .map(|s| Value::string(s.as_str()))
                    .unwrap_or(Value::Null),
            ),
            (
                "minimum_protocol_version",
                cert.and_then(|c| c.minimum_protocol_version())
                    .map(|s| Value::string(s.as_str()))
                    .unwrap_or(Value::Null),
            ),
        ]),
        _ => Value::Map(BTreeMap::new()),
    };
    a.insert("viewer_certificate".into(), cert_value);
    let logging = match cfg.logging() {
        Some(l) if l.enabled() => map_value(vec![
            ("bucket", Value::string(l.bucket())),
            ("prefix", Value::string(l.prefix())),
            ("include_cookies", Value::Bool(l.include_cookies())),
        ]),
        _ => Value::Null,
    };
    if !logging.is_null() {
        a.insert("logging".into(), logging);
    }
    a.insert(
        "web_acl_id".into(),
        Value::string(cfg.web_acl_id().unwrap_or("")),
    );
    a
}

fn sdk_tags(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Tags, ProviderError> {
    let items = pairs
        .into_iter()
        .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tags::builder().set_items(Some(items)).build())
}

// ---------------------------------------------------------------------------------------
// The resource type

impl Distribution {
    pub fn new(clients: Arc<AwsClients>) -> Self {
        Distribution {
            clients,
            schema: schema(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudfront::Client {
        crate::client(&self.clients, region)
    }

    async fn tags(client: &aws_sdk_cloudfront::Client, arn: &str) -> Result<Value, ProviderError> {
        let out = client
            .list_tags_for_resource()
            .resource(arn)
            .send()
            .await
            .map_err(api_error("ListTagsForResource"))?;
        Ok(terrane_aws_core::tags::decoded_tags_value(
            out.tags()
                .map(|t| t.items())
                .unwrap_or_default()
                .iter()
                .filter(|t| !t.key().starts_with("aws:"))
                .map(|t| (t.key(), t.value().unwrap_or(""))),
        ))
    }

    /// One distribution in full (GetDistribution and ListTagsForResource), or `None`.
    async fn read(
        client: &aws_sdk_cloudfront::Client,
        id: &str,
    ) -> Result<Option<Attributes>, ProviderError> {
        let out = match client.get_distribution().id(id).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    return Ok(None);
                }
                return Err(e.into_provider("GetDistribution"));
            }
        };
        let Some(d) = out.distribution() else {
            return Ok(None);
        };
        let mut a = d
            .distribution_config()
            .map(config_attributes)
            .unwrap_or_default();
        a.insert("id".into(), Value::string(d.id()));
        a.insert("arn".into(), Value::string(d.arn()));
        a.insert("domain_name".into(), Value::string(d.domain_name()));
        a.insert("hosted_zone_id".into(), Value::string(CLOUDFRONT_ZONE_ID));
        a.insert("status".into(), Value::string(d.status()));
        a.insert("tags".into(), Self::tags(client, d.arn()).await?);
        Ok(Some(a))
    }

    async fn read_many(
        &self,
        region: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(region);
        let read: Vec<(String, Option<Attributes>)> = futures::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move {
                    let a = Self::read(&client, &id).await?;
                    Ok::<_, ProviderError>((id, a))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(read
            .into_iter()
            .filter_map(|(id, a)| a.map(|a| (id, a)))
            .collect())
    }

    async fn read_one(&self, region: &str, id: &str) -> Result<Attributes, ProviderError> {
        Self::read(&self.client(region), id)
            .await?
            .ok_or_else(|| ProviderError::NotFound(format!("distribution {id}")))
    }

    async fn wait_deployed(&self, region: &str, id: &str) -> Result<(), ProviderError> {
        self.client(region)
            .wait_until_distribution_deployed()
            .id(id)
            .wait(WAIT_FOR_DEPLOY)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "wait (up to {} minutes) for distribution {id} to be deployed",
                        WAIT_FOR_DEPLOY.as_secs() / 60
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    /// The distribution's configuration and its ETag, or `None` when it does not exist.
    async fn config(
        &self,
        region: &str,
        id: &str,
    ) -> Result<Option<(DistributionConfig, String)>, ProviderError> {
        match self
            .client(region)
            .get_distribution_config()
            .id(id)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                Ok(out.distribution_config.map(|c| (c, etag)))
            }
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    Ok(None)
                } else {
                    Err(e.into_provider("GetDistributionConfig"))
                }
            }
        }
    }

    /// UpdateDistribution with the ETag read with the configuration; returns the new ETag.
    async fn put_config(
        &self,
        region: &str,
        id: &str,
        cfg: DistributionConfig,
        etag: &str,
    ) -> Result<String, ProviderError> {
        let out = self
            .client(region)
            .update_distribution()
            .id(id)
            .distribution_config(cfg)
            .if_match(etag)
            .send()
            .await
            .map_err(api_error("UpdateDistribution"))?;
        Ok(out.e_tag().unwrap_or(etag).to_string())
    }
}

#[async_trait]
impl ResourceType for Distribution {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// ListDistributions' summaries carry neither the logging configuration, the default
    /// root object nor tags, so each asked distribution is read with GetDistribution and
    /// ListTagsForResource (CloudFront has no batched tag read), concurrently. Ids not
    /// found are absent.
    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError> {
        let ids: std::collections::BTreeSet<String> = req.ids.iter().cloned().collect();
        let found = self.read_many(req.region, ids).await?;
        Ok(ObserveResponse { found })
    }

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError> {
        // The client token is the CallerReference: CloudFront refuses a second distribution
        // with the same one (DistributionAlreadyExists), so a retried create makes no twin.
        let mut cfg = built(
            DistributionConfig::builder()
                .caller_reference(req.client_token)
                .comment("")
                .enabled(true)
                .build(),
        )?;
        apply_inputs(&mut cfg, req.inputs)?;
        let with_tags = DistributionConfigWithTags::builder()
            .distribution_config(cfg)
            .tags(sdk_tags(tag_map(req.inputs))?)
            .build();
        let out = self
            .client(req.region)
            .create_distribution_with_tags()
            .distribution_config_with_tags(with_tags)
            .send()
            .await
            .map_err(api_error("CreateDistributionWithTags"))?;
        let id = out
            .distribution()
            .map(|d| d.id().to_string())
            .ok_or_else(|| {
                ProviderError::api("CreateDistributionWithTags", "no distribution returned")
            })?;
        self.wait_deployed(req.region, &id).await?;
        let attributes = self.read_one(req.region, &id).await?;
        Ok(CreateResponse { id, attributes })
    }

    /// GetDistributionConfig, the inputs written over it, then UpdateDistribution with the
    /// ETag just read (If-Match), and a wait until deployed. Tags change apart.
    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError> {
        let client = self.client(req.region);
        if req.changed.iter().any(|c| c != "tags") {
            let (mut cfg, etag) = self
                .config(req.region, req.id)
                .await?
                .ok_or_else(|| ProviderError::NotFound(format!("distribution {}", req.id)))?;
            apply_inputs(&mut cfg, req.inputs)?;
            self.put_config(req.region, req.id, cfg, &etag).await?;
            self.wait_deployed(req.region, req.id).await?;
        }
        if req.changed.iter().any(|c| c == "tags") {
            let arn = match input_str(req.prior, "arn") {
                Some(a) => a,
                None => self
                    .read_one(req.region, req.id)
                    .await?
                    .get("arn")
                    .and_then(value_str)
                    .unwrap_or_default(),
            };
            let want = tag_map(req.inputs);
            let have = tag_map(req.prior);
            let removed: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource(&arn)
                    .tag_keys(TagKeys::builder().set_items(Some(removed)).build())
                    .send()
                    .await
                    .map_err(api_error("UntagResource"))?;
            }
            let changed: Vec<(String, String)> = want
                .into_iter()
                .filter(|(k, v)| have.get(k) != Some(v))
                .collect();
            if !changed.is_empty() {
                client
                    .tag_resource()
                    .resource(&arn)
                    .tags(sdk_tags(changed)?)
                    .send()
                    .await
                    .map_err(api_error("TagResource"))?;
            }
        }
        let attributes = self.read_one(req.region, req.id).await?;
        Ok(UpdateResponse { attributes })
    }

    /// Disable (UpdateDistribution with If-Match), wait until deployed, then delete with
    /// the ETag the disable returned. Gone already is success.
    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError> {
        let Some((mut cfg, mut etag)) = self.config(req.region, req.id).await? else {
            return Ok(());
        };
        if cfg.enabled {
            cfg.enabled = false;
            etag = self.put_config(req.region, req.id, cfg, &etag).await?;
        }
        self.wait_deployed(req.region, req.id).await?;
        match self
            .client(req.region)
            .delete_distribution()
            .id(req.id)
            .if_match(&etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(e);
                if e.is(&[NOT_FOUND]) {
                    Ok(())
                } else {
                    Err(e.into_provider("DeleteDistribution"))
                }
            }
        }
    }

    /// ListDistributions (one paginated call), then the tags of each distribution (one
    /// call each: CloudFront has no batched tag read), then the owned ones in full.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError> {
        let client = self.client(req.region);
        let summaries = client
            .list_distributions()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(api_error("ListDistributions"))?;
        let tagged: Vec<(String, Value)> = futures::stream::iter(summaries)
            .map(|s| {
                let client = client.clone();
                async move {
                    let tags = Self::tags(&client, s.arn()).await?;
                    Ok::<_, ProviderError>((s.id().to_string(), tags))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let owned = tagged.into_iter().filter_map(|(id, tags)| {
            let a: Attributes = [("tags".to_string(), tags)].into();
            owned_by(&req, &a).then_some(id)
        });
        let mut found = self
            .read_many(req.region, owned.collect::<Vec<_>>())
            .await?;
        found.retain(|_, a| owned_by(&req, a));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_and_origins_normalize_to_a_fixed_point() {
        let b = Value::Map(
            [
                ("target_origin_id".to_string(), Value::string("web")),
                (
                    "allowed_methods".to_string(),
                    Value::List(vec![Value::string("head"), Value::string("GET")]),
                ),
            ]
            .into(),
        );
        let n = normalize("default_cache_behavior", &b);
        let m = n.as_map().unwrap();
        assert_eq!(
            m["viewer_protocol_policy"],
            Value::string("redirect-to-https")
        );
        assert_eq!(m["default_ttl"], Value::int(86400));
        assert_eq!(normalize("default_cache_behavior", &n), n);
        let o = Value::List(vec![
            Value::Map(
                [
                    ("id".to_string(), Value::string("s3")),
                    (
                        "domain_name".to_string(),
                        Value::string("b.s3.amazonaws.com"),
                    ),
                    ("type".to_string(), Value::string("s3")),
                ]
                .into(),
            ),
            Value::Map(
                [
                    ("id".to_string(), Value::string("a")),
                    ("domain_name".to_string(), Value::string("example.com")),
                ]
                .into(),
            ),
        ]);
        let n = normalize("origins", &o);
        assert_eq!(
            n.as_list().unwrap()[0].as_map().unwrap()["https_port"],
            Value::int(443)
        );
        assert_eq!(normalize("origins", &n), n);
    }
}
