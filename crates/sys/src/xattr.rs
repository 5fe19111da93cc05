//! Extended attributes on a path without following its last component (lsetxattr(2) family).
//!
//! nix has no xattr API. Callers that must stay inside a directory pass a path of the form
//! `/proc/self/fd/<dirfd>/<name>`: the magic link pins the directory and the last component is
//! not followed.

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn cname(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Set xattr `name` to `value` on `path` itself (a symlink is not followed).
pub fn lsetxattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (p, n) = (cpath(path)?, cname(name)?);
    // SAFETY: `p` and `n` are valid C strings and `value` a valid slice of `value.len()` bytes;
    // all outlive the call, which only reads them.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The value of xattr `name` on `path` itself (a symlink is not followed).
pub fn lgetxattr(path: &Path, name: &str) -> io::Result<Vec<u8>> {
    let (p, n) = (cpath(path)?, cname(name)?);
    loop {
        // SAFETY: valid C strings; a NULL buffer with size 0 asks only for the length.
        let len = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; len as usize];
        // SAFETY: `buf` is writable for `buf.len()` bytes and outlives the call.
        let got =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        // The value grew between the two calls: ask again.
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

/// The names of every xattr on `path` itself (a symlink is not followed).
pub fn llistxattr(path: &Path) -> io::Result<Vec<OsString>> {
    let p = cpath(path)?;
    loop {
        // SAFETY: valid C string; a NULL buffer with size 0 asks only for the length.
        let len = unsafe { libc::llistxattr(p.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; len as usize];
        // SAFETY: `buf` is writable for `buf.len()` bytes and outlives the call.
        let got = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            let names = buf
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| OsString::from_vec(s.to_vec()))
                .collect();
            return Ok(names);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_list_round_trip() {
        let dir = std::env::temp_dir().join(format!("berth-xattr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"x").unwrap();
        lsetxattr(&f, "user.berth", b"v1").unwrap();
        assert_eq!(lgetxattr(&f, "user.berth").unwrap(), b"v1");
        assert!(llistxattr(&f)
            .unwrap()
            .contains(&OsString::from("user.berth")));
        let missing = lgetxattr(&f, "user.none").unwrap_err();
        assert_eq!(missing.raw_os_error(), Some(libc::ENODATA));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
