//! process syscalls.
