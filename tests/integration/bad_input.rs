//! Bad stacks fail with the file, line and column, a non-zero exit, and nothing applied.

use crate::support::*;

/// Applies a broken copy of the minimal stack and checks the error and that nothing was made.
async fn refused(moto: &Moto, edit: impl Fn(&Workdir), expected: &[&str]) {
    let work = Workdir::copy_of("stacks/examples/minimal");
    edit(&work);
    let dir = work.path().to_str().unwrap();
    for args in [
        vec!["validate", dir],
        vec!["plan", dir],
        vec!["apply", dir, "--auto-approve"],
    ] {
        let out = terrane(Some(moto), &args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} must fail\n{}",
            text(&out)
        );
        let err = stderr(&out);
        for e in expected {
            let e = e.replace("{dir}", dir);
            assert!(err.contains(&e), "{args:?}: expected {e:?} in\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    let ec2 = ec2(moto, "us-east-1").await;
    assert_eq!(
        owned_count(&ec2, "minimal").await,
        0,
        "nothing may be applied"
    );
}

#[tokio::test]
async fn yaml_syntax_error_is_located() {
    let moto = Moto::start();
    refused(
        &moto,
        |w| {
            w.edit(
                "stack.yaml",
                "      enable_dns_hostnames: true\n",
                "      enable_dns_hostnames: [true\n",
            )
        },
        &["{dir}/stack.yaml:39:11: error: illegal placement of ':' indicator"],
    )
    .await;
}

#[tokio::test]
async fn unknown_property_is_located() {
    let moto = Moto::start();
    refused(
        &moto,
        |w| w.edit("stack.yaml", "      enable_dns_hostnames: true", "      enable_dns_hostnamez: true"),
        &["{dir}/stack.yaml:38:7: error: vpc: unknown property `enable_dns_hostnamez` for aws.ec2.vpc", "38 |       enable_dns_hostnamez: true"],
    )
    .await;
}

#[tokio::test]
async fn reference_to_a_missing_resource_is_located() {
    let moto = Moto::start();
    refused(
        &moto,
        |w| {
            w.edit(
                "stack.yaml",
                "      vpc_id: ${vpc.id}\n      tags:\n        Name: minimal-${var.environment}\n",
                "      vpc_id: ${vpcx.id}\n      tags:\n        Name: minimal-${var.environment}\n",
            )
        },
        &["{dir}/stack.yaml:57:15: error: igw: reference to unknown resource `vpcx`"],
    )
    .await;
}

#[tokio::test]
async fn dependency_cycle_is_reported_with_its_path() {
    let moto = Moto::start();
    refused(
        &moto,
        |w| {
            w.edit(
                "stack.yaml",
                "      cidr_block: ${var.vpc_cidr}\n",
                "      cidr_block: ${var.vpc_cidr}\n      instance_tenancy: ${web.id}\n",
            )
        },
        &[
            "error: dependency cycle: vpc -> web -> vpc",
            "web depends on vpc via ${vpc.id} at {dir}/stack.yaml:67:15",
            "vpc depends on web via ${web.id} at {dir}/stack.yaml:38:25",
        ],
    )
    .await;
}

#[test]
fn validate_needs_no_endpoint_and_reports_a_bad_variable() {
    let work = Workdir::copy_of("stacks/examples/minimal");
    let dir = work.path().to_str().unwrap();
    let out = terrane(None, &["validate", dir]);
    expect_code(&out, 0);
    let out = terrane(None, &["validate", dir, "--var", "vpc_cidr=10.0.0.0/33"]);
    expect_code(&out, 1);
    assert!(stderr(&out).contains(&format!("{dir}/stack.yaml:17:3: error: variable `vpc_cidr`: \"10.0.0.0/33\" is not an IPv4 CIDR block")), "{}", text(&out));
    let out = terrane(None, &["validate", dir, "--env", "staging"]);
    expect_code(&out, 1);
    assert!(
        stderr(&out).contains("environments of this stack: dev, prod"),
        "{}",
        text(&out)
    );
}
