//! Memory accounting. gc-arena 0.7 counts `Gc` pointers, not bytes, so the
//! VM counts the bytes its objects own (string bytes, table parts, stacks)
//! itself: every owner holds a [`Charge`] on the VM's [`Meter`], adjusted
//! when it grows and given back when the GC drops it. The host's memory cap
//! and the byte-driven part of the GC pacing read the meter.

use std::{cell::Cell, rc::Rc};

use gc_arena::Collect;

/// Estimated bytes of one `Gc` allocation's header and fixed part, added to
/// the counted bytes for every live `Gc` (their buffers are charged exactly).
pub const GC_OBJECT_BYTES: usize = 48;

/// The byte counter of one VM.
#[derive(Clone, Default, Collect)]
#[collect(require_static)]
pub struct Meter(Rc<Cell<usize>>);

impl Meter {
    pub fn bytes(&self) -> usize {
        self.0.get()
    }

    /// A charge of `bytes` on this meter, given back when dropped.
    pub fn charge(&self, bytes: usize) -> Charge {
        self.0.set(self.0.get() + bytes);
        Charge {
            meter: self.clone(),
            bytes,
        }
    }
}

/// Bytes owned by one object, counted on its VM's meter.
#[derive(Collect)]
#[collect(require_static)]
pub struct Charge {
    meter: Meter,
    bytes: usize,
}

impl Charge {
    /// Changes the charged amount to `bytes` (after a buffer grew or shrank).
    pub fn set(&mut self, bytes: usize) {
        let m = &self.meter.0;
        m.set(m.get() - self.bytes + bytes);
        self.bytes = bytes;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let m = &self.meter.0;
        m.set(m.get().saturating_sub(self.bytes));
    }
}
