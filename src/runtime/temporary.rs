//! The temporary files of file sinks, listed for the whole process so that
//! every way out of a run can remove them: a sink dropped unfinished removes
//! its own, and a signal that ends the process at once (a second Ctrl-C or
//! SIGTERM) removes every listed one from inside the signal handler.
//!
//! A signal handler may only call async-signal-safe functions, so the list
//! is a fixed array of atomic pointers to C strings and removal is a bare
//! `unlink`: no lock, no allocation. A path's memory is never freed once
//! listed, because a handler on another thread may still be reading it; a
//! run leaks one short string per file sink.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// File sinks whose temporary files a signal can remove; more at once are
/// still removed by every other way out.
const SLOTS: usize = 256;

static LISTED: [AtomicPtr<libc::c_char>; SLOTS] = [const { AtomicPtr::new(null_mut()) }; SLOTS];

/// Temporary names are unique within the process, not only per process id.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A listed temporary file; dropping it takes it off the list.
#[derive(Debug)]
pub struct Listed {
    path: PathBuf,
    slot: Option<usize>,
}

/// A fresh hidden name beside `target`: `.NAME.flowc-PID-N.tmp`.
pub fn name_beside(target: &Path) -> PathBuf {
    let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.flowc-{}-{n}.tmp", std::process::id()))
}

/// Lists `path` so that a signal can remove it.
pub fn list(path: &Path) -> Listed {
    let slot = CString::new(path.as_os_str().as_bytes()).ok().and_then(|c_path| {
        let raw = c_path.into_raw();
        let slot = LISTED
            .iter()
            .position(|slot| slot.compare_exchange(null_mut(), raw, Ordering::SeqCst, Ordering::SeqCst).is_ok());
        if slot.is_none() {
            // Not listed: nothing else holds the pointer, so it can be freed.
            drop(unsafe { CString::from_raw(raw) });
        }
        slot
    });
    Listed { path: path.to_path_buf(), slot }
}

impl Listed {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file became the target (or is gone): nothing to remove any more.
    pub fn unlist(&mut self) {
        if let Some(slot) = self.slot.take() {
            // Leaked on purpose: see the module comment.
            LISTED[slot].store(null_mut(), Ordering::SeqCst);
        }
    }

    /// Removes the file and takes it off the list.
    pub fn remove(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.unlist();
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.unlist();
    }
}

/// Removes every listed temporary file. Async-signal-safe: a signal
/// handler may call it.
pub fn remove_all_from_signal_handler() {
    for slot in &LISTED {
        let path = slot.swap(null_mut(), Ordering::SeqCst);
        if !path.is_null() {
            unsafe { libc::unlink(path) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_a_process() {
        let target = Path::new("/tmp/out.csv");
        assert_ne!(name_beside(target), name_beside(target));
        assert!(name_beside(target).file_name().unwrap().to_string_lossy().starts_with(".out.csv.flowc-"));
    }

    #[test]
    fn the_signal_path_removes_listed_files_and_only_those() {
        let dir = std::env::temp_dir().join(format!("flowc-temporary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (kept, removed) = (dir.join("kept"), dir.join("removed"));
        std::fs::write(&kept, "x").unwrap();
        std::fs::write(&removed, "x").unwrap();
        let mut unlisted = list(&kept);
        unlisted.unlist();
        let _listed = list(&removed);
        remove_all_from_signal_handler();
        assert!(kept.exists() && !removed.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
