//! Giving back resident memory a long-lived process no longer needs.

use std::io;

/// One mapping of /proc/self/smaps that maps our own executable read-only and that holds
/// no private (copy-on-write) pages: its pages are exactly the file's.
#[derive(Debug, PartialEq, Eq)]
struct Clean {
    start: usize,
    end: usize,
}

/// Mappings of `exe` in `smaps` text that are not writable and have no anonymous pages.
fn clean_mappings(smaps: &str, exe: &str) -> Vec<Clean> {
    let mut out = vec![];
    let mut current: Option<(Clean, bool)> = None;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some((a, b)) = first
            .split_once('-')
            .filter(|(a, _)| !a.is_empty() && a.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            if let Some((m, true)) = current.take() {
                out.push(m);
            }
            let perms = words.next().unwrap_or("");
            let path = line.split_whitespace().nth(5).unwrap_or("");
            let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            let ok = path == exe && !perms.contains('w') && perms.ends_with('p');
            current = Some((Clean { start, end }, ok));
        } else if first == "Anonymous:" {
            if let Some((_, ok)) = current.as_mut() {
                *ok &= words.next() == Some("0");
            }
        }
    }
    if let Some((m, true)) = current {
        out.push(m);
    }
    out
}

/// The clean read-only mappings of this process's own executable, found once (reading
/// /proc/self/smaps is itself work that faults code in) and then released as often as
/// the caller likes with one `madvise` each.
#[derive(Debug)]
pub struct ExecutablePages {
    ranges: Vec<Clean>,
}

impl ExecutablePages {
    /// Finds the mappings: every mapping of /proc/self/exe that is not writable and holds
    /// no anonymous (copy-on-write) pages. Pages that were ever written (relocated data)
    /// are left out, since dropping them would lose the writes.
    pub fn find() -> io::Result<ExecutablePages> {
        let exe = std::fs::read_link("/proc/self/exe")?;
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        Ok(ExecutablePages {
            ranges: clean_mappings(&smaps, &exe.to_string_lossy()),
        })
    }

    /// Drops this process's page-table entries for the mappings (`MADV_DONTNEED`), so
    /// they stop counting as its resident memory; whatever code runs next faults back in
    /// from the page cache (the kernel maps file pages around a fault in 64 KiB blocks,
    /// so even a short code path in a large binary makes up much of the resident set).
    /// Returns the bytes of address space released.
    pub fn release(&self) -> usize {
        let mut total = 0;
        for m in &self.ranges {
            // SAFETY: the range is a whole private, read-only mapping of our executable
            // whose pages are all unmodified file pages (no anonymous pages when `find`
            // looked, and never writable, so none since), so MADV_DONTNEED only drops
            // page-table entries that the next access refills from the same file; no
            // memory Rust code refers to changes content or goes away.
            let rc = unsafe {
                libc::madvise(
                    m.start as *mut libc::c_void,
                    m.end - m.start,
                    libc::MADV_DONTNEED,
                )
            };
            if rc == 0 {
                total += m.end - m.start;
            }
        }
        total
    }
}

/// [`ExecutablePages::find`], then [`ExecutablePages::release`], once.
pub fn release_executable_pages() -> io::Result<usize> {
    Ok(ExecutablePages::find()?.release())
}

/// Gives free heap memory back to the kernel (glibc's `malloc_trim`): the top of the heap
/// and whole free pages inside it, which malloc otherwise keeps resident for reuse.
pub fn trim_heap() {
    // SAFETY: malloc_trim only returns memory that malloc holds as free; it touches no
    // live allocation and is thread-safe (it takes the arena locks).
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00400000-00401000 r--p 00000000 fd:01 123 /usr/bin/x
Size:                  4 kB
Anonymous:             0 kB
00401000-00500000 r-xp 00001000 fd:01 123 /usr/bin/x
Size:               1020 kB
Anonymous:             0 kB
00500000-00510000 r--p 00100000 fd:01 123 /usr/bin/x
Anonymous:            16 kB
00510000-00520000 rw-p 00110000 fd:01 123 /usr/bin/x
Anonymous:             8 kB
7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /usr/lib/other.so
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_mappings_of_the_executable() {
        let m = clean_mappings(SMAPS, "/usr/bin/x");
        assert_eq!(
            m,
            vec![
                Clean {
                    start: 0x400000,
                    end: 0x401000
                },
                Clean {
                    start: 0x401000,
                    end: 0x500000
                }
            ]
        );
    }

    #[test]
    fn releasing_keeps_the_process_working() {
        release_executable_pages().unwrap();
        let pages = ExecutablePages::find().unwrap();
        pages.release();
        trim_heap();
        pages.release();
        // Code and read-only data are still there after the release.
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
