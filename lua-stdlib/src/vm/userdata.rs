//! Userdata: host values (any `'static` Rust type) with a metatable.

use std::any::Any;
use std::cell::RefCell;

use gc_arena::{lock::Lock, Collect, Gc, Mutation};

use super::table::Table;

#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct UserData<'gc>(pub(crate) Gc<'gc, UserDataBox<'gc>>);

#[derive(Collect)]
#[collect(no_drop)]
pub struct UserDataBox<'gc> {
    #[collect(require_static)]
    data: RefCell<Box<dyn Any>>,
    metatable: Lock<Option<Table<'gc>>>,
}

impl<'gc> UserData<'gc> {
    pub fn new_static<T: 'static>(mc: &Mutation<'gc>, value: T) -> UserData<'gc> {
        UserData(Gc::new(
            mc,
            UserDataBox {
                data: RefCell::new(Box::new(value)),
                metatable: Lock::new(None),
            },
        ))
    }

    /// The value, if it is a `T` (and not borrowed mutably).
    pub fn downcast_static<T: 'static>(self) -> Option<std::cell::Ref<'gc, T>> {
        let r = Gc::as_ref(self.0).data.try_borrow().ok()?;
        std::cell::Ref::filter_map(r, |b| b.downcast_ref::<T>()).ok()
    }

    pub fn downcast_static_mut<T: 'static>(self) -> Option<std::cell::RefMut<'gc, T>> {
        let r = Gc::as_ref(self.0).data.try_borrow_mut().ok()?;
        std::cell::RefMut::filter_map(r, |b| b.downcast_mut::<T>()).ok()
    }

    pub fn metatable(self) -> Option<Table<'gc>> {
        self.0.metatable.get()
    }

    pub fn set_metatable(self, mc: &Mutation<'gc>, mt: Option<Table<'gc>>) -> Option<Table<'gc>> {
        let w = Gc::write(mc, self.0);
        gc_arena::barrier::unlock!(w, UserDataBox, metatable).replace(mt)
    }

    #[inline]
    pub fn ptr_eq(self, other: UserData<'gc>) -> bool {
        Gc::ptr_eq(self.0, other.0)
    }

    pub fn as_ptr(self) -> *const () {
        Gc::as_ptr(self.0) as *const ()
    }
}

impl std::fmt::Debug for UserData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "userdata: {:p}", self.as_ptr())
    }
}
