//! A stack's state kept in DynamoDB, for teams that apply one stack from several machines.
//!
//! The table has one string key, `pk`. Per stack it holds two items:
//! - `stack#<name>#lock`: the one writer (holder, host, pid, operation, since), put only if
//!   absent (`attribute_not_exists(pk)`), removed only by its holder unless forced;
//! - `stack#<name>#state`: the state document (format terrane-state/1: resources, the salt
//!   of secret digests, operations begun but not finished) and its `serial`, replaced only
//!   if the serial is still the one last read (`serial = :read`): optimistic concurrency,
//!   so a writer that lost the lock can never overwrite another's state.
//!
//! A run works on a local SQLite copy (the same store and engine as the embedded backend)
//! and writes the document back after every committed change, so an intent reaches
//! DynamoDB before the AWS call it announces.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use terrane_aws_core::AwsClients;
use terrane_state::{LockInfo, StateDocument, StateError};

pub struct DynamoBackend {
    client: Client,
    table: String,
}

fn backend_err(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("{what}: {e}"))
}

fn sdk_err<E, R>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StateError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let e = terrane_aws_core::AwsError::from_sdk(e);
    backend_err(
        what,
        format!("{}: {}", e.code.as_deref().unwrap_or("error"), e.message),
    )
}

fn is_condition_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e)
        == Some("ConditionalCheckFailedException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl DynamoBackend {
    /// The backend for `table` in `region`, through the shared AWS configuration.
    pub fn new(clients: &Arc<AwsClients>, region: &str, table: &str) -> Self {
        let client = clients.client(region, |config, region, calls| {
            Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .region(region)
                    .interceptor(calls)
                    .build(),
            )
        });
        DynamoBackend {
            client,
            table: table.to_string(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, key `pk`) unless it exists.
    pub async fn ensure_table(&self) -> Result<(), StateError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e)
                if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e)
                    == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(sdk_err("reading the state table", e)),
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| backend_err("table definition", e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| backend_err("table definition", e))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another machine created it first.
            Err(e)
                if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e)
                    == Some("ResourceInUseException") => {}
            Err(e) => return Err(sdk_err("creating the state table", e)),
        }
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(Duration::from_secs(120))
            .await
            .map_err(|e| backend_err("waiting for the state table", e))?;
        Ok(())
    }

    fn lock_key(stack: &str) -> AttributeValue {
        s(format!("stack#{stack}#lock"))
    }

    fn state_key(stack: &str) -> AttributeValue {
        s(format!("stack#{stack}#state"))
    }

    /// Takes the stack's lock if nobody holds it; otherwise says who does.
    pub async fn lock(&self, stack: &str, who: &LockInfo) -> Result<(), StateError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::lock_key(stack))
            .item("holder", s(&who.holder))
            .item("host", s(&who.host))
            .item("pid", AttributeValue::N(who.pid.to_string()))
            .item("operation", s(&who.operation))
            .item("since", s(&who.since))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                let held = self.lock_holder(stack).await?.unwrap_or_else(|| LockInfo {
                    holder: "?".into(),
                    host: "?".into(),
                    pid: 0,
                    operation: "?".into(),
                    since: "?".into(),
                });
                Err(StateError::Locked {
                    stack: stack.to_string(),
                    held: Box::new(held),
                })
            }
            Err(e) => Err(sdk_err("taking the lock", e)),
        }
    }

    /// Releases the lock if `who` holds it.
    pub async fn unlock(&self, stack: &str, who: &LockInfo) -> Result<(), StateError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::lock_key(stack))
            .condition_expression("host = :host AND pid = :pid")
            .expression_attribute_values(":host", s(&who.host))
            .expression_attribute_values(":pid", AttributeValue::N(who.pid.to_string()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_err("releasing the lock", e)),
        }
    }

    /// Removes the lock whoever holds it, returning who did.
    pub async fn force_unlock(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        let held = self.lock_holder(stack).await?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::lock_key(stack))
            .send()
            .await
            .map_err(|e| sdk_err("breaking the lock", e))?;
        Ok(held)
    }

    pub async fn lock_holder(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::lock_key(stack))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("reading the lock", e))?;
        Ok(item.item().map(|i| {
            let text = |k: &str| {
                i.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            LockInfo {
                holder: text("holder"),
                host: text("host"),
                pid: i
                    .get("pid")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                operation: text("operation"),
                since: text("since"),
            }
        }))
    }

    /// The stack's state document and the serial it was read at; `None` for a new stack.
    pub async fn load(&self, stack: &str) -> Result<Option<StateDocument>, StateError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::state_key(stack))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("reading state", e))?;
        let Some(item) = item.item() else {
            return Ok(None);
        };
        let doc = item
            .get("document")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| backend_err("reading state", "the item has no document"))?;
        Ok(Some(serde_json::from_str(doc)?))
    }

    /// Writes `doc` if the stored serial is still `read_serial` (None: no state stored yet).
    pub async fn save(
        &self,
        doc: &StateDocument,
        read_serial: Option<i64>,
    ) -> Result<(), StateError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::state_key(&doc.stack))
            .item("serial", AttributeValue::N(doc.serial.to_string()))
            .item("document", s(serde_json::to_string(doc)?));
        put = match read_serial {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(n) => put
                .condition_expression("serial = :read")
                .expression_attribute_values(":read", AttributeValue::N(n.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StateError::Backend(format!(
                "state of stack `{}` in table {} was changed by someone else since it was read (serial {read_serial:?}); nothing was overwritten",
                doc.stack, self.table
            ))),
            Err(e) => Err(sdk_err("writing state", e)),
        }
    }
}
