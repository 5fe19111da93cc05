//! `berth cp`: `CONTAINER:SRC DEST`, `SRC CONTAINER:DEST`, with `-` for a tar stream.

use std::path::Path;

use berth_engine::cp::{self, CopyOptions};
use berth_engine::Engine;

/// `cp` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy (berth prints none).
    #[arg(short, long)]
    quiet: bool,
    /// `CONTAINER:SRC_PATH` or a local path (`-`: a tar stream on stdin).
    src: String,
    /// `CONTAINER:DEST_PATH` or a local path (`-`: a tar stream on stdout).
    dest: String,
}

/// `CONTAINER:PATH` → (container, path); a local path (one with a `/` before any `:`, or
/// starting with `.`) is not split, as Docker decides.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// Copies one way.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let o = CopyOptions {
        archive: a.archive,
        follow: a.follow_link,
    };
    match (split(&a.src), split(&a.dest)) {
        (Some(_), Some(_)) => {
            anyhow::bail!(
                "invalid cp `{} {}`: copying between containers is not supported",
                a.src,
                a.dest
            )
        }
        (None, None) => anyhow::bail!(
            "invalid cp `{} {}`: must specify at least one container source",
            a.src,
            a.dest
        ),
        (Some((c, src)), None) if a.dest == "-" => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            cp::stream_out(eng, c, &path_or_root(src), o.follow, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
        (Some((c, src)), None) => cp::copy_out(eng, c, &path_or_root(src), Path::new(&a.dest), o)?,
        (None, Some((c, dst))) if a.src == "-" => {
            cp::stream_in(eng, c, &path_or_root(dst), std::io::stdin().lock(), o)?
        }
        (None, Some((c, dst))) => cp::copy_in(eng, c, Path::new(&a.src), &path_or_root(dst), o)?,
    }
    Ok(0)
}

/// A container path: relative ones are relative to the container's `/`, as Docker takes them.
fn path_or_root(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_told_from_local_ones() {
        assert_eq!(split("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split("./a:b"), None);
        assert_eq!(split("/tmp/a:b"), None);
        assert_eq!(split("dir/a:b"), None);
        assert_eq!(split("plain"), None);
        assert_eq!(split("-"), None);
    }
}
