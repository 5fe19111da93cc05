//! `berth version`: Docker's Client/Server blocks (one binary is both here).

use serde_json::{json, Value};

/// `version` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Format output using a custom template ("json" or a Go template).
    #[arg(short, long)]
    format: Option<String>,
}

/// Prints the version document, as text or through `--format`.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let v = document();
    match a.format.as_deref() {
        Some("json") => println!("{v}"),
        Some(f) => println!("{}", crate::template::Template::parse(f)?.render(&v)?),
        None => print!("{}", text(&v)),
    }
    Ok(0)
}

fn document() -> Value {
    let part = |extra: Value| {
        let mut v = json!({
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": "1.43",
            "GitCommit": env!("BERTH_GIT_COMMIT"),
            "RustVersion": env!("BERTH_RUSTC_VERSION"),
            "Os": std::env::consts::OS,
            "Arch": arch(),
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    };
    json!({
        "Client": part(json!({"Context": "default"})),
        "Server": part(json!({
            "KernelVersion": berth_engine::info::kernel_version(),
            "Components": [{"Name": "berth-runtime", "Version": env!("CARGO_PKG_VERSION")}],
        })),
    })
}

/// Go's names for the architecture (`amd64`, `arm64`), as Docker prints them.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn text(v: &Value) -> String {
    let field = |part: &str, k: &str| v[part][k].as_str().unwrap_or("").to_string();
    let mut out = String::new();
    for (part, title, indent) in [
        ("Client", "Client:", " "),
        ("Server", "Server:\n Engine:", "  "),
    ] {
        out += &format!("{title}\n");
        let w = 19 - indent.len();
        for (label, k) in [
            ("Version:", "Version"),
            ("API version:", "ApiVersion"),
            ("Rust version:", "RustVersion"),
            ("Git commit:", "GitCommit"),
        ] {
            out += &format!("{indent}{label:<w$}{}\n", field(part, k));
        }
        let os_arch = format!("{}/{}", field(part, "Os"), field(part, "Arch"));
        out += &format!("{indent}{:<w$}{os_arch}\n", "OS/Arch:");
        if part == "Client" {
            out += &format!("{indent}{:<w$}default\n\n", "Context:");
        } else {
            out += &format!(
                "{indent}{:<w$}{}\n",
                "Kernel version:",
                field(part, "KernelVersion")
            );
            out += &format!(
                " berth-runtime:\n  {:<17}{}\n",
                "Version:",
                field(part, "Version")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_blocks() {
        let t = text(&document());
        assert!(t.starts_with("Client:\n Version:"), "{t}");
        assert!(t.contains("\nServer:\n Engine:\n  Version:"), "{t}");
        assert!(t.contains("Rust version:"), "{t}");
        assert!(
            t.contains(&format!("OS/Arch:          linux/{}", arch())),
            "{t}"
        );
    }
}
