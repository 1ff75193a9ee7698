//! terrane's integration tests: the real `terrane` binary against a real local AWS endpoint
//! (moto's server, one per test, started and stopped by the test) and the real state store.
//! Everything is checked with independent SDK calls, never through terrane itself.
//!
//! One test binary for the whole workspace keeps link time down with the AWS SDK crates.

mod api_calls;
mod bad_input;
mod bad_stacks;
mod crash;
mod drift;
mod drift_schedule;
mod environments;
mod faults;
mod interrupt;
mod local_files;
mod minimal;
mod moves;
mod multi_region;
mod policy;
mod reference_stacks;
mod secrets;
mod state_cmds;
mod support;
mod svc_dns_cdn_tables;
mod svc_ec2_network;
mod svc_eks;
mod svc_rds_elasticache;
mod team_backend;
mod tidy;
