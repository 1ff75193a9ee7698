//! `aws.acm.certificate` against a local moto server: a request with tags and an
//! idempotency token, batched observe (with unknown ARNs mixed in), the DNS validation
//! records, tag updates, discovery by ownership tags, and idempotent deletes.

use terrane_aws_acm::certificate::Certificate;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, ProviderError, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "acm-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
    strings,
    tags,
    observe,
    update,
    delete,
    find,
    delete_twice_and_gone,
    s
);

/// Each settable input as the planner would compare it; unordered lists as sets.
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        let got = live.get(k).unwrap_or(&Value::Null);
        let (mut w, mut g) = (schema.normalized(k, want), schema.normalized(k, got));
        if schema.attribute(k).is_some_and(|a| a.unordered) {
            for v in [&mut w, &mut g] {
                if let Value::List(l) = v {
                    l.sort_by_key(|x| x.to_string());
                }
            }
        }
        assert!(w.semantically_equal(&g), "{k}: want {want}, live {got}");
    }
}

/// Checks a schema as the reference pages and the planner rely on it: described, tagged,
/// and with an example whose properties are attributes of the type.
fn assert_schema_sound(t: &dyn ResourceType) {
    let schema = t.schema();
    let name = schema.type_name;
    assert!(!schema.description.is_empty(), "{name}");
    assert!(schema.taggable, "{name}");
    assert!(
        schema.attribute("tags").is_some_and(|a| a.settable()),
        "{name}"
    );
    assert!(schema.attribute(schema.id_attribute).is_some(), "{name}");
    for a in &schema.attributes {
        assert!(!a.description.is_empty(), "{name}.{}", a.name);
    }
    assert!(schema.example.contains(&format!("type: {name}")), "{name}");
    for line in schema.example.lines() {
        let Some(prop) = line.strip_prefix("    ") else {
            continue;
        };
        if prop.starts_with(' ') || prop.starts_with('-') {
            continue;
        }
        let key = prop.split(':').next().unwrap();
        assert!(
            schema.attribute(key).is_some_and(|a| a.settable()),
            "{name} example: {key}"
        );
    }
}

#[tokio::test]
async fn schema_is_registered_and_sound() {
    let moto = Moto::start();
    let mut registry = terrane_provider::Registry::new();
    terrane_aws_acm::register(&mut registry, &moto.clients(REGION).await);
    let t = registry
        .get("aws.acm.certificate")
        .expect("aws.acm.certificate registered");
    assert_schema_sound(t.as_ref());
}

async fn request(
    t: &Certificate,
    address: &str,
    inputs: &Attributes,
    token: &str,
) -> Result<(String, Attributes), ProviderError> {
    t.create(CreateRequest {
        region: REGION,
        address: &Address::new(address),
        inputs,
        client_token: token,
    })
    .await
    .map(|out| (out.id, out.attributes))
}

#[tokio::test]
async fn certificate_lifecycle() {
    let moto = Moto::start();
    let certs = Certificate::new(moto.clients(REGION).await);

    let inputs = attrs(&[
        ("domain_name", Value::string("example.com")),
        (
            "subject_alternative_names",
            strings(&["www.example.com", "*.api.example.com"]),
        ),
        ("validation_method", Value::string("DNS")),
        ("tags", tags("site", &[("team", "web")])),
    ]);
    // A client token longer than ACM's 32 word characters is digested into one.
    let token = "acm-test/site:0123456789abcdef0123456789abcdef";
    let (arn, created) = request(&certs, "site", &inputs, token)
        .await
        .expect("request certificate");
    assert!(arn.starts_with("arn:aws:acm:us-east-1:"), "{arn}");
    assert_eq!(s(&created, "arn"), arn);
    assert_inputs_match(&certs, &inputs, &created);
    assert_eq!(s(&created, "key_algorithm"), "RSA_2048");
    assert!(
        ["PENDING_VALIDATION", "ISSUED"].contains(&s(&created, "status").as_str()),
        "{created:?}"
    );

    // One validation record per name, ready for Route53.
    let options = created["domain_validation_options"].as_list().unwrap();
    let names: Vec<String> = options
        .iter()
        .map(|o| {
            o.as_map().unwrap()["domain_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["*.api.example.com", "example.com", "www.example.com"]
    );
    for o in options {
        let o = o.as_map().unwrap();
        assert_eq!(o["resource_record_type"], Value::string("CNAME"));
        assert!(o["resource_record_name"].as_str().unwrap().starts_with('_'));
        assert!(!o["resource_record_value"].as_str().unwrap().is_empty());
    }

    // The same request again (a retry after a crash) gets the same certificate back.
    let (again, _) = request(&certs, "site", &inputs, token).await.unwrap();
    assert_eq!(again, arn);

    // A second certificate (email validation), and an unknown ARN: one observe for all.
    // Its address has characters ACM refuses in tag values (moto does not check them): the
    // ownership tag is stored encoded and read back decoded.
    let other_address = r#"cert["internal"]"#;
    let other = attrs(&[
        ("domain_name", Value::string("internal.example.org")),
        ("validation_method", Value::string("EMAIL")),
        ("tags", tags(other_address, &[])),
    ]);
    let (other_arn, other_attrs) = request(&certs, other_address, &other, "internal")
        .await
        .unwrap();
    assert_eq!(other_attrs["tags"], tags(other_address, &[]));
    let acm = aws_sdk_acm::Client::new(&moto.sdk_config(REGION).await);
    let raw = acm
        .list_tags_for_certificate()
        .certificate_arn(&other_arn)
        .send()
        .await
        .unwrap();
    assert!(
        raw.tags()
            .iter()
            .any(|t| t.key() == "terrane:address" && t.value() == Some("cert=5B=22internal=22=5D")),
        "{raw:?}"
    );
    assert_ne!(other_arn, arn);
    assert_eq!(
        other_attrs["subject_alternative_names"],
        Value::List(vec![])
    );
    let unknown =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    let found = observe(&certs, &[&arn, unknown, &other_arn]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&arn], created);

    // Tags change in place.
    let mut wanted = inputs.clone();
    wanted.insert("tags".into(), tags("site", &[("owner", "platform")]));
    let updated = update(&certs, &arn, &wanted, &created, &["tags"]).await;
    assert_inputs_match(&certs, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), arn);
    assert_eq!(observe(&certs, &[&arn]).await[&arn], updated);

    assert_eq!(find(&certs, STACK, Some("site")).await, vec![arn.clone()]);
    assert_eq!(
        find(&certs, STACK, Some(other_address)).await,
        vec![other_arn.clone()]
    );
    let mut both = vec![arn.clone(), other_arn.clone()];
    both.sort();
    assert_eq!(find(&certs, STACK, None).await, both);
    assert!(find(&certs, "other-stack", None).await.is_empty());

    // The main name repeated among the alternatives would never match what ACM reports.
    let mut repeated = inputs.clone();
    repeated.insert(
        "subject_alternative_names".into(),
        strings(&["example.com", "www.example.com"]),
    );
    let err = request(&certs, "bad", &repeated, "bad")
        .await
        .expect_err("repeated domain_name");
    assert!(matches!(err, ProviderError::Invalid(_)), "{err}");

    // moto 5.2.5 never answers ResourceInUseException (it deletes certificates in use), so
    // the in-use path of delete is not exercised here.
    delete_twice_and_gone(&certs, &arn, &updated).await;
    delete_twice_and_gone(&certs, &other_arn, &other_attrs).await;
}

/// A validation waits for issuance with the SDK's waiter (moto issues a DNS-validated
/// certificate 60 s after the request; the waiter polls every 60 s or more, so this test
/// takes about a minute), is present only while its certificate is issued, and makes and
/// deletes nothing in AWS.
#[tokio::test]
async fn a_validation_waits_until_the_certificate_is_issued() {
    use terrane_aws_acm::certificate_validation::CertificateValidation;
    let moto = Moto::start();
    let validations = CertificateValidation::new(moto.clients(REGION).await);
    let acm = aws_sdk_acm::Client::new(&moto.sdk_config(REGION).await);
    let request = |domain: &'static str| {
        let acm = acm.clone();
        async move {
            acm.request_certificate()
                .domain_name(domain)
                .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
                .send()
                .await
                .unwrap()
                .certificate_arn()
                .unwrap()
                .to_string()
        }
    };
    let arn = request("app.example.com").await;
    let status = |arn: String| {
        let acm = acm.clone();
        async move {
            acm.describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .unwrap()
                .certificate()
                .and_then(|c| c.status().map(|s| s.as_str().to_string()))
                .unwrap()
        }
    };
    assert_eq!(status(arn.clone()).await, "PENDING_VALIDATION");
    // Not issued yet: not there.
    assert!(observe(&validations, &[&arn]).await.is_empty());

    let inputs = attrs(&[("certificate_arn", Value::string(&arn))]);
    let out = validations
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("issued"),
            inputs: &inputs,
            client_token: "t",
        })
        .await
        .unwrap();
    assert_eq!(out.id, arn);
    assert_eq!(
        status(arn.clone()).await,
        "ISSUED",
        "create returned only once issued"
    );

    // Present now; an unknown certificate and one still pending are not.
    let pending = request("later.example.com").await;
    let unknown =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    let found = observe(&validations, &[&arn, &pending, unknown]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&arn]);
    assert_eq!(s(&found[&arn], "certificate_arn"), arn);
    assert!(find(&validations, STACK, None).await.is_empty());

    // Deleting a validation leaves the certificate alone.
    delete(&validations, &arn, &out.attributes).await;
    assert_eq!(status(arn.clone()).await, "ISSUED");
}
