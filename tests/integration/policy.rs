//! `terrane validate --policy`: security findings with address and location, waivable.

use crate::support::*;

const STACK: &str = "stack: p\nregion: us-east-1\nresources:\n  vpc:\n    type: aws.ec2.vpc\n    properties:\n      cidr_block: 10.0.0.0/16\n  bastion:\n    type: aws.ec2.security_group\n    properties:\n      name: bastion\n      vpc_id: ${vpc.id}\n      ingress:\n        - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [0.0.0.0/0] }\n        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }\n";

#[test]
fn an_admin_port_open_to_the_world_is_found_and_can_be_waived() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_str().unwrap();
    std::fs::write(work.path().join("stack.yaml"), STACK).unwrap();
    // Without --policy the stack is valid; with it, the SSH rule is a finding.
    expect_code(&terrane(None, &["validate", dir]), 0);
    let out = terrane(None, &["validate", dir, "--policy"]);
    expect_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("{dir}/stack.yaml:13:7: error: bastion: [open-admin-port] ingress open to the whole internet on 22 (SSH)")), "{err}");
    assert!(!err.contains("443"), "HTTPS is not an admin port: {err}");

    let waived = STACK.replace("  bastion:\n    type: aws.ec2.security_group\n", "  bastion:\n    type: aws.ec2.security_group\n    waivers:\n      - { rule: open-admin-port, reason: \"break-glass bastion, closed by a NACL\" }\n");
    std::fs::write(work.path().join("stack.yaml"), waived).unwrap();
    let out = terrane(None, &["validate", dir, "--policy", "--json"]);
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["policy"][0]["rule"], "open-admin-port");
    assert_eq!(
        doc["policy"][0]["waived"],
        "break-glass bastion, closed by a NACL"
    );
}

#[test]
fn the_example_stacks_pass_the_security_checks() {
    let root = repo_root().join("stacks/examples");
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let out = terrane(None, &["validate", dir.to_str().unwrap(), "--policy"]);
        expect_code(&out, 0);
    }
}
