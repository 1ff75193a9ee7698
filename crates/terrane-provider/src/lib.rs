//! The contract between the engine and resource types.
//!
//! One resource type is one implementation of [`ResourceType`]: it observes, creates,
//! updates and deletes, and declares a [`ResourceSchema`]. It never decides *what* to do;
//! the planner does, from the schema. The contract, as in Crossplane's managed reconciler:
//! - `observe` changes nothing, and is batched: one call answers for many ids of one region;
//! - `create` puts the tags it is given on the resource atomically with its creation where
//!   AWS allows (so a crash right after can be recovered by tag), and returns the cloud id;
//! - `delete` of something already gone succeeds;
//! - everything is safe to retry.
//!
//! This crate knows nothing of AWS or of any SDK.

pub mod metering;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use terrane_core::{Address, ResourceSchema, SchemaSource, Value};

/// Attribute name -> value, as the schema names them.
pub type Attributes = BTreeMap<String, Value>;

pub struct ObserveRequest<'a> {
    pub region: &'a str,
    /// Cloud ids to read. Ids not found are simply absent from the response.
    pub ids: &'a [String],
}

#[derive(Debug, Default)]
pub struct ObserveResponse {
    /// Cloud id -> live attributes (inputs as AWS reports them, plus computed ones).
    pub found: BTreeMap<String, Attributes>,
}

pub struct CreateRequest<'a> {
    pub region: &'a str,
    pub address: &'a Address,
    /// Desired inputs, fully known, tags already merged with default and ownership tags.
    pub inputs: &'a Attributes,
    /// Idempotency token, for APIs that take one (ClientToken, CallerReference).
    pub client_token: &'a str,
}

#[derive(Debug)]
pub struct CreateResponse {
    pub id: String,
    pub attributes: Attributes,
}

pub struct UpdateRequest<'a> {
    pub region: &'a str,
    pub id: &'a str,
    /// Desired inputs, complete (not only the changed ones).
    pub inputs: &'a Attributes,
    /// Live attributes observed before the update.
    pub prior: &'a Attributes,
    /// Names of the inputs that differ and must be changed in place.
    pub changed: &'a [String],
}

#[derive(Debug)]
pub struct UpdateResponse {
    pub attributes: Attributes,
}

pub struct DeleteRequest<'a> {
    pub region: &'a str,
    pub id: &'a str,
    /// The last known attributes (e.g. an IGW's attached VPC, to detach first).
    pub prior: &'a Attributes,
}

pub struct FindRequest<'a> {
    pub region: &'a str,
    /// Value of the `terrane:stack` ownership tag.
    pub stack: &'a str,
    /// Value of the `terrane:address` ownership tag; `None` finds everything of the stack.
    pub address: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{operation} failed: {message}")]
    Api { operation: String, message: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("timed out: {0}")]
    Timeout(String),
}

impl ProviderError {
    pub fn api(operation: impl Into<String>, message: impl std::fmt::Display) -> Self {
        ProviderError::Api {
            operation: operation.into(),
            message: message.to_string(),
        }
    }
}

#[async_trait]
pub trait ResourceType: Send + Sync {
    fn schema(&self) -> &ResourceSchema;

    async fn observe(&self, req: ObserveRequest<'_>) -> Result<ObserveResponse, ProviderError>;

    async fn create(&self, req: CreateRequest<'_>) -> Result<CreateResponse, ProviderError>;

    async fn update(&self, req: UpdateRequest<'_>) -> Result<UpdateResponse, ProviderError>;

    async fn delete(&self, req: DeleteRequest<'_>) -> Result<(), ProviderError>;

    /// Resources carrying terrane's ownership tags, by cloud id: how a create interrupted
    /// before its id was recorded is found again, and how unmanaged leftovers are found.
    async fn find_by_ownership(
        &self,
        req: FindRequest<'_>,
    ) -> Result<BTreeMap<String, Attributes>, ProviderError>;
}

/// Every resource type the engine can manage, by type name.
#[derive(Default, Clone)]
pub struct Registry {
    types: BTreeMap<&'static str, Arc<dyn ResourceType>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, t: Arc<dyn ResourceType>) {
        self.types.insert(t.schema().type_name, t);
    }

    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn ResourceType>> {
        self.types.get(type_name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ResourceType>> {
        self.types.values()
    }
}

impl SchemaSource for Registry {
    fn schema(&self, type_name: &str) -> Option<&ResourceSchema> {
        self.types.get(type_name).map(|t| t.schema())
    }

    fn type_names(&self) -> Vec<&'static str> {
        self.types.keys().copied().collect()
    }
}
