//! Stack-level tests of EKS against the local endpoint.
