//! Docker's `Are you sure you want to continue? [y/N]` before prune verbs without `-f`.

use std::io::{BufRead, Write};

/// Prints `warning` and the question; true only for an answer of `y` or `yes`. End of
/// input (a script with no terminal) is a no, as in Docker.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout();
    write!(out, "{warning}\nAre you sure you want to continue? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim().to_lowercase().as_str(), "y" | "yes");
    if !yes && answer.is_empty() {
        println!();
    }
    Ok(yes)
}
