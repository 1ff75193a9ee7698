//! Files a stack names (Lambda bundles) are relative to the stack's directory: read from
//! there whatever directory terrane runs in, and recorded so that another checkout of the
//! same stack, at another path, plans nothing.

use crate::support::*;

const STACK: &str = "stack: bundles
region: us-east-1

resources:
  role:
    type: aws.iam.role
    properties:
      name: bundles-fn
      assume_role_policy:
        Version: \"2012-10-17\"
        Statement:
          - { Effect: Allow, Principal: { Service: lambda.amazonaws.com }, Action: \"sts:AssumeRole\" }

  api:
    type: aws.lambda.function
    properties:
      name: bundles-api
      runtime: python3.12
      handler: app.handler
      role: ${role.arn}
      filename: build/api.zip
      source_code_hash: ${filebase64sha256(\"build/api.zip\")}

modules:
  worker:
    source: ./modules/worker
    inputs:
      role_arn: ${role.arn}
";

const MODULE: &str = "variables:
  role_arn: { type: string }

locals:
  bundle: ${path.module}/worker.zip

resources:
  fn:
    type: aws.lambda.function
    properties:
      name: bundles-worker
      runtime: python3.12
      handler: app.handler
      role: ${var.role_arn}
      filename: ${local.bundle}
      source_code_hash: ${filebase64sha256(local.bundle)}
";

/// A checkout of the stack in a directory of its own, with its two bundles.
fn checkout() -> Workdir {
    let bundle = std::fs::read(repo_root().join("stacks/ai-nutritionist/functions/app.zip"))
        .expect("a zip bundle");
    let work = Workdir::empty();
    work.write("stack.yaml", STACK);
    work.write("modules/worker/module.yaml", MODULE);
    std::fs::create_dir_all(work.path().join("build")).unwrap();
    std::fs::write(work.path().join("build/api.zip"), &bundle).unwrap();
    std::fs::write(work.path().join("modules/worker/worker.zip"), &bundle).unwrap();
    work
}

#[tokio::test]
async fn bundles_are_read_from_the_stack_directory_and_recorded_relative_to_it() {
    let moto = Moto::start();
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state.db");
    let state = state.to_str().unwrap();

    // terrane runs in this test's directory, not the stack's.
    let first = checkout();
    let dir = first.path().to_str().unwrap();
    assert_ne!(std::env::current_dir().unwrap(), first.path());
    let out = terrane(
        Some(&moto),
        &["apply", dir, "--auto-approve", "--state", state],
    );
    expect_code(&out, 0);
    let out = terrane(Some(&moto), &["state", "pull", dir, "--state", state]);
    expect_code(&out, 0);
    let pulled = stdout(&out);
    assert!(pulled.contains("\"build/api.zip\""), "{pulled}");
    assert!(pulled.contains("\"modules/worker/worker.zip\""), "{pulled}");
    assert!(
        !pulled.contains(dir),
        "no machine's path in state:\n{pulled}"
    );

    // Another checkout, elsewhere, sharing the state: nothing to do.
    let second = checkout();
    let other = second.path().to_str().unwrap();
    let out = terrane(
        Some(&moto),
        &["plan", other, "--detailed-exitcode", "--state", state],
    );
    expect_code(&out, 0);

    // A new bundle in that checkout is what gets uploaded: after the apply, the live
    // code's hash (CodeSha256, compared by the plan) is the new bundle's.
    // (An empty zip archive: its end-of-central-directory record alone.)
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.resize(22, 0);
    std::fs::write(second.path().join("build/api.zip"), &empty_zip).unwrap();
    let out = terrane(
        Some(&moto),
        &["plan", other, "--detailed-exitcode", "--state", state],
    );
    expect_code(&out, 2);
    assert!(stdout(&out).contains("~ api"), "{}", stdout(&out));
    let out = terrane(
        Some(&moto),
        &["apply", other, "--auto-approve", "--state", state],
    );
    expect_code(&out, 0);
    let out = terrane(
        Some(&moto),
        &["plan", other, "--detailed-exitcode", "--state", state],
    );
    expect_code(&out, 0);

    let out = terrane(
        Some(&moto),
        &["destroy", other, "--auto-approve", "--state", state],
    );
    expect_code(&out, 0);
}
