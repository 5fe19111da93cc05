//! `berth top`.

use berth_engine::{stats, Engine};

/// `top` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The container.
    container: String,
    /// Options for `ps` (default `-ef`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_options: Vec<String>,
}

/// Prints the container's processes as `ps` shows them.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let t = stats::top(eng, &a.container, &a.ps_options)?;
    let mut rows = vec![t.titles];
    rows.extend(t.processes);
    print!("{}", columns(&rows));
    Ok(0)
}

/// Columns as Docker's tabwriter sets them: at least 20 wide, 3 spaces of padding, the
/// last column as it is.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |i: usize| {
        rows.iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count() + 3)
            .max()
            .unwrap_or(0)
            .max(20)
    };
    let widths: Vec<usize> = (0..n).map(width).collect();
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_like_docker() {
        let rows = vec![
            vec!["PID".to_string(), "CMD".to_string()],
            vec!["1".to_string(), "sleep 100".to_string()],
        ];
        assert_eq!(
            columns(&rows),
            format!("{:<20}CMD\n{:<20}sleep 100\n", "PID", "1")
        );
    }
}
