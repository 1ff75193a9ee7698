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
    assert_eq!(s.schema_version().unwrap(), 3);
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

#[test]
fn a_store_written_by_schema_version_1_is_migrated_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../../state-schema/0001_init.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO stacks(name, secret_salt, serial) VALUES ('old', 'salt', 1)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO resources(stack_id, address, type, region, cloud_id, inputs, attributes, dependencies, serial)
             VALUES (1, 'vpc', 'aws.ec2.vpc', 'us-east-1', 'vpc-1', '{}', '{}', '[]', 1)",
            [],
        )
        .unwrap();
    }
    let mut s = StateStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 3);
    let stack = s.stack("old").unwrap();
    assert_eq!(stack.secret_salt, "salt");
    let rs = s.resources(&stack).unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].cloud_id, "vpc-1");
}

#[test]
fn history_rollback_rename_and_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = StateStore::open(&dir.path().join("state.db")).unwrap();
    let stack = s.stack("demo").unwrap();
    let run1 = s.begin_run(&stack, "apply").unwrap();
    s.record(
        &stack,
        Some(run1),
        RecordChange::Put(&record("vpc", "vpc-1")),
    )
    .unwrap();
    s.finish_run(run1, "succeeded").unwrap();
    let run2 = s.begin_run(&stack, "apply").unwrap();
    s.record(
        &stack,
        Some(run2),
        RecordChange::Put(&record("vpc", "vpc-2")),
    )
    .unwrap();
    s.record(
        &stack,
        Some(run2),
        RecordChange::Put(&record("subnet", "subnet-1")),
    )
    .unwrap();
    s.finish_run(run2, "succeeded").unwrap();

    let at1 = s.resources_at(&stack, run1).unwrap();
    assert_eq!(at1, vec![record("vpc", "vpc-1")]);
    assert_eq!(s.resources_at(&stack, run2).unwrap().len(), 2);
    let runs = s.runs(&stack).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.records_written).collect::<Vec<_>>(),
        [2, 1]
    );

    let doc = s.export(&stack).unwrap();
    s.replace_all(&stack, None, &at1).unwrap();
    assert_eq!(s.resources(&stack).unwrap(), at1, "rolled back to run 1");

    s.rename(&stack, &Address::new("vpc"), &Address::new("main_vpc"))
        .unwrap();
    assert_eq!(
        s.resources(&stack).unwrap()[0].address,
        Address::new("main_vpc")
    );
    assert!(matches!(
        s.rename(&stack, &Address::new("nope"), &Address::new("x")),
        Err(StateError::NotFound(_))
    ));

    let mut other = StateStore::open(&dir.path().join("other.db")).unwrap();
    let pushed = other.import_document(&doc, false).unwrap();
    assert_eq!(pushed.secret_salt, stack.secret_salt);
    assert_eq!(other.export(&pushed).unwrap().resources, doc.resources);
    assert!(
        other.import_document(&doc, false).is_err(),
        "refuses to overwrite without force"
    );
}
