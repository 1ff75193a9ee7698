//! The Lambda function against a local moto server: create from a local zip with tags,
//! batched observe (with an unknown name mixed in), in-place configuration and code
//! updates, discovery by ownership tags, and idempotent deletes. moto stores functions
//! without running them (no Docker needed), but checks that the role exists in its IAM.

use base64::Engine;
use sha2::Digest;
use terrane_aws_lambda::function::Function;
use terrane_core::{Address, Value};
use terrane_provider::{Attributes, CreateRequest, ResourceType};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "lambda-test";

terrane_testkit::provider_test_helpers!(
    attrs,
    map,
    strings,
    tags,
    create,
    observe,
    update,
    delete,
    find,
    delete_twice_and_gone,
    s
);

/// Each settable input as the planner would compare it (write-only code inputs aside).
fn assert_inputs_match(t: &dyn ResourceType, inputs: &Attributes, live: &Attributes) {
    let schema = t.schema();
    for (k, want) in inputs {
        if k == "filename" {
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

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive holding one stored (uncompressed) file, written by hand.
fn zip_one(name: &str, body: &[u8]) -> Vec<u8> {
    let crc = crc32(body);
    let size = body.len() as u32;
    let mut out = Vec::new();
    let header = |out: &mut Vec<u8>, central: bool| {
        if central {
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes()); // made by
        } else {
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        }
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        if central {
            out.extend_from_slice(&0u16.to_le_bytes()); // comment
            out.extend_from_slice(&0u16.to_le_bytes()); // disk
            out.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
            out.extend_from_slice(&0u32.to_le_bytes()); // external attrs
            out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
        }
        out.extend_from_slice(name.as_bytes());
    };
    header(&mut out, false);
    out.extend_from_slice(body);
    let central_start = out.len() as u32;
    header(&mut out, true);
    let central_size = out.len() as u32 - central_start;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // disk numbers
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Writes a zip of `app.py` to a file of its own; returns its path and base64 SHA-256.
fn write_zip(tag: &str, code: &str) -> (String, String) {
    let bytes = zip_one("app.py", code.as_bytes());
    let path = std::env::temp_dir().join(format!(
        "terrane-lambda-test-{}-{tag}.zip",
        std::process::id()
    ));
    std::fs::write(&path, &bytes).unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
    (path.to_string_lossy().into_owned(), hash)
}

/// moto refuses a function whose role is not in its IAM: the role is made first.
async fn lambda_role(moto: &Moto) -> String {
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config(REGION).await);
    iam.create_role()
        .role_name("api-lambda")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("create role")
        .role()
        .expect("role")
        .arn()
        .to_string()
}

#[tokio::test]
async fn function_lifecycle() {
    let moto = Moto::start();
    let functions = Function::new(moto.clients(REGION).await);
    let role = lambda_role(&moto).await;
    let (zip, hash) = write_zip("v1", "def handler(event, context):\n    return 1\n");

    let inputs = attrs(&[
        ("name", Value::string("api")),
        ("runtime", Value::string("python3.12")),
        ("handler", Value::string("app.handler")),
        ("role", Value::string(&role)),
        ("architectures", strings(&["arm64"])),
        ("memory_size", Value::int(512)),
        ("timeout", Value::int(30)),
        ("description", Value::string("the API")),
        (
            "environment",
            map(&[
                ("TABLE", "orders"),
                ("SECRET_ARN", "arn:aws:secretsmanager:x"),
            ]),
        ),
        ("tracing_mode", Value::string("Active")),
        ("filename", Value::string(&zip)),
        ("source_code_hash", Value::string(&hash)),
        ("reserved_concurrent_executions", Value::int(10)),
        ("tags", tags("api", &[("team", "api")])),
    ]);
    let (id, created) = create(&functions, "api", &inputs).await;
    assert_eq!(id, "api");
    assert_inputs_match(&functions, &inputs, &created);
    let arn = s(&created, "arn");
    assert!(arn.ends_with(":function:api"), "{arn}");
    assert_eq!(
        s(&created, "invoke_arn"),
        format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
    );
    assert_eq!(s(&created, "version"), "$LATEST");
    assert!(!s(&created, "last_modified").is_empty());

    // No code at all is refused before any call.
    let mut no_code = inputs.clone();
    no_code.remove("filename");
    no_code.insert("name".into(), Value::string("nocode"));
    let err = functions
        .create(CreateRequest {
            region: REGION,
            address: &Address::new("nocode"),
            inputs: &no_code,
            client_token: "t",
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs code"), "{err}");

    let found = observe(&functions, &["no-such-function", &id]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    // Configuration in place. (moto's UpdateFunctionConfiguration ignores TracingConfig,
    // DeadLetterConfig and KMSKeyArn, so only what it applies is changed here.)
    let mut wanted = inputs.clone();
    wanted.insert("memory_size".into(), Value::int(1024));
    wanted.insert("timeout".into(), Value::int(60));
    wanted.insert("description".into(), Value::string("the API, v2"));
    wanted.insert("environment".into(), map(&[("TABLE", "orders-v2")]));
    wanted.insert("reserved_concurrent_executions".into(), Value::int(5));
    wanted.insert("tags".into(), tags("api", &[("owner", "ops")]));
    let updated = update(
        &functions,
        &id,
        &wanted,
        &created,
        &[
            "memory_size",
            "timeout",
            "description",
            "environment",
            "reserved_concurrent_executions",
            "tags",
        ],
    )
    .await;
    assert_inputs_match(&functions, &wanted, &updated);
    assert_eq!(s(&updated, "arn"), arn);
    assert!(updated["tags"].as_map().unwrap().get("team").is_none());

    // New code: a changed zip is uploaded, and its hash is what Lambda reports.
    let (zip2, hash2) = write_zip("v2", "def handler(event, context):\n    return 2\n");
    assert_ne!(hash, hash2);
    let mut recoded = wanted.clone();
    recoded.insert("filename".into(), Value::string(&zip2));
    recoded.insert("source_code_hash".into(), Value::string(&hash2));
    let updated = update(
        &functions,
        &id,
        &recoded,
        &updated,
        &["filename", "source_code_hash"],
    )
    .await;
    assert_eq!(s(&updated, "source_code_hash"), hash2);
    assert_eq!(observe(&functions, &[&id]).await[&id], updated);

    assert_eq!(find(&functions, STACK, Some("api")).await, vec![id.clone()]);
    assert!(find(&functions, STACK, Some("other")).await.is_empty());
    assert!(find(&functions, "another", None).await.is_empty());

    delete_twice_and_gone(&functions, &id, &updated).await;
    assert!(find(&functions, STACK, None).await.is_empty());
    let _ = std::fs::remove_file(zip);
    let _ = std::fs::remove_file(zip2);
}

/// A permission is one statement of the function's policy: made with AddPermission, read
/// back from GetPolicy (an unknown statement and a missing function mixed in), deleted with
/// RemovePermission, twice without error.
#[tokio::test]
async fn permission_lifecycle() {
    use terrane_aws_lambda::permission::Permission;
    let moto = Moto::start();
    let clients = moto.clients(REGION).await;
    let functions = Function::new(clients.clone());
    let permissions = Permission::new(clients);
    let role = lambda_role(&moto).await;
    let (zip, hash) = write_zip("perm", "def handler(event, context):\n    return 1\n");
    let function = attrs(&[
        ("name", Value::string("hooks")),
        ("runtime", Value::string("python3.12")),
        ("handler", Value::string("app.handler")),
        ("role", Value::string(&role)),
        ("filename", Value::string(&zip)),
        ("source_code_hash", Value::string(&hash)),
    ]);
    create(&functions, "hooks", &function).await;

    let source = "arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/webhooks";
    let inputs = attrs(&[
        ("function_name", Value::string("hooks")),
        ("statement_id", Value::string("api-gateway")),
        ("action", Value::string("lambda:InvokeFunction")),
        ("principal", Value::string("apigateway.amazonaws.com")),
        ("source_arn", Value::string(source)),
    ]);
    let (id, created) = create(&permissions, "api_invokes", &inputs).await;
    assert_eq!(id, "hooks/api-gateway");
    for (k, want) in &inputs {
        assert_eq!(created.get(k), Some(want), "{k}: {created:?}");
    }
    let rules = attrs(&[
        ("function_name", Value::string("hooks")),
        ("statement_id", Value::string("schedule")),
        ("action", Value::string("lambda:InvokeFunction")),
        ("principal", Value::string("events.amazonaws.com")),
    ]);
    let (schedule, _) = create(&permissions, "schedule_invokes", &rules).await;

    // The policy as AWS keeps it: both statements, each under its own id.
    let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config(REGION).await);
    let policy = lambda
        .get_policy()
        .function_name("hooks")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let sids: Vec<&str> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    assert_eq!(sids, ["api-gateway", "schedule"]);

    let found = observe(
        &permissions,
        &[
            &id,
            "hooks/not-a-statement",
            "no-such-function/x",
            &schedule,
        ],
    )
    .await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id, &schedule]);
    assert_eq!(found[&id], created);
    // Untaggable: nothing is found by ownership.
    assert!(find(&permissions, STACK, None).await.is_empty());

    delete_twice_and_gone(&permissions, &id, &created).await;
    let left = observe(&permissions, &[&schedule]).await;
    assert_eq!(left.keys().collect::<Vec<_>>(), [&schedule]);
}
