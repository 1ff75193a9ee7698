//! The IAM resource types against a local moto server: create with tags, batched observe
//! (with unknown ids mixed in), in-place updates, discovery by ownership tags, and
//! idempotent deletes that first remove what IAM would refuse to delete around.

use std::sync::Arc;

use terrane_aws_iam::AwsClients;
use terrane_aws_iam::instance_profile::InstanceProfile;
use terrane_aws_iam::oidc_provider::OidcProvider;
use terrane_aws_iam::policy::Policy;
use terrane_aws_iam::role::Role;
use terrane_core::Value;
use terrane_provider::{Attributes, ResourceType, UpdateRequest};
use terrane_testkit::Moto;

const REGION: &str = "us-east-1";
const STACK: &str = "iam-test";

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

async fn clients(moto: &Moto) -> Arc<AwsClients> {
    moto.clients(REGION).await
}

async fn sdk(moto: &Moto) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&moto.sdk_config(REGION).await)
}

/// Each settable input as the planner would compare it: normalized, lists compared as
/// sets where the schema says they are unordered.
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
async fn schemas_are_registered_and_sound() {
    let moto = Moto::start();
    let c = clients(&moto).await;
    let mut registry = terrane_provider::Registry::new();
    terrane_aws_iam::register(&mut registry, &c);
    for name in [
        "aws.iam.role",
        "aws.iam.policy",
        "aws.iam.instance_profile",
        "aws.iam.openid_connect_provider",
    ] {
        let t = registry
            .get(name)
            .unwrap_or_else(|| panic!("{name} registered"));
        assert_schema_sound(t.as_ref());
    }
}

fn trust(service: &str) -> Value {
    Value::from_json(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    }))
}

fn allow(action: &str, resource: &str) -> Value {
    Value::from_json(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": [action], "Resource": resource}]
    }))
}

fn policy_inputs(name: &str, address: &str, doc: Value) -> Attributes {
    attrs(&[
        ("name", Value::string(name)),
        ("policy", doc),
        ("tags", tags(address, &[])),
    ])
}

async fn attached_to_role(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    iam.list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("ListAttachedRolePolicies")
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn role_lifecycle() {
    let moto = Moto::start();
    let c = clients(&moto).await;
    let iam = sdk(&moto).await;
    let roles = Role::new(c.clone());
    let policies = Policy::new(c.clone());
    let profiles = InstanceProfile::new(c.clone());

    let (logs, _) = create(
        &policies,
        "logs",
        &policy_inputs("logs", "logs", allow("logs:PutLogEvents", "*")),
    )
    .await;
    let (reads, _) = create(
        &policies,
        "reads",
        &policy_inputs("reads", "reads", allow("s3:GetObject", "*")),
    )
    .await;
    let (boundary, _) = create(
        &policies,
        "boundary",
        &policy_inputs("boundary", "boundary", allow("*", "*")),
    )
    .await;

    let inputs = attrs(&[
        ("name", Value::string("app")),
        ("path", Value::string("/service/")),
        ("assume_role_policy", trust("ecs-tasks.amazonaws.com")),
        ("description", Value::string("the app's tasks")),
        ("max_session_duration", Value::int(7200)),
        ("managed_policy_arns", strings(&[&logs])),
        (
            "inline_policies",
            Value::Map(
                [
                    ("queue".to_string(), allow("sqs:SendMessage", "*")),
                    // JSON text compares as the same data as a map.
                    (
                        "table".to_string(),
                        Value::string(
                            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem"],"Resource":"*"}]}"#,
                        ),
                    ),
                ]
                .into_iter()
                .collect(),
            ),
        ),
        ("tags", tags("app", &[("team", "web")])),
    ]);
    let (id, created) = create(&roles, "app", &inputs).await;
    assert_eq!(id, "app");
    assert_inputs_match(&roles, &inputs, &created);
    assert_eq!(
        s(&created, "arn"),
        "arn:aws:iam::123456789012:role/service/app"
    );
    assert!(s(&created, "unique_id").starts_with("AROA"));
    assert_eq!(attached_to_role(&iam, "app").await, vec![logs.clone()]);

    // A second role with the defaults, and an unknown name: one observe for all. Its
    // address has characters IAM refuses in tag values (moto does not check them), so the
    // ownership tag is stored encoded and read back decoded.
    let plain_address = r#"role["plain"]"#;
    let plain = attrs(&[
        ("name", Value::string("plain")),
        ("assume_role_policy", trust("lambda.amazonaws.com")),
        ("tags", tags(plain_address, &[])),
    ]);
    let (plain_id, plain_attrs) = create(&roles, plain_address, &plain).await;
    assert_inputs_match(&roles, &plain, &plain_attrs);
    let raw = iam
        .list_role_tags()
        .role_name("plain")
        .send()
        .await
        .unwrap();
    assert!(
        raw.tags()
            .iter()
            .any(|t| t.key() == "terrane:address" && t.value() == "role=5B=22plain=22=5D"),
        "{raw:?}"
    );
    assert_eq!(s(&plain_attrs, "path"), "/");
    assert_eq!(plain_attrs["max_session_duration"], Value::int(3600));
    assert_eq!(plain_attrs["managed_policy_arns"], Value::List(vec![]));
    let found = observe(&roles, &["nosuchrole", &id, &plain_id]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&id], created);

    // Everything that changes in place, at once.
    let mut wanted = inputs.clone();
    wanted.insert("assume_role_policy".into(), trust("lambda.amazonaws.com"));
    wanted.insert("description".into(), Value::string("now a function"));
    wanted.insert("max_session_duration".into(), Value::int(3600));
    wanted.insert("permissions_boundary".into(), Value::string(&boundary));
    wanted.insert("managed_policy_arns".into(), strings(&[&reads]));
    wanted.insert(
        "inline_policies".into(),
        Value::Map(
            [
                ("queue".to_string(), allow("sqs:ReceiveMessage", "*")),
                ("bucket".to_string(), allow("s3:PutObject", "*")),
            ]
            .into_iter()
            .collect(),
        ),
    );
    wanted.insert("tags".into(), tags("app", &[("owner", "platform")]));
    let changed = [
        "assume_role_policy",
        "description",
        "max_session_duration",
        "permissions_boundary",
        "managed_policy_arns",
        "inline_policies",
        "tags",
    ];
    let updated = update(&roles, &id, &wanted, &created, &changed).await;
    assert_inputs_match(&roles, &wanted, &updated);
    assert_eq!(s(&updated, "unique_id"), s(&created, "unique_id"));
    assert_eq!(observe(&roles, &[&id]).await[&id], updated);
    assert_eq!(attached_to_role(&iam, "app").await, vec![reads.clone()]);

    // Dropping the boundary removes it.
    let mut unbounded = wanted.clone();
    unbounded.remove("permissions_boundary");
    let after = update(&roles, &id, &unbounded, &updated, &["permissions_boundary"]).await;
    assert!(!after.contains_key("permissions_boundary"), "{after:?}");

    assert_eq!(find(&roles, STACK, Some("app")).await, vec![id.clone()]);
    assert_eq!(
        find(&roles, STACK, Some(plain_address)).await,
        vec![plain_id.clone()]
    );
    let mut both = vec![id.clone(), plain_id.clone()];
    both.sort();
    assert_eq!(find(&roles, STACK, None).await, both);
    assert!(find(&roles, "other-stack", None).await.is_empty());

    // A role in an instance profile, with policies attached and inline: IAM refuses to
    // delete it until all of that is undone (moto enforces this too), which delete does.
    let (profile, _) = create(
        &profiles,
        "profile",
        &attrs(&[
            ("name", Value::string("app-profile")),
            ("role", Value::string(&id)),
            ("tags", tags("profile", &[])),
        ]),
    )
    .await;
    delete_twice_and_gone(&roles, &id, &after).await;
    assert!(
        !observe(&profiles, &[&profile]).await[&profile].contains_key("role"),
        "the profile still holds the deleted role"
    );
    // The managed policy itself is left alone.
    assert_eq!(observe(&policies, &[&reads]).await.len(), 1);
    delete_twice_and_gone(&roles, &plain_id, &plain_attrs).await;
}

#[tokio::test]
async fn policy_lifecycle() {
    let moto = Moto::start();
    let c = clients(&moto).await;
    let iam = sdk(&moto).await;
    let policies = Policy::new(c.clone());
    let roles = Role::new(c.clone());

    let inputs = attrs(&[
        ("name", Value::string("assets")),
        ("path", Value::string("/app/")),
        ("description", Value::string("read the assets")),
        // JSON text, as a stack may give it.
        (
            "policy",
            Value::string(
                r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::assets/*"}]}"#,
            ),
        ),
        ("tags", tags("assets", &[("team", "web")])),
    ]);
    let (arn, created) = create(&policies, "assets", &inputs).await;
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/app/assets");
    assert_eq!(s(&created, "arn"), arn);
    assert!(!s(&created, "policy_id").is_empty());
    assert_inputs_match(&policies, &inputs, &created);

    let found = observe(
        &policies,
        &[&arn, "arn:aws:iam::123456789012:policy/nothing"],
    )
    .await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&arn]);
    assert_eq!(found[&arn], created);

    // Six document changes: the sixth needs the oldest non-default version deleted first
    // (IAM keeps five; moto enforces the limit too).
    let mut prior = created.clone();
    let mut wanted = inputs.clone();
    for i in 0..6 {
        wanted.insert(
            "policy".into(),
            allow("s3:GetObject", &format!("arn:aws:s3:::assets-{i}/*")),
        );
        wanted.insert("tags".into(), tags("assets", &[("rev", &i.to_string())]));
        prior = update(&policies, &arn, &wanted, &prior, &["policy", "tags"]).await;
        assert_inputs_match(&policies, &wanted, &prior);
    }
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 5);
    assert_eq!(observe(&policies, &[&arn]).await[&arn], prior);

    assert_eq!(
        find(&policies, STACK, Some("assets")).await,
        vec![arn.clone()]
    );
    assert!(find(&policies, "other-stack", None).await.is_empty());

    // Attached to a role and a user: delete detaches it from both first. (moto deletes an
    // attached policy without complaint, where AWS answers DeleteConflict, so the test
    // checks the detachments themselves.)
    let (role, _) = create(
        &roles,
        "role",
        &attrs(&[
            ("name", Value::string("reader")),
            ("assume_role_policy", trust("ec2.amazonaws.com")),
            ("managed_policy_arns", strings(&[&arn])),
            ("tags", tags("role", &[])),
        ]),
    )
    .await;
    iam.create_user().user_name("alice").send().await.unwrap();
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    delete_twice_and_gone(&policies, &arn, &prior).await;
    assert!(attached_to_role(&iam, &role).await.is_empty());
    let user_policies = iam
        .list_attached_user_policies()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert!(user_policies.attached_policies().is_empty());
}

#[tokio::test]
async fn instance_profile_lifecycle() {
    let moto = Moto::start();
    let c = clients(&moto).await;
    let roles = Role::new(c.clone());
    let profiles = InstanceProfile::new(c.clone());
    for name in ["first", "second"] {
        create(
            &roles,
            name,
            &attrs(&[
                ("name", Value::string(name)),
                ("assume_role_policy", trust("ec2.amazonaws.com")),
                ("tags", tags(name, &[])),
            ]),
        )
        .await;
    }

    let inputs = attrs(&[
        ("name", Value::string("nodes")),
        ("path", Value::string("/eks/")),
        ("role", Value::string("first")),
        ("tags", tags("nodes", &[("team", "platform")])),
    ]);
    let (id, created) = create(&profiles, "nodes", &inputs).await;
    assert_eq!(id, "nodes");
    assert_inputs_match(&profiles, &inputs, &created);
    assert_eq!(
        s(&created, "arn"),
        "arn:aws:iam::123456789012:instance-profile/eks/nodes"
    );

    let found = observe(&profiles, &[&id, "nosuchprofile"]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(found[&id], created);

    let mut wanted = inputs.clone();
    wanted.insert("role".into(), Value::string("second"));
    wanted.insert("tags".into(), tags("nodes", &[("owner", "eks")]));
    let updated = update(&profiles, &id, &wanted, &created, &["role", "tags"]).await;
    assert_inputs_match(&profiles, &wanted, &updated);
    assert_eq!(s(&updated, "unique_id"), s(&created, "unique_id"));
    assert_eq!(observe(&profiles, &[&id]).await[&id], updated);

    assert_eq!(
        find(&profiles, STACK, Some("nodes")).await,
        vec![id.clone()]
    );
    assert!(find(&profiles, STACK, Some("other")).await.is_empty());
    assert!(find(&profiles, "other-stack", None).await.is_empty());

    // Delete takes the role out first (IAM and moto refuse otherwise); the role remains.
    delete_twice_and_gone(&profiles, &id, &updated).await;
    assert_eq!(observe(&roles, &["second"]).await.len(), 1);
}

#[tokio::test]
async fn openid_connect_provider_lifecycle() {
    let moto = Moto::start();
    let providers = OidcProvider::new(clients(&moto).await);
    let url = "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF";
    let inputs = attrs(&[
        ("url", Value::string(url)),
        ("client_id_list", strings(&["sts.amazonaws.com"])),
        (
            "thumbprint_list",
            strings(&["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]),
        ),
        ("tags", tags("oidc", &[("cluster", "main")])),
    ]);
    let (arn, created) = create(&providers, "oidc", &inputs).await;
    assert_eq!(
        arn,
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF"
    );
    // IAM reports the issuer without its scheme; the schema's normalizer compares them.
    assert_eq!(
        s(&created, "url"),
        "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF"
    );
    assert_inputs_match(&providers, &inputs, &created);

    let unknown = "arn:aws:iam::123456789012:oidc-provider/example.com/none";
    let found = observe(&providers, &[unknown, &arn]).await;
    assert_eq!(found.keys().collect::<Vec<_>>(), [&arn]);
    assert_eq!(found[&arn], created);

    let mut wanted = inputs.clone();
    wanted.insert(
        "thumbprint_list".into(),
        strings(&[
            "a9d53002e97e00e043244f3d170d6f4c414104fd",
            "9e99a48a9960b14926bb7f3b02e22da2b0ab7280",
        ]),
    );
    wanted.insert("tags".into(), tags("oidc", &[("cluster", "blue")]));
    let updated = update(
        &providers,
        &arn,
        &wanted,
        &created,
        &["thumbprint_list", "tags"],
    )
    .await;
    assert_inputs_match(&providers, &wanted, &updated);
    assert_eq!(observe(&providers, &[&arn]).await[&arn], updated);

    // Audiences change with AddClientIDToOpenIDConnectProvider and
    // RemoveClientIDFromOpenIDConnectProvider, which moto 5.2.5 does not implement: the
    // update reaches moto with the real call and fails there.
    let mut audiences = wanted.clone();
    audiences.insert(
        "client_id_list".into(),
        strings(&["sts.amazonaws.com", "web"]),
    );
    let err = providers
        .update(UpdateRequest {
            region: REGION,
            id: &arn,
            inputs: &audiences,
            prior: &updated,
            changed: &["client_id_list".to_string()],
        })
        .await
        .expect_err("moto has no AddClientIDToOpenIDConnectProvider");
    assert!(
        err.to_string()
            .contains("AddClientIDToOpenIDConnectProvider"),
        "{err}"
    );

    assert_eq!(
        find(&providers, STACK, Some("oidc")).await,
        vec![arn.clone()]
    );
    assert!(find(&providers, "other-stack", None).await.is_empty());

    delete_twice_and_gone(&providers, &arn, &updated).await;
}
