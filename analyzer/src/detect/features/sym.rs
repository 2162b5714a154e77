//! Interned strings for the window's rows: equal texts held at the same time share one
//! allocation, so a [`Sym`] costs 16 bytes in a row, compares and hashes by address, and a
//! distinct count over syms is exact.
//!
//! The one way to make a `Sym` is [`Interner::intern`], which is what makes address equality
//! mean text equality. An address can be reused only after every sym of the old text has gone,
//! so two syms alive together are equal exactly when their texts are.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// An interned string.
#[derive(Clone)]
pub struct Sym(Arc<str>);

impl Sym {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address: equal for equal texts alive together.
    pub fn id(&self) -> u64 {
        Arc::as_ptr(&self.0).cast::<u8>() as usize as u64
    }
}

impl std::ops::Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Sym {
    fn eq(&self, other: &Sym) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Sym {}

impl Hash for Sym {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.id());
    }
}

impl std::fmt::Debug for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a text costs besides its bytes: the shared allocation's two counts and its slot in
/// the interner (at the set's load, which doubling keeps between 7/16 and 7/8).
pub const TEXT_OVERHEAD: usize = 48;

/// The texts of the syms alive, each once, and what they cost. Keyed at random per process,
/// so clients cannot choose texts that collide in it.
#[derive(Default)]
pub struct Interner {
    texts: HashSet<Arc<str>, foldhash::quality::RandomState>,
    bytes: usize,
}

fn cost(t: &str) -> usize {
    t.len() + TEXT_OVERHEAD
}

impl Interner {
    /// The sym of `s`: the one alive if there is one, else a new one.
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(t) = self.texts.get(s) {
            return Sym(t.clone());
        }
        let t: Arc<str> = s.into();
        self.bytes += cost(&t);
        self.texts.insert(t.clone());
        Sym(t)
    }

    /// Lets go of `sym`, and of its text if no other sym holds it.
    pub fn release(&mut self, sym: Sym) {
        // The interner's reference and this one.
        if Arc::strong_count(&sym.0) == 2 && self.texts.remove(&*sym.0) {
            self.bytes -= cost(&sym.0);
        }
    }

    /// The sym of `s` if one is alive.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.texts.get(s).map(|t| Sym(t.clone()))
    }

    /// Forgets the texts no sym holds any more.
    pub fn sweep(&mut self) {
        let mut freed = 0;
        self.texts.retain(|t| {
            let held = Arc::strong_count(t) > 1;
            if !held {
                freed += cost(t);
            }
            held
        });
        self.bytes -= freed;
    }

    /// What the texts held cost, estimated from their lengths.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// A 64-bit digest of `parts`, keyed like the texts: for values that are rarely repeated
    /// (objects, pages, login names), which rows keep as digests rather than texts. Never zero.
    pub fn digest<T: Hash + ?Sized>(&self, parts: &T) -> std::num::NonZeroU64 {
        std::num::NonZeroU64::new(self.texts.hasher().hash_one(parts) | 1).unwrap_or(std::num::NonZeroU64::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_a_sym_until_the_last_goes() {
        let mut i = Interner::default();
        let a = i.intern("10.0.0.1");
        let b = i.intern(&String::from("10.0.0.1"));
        let c = i.intern("10.0.0.2");
        assert!(a == b && a.id() == b.id() && a != c);
        assert_eq!((a.as_str(), &*c, i.len()), ("10.0.0.1", "10.0.0.2", 2));
        assert_eq!(i.get("10.0.0.2"), Some(c.clone()));
        assert_eq!(i.bytes(), 2 * (8 + TEXT_OVERHEAD));
        drop(c);
        i.sweep();
        assert_eq!((i.len(), i.get("10.0.0.2"), i.bytes()), (1, None, 8 + TEXT_OVERHEAD));
        // Released while another sym holds it, the text stays; with the last, it goes.
        i.release(a);
        assert_eq!(i.len(), 1);
        i.release(b);
        assert_eq!((i.len(), i.bytes()), (0, 0));
        let e = i.intern("x");
        drop(e);
        i.sweep();
        assert!(i.is_empty() && i.bytes() == 0);
        let d1 = i.digest(&("GET /a", "1"));
        assert_eq!(d1, i.digest(&("GET /a", "1")));
        assert_ne!(d1, i.digest(&("GET /a1", "")));
    }
}
