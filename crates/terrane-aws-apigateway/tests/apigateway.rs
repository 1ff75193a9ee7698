//! The API Gateway resource types against a local moto server: a REST API from an OpenAPI
//! document and a stage deploying it; create with tags, batched observe (with unknown ids
//! mixed in), in-place updates, redeployment, discovery by ownership tags, and idempotent
//! deletes.

use terrane_aws_apigateway::rest_api::RestApi;
use terrane_aws_apigateway::stage::Stage;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "apigateway-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
    tags,
    create,
    observe,
    update,
    delete,
    find,
    delete_twice_and_gone,
    s
);

/// Each settable input as the planner would compare it (the write-only body aside).
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        if k == "body" || k == "redeploy_token" {
            continue;
        }
        let got = live.get(k).unwrap_or(&Value::Null);
        assert!(
            schema
                .normalized(k, want)
                .semantically_equal(&schema.normalized(k, got)),
            "{k}: want {want}, live {got}"
        );
    }
}

/// An OpenAPI 3 document with one Lambda-proxy method (moto, like AWS, refuses to deploy
/// an API without a method and an integration).
fn openapi(path: &str) -> Value {
    Value::string(format!(
        r#"{{"openapi":"3.0.1","info":{{"title":"api","version":"1"}},"paths":{{"{path}":{{"post":{{"responses":{{"200":{{"description":"ok"}}}},"x-amazon-apigateway-integration":{{"type":"aws_proxy","httpMethod":"POST","uri":"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:api/invocations"}}}}}}}}}}"#
    ))
}

#[tokio::test]
async fn rest_api_and_stage_lifecycle() {
    let moto = Moto::start();
    let clients = moto.clients(REGION).await;
    let apis = RestApi::new(clients.clone());
    let stages = Stage::new(clients);

    // moto's CreateRestApi drops `binaryMediaTypes`, so the test leaves them unset.
    let inputs = attrs(&[
        ("name", Value::string("nutritionist")),
        ("description", Value::string("the API")),
        ("endpoint_type", Value::string("REGIONAL")),
        ("body", openapi("/webhook")),
        ("tags", tags("api", &[("team", "api")])),
    ]);
    let (api, api_attrs) = create(&apis, "api", &inputs).await;
    assert_inputs_match(&apis, &inputs, &api_attrs);
    assert_eq!(
        s(&api_attrs, "arn"),
        format!("arn:aws:apigateway:us-east-1::/restapis/{api}")
    );
    assert_eq!(
        s(&api_attrs, "execution_arn"),
        format!("arn:aws:execute-api:us-east-1:*:{api}")
    );
    assert!(!s(&api_attrs, "root_resource_id").is_empty());

    let found = observe(&apis, &["nosuchapi", &api]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&api]);
    assert_eq!(found[&api], api_attrs);

    // Name, description and body in place. (moto ignores a patch of minimumCompressionSize,
    // and its TagResource only understands stage ARNs, so API tags are not changed here.)
    let mut wanted = inputs.clone();
    wanted.insert("name".into(), Value::string("nutritionist-v2"));
    wanted.insert("description".into(), Value::string("the API, v2"));
    wanted.insert("body".into(), openapi("/hook"));
    let api_updated = update(
        &apis,
        &api,
        &wanted,
        &api_attrs,
        &["name", "description", "body"],
    )
    .await;
    assert_inputs_match(&apis, &wanted, &api_updated);
    assert_eq!(s(&api_updated, "id"), api);

    // The stage: deploys the API.
    let stage_inputs = attrs(&[
        ("rest_api_id", Value::string(&api)),
        ("stage_name", Value::string("prod")),
        ("description", Value::string("production")),
        ("variables", map(&[("env", "prod"), ("table", "orders")])),
        ("tracing_enabled", Value::Bool(true)),
        ("redeploy_token", Value::string("v1")),
        ("tags", tags("prod", &[("team", "api")])),
    ]);
    let (stage, stage_attrs) = create(&stages, "prod", &stage_inputs).await;
    assert_eq!(stage, format!("{api}/prod"));
    assert_inputs_match(&stages, &stage_inputs, &stage_attrs);
    assert_eq!(
        s(&stage_attrs, "arn"),
        format!("arn:aws:apigateway:us-east-1::/restapis/{api}/stages/prod")
    );
    assert_eq!(
        s(&stage_attrs, "invoke_url"),
        format!("https://{api}.execute-api.us-east-1.amazonaws.com/prod")
    );
    let first_deployment = s(&stage_attrs, "deployment_id");

    let found = observe(
        &stages,
        &[&stage, &format!("{api}/nothing"), "nosuchapi/prod"],
    )
    .await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&stage]);
    assert_eq!(found[&stage], stage_attrs);

    let mut stage_wanted = stage_inputs.clone();
    stage_wanted.insert("description".into(), Value::string("production, v2"));
    stage_wanted.insert("variables".into(), map(&[("env", "production")]));
    stage_wanted.insert("redeploy_token".into(), Value::string("v2"));
    stage_wanted.insert("tags".into(), tags("prod", &[("owner", "ops")]));
    let stage_updated = update(
        &stages,
        &stage,
        &stage_wanted,
        &stage_attrs,
        &["description", "variables", "redeploy_token", "tags"],
    )
    .await;
    assert_inputs_match(&stages, &stage_wanted, &stage_updated);
    assert_ne!(
        s(&stage_updated, "deployment_id"),
        first_deployment,
        "a new redeploy_token deploys again"
    );
    assert_eq!(observe(&stages, &[&stage]).await[&stage], stage_updated);

    assert_eq!(find(&apis, STACK, Some("api")).await, vec![api.clone()]);
    assert!(find(&apis, "another", None).await.is_empty());
    assert_eq!(
        find(&stages, STACK, Some("prod")).await,
        vec![stage.clone()]
    );
    assert!(find(&stages, STACK, Some("api")).await.is_empty());
    assert!(find(&stages, "another", None).await.is_empty());

    delete_twice_and_gone(&stages, &stage, &stage_updated).await;
    // moto answers a DeleteRestApi of an API already deleted with a 500 (a KeyError)
    // instead of NotFoundException (which the delete treats as done), so it is deleted once.
    delete(&apis, &api, &api_updated).await;
    assert!(observe(&apis, &[&api]).await.is_empty());
    // A stage of an API that is gone is gone too.
    delete_twice_and_gone(&stages, &stage, &stage_updated).await;
}
