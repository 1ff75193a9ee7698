//! Stack-level tests of RDS and ElastiCache against the local endpoint.
