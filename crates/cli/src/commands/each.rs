//! What Docker's multi-object verbs share: do the same to each name, say something per
//! object, and print documents as JSON or through a template.

use std::fmt::Display;

/// Runs `f` on each of `names`: on success prints the name as given, on failure one error
/// line; the exit code is 1 when any failed (the others are still done).
pub fn each<T, E: Display>(names: &[String], mut f: impl FnMut(&str) -> Result<T, E>) -> i32 {
    let mut code = 0;
    for name in names {
        match f(name) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    code
}

/// Prints `docs` as a JSON array (nothing when every lookup failed), or each through the
/// Go template `format`.
pub fn print_docs(
    docs: &[serde_json::Value],
    format: Option<&str>,
    any_failed: bool,
) -> anyhow::Result<()> {
    match format {
        None | Some("json") => {
            if !docs.is_empty() || !any_failed {
                println!("{}", serde_json::to_string_pretty(docs)?);
            }
        }
        Some(f) => {
            let t = crate::template::Template::parse(f)?;
            print!("{}", t.render_all(docs, |f| f.to_string())?);
        }
    }
    Ok(())
}
