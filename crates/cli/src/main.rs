//! berth: Docker's verbs and flags on berth's on-disk store, with no daemon.

fn main() {}
