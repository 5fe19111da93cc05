//! `ps`: the container's processes, as a table from ps(1) or a JSON list of pids.

use berth_runtime::state::Root;

/// `ps` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Container id.
    id: String,
    /// Extra arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// Print the processes.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    let pids = berth_runtime::container::query::pids(root, &a.id)?;
    if a.format == "json" {
        crate::outln!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = std::process::Command::new("ps").args(&args).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
    crate::outln!("{header}");
    for l in lines {
        let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            crate::outln!("{l}");
        }
    }
    Ok(0)
}
