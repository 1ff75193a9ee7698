//! What terrane's AWS service crates share: one SDK configuration and a client per
//! service and region, SDK errors mapped to provider errors, tags, and a count of every
//! API call made (for `--stats`, benchmarks and the tests that bound the calls a plan makes),
//! and client-side rate limiting by AWS's published quotas ([`ratelimit`]).
//!
//! Each AWS service lives in its own crate (`terrane-aws-ec2`, ...) on top of this one, so
//! services build in parallel and a service's SDK is linked only where it is used.

pub mod clients;
pub mod error;
pub mod inputs;
pub mod ratelimit;
pub mod tags;

pub use clients::{ApiCalls, AwsClients, CallKey, RateLimitOptions};
pub use error::{AwsError, api_error, gone_is_ok, unless_gone, waiter_error};
pub use ratelimit::{QuotaTable, RateLimitStats, RateLimiter};
