//! Stop signals for `flowc run`: Ctrl-C (SIGINT), SIGTERM (what `timeout`,
//! systemd and container runtimes send) and SIGHUP (a closed terminal).
//! The first one bumps a counter the run watches: the sources stop and what
//! is in flight drains. The second ends the process from inside the
//! handler, whatever any thread is blocked on (a FIFO with no writer, a
//! stalled pipe), after removing every file sink's temporary file.
//!
//! The handler is installed with `sigaction` directly, before anything else
//! of the run happens, and touches only statics: a library that installs
//! its handler and its bookkeeping in two steps can lose a signal that
//! lands between them, and a lost second Ctrl-C is a run that never stops.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::runtime::temporary;

const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Stop signals so far; the run reads it (`RunOptions::interrupts`).
pub static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// The first stop signal that came, for the summary; 0 before any.
static FIRST: AtomicI32 = AtomicI32::new(0);

/// Installs the handler for every stop signal. Says so on standard error
/// for a signal it cannot catch, which then ends flowc at once.
pub fn listen() {
    for signal in STOP_SIGNALS {
        // SAFETY: `action` is fully initialised before the call; the handler
        // is an `extern "C"` function that only uses async-signal-safe calls.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut()) == 0
        };
        if !installed {
            eprintln!("warning: cannot catch signal {signal}; it will end flowc at once");
        }
    }
}

/// The first stop signal, if one came: `SIGINT`, `SIGTERM` or `SIGHUP`.
pub fn first() -> Option<libc::c_int> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

extern "C" fn on_stop_signal(signal: libc::c_int) {
    let _ = FIRST.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    if PRESSES.fetch_add(1, Ordering::SeqCst) >= 1 {
        temporary::remove_all_from_signal_handler();
        let message =
            b"\nflowc: stopped at once by a second signal: records in flight were dropped and file sinks not written\n";
        // SAFETY: `write` and `_exit` are async-signal-safe; `message` lives in the binary.
        unsafe {
            libc::write(2, message.as_ptr().cast(), message.len());
            libc::_exit(128 + signal);
        }
    }
}
