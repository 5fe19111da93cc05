//! bpf syscalls.
