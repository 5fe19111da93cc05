//! Fake cgroupfs trees in a temp dir, for unit tests.
//!
//! A real cgroupfs creates control files itself on mkdir; here the test
//! creates the files it expects the code to touch, with their initial text,
//! and reads them back afterwards.

use std::fs;
use std::path::{Path, PathBuf};

pub(crate) struct FakeTree {
    dir: tempfile::TempDir,
}

impl FakeTree {
    pub(crate) fn new() -> Self {
        FakeTree {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Creates `rel` (and its parents) holding `content`.
    pub(crate) fn file(&self, rel: &str, content: &str) -> &Self {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    /// Creates each of `files` under `dir`, empty.
    pub(crate) fn files(&self, dir: &str, files: &[&str]) -> &Self {
        for f in files {
            self.file(&format!("{dir}/{f}"), "");
        }
        self
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }
}
