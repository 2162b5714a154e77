//! A least-recently-used map bounded both by entries and by an estimate of its bytes: past
//! either bound the least recently used entries go first, counted. Detection's per-identity
//! state (identity graph, sessions, baselines) grows with every new identity; a count alone
//! lets identities with long names or many links cost many times what the count assumed.

use hashlink::LruCache;
use std::borrow::Borrow;
use std::hash::Hash;

/// What an entry costs besides what its key and value hold elsewhere on the heap: the linked
/// map's node (key, value, cost, two links, its allocation's header) and its table slot at
/// the table's load.
const fn node<K, V>() -> usize {
    std::mem::size_of::<K>() + std::mem::size_of::<V>() + std::mem::size_of::<usize>() + 48
}

pub struct BoundedLru<K, V> {
    map: LruCache<K, (V, usize)>,
    /// What a key and value hold on the heap beyond their own size.
    cost: fn(&K, &V) -> usize,
    entries: usize,
    bytes: usize,
    budget: usize,
    /// Entries let go of to stay within a bound.
    pub evicted: u64,
}

impl<K: Hash + Eq, V> BoundedLru<K, V> {
    pub fn new(entries: usize, budget: usize, cost: fn(&K, &V) -> usize) -> Self {
        BoundedLru { map: LruCache::new_unbounded(), cost, entries: entries.max(1), bytes: 0, budget, evicted: 0 }
    }

    fn charge(cost: fn(&K, &V) -> usize, k: &K, v: &V) -> usize {
        node::<K, V>() + cost(k, v)
    }

    /// Inserts or replaces `k`, as the most recently used.
    pub fn insert(&mut self, k: K, v: V) {
        if let Some((_, old)) = self.map.remove(&k) {
            self.bytes -= old;
        }
        let c = Self::charge(self.cost, &k, &v);
        self.bytes += c;
        self.map.insert(k, (v, c));
        self.shed();
    }

    /// Applies `f` to the value of `k`, made by `make` if missing, and marks it the most
    /// recently used; its cost is taken again after `f`.
    pub fn update<R>(&mut self, k: K, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R {
        let cost = self.cost;
        let r = match self.map.get_mut(&k) {
            Some((v, c)) => {
                let r = f(v);
                let now = Self::charge(cost, &k, v);
                self.bytes = self.bytes - *c + now;
                *c = now;
                r
            }
            None => {
                let mut v = make();
                let r = f(&mut v);
                let c = Self::charge(cost, &k, &v);
                self.bytes += c;
                self.map.insert(k, (v, c));
                r
            }
        };
        self.shed();
        r
    }

    /// Lets the least recently used go while a bound is passed; the most recent entry stays.
    fn shed(&mut self) {
        while self.map.len() > self.entries || (self.bytes > self.budget && self.map.len() > 1) {
            let Some((_, (_, c))) = self.map.remove_lru() else { break };
            self.bytes -= c;
            self.evicted += 1;
        }
    }

    /// The value of `k`, without marking it used.
    pub fn peek<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.peek(k).map(|(v, _)| v)
    }

    /// The value of `k`, marked the most recently used.
    pub fn get<Q>(&mut self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(k).map(|(v, _)| v)
    }

    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (v, c) = self.map.remove(k)?;
        self.bytes -= c;
        Some(v)
    }

    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(k)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Least recently used first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, (v, _))| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heap(k: &String, v: &String) -> usize {
        k.capacity() + v.capacity()
    }

    #[test]
    fn bounded_by_entries_and_by_bytes_least_recent_first() {
        let mut m: BoundedLru<String, String> = BoundedLru::new(3, usize::MAX, heap);
        for k in ["a", "b", "c"] {
            m.insert(k.into(), String::new());
        }
        assert!(m.get("a").is_some());
        m.insert("d".into(), String::new());
        assert_eq!((m.len(), m.contains_key("b"), m.evicted), (3, false, 1));

        let each = node::<String, String>() + 1;
        let mut m: BoundedLru<String, String> = BoundedLru::new(100, 3 * each, heap);
        for k in ["a", "b", "c"] {
            m.insert(k.into(), String::new());
        }
        assert_eq!((m.len(), m.bytes()), (3, 3 * each));
        // Growing an entry past the budget sends the least recently used away, not it.
        assert!(m.get("a").is_some());
        m.update("b".into(), String::new, |v| v.push('x'));
        assert_eq!((m.len(), m.evicted), (2, 1));
        assert!(!m.contains_key("c") && m.contains_key("a") && m.bytes() <= 3 * each);
        // Alone past the budget, the entry just used stays.
        m.update("b".into(), String::new, |v| v.push_str(&"x".repeat(300)));
        assert_eq!((m.len(), m.peek("b").map(String::len), m.evicted), (1, Some(301), 2));
        assert_eq!(m.remove("b").map(|v| v.len()), Some(301));
        assert_eq!((m.len(), m.bytes()), (0, 0));
        // update makes what is missing.
        let n = m.update("z".into(), || "made".to_string(), |v| v.len());
        assert_eq!((n, m.bytes()), (4, node::<String, String>() + 1 + 4));
    }
}
