//! File descriptors: every client and every upstream connection takes one.
//!
//! At start-up the soft `RLIMIT_NOFILE` is raised to the hard limit (the
//! default soft limit, 1024 on most systems, is reached by a few hundred
//! proxied clients). At the limit, `accept` fails and the client stays in
//! the kernel's accept queue, its connection established, waiting for an
//! answer that only comes when a descriptor frees: so each worker keeps
//! one descriptor in [`Reserve`], gives it up to accept the waiting client,
//! answers it with a 503 and closes it at once, then takes the reserve
//! back.

use std::fs::File;
use std::io;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The soft limit on open files, before and after raising it to the hard
/// limit (`None`: unlimited).
pub struct NofileLimit {
    pub was: Option<u64>,
    pub now: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
pub fn raise_nofile_limit() -> io::Result<NofileLimit> {
    let limit = getrlimit(Resource::Nofile);
    let was = limit.current;
    if limit.current == limit.maximum || limit.maximum.is_none() {
        return Ok(NofileLimit { was, now: was });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )?;
    Ok(NofileLimit {
        was,
        now: getrlimit(Resource::Nofile).current,
    })
}

/// Whether an `accept` failed for want of a file descriptor (the process's
/// or the system's).
pub fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

/// One descriptor held back so a client can be accepted, and refused, at
/// the limit.
pub struct Reserve(Option<File>);

impl Reserve {
    pub fn new() -> Self {
        Reserve(File::open("/dev/null").ok())
    }

    /// Frees the reserved descriptor; false if there was none.
    pub fn release(&mut self) -> bool {
        self.0.take().is_some()
    }

    /// Takes a descriptor back; false if none is free.
    pub fn restore(&mut self) -> bool {
        if self.0.is_none() {
            self.0 = File::open("/dev/null").ok();
        }
        self.0.is_some()
    }
}
