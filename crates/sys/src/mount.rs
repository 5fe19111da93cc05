//! mount syscalls.
