//! fd syscalls.
