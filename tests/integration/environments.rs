//! Each environment of one stack directory is a stack of its own: `--env dev` and
//! `--env prod` keep apart in state and in the ownership tag, so applying one never plans
//! to replace or delete the other's resources.

use crate::support::*;

#[tokio::test]
async fn dev_and_prod_of_one_stack_live_side_by_side() {
    let moto = Moto::start();
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    let ec2 = ec2(&moto, "us-east-1").await;

    for env in ["dev", "prod"] {
        let out = terrane(Some(&moto), &["apply", dir, "--env", env, "--auto-approve"]);
        expect_code(&out, 0);
        assert!(
            stdout(&out).contains("Apply complete: 5 created, 0 updated, 0 replaced, 0 deleted"),
            "{env}: {}",
            text(&out)
        );
    }
    assert_eq!(owned_count(&ec2, "minimal/dev").await, 5);
    assert_eq!(owned_count(&ec2, "minimal/prod").await, 5);
    for env in ["dev", "prod"] {
        let out = terrane(
            Some(&moto),
            &["plan", dir, "--env", env, "--detailed-exitcode"],
        );
        expect_code(&out, 0);
        assert_eq!(state_list_of_env(&moto, work.path(), Some(env)).len(), 5);
    }

    // A state command without --env names the environments the store holds.
    let out = terrane(Some(&moto), &["state", "list", dir]);
    expect_code(&out, 1);
    assert!(
        text(&out).contains("`minimal/dev`, `minimal/prod`: pass --env"),
        "{}",
        text(&out)
    );

    let out = terrane(
        Some(&moto),
        &["destroy", dir, "--env", "dev", "--auto-approve"],
    );
    expect_code(&out, 0);
    assert_eq!(owned_count(&ec2, "minimal/dev").await, 0);
    assert_eq!(owned_count(&ec2, "minimal/prod").await, 5, "prod untouched");
}
