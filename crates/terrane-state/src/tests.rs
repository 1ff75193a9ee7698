use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use terrane_core::Address;
use terrane_plan::RecordedResource;

use crate::{RecordChange, StateError, StateStore};

fn record(addr: &str, id: &str) -> RecordedResource {
    RecordedResource {
        address: Address::new(addr),
        type_name: "aws.ec2.vpc".into(),
        region: "us-east-1".into(),
        cloud_id: id.into(),
        inputs: BTreeMap::from([("cidr_block".into(), serde_json::json!("10.0.0.0/16"))]),
        attributes: BTreeMap::from([("id".into(), serde_json::json!(id))]),
        dependencies: vec![],
    }
}

#[test]
fn a_new_store_is_private_migrated_and_round_trips_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".terrane/state.db");
    let mut s = StateStore::open(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(s.schema_version().unwrap(), 1);
    let stack = s.stack("demo").unwrap();
    let run = s.begin_run(&stack, "apply").unwrap();
    let j = s
        .journal_intent(
            &stack,
            run,
            &Address::new("vpc"),
            "aws.ec2.vpc",
            "us-east-1",
            "create",
            "tok",
        )
        .unwrap();
    assert_eq!(s.open_intents(&stack).unwrap().len(), 1);
    let r = record("vpc", "vpc-1");
    s.journal_outcome(
        &stack,
        run,
        j,
        "succeeded",
        Some("vpc-1"),
        None,
        RecordChange::Put(&r),
    )
    .unwrap();
    assert!(s.open_intents(&stack).unwrap().is_empty());
    assert_eq!(s.resources(&stack).unwrap(), vec![r]);
    assert_eq!(s.serial(&stack).unwrap(), 1);
    s.record(&stack, None, RecordChange::Remove(&Address::new("vpc")))
        .unwrap();
    assert!(s.resources(&stack).unwrap().is_empty());
    drop(s);
    // Reopening keeps the salt and the serial.
    let mut s = StateStore::open(&path).unwrap();
    let again = s.stack("demo").unwrap();
    assert_eq!(again.secret_salt, stack.secret_salt);
    assert_eq!(again.serial, 2);
}

#[test]
fn a_second_writer_is_refused_with_the_holder_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut a = StateStore::open(&path).unwrap();
    let stack = a.stack("demo").unwrap();
    a.lock(&stack, "apply").unwrap();
    let mut b = StateStore::open(&path).unwrap();
    match b.lock(&stack, "apply") {
        Err(StateError::Locked { held, .. }) => {
            assert_eq!(held.pid, std::process::id() as i64);
            assert_eq!(held.operation, "apply");
        }
        other => panic!("expected a lock error, got {other:?}"),
    }
    a.unlock(&stack).unwrap();
    b.lock(&stack, "apply").unwrap();
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let junk =
        b"this is not sqlite at all, just some bytes that happen to be here.........".repeat(20);
    std::fs::write(&path, &junk).unwrap();
    let err = StateStore::open(&path).err().expect("must refuse");
    assert!(
        err.to_string().contains("not a terrane state database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}
