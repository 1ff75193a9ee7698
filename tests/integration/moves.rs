//! A resource moved to another region, or given another type, is replaced: the new object
//! is made where the stack now says, and the old one is deleted where it was (not looked
//! for, and missed, under the new type and region).

use crate::support::*;

const STACK: &str = "moves";

fn stack(region: &str, thing: &str) -> String {
    format!(
        "stack: {STACK}\nregion: us-east-1\nresources:\n  net:\n    type: aws.ec2.vpc\n    region: {region}\n    properties:\n      cidr_block: 10.61.0.0/16\n  thing:\n{thing}"
    )
}

const GATEWAY: &str = "    type: aws.ec2.internet_gateway\n    properties: {}\n";
const VPC: &str = "    type: aws.ec2.vpc\n    properties:\n      cidr_block: 10.62.0.0/16\n";

async fn tagged(client: &aws_sdk_ec2::Client) -> (usize, usize) {
    let vpcs = client
        .describe_vpcs()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .vpcs()
        .len();
    let gateways = client
        .describe_internet_gateways()
        .filters(stack_filter(STACK))
        .send()
        .await
        .unwrap()
        .internet_gateways()
        .len();
    (vpcs, gateways)
}

#[tokio::test]
async fn moving_a_resource_across_regions_or_types_deletes_the_old_object() {
    let moto = Moto::start();
    let work = Workdir::copy_of("tests/stacks/thirty");
    work.write("stack.yaml", &stack("us-east-1", GATEWAY));
    let dir = work.path().to_str().unwrap();
    let (us, eu) = (ec2(&moto, "us-east-1").await, ec2(&moto, "eu-west-1").await);

    let apply = |what: &str| {
        let out = terrane(Some(&moto), &["apply", dir, "--auto-approve"]);
        expect_code(&out, 0);
        let again = terrane(Some(&moto), &["plan", dir, "--detailed-exitcode"]);
        expect_code(&again, 0);
        assert!(!text(&out).is_empty(), "{what}");
    };
    apply("first apply");
    assert_eq!(tagged(&us).await, (1, 1));

    work.write("stack.yaml", &stack("eu-west-1", GATEWAY));
    let out = terrane(Some(&moto), &["plan", dir]);
    assert!(
        stdout(&out).contains("region changed from us-east-1 to eu-west-1"),
        "{}",
        text(&out)
    );
    apply("the VPC moved to eu-west-1");
    assert_eq!(
        tagged(&us).await,
        (0, 1),
        "the old VPC is gone from us-east-1"
    );
    assert_eq!(tagged(&eu).await, (1, 0));

    work.write("stack.yaml", &stack("eu-west-1", VPC));
    apply("the gateway became a VPC");
    assert_eq!(tagged(&us).await, (1, 0), "the old gateway is gone");
    let types: Vec<String> = state_list(&moto, work.path())
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["address"].as_str().unwrap(),
                r["type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(types, ["net aws.ec2.vpc", "thing aws.ec2.vpc"]);
}
