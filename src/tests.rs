//! End-to-end tests of the core (added below).
