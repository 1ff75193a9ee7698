//! `aws.s3.bucket` against a local moto server: create with every sub-configuration,
//! batched observe (an unknown name mixed in), in-place updates, discovery by ownership
//! tags, force_destroy of a versioned bucket with objects, regions, and idempotent deletes.

use std::sync::Arc;

use terrane_aws_s3::AwsClients;
use terrane_aws_s3::bucket::Bucket;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, DeleteRequest, ObserveRequest, ResourceType};
use terrane_testkit::Moto;
use terrane_testkit::odd_address::{ODD_ADDRESS, assert_encoded_address, assert_plain_address};

const REGION: &str = "us-east-1";
const STACK: &str = "s3-test";

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

/// terrane's clients, reaching moto through [`versioning_fix_proxy`].
async fn clients(moto: &Moto) -> Arc<AwsClients> {
    let port = versioning_fix_proxy(moto.port);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    Arc::new(AwsClients::with_config(config))
}

/// moto gap: moto 5.2.5 answers GetBucketVersioning with a `<GetBucketVersioningResponse>`
/// root element where S3 sends `<VersioningConfiguration>`, which the Rust SDK refuses to
/// parse. The product code calls GetBucketVersioning the real way; the tests reach moto
/// through this small HTTP forwarder that renames that root element in that one answer.
/// One request per connection (the answer says `Connection: close`, as moto's do).
fn versioning_fix_proxy(upstream: u16) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn handle(mut client: TcpStream, upstream: u16) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        let head_end = loop {
            let n = client.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = client.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let fix = head.starts_with("GET ")
            && head
                .lines()
                .next()
                .is_some_and(|l| l.contains("?versioning"));
        let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
        up.write_all(&buf)?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        if fix {
            let text = String::from_utf8_lossy(&answer).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let body = body.replace("GetBucketVersioningResponse", "VersioningConfiguration");
                let head: Vec<String> = head
                    .split("\r\n")
                    .map(|l| {
                        if l.to_ascii_lowercase().starts_with("content-length:") {
                            format!("content-length: {}", body.len())
                        } else {
                            l.to_string()
                        }
                    })
                    .collect();
                answer = format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes();
            }
        }
        client.write_all(&answer)?;
        Ok(())
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = handle(conn, upstream);
            });
        }
    });
    port
}

/// Each settable input as the planner would compare it: normalized, lists as sets where
/// the schema says so.
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        if k == "force_destroy" {
            continue; // terrane-side, never observed
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

fn json(text: &str) -> Value {
    Value::from_json(&serde_json::from_str(text).unwrap())
}

/// An S3 client of the test itself (to put objects), path-style as against any local endpoint.
async fn raw_client(moto: &Moto) -> aws_sdk_s3::Client {
    let config = moto.sdk_config(REGION).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

fn policy(bucket: &str, action: &str) -> Value {
    json(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"ReadFromRole","Effect":"Allow",
        "Principal":{{"AWS":"arn:aws:iam::123456789012:role/reader"}},"Action":"{action}",
        "Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    ))
}

#[tokio::test]
async fn bucket_lifecycle() {
    let moto = Moto::start();
    let aws = clients(&moto).await;
    let buckets = Bucket::new(aws.clone());
    let inputs = attrs(&[
        ("bucket", Value::string("terrane-assets")),
        ("versioning", Value::Bool(true)),
        (
            "encryption",
            json(
                r#"{"sse_algorithm":"aws:kms","kms_key_id":"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab","bucket_key_enabled":true}"#,
            ),
        ),
        (
            "lifecycle_rules",
            json(
                r#"[{"id":"logs","prefix":"logs/","expiration_days":90,
                     "transitions":[{"days":30,"storage_class":"STANDARD_IA"}],
                     "abort_incomplete_multipart_upload_days":7},
                    {"id":"old-versions","noncurrent_version_expiration_days":30}]"#,
            ),
        ),
        ("policy", policy("terrane-assets", "s3:GetObject")),
        ("block_public_access", Value::Bool(true)),
        ("object_ownership", Value::string("BucketOwnerPreferred")),
        ("force_destroy", Value::Bool(false)),
        ("tags", tags("assets", &[("team", "web")])),
    ]);
    let (id, created) = create(&buckets, "assets", &inputs).await;
    assert_eq!(id, "terrane-assets");
    assert_inputs_match(&buckets, &inputs, &created);
    assert_eq!(s(&created, "arn"), "arn:aws:s3:::terrane-assets");
    assert_eq!(
        s(&created, "bucket_regional_domain_name"),
        "terrane-assets.s3.us-east-1.amazonaws.com"
    );
    assert_eq!(s(&created, "region"), REGION);
    // The rules come back with their defaults (enabled) and as numbers.
    let rules = created["lifecycle_rules"].as_list().unwrap();
    assert_eq!(rules.len(), 2);

    // A bucket with nothing configured: absent sub-configurations read as absent, not errors.
    let plain_inputs = attrs(&[
        ("bucket", Value::string("terrane-plain")),
        ("block_public_access", Value::Bool(false)),
        ("versioning", Value::Bool(false)),
        ("tags", tags("plain", &[])),
    ]);
    let (plain, plain_attrs) = create(&buckets, "plain", &plain_inputs).await;
    assert_inputs_match(&buckets, &plain_inputs, &plain_attrs);
    assert_eq!(plain_attrs["lifecycle_rules"], Value::List(vec![]));
    assert!(!plain_attrs.contains_key("policy"), "{plain_attrs:?}");

    // moto gap: CreateBucket's create-time tags (CreateBucketConfiguration.Tags) are
    // dropped; create sees them missing and puts them with PutBucketTagging.
    let creates = aws.calls().snapshot();
    assert!(
        creates.contains_key(&("S3".into(), "PutBucketTagging".into(), REGION.into())),
        "{creates:?}"
    );
    aws.calls().reset();
    let found = observe(&buckets, &["terrane-no-such-bucket", &id, &plain]).await;
    // One ListBuckets for all; seven reads per bucket found (S3 has no batched read).
    let calls = aws.calls().snapshot();
    let count = |op: &str| -> u64 {
        calls
            .iter()
            .filter(|((_, o, _), _)| o == op)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count("ListBuckets"), 1, "{calls:?}");
    assert_eq!(count("GetBucketTagging"), 2, "{calls:?}");
    assert_eq!(aws.calls().total(), 1 + 7 * 2, "{calls:?}");
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id, &plain]);
    assert_eq!(found[&id], created);

    // In place: every sub-configuration changes, the name (id) stays.
    let mut wanted = inputs.clone();
    wanted.insert("versioning".into(), Value::Bool(false));
    wanted.insert("encryption".into(), json(r#"{"sse_algorithm":"AES256"}"#));
    wanted.insert(
        "lifecycle_rules".into(),
        json(r#"[{"id":"logs","enabled":false,"prefix":"logs/","expiration_days":30}]"#),
    );
    wanted.insert("policy".into(), policy("terrane-assets", "s3:PutObject"));
    wanted.insert("block_public_access".into(), Value::Bool(false));
    wanted.insert("object_ownership".into(), Value::string("ObjectWriter"));
    wanted.insert("tags".into(), tags("assets", &[("team", "data")]));
    let updated = update(
        &buckets,
        &id,
        &wanted,
        &created,
        &[
            "versioning",
            "encryption",
            "lifecycle_rules",
            "policy",
            "block_public_access",
            "object_ownership",
            "tags",
        ],
    )
    .await;
    assert_inputs_match(&buckets, &wanted, &updated);
    assert_eq!(s(&updated, "bucket"), id);
    assert_eq!(observe(&buckets, &[&id]).await[&id], updated);

    // Removing the rules and the policy.
    let mut bare = wanted.clone();
    bare.insert("lifecycle_rules".into(), Value::List(vec![]));
    bare.remove("policy");
    let cleared = update(
        &buckets,
        &id,
        &bare,
        &updated,
        &["lifecycle_rules", "policy"],
    )
    .await;
    assert_eq!(cleared["lifecycle_rules"], Value::List(vec![]));
    assert!(!cleared.contains_key("policy"), "{cleared:?}");

    assert_eq!(
        find(&buckets, STACK, Some("assets")).await,
        vec![id.clone()]
    );
    let mut both = vec![id.clone(), plain.clone()];
    both.sort();
    assert_eq!(find(&buckets, STACK, None).await, both);
    assert!(find(&buckets, "another-stack", None).await.is_empty());

    delete_twice_and_gone(&buckets, &id, &cleared).await;
    delete_twice_and_gone(&buckets, &plain, &plain_attrs).await;
    assert!(find(&buckets, STACK, None).await.is_empty());
}

#[tokio::test]
async fn force_destroy_empties_a_versioned_bucket() {
    let moto = Moto::start();
    let buckets = Bucket::new(clients(&moto).await);
    let s3 = raw_client(&moto).await;
    let inputs = attrs(&[
        ("bucket", Value::string("terrane-full")),
        ("versioning", Value::Bool(true)),
        ("tags", tags("full", &[])),
    ]);
    let (id, created) = create(&buckets, "full", &inputs).await;
    // Two versions of one key, a deleted key (a delete marker) and a plain key.
    for (key, body) in [
        ("a.txt", "1"),
        ("a.txt", "2"),
        ("b.txt", "x"),
        ("c.txt", "y"),
    ] {
        s3.put_object()
            .bucket(&id)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    s3.delete_object()
        .bucket(&id)
        .key("b.txt")
        .send()
        .await
        .unwrap();

    // Without force_destroy, a bucket with objects refuses to go, and says what to do.
    let err = buckets
        .delete(DeleteRequest {
            region: REGION,
            id: &id,
            prior: &created,
        })
        .await
        .expect_err("a non-empty bucket is not deleted");
    assert!(err.to_string().contains("force_destroy"), "{err}");
    assert!(!observe(&buckets, &[&id]).await.is_empty());

    let mut prior = created.clone();
    prior.insert("force_destroy".into(), Value::Bool(true));
    delete_twice_and_gone(&buckets, &id, &prior).await;
}

#[tokio::test]
async fn bucket_outside_us_east_1() {
    let moto = Moto::start();
    let buckets = Bucket::new(clients(&moto).await);
    let inputs = attrs(&[
        ("bucket", Value::string("terrane-eu")),
        ("tags", tags("eu", &[])),
    ]);
    let out = buckets
        .create(CreateRequest {
            region: "eu-west-1",
            address: &Address::new("eu"),
            inputs: &inputs,
            client_token: "token",
        })
        .await
        .expect("create in eu-west-1 (with a LocationConstraint)");
    assert_eq!(s(&out.attributes, "region"), "eu-west-1");
    assert_eq!(
        s(&out.attributes, "bucket_regional_domain_name"),
        "terrane-eu.s3.eu-west-1.amazonaws.com"
    );
    // The default applies: the public access block is on.
    assert_eq!(out.attributes["block_public_access"], Value::Bool(true));
    let ids = vec![out.id.clone()];
    let in_region = |region: &'static str| {
        let ids = ids.clone();
        let buckets = &buckets;
        async move {
            buckets
                .observe(ObserveRequest { region, ids: &ids })
                .await
                .unwrap()
                .found
        }
    };
    assert_eq!(in_region("eu-west-1").await.len(), 1);
    // Another region's ListBuckets does not report it.
    assert!(in_region("us-east-1").await.is_empty());
    buckets
        .delete(DeleteRequest {
            region: "eu-west-1",
            id: &out.id,
            prior: &out.attributes,
        })
        .await
        .unwrap();
    assert!(in_region("eu-west-1").await.is_empty());
}

#[test]
fn lifecycle_rules_compare_in_one_form() {
    let schema = Bucket::new(Arc::new(AwsClients::offline()))
        .schema()
        .clone();
    let written = json(r#"[{"id":"b","expiration_days":"30"},{"id":"a","prefix":""}]"#);
    let reported =
        json(r#"[{"id":"a","enabled":true},{"id":"b","enabled":true,"expiration_days":30}]"#);
    assert_eq!(
        schema.normalized("lifecycle_rules", &written),
        schema.normalized("lifecycle_rules", &reported)
    );
    let other = json(r#"[{"id":"a"},{"id":"b","expiration_days":31}]"#);
    assert_ne!(
        schema.normalized("lifecycle_rules", &written),
        schema.normalized("lifecycle_rules", &other)
    );
    assert_eq!(
        schema.normalized("encryption", &json(r#"{"sse_algorithm":"AES256"}"#)),
        schema.normalized(
            "encryption",
            &json(r#"{"sse_algorithm":"AES256","bucket_key_enabled":false}"#)
        )
    );
}

#[tokio::test]
async fn ownership_address_is_encoded_in_bucket_tags() {
    let moto = Moto::start();
    let buckets = Bucket::new(clients(&moto).await);
    let inputs = attrs(&[
        ("bucket", Value::string("terrane-odd")),
        ("tags", tags(ODD_ADDRESS, &[])),
    ]);
    let (id, created) = create(&buckets, ODD_ADDRESS, &inputs).await;
    assert_plain_address(&created);

    let raw = raw_client(&moto)
        .await
        .get_bucket_tagging()
        .bucket(&id)
        .send()
        .await
        .unwrap();
    let tag = raw
        .tag_set()
        .iter()
        .find(|t| t.key() == terrane_core::OWNERSHIP_TAG_ADDRESS)
        .map(|t| t.value());
    assert_encoded_address(tag);

    assert_plain_address(&observe(&buckets, &[&id]).await[&id]);
    assert_eq!(
        find(&buckets, STACK, Some(ODD_ADDRESS)).await,
        vec![id.clone()]
    );
    delete(&buckets, &id, &created).await;
}
