//! Stack-level tests of the EC2 networking types beyond the foundation's four against the local endpoint.
