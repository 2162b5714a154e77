//! Path templating: concrete paths in, endpoint templates out (`/users/42/orders` →
//! `/users/{user_id}/orders`).
//!
//! Two layers. The tree keeps what was seen, compactly: one node per distinct literal
//! segment under its prefix, with values of recognisable kinds (integers, UUIDs, hashes,
//! dates, e-mails, tokens, generated ids; see [`super::segment`]) folded into one child per
//! kind at their position. Templates are derived from the tree on demand, so they can
//! change as traffic grows: a position whose names keep changing becomes a parameter (its
//! names merge into it), and a position that looked variable but holds a small fixed set of
//! names splits back into literals, because the names are still in the tree.
//!
//! Deciding whether names at a position are values or fixed path words uses what the tree
//! records per node: how many distinct names share the position, how often each was used
//! and by how many clients, which operations its calls end in, whether a name is in the API
//! path vocabulary ([`super::words`]) and whether it looks generated. Positions whose children already
//! include recognised values are parameters; their plain names stay literal only when they
//! read as path words.
//!
//! Bounded: past [`MAX_LITERALS`] literal children a node takes a new name only while its
//! names repeat (at most [`MAX_LITERALS_HARD`]), and a tree has at most [`MAX_NODES`] nodes.
//! Beyond, a new name goes into the position's overflow child, which is itself proof that
//! the position is variable, so hostile traffic cannot grow the tree without limit and loses
//! no calls. A name spelt unlike the overflow's values, or one that keeps coming back (a
//! bounded frequent-items count per position), still gets a node while the hard bounds
//! allow: a path word deployed after its position filled up is a new endpoint.

use super::endpoint::{EndpointStats, Location};
use super::path::split_extension;
use super::segment::{classify, SegmentKind};
use super::values::ParamStats;
use super::words::{api_word, is_api_word, is_collection, is_selector, Word};
use std::collections::{BTreeMap, HashMap};

pub const MAX_LITERALS: usize = 64;
/// Literal children a node keeps in any case.
pub const MAX_LITERALS_HARD: usize = 1024;
pub const MAX_NODES: usize = 200_000;
/// Distinct clients remembered per node: enough to tell "one client" from "many".
const CLIENTS_KEPT: usize = 4;
/// Distinct values remembered per value node.
const SAMPLES: usize = 2;

type NodeId = u32;

/// A child standing for values rather than one name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum ValueKey {
    /// Values of one recognised kind, with the file extension they carried, if any.
    Kind(SegmentKind, Option<Box<str>>),
    /// Names that did not fit ([`MAX_LITERALS`], [`MAX_NODES`]) or came after the position
    /// was shown to be variable.
    Overflow,
    /// A parameter loaded from an earlier run's inventory, with its name.
    Known(Box<str>),
}

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<Box<str>, NodeId>,
    values: Vec<(ValueKey, NodeId)>,
    hits: u64,
    clients: [u64; CLIENTS_KEPT],
    /// The values of the segment that led here (for a literal node, its one name).
    seg: ParamStats,
    /// For a value node: the first distinct values (at most [`SAMPLES`]), and whether
    /// there were more. One value that many paths continue from is a fixed path word that
    /// happens to look like a value (`/1/boards`, `/rest/api/3/issue`, `/2010-04-01/`).
    samples: Vec<Box<str>>,
    more: bool,
    /// Whether a segment that led here had a character that is not a hex digit: values of
    /// one hex alphabet let a name spelt in it be one of them (`bbfbe` beside `7a13c`).
    not_hex: bool,
    ends: Vec<(Box<str>, Box<EndpointStats>)>,
}

impl Node {
    fn client(&mut self, c: u64) {
        if self.clients.contains(&c) {
            return;
        }
        if let Some(slot) = self.clients.iter_mut().find(|s| **s == 0) {
            *slot = c;
        }
    }

    fn client_count(&self) -> usize {
        self.clients.iter().filter(|c| **c != 0).count()
    }

    fn overflow(&self) -> Option<NodeId> {
        self.values.iter().find(|(k, _)| *k == ValueKey::Overflow).map(|(_, id)| *id)
    }

    fn known(&self) -> Option<NodeId> {
        self.values.iter().find(|(k, _)| matches!(k, ValueKey::Known(_))).map(|(_, id)| *id)
    }
}

/// One segment of a template.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TemplateSegment {
    Literal(String),
    Param {
        name: String,
        /// Kinds of values seen (`string` for names learnt by cardinality).
        kinds: Vec<SegmentKind>,
        /// A file extension every value carried (`{id}.json`).
        ext: Option<String>,
    },
}

/// An endpoint derived from the tree.
#[derive(Clone, Debug)]
pub struct Template {
    pub segments: Vec<TemplateSegment>,
    pub method: String,
    pub stats: EndpointStats,
    /// How sure the templating is, 0..1: lower for parameters learnt from few values and
    /// for endpoints seen few times.
    pub confidence: f64,
}

impl Template {
    /// The template as a path, parameters in braces: `/users/{user_id}/orders`.
    pub fn path(&self) -> String {
        render(&self.segments)
    }
}

/// `/a/{b}/c`; the root is `/`.
pub fn render(segs: &[TemplateSegment]) -> String {
    if segs.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for seg in segs {
        s.push('/');
        match seg {
            TemplateSegment::Literal(l) => s.push_str(l),
            TemplateSegment::Param { name, ext, .. } => {
                s.push('{');
                s.push_str(name);
                s.push('}');
                if let Some(e) = ext {
                    s.push('.');
                    s.push_str(e);
                }
            }
        }
    }
    s
}

/// Parses a rendered template back into segments (for templates loaded from a database or
/// an API description).
pub fn parse_template(t: &str) -> Vec<TemplateSegment> {
    t.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|r| r.split_once('}')) {
            Some((name, rest)) => TemplateSegment::Param {
                name: name.to_string(),
                kinds: Vec::new(),
                ext: rest.strip_prefix('.').map(str::to_string),
            },
            None => TemplateSegment::Literal(s.to_string()),
        })
        .collect()
}

/// The paths of one host.
#[derive(Debug)]
pub struct PathTree {
    nodes: Vec<Node>,
    /// Names sent to an overflow child because a bound was reached.
    pub overflowed: u64,
    /// Per variable position (one with an overflow or a known parameter), the names it sent
    /// there that keep coming back.
    recurring: HashMap<NodeId, Recurring>,
}

impl Default for PathTree {
    fn default() -> Self {
        PathTree { nodes: vec![Node::default()], overflowed: 0, recurring: HashMap::new() }
    }
}

/// Names counted with Misra-Gries' frequent-items summary: a count never exceeds the
/// name's true count, so a name that reaches [`RECURRING_ADMIT`] was seen that often, while
/// a stream of distinct names (values, or hostile noise) leaves every count at one.
#[derive(Debug, Default)]
struct Recurring {
    names: Vec<(Box<str>, u32)>,
}

const RECURRING_SLOTS: usize = 64;
/// Sightings after which a name at a variable position gets a node of its own: values
/// rarely come back at a position that keeps getting new ones, path words do.
const RECURRING_ADMIT: u32 = 2;

impl Recurring {
    /// Counts one sighting of `name`; returns its count.
    fn count(&mut self, name: &str) -> u32 {
        if let Some(e) = self.names.iter_mut().find(|(n, _)| &**n == name) {
            e.1 += 1;
            return e.1;
        }
        if self.names.len() < RECURRING_SLOTS {
            self.names.push((name.into(), 1));
            return 1;
        }
        for e in &mut self.names {
            e.1 -= 1;
        }
        self.names.retain(|(_, c)| *c > 0);
        0
    }

    fn forget(&mut self, name: &str) {
        self.names.retain(|(n, _)| &**n != name);
    }
}

/// Lower-case letters, maybe joined by `-` or `_`: how path words are spelt, and how some
/// values (user names) are.
fn plain_word(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3 && b[0].is_ascii_lowercase() && b.iter().all(|c| c.is_ascii_lowercase() || *c == b'-' || *c == b'_')
}

impl PathTree {
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn new_node(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as NodeId
    }

    fn value_child(&mut self, at: NodeId, key: ValueKey) -> NodeId {
        if let Some((_, id)) = self.nodes[at as usize].values.iter().find(|(k, _)| *k == key) {
            return *id;
        }
        let id = self.new_node();
        self.nodes[at as usize].values.push((key, id));
        id
    }

    /// Walks (creating as needed) the path of `segments`, counting the pass for `client`,
    /// and returns the stats of `method` at its end.
    pub fn observe(&mut self, segments: &[String], method: &str, client: u64) -> &mut EndpointStats {
        let mut at: NodeId = 0;
        self.visit(at, None, client);
        for seg in segments {
            let next = self.child_for(at, seg);
            self.visit(next, Some(seg), client);
            at = next;
        }
        let node = &mut self.nodes[at as usize];
        let i = match node.ends.iter().position(|(m, _)| &**m == method) {
            Some(i) => i,
            None => {
                node.ends.push((method.into(), Box::default()));
                node.ends.len() - 1
            }
        };
        &mut node.ends[i].1
    }

    fn visit(&mut self, id: NodeId, seg: Option<&str>, client: u64) {
        let n = &mut self.nodes[id as usize];
        n.hits += 1;
        n.client(client);
        if let Some(s) = seg {
            n.seg.observe_text(s);
            n.not_hex |= !s.bytes().all(|b| b.is_ascii_hexdigit());
            if !n.more && !n.samples.iter().any(|v| &**v == s) {
                if n.samples.len() < SAMPLES {
                    n.samples.push(s.into());
                } else {
                    n.more = true;
                }
            }
        }
    }

    fn child_for(&mut self, at: NodeId, seg: &str) -> NodeId {
        let (stem, ext) = match split_extension(seg) {
            Some((stem, ext)) if classify(stem).is_value() => (stem, Some(ext)),
            _ => (seg, None),
        };
        let kind = classify(stem);
        if kind.is_value() {
            return self.value_child(at, ValueKey::Kind(kind, ext.map(Into::into)));
        }
        let node = &self.nodes[at as usize];
        if let Some(id) = node.literals.get(seg) {
            return *id;
        }
        // A position known to be variable takes new names as values, unless they read as
        // path words: known ones, a plain word among values that are not plain words
        // (`properties` beside `API-1528`), or a name that keeps coming back (`migrate`
        // beside thousands of user names). A path word deployed after the position filled
        // up is a new endpoint, not one more value.
        let variable = if is_api_word(seg) { None } else { node.known().or(node.overflow()) };
        if let Some(target) = variable {
            let room = node.literals.len() < MAX_LITERALS_HARD && self.nodes.len() < MAX_NODES;
            if !room || looks_generated(seg) {
                return target;
            }
            let t = &self.nodes[target as usize];
            let unlike = plain_word(seg) && !t.samples.is_empty() && !t.samples.iter().any(|v| plain_word(v));
            if !unlike && self.recurring.entry(at).or_default().count(seg) < RECURRING_ADMIT {
                return target;
            }
            if let Some(r) = self.recurring.get_mut(&at) {
                r.forget(seg);
            }
            let id = self.new_node();
            self.nodes[at as usize].literals.insert(seg.into(), id);
            return id;
        }
        // Past MAX_LITERALS names a position keeps taking new ones only while they repeat
        // (a large fixed vocabulary); names that keep coming go to the overflow.
        let n = node.literals.len();
        let varying = n >= MAX_LITERALS && (n as u64) * 4 >= node.hits;
        if varying || n >= MAX_LITERALS_HARD || self.nodes.len() >= MAX_NODES {
            self.overflowed += 1;
            return self.value_child(at, ValueKey::Overflow);
        }
        let id = self.new_node();
        self.nodes[at as usize].literals.insert(seg.into(), id);
        id
    }

    /// Adds a template from an earlier run with its stats: literals become literal nodes,
    /// parameters known-parameter children that later values join.
    pub fn seed(&mut self, template: &[TemplateSegment], method: &str, stats: EndpointStats) {
        let mut at: NodeId = 0;
        for seg in template {
            at = match seg {
                TemplateSegment::Literal(l) => match self.nodes[at as usize].literals.get(l.as_str()) {
                    Some(id) => *id,
                    None if self.nodes.len() < MAX_NODES && self.nodes[at as usize].literals.len() < MAX_LITERALS => {
                        let id = self.new_node();
                        self.nodes[at as usize].literals.insert(l.as_str().into(), id);
                        id
                    }
                    None => self.value_child(at, ValueKey::Overflow),
                },
                TemplateSegment::Param { name, ext, .. } => match ext {
                    // A parameter with an extension keeps it: values come back as
                    // `value.ext`, and their kind decides the child; a known name covers
                    // the rest.
                    Some(e) => self.value_child(at, ValueKey::Kind(SegmentKind::Literal, Some(e.as_str().into()))),
                    None => self.value_child(at, ValueKey::Known(name.as_str().into())),
                },
            };
            let n = &mut self.nodes[at as usize];
            n.hits += stats.calls;
        }
        let node = &mut self.nodes[at as usize];
        match node.ends.iter_mut().find(|(m, _)| &**m == method) {
            Some((_, s)) => s.merge(&stats),
            None => node.ends.push((method.into(), Box::new(stats))),
        }
    }

    /// The endpoint templates the tree holds now.
    pub fn templates(&self) -> Vec<Template> {
        let mut out: BTreeMap<(Vec<TemplateSegment>, String), Template> = BTreeMap::new();
        let mut prefix = Vec::new();
        self.derive(&[0], &mut prefix, &mut Vec::new(), 1.0, &mut out);
        out.into_values().collect()
    }

    /// Derives templates below the merged group of nodes `group` (positions that one
    /// template segment stands for), with `prefix` the template so far.
    fn derive(
        &self,
        group: &[NodeId],
        prefix: &mut Vec<TemplateSegment>,
        path_params: &mut Vec<ParamStats>,
        confidence: f64,
        out: &mut BTreeMap<(Vec<TemplateSegment>, String), Template>,
    ) {
        // Endpoints ending here, with the stats of their path parameters.
        for id in group {
            for (method, stats) in &self.nodes[*id as usize].ends {
                let key = (prefix.clone(), method.to_string());
                let t = out.entry(key).or_insert_with(|| Template {
                    segments: prefix.clone(),
                    method: method.to_string(),
                    stats: EndpointStats::default(),
                    confidence,
                });
                t.stats.merge(stats);
            }
        }
        for method in group.iter().flat_map(|id| self.nodes[*id as usize].ends.iter().map(|(m, _)| m)) {
            let Some(t) = out.get_mut(&(prefix.clone(), method.to_string())) else { continue };
            let names = prefix.iter().filter_map(|s| match s {
                TemplateSegment::Param { name, .. } => Some(name),
                TemplateSegment::Literal(_) => None,
            });
            for (name, ps) in names.zip(path_params.iter()) {
                // Stats loaded from a database already hold earlier values: add the new.
                let calls = t.stats.calls;
                let p = t.stats.params.entry((Location::Path, name.clone())).or_default();
                p.merge(ps);
                p.present = calls;
            }
        }

        // Children of the group, by name and by value kind.
        let mut literals: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        let mut values: BTreeMap<Option<&str>, ValueGroup<'_>> = BTreeMap::new();
        let mut recognised: Vec<NodeId> = Vec::new();
        for id in group {
            let n = &self.nodes[*id as usize];
            for (name, child) in &n.literals {
                literals.entry(name).or_default().push(*child);
            }
            for (key, child) in &n.values {
                if matches!(key, ValueKey::Kind(k, None) if *k != SegmentKind::Literal) {
                    recognised.push(*child);
                }
                let (ext, kind, known) = match key {
                    ValueKey::Kind(k, e) => (e.as_deref(), Some(*k), None),
                    ValueKey::Overflow => (None, Some(SegmentKind::Literal), None),
                    ValueKey::Known(name) => (None, None, Some(&**name)),
                };
                let e = values.entry(ext).or_insert_with(|| (Vec::new(), Vec::new(), None));
                e.0.push(*child);
                if let Some(k) = kind {
                    if !e.1.contains(&k) {
                        e.1.push(k);
                    }
                }
                if e.2.is_none() {
                    e.2 = known;
                }
            }
        }
        let infos: Vec<NameInfo> = literals
            .iter()
            .map(|(name, ids)| NameInfo {
                name,
                hits: ids.iter().map(|id| self.nodes[*id as usize].hits).sum(),
                clients: ids.iter().map(|id| self.nodes[*id as usize].client_count()).max().unwrap_or(0),
                children_vary: self.children_vary(ids),
                follows_like_values: false,
                plural_twin: literals.contains_key(format!("{name}s").as_str())
                    || name.strip_suffix('s').is_some_and(|stem| literals.contains_key(stem)),
            })
            .collect();
        // Whether values at this position (recognised ones, else names that are not path
        // words) are followed by varying names: then a path word followed the same way is
        // a value too (`/repos/mark/{repo}` beside `/repos/{owner}/{repo}`), while a path
        // word beside values followed by fixed names is a sub-collection
        // (`/issue/properties/{key}` beside `/issue/{id}/comments`).
        let value_ids: Vec<NodeId> = {
            let typed_ids: Vec<NodeId> = values.values().flat_map(|(ids, _, _)| ids.iter().copied()).collect();
            if typed_ids.is_empty() {
                // Busy names are left out as they are from the estimate of whether names
                // vary: a path word missing from the vocabulary (`/checklists/{id}/board/…`)
                // would make the words beside it look like values.
                infos
                    .iter()
                    .filter(|n| n.unknown_word() && !n.busy())
                    .flat_map(|n| literals[n.name].iter().copied())
                    .collect()
            } else {
                typed_ids
            }
        };
        let values_continue_varying = self.children_vary(&value_ids);
        // The names that follow the values: a name followed by mostly the same names is one
        // of the values (`/orgs/lauren/actions` beside `/orgs/{org}/actions`).
        let after_values: std::collections::HashSet<&str> =
            value_ids.iter().flat_map(|id| self.nodes[*id as usize].literals.keys().map(|k| &**k)).collect();
        let mut infos = infos;
        for info in infos.iter_mut() {
            let mut next: Vec<&str> = literals[info.name].iter().flat_map(|id| self.nodes[*id as usize].literals.keys().map(|k| &**k)).collect();
            next.sort_unstable();
            next.dedup();
            let shared = next.iter().filter(|n| after_values.contains(*n)).count();
            // Compare only against values other than itself.
            let own = literals[info.name].iter().any(|id| value_ids.contains(id));
            info.follows_like_values = !own && !next.is_empty() && shared * 2 >= next.len() && shared >= 1;
        }
        let at = Position {
            name_hits: infos.iter().map(|n| n.hits).sum(),
            rare_hits: infos.iter().filter(|n| n.may_be_value() && !n.busy()).map(|n| n.hits).sum(),
            values_continue_varying,
        };
        // Names vary like values when many of them were each used rarely; a position with
        // an overflow or a parameter from an earlier run has already shown it does.
        let proven = values.values().any(|(_, kinds, known)| known.is_some() || kinds.contains(&SegmentKind::Literal));
        let after_collection = prefix.last().is_some_and(|s| matches!(s, TemplateSegment::Literal(l) if is_collection(l)));
        let names_vary = proven || names_vary(&infos, after_collection);
        let typed = !values.is_empty();

        let prev: Option<String> = prefix.last().and_then(|s| match s {
            TemplateSegment::Literal(l) => Some(l.clone()),
            _ => None,
        });
        let mut joins: Vec<bool> = infos
            .iter()
            .map(|info| {
                if names_vary {
                    !stays_literal(info, &at)
                } else {
                    // At a position of fixed names, only a name that looks generated joins a
                    // parameter, and only one the position already has; so does a name the
                    // position's hex values could have been (`bbfbe` beside `7a13c`), and,
                    // where REST puts an item's identifier, a rare name no vocabulary knows
                    // (`/users/jmorgan` beside `/users/{uuid}`).
                    typed
                        && (looks_generated(info.name)
                            || self.spelt_like_hex_values(info.name, &values)
                            || (after_collection && info.hits <= 2 && info.unknown_word()))
                }
            })
            .collect();
        if names_vary {
            self.keep_distinct_shapes(&infos, &literals, &mut joins);
        }
        // Names that join the parameter, bucketed by the file extension they carry, as
        // recognised values are (`US.json` joins `{code}.json`).
        let mut joined: BTreeMap<Option<&str>, Vec<NodeId>> = BTreeMap::new();
        let mut joined_names = 0usize;
        for (info, joins) in infos.iter().zip(joins) {
            let ids = &literals[info.name];
            if joins {
                joined.entry(split_extension(info.name).map(|(_, e)| e)).or_default().extend(ids);
                joined_names += 1;
                continue;
            }
            prefix.push(TemplateSegment::Literal(info.name.to_string()));
            self.derive(ids, prefix, path_params, confidence, out);
            prefix.pop();
        }
        // A recognised value that is the only one of its kind here and busy is a fixed word
        // that looks like a value, even where names join a parameter beside it
        // (`/metadata/enterprise/securityClassification-6VMVochwUWo` beside
        // `/metadata/enterprise/{template_key}`); decided before the names join, which would
        // give the group more than one value.
        if let Some((ids, _, None)) = values.get_mut(&None) {
            // Recognised values only: the overflow holds names.
            let typed: Vec<NodeId> = ids.iter().copied().filter(|id| recognised.contains(id)).collect();
            if let Some(word) = self.fixed_word(&typed) {
                ids.retain(|id| !typed.contains(id));
                if ids.is_empty() {
                    values.remove(&None);
                }
                prefix.push(TemplateSegment::Literal(word));
                self.derive(&typed, prefix, path_params, confidence, out);
                prefix.pop();
            }
        }
        for (ext, ids) in joined {
            let e = values.entry(ext).or_insert_with(|| (Vec::new(), Vec::new(), None));
            e.0.extend(ids);
            if !e.1.contains(&SegmentKind::Literal) {
                e.1.push(SegmentKind::Literal);
            }
        }
        // Values with different file extensions are one parameter whose values are file
        // names; one extension shared by every value is a format suffix (`{id}.json`).
        if values.keys().filter(|k| k.is_some()).count() >= 2 {
            let mut all = (Vec::new(), Vec::new(), None);
            for (_, (ids, kinds, known)) in std::mem::take(&mut values) {
                all.0.extend(ids);
                for k in kinds {
                    if !all.1.contains(&k) {
                        all.1.push(k);
                    }
                }
                all.2 = all.2.or(known);
            }
            values.insert(None, all);
        }
        for (ext, (ids, mut kinds, known)) in values {
            kinds.sort();
            if known.is_none() && ext.is_none() {
                if let Some(word) = self.fixed_word(&ids) {
                    prefix.push(TemplateSegment::Literal(word));
                    self.derive(&ids, prefix, path_params, confidence, out);
                    prefix.pop();
                    continue;
                }
            }
            let name = match known {
                Some(k) => k.to_string(),
                None => param_name(prev.as_deref(), &kinds, prefix),
            };
            // Parameters learnt from names alone are as good as the number of names seen.
            let c = if kinds.iter().all(|k| *k == SegmentKind::Literal) && known.is_none() {
                let names = joined_names.max(1) as f64;
                (0.5 + 0.1 * names).min(0.95)
            } else {
                1.0
            };
            let mut ps = ParamStats::default();
            for id in &ids {
                ps.merge(&self.nodes[*id as usize].seg);
            }
            path_params.push(ps);
            prefix.push(TemplateSegment::Param { name, kinds, ext: ext.map(str::to_string) });
            self.derive(&ids, prefix, path_params, confidence.min(c), out);
            prefix.pop();
            path_params.pop();
        }
    }
}

impl PathTree {
    /// Whether the position after a group of nodes holds values: recognised ones, or names
    /// that vary.
    fn children_vary(&self, ids: &[NodeId]) -> bool {
        let mut names: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
        for id in ids {
            let n = &self.nodes[*id as usize];
            if n.values.iter().any(|(k, _)| !matches!(k, ValueKey::Kind(SegmentKind::Literal, _))) {
                return true;
            }
            for (name, child) in &n.literals {
                let c = &self.nodes[*child as usize];
                let e = names.entry(name).or_default();
                e.0 += c.hits;
                e.1 = e.1.max(c.client_count());
            }
        }
        let infos: Vec<NameInfo<'_>> =
            names.iter().map(|(name, (hits, clients))| NameInfo { name, hits: *hits, clients: *clients, children_vary: false, follows_like_values: false, plural_twin: false }).collect();
        names_vary(&infos, false)
    }

    /// Whether `name` could be one of the position's recognised values: they are all hex
    /// digits, as `name` is, of its length. Hex ids without a digit read as words (`bbfbe`,
    /// one in thirty of five-character ids), and so do a few English words (`decade`), which
    /// no vocabulary keeps as path names.
    fn spelt_like_hex_values(&self, name: &str, values: &BTreeMap<Option<&str>, ValueGroup<'_>>) -> bool {
        let Some((ids, kinds, None)) = values.get(&None) else { return false };
        if is_api_word(name) || !name.bytes().all(|b| b.is_ascii_hexdigit()) || kinds.contains(&SegmentKind::Literal) {
            return false;
        }
        // Lengths as text: integers keep a numeric range instead, so their samples stand in.
        let (mut lo, mut hi) = (u32::MAX, 0u32);
        for id in ids {
            let n = &self.nodes[*id as usize];
            if n.not_hex {
                return false;
            }
            let sample_lens = n.samples.iter().map(|v| v.len() as u32);
            lo = lo.min(n.seg.len_min.into_iter().chain(sample_lens.clone()).min().unwrap_or(u32::MAX));
            hi = hi.max(n.seg.len_max.into_iter().chain(sample_lens).max().unwrap_or(0));
        }
        (lo..=hi).contains(&(name.len() as u32))
    }

    /// Every value of a parameter takes the same operations, so a busy name whose calls take
    /// a shape the position's rare names never do is a path word, whatever it looks like:
    /// `PUT /lists/{id}/closed` beside `GET /lists/{id}/{field}`, or `/actions/{id}/board/…`
    /// going on where the field names end. A call's shape is its method where it ends at the
    /// name, or that it goes on. The rare names (one or two calls each) are the evidence that
    /// the position varies, so they stand for its values; a hot value shares their shape.
    fn keep_distinct_shapes(&self, infos: &[NameInfo<'_>], literals: &BTreeMap<&str, Vec<NodeId>>, joins: &mut [bool]) {
        let shape = |ids: &[NodeId]| {
            let mut calls: BTreeMap<Option<&str>, u64> = BTreeMap::new();
            for id in ids {
                let n = &self.nodes[*id as usize];
                let mut ended = 0;
                for (m, st) in &n.ends {
                    *calls.entry(Some(&**m)).or_default() += st.calls;
                    ended += st.calls;
                }
                *calls.entry(None).or_default() += n.hits.saturating_sub(ended);
            }
            calls.retain(|_, c| *c > 0);
            calls
        };
        let mut value_shapes: std::collections::HashSet<Option<&str>> = std::collections::HashSet::new();
        let mut rare = 0usize;
        for (info, joins) in infos.iter().zip(joins.iter()) {
            if *joins && info.hits <= 2 {
                value_shapes.extend(shape(&literals[info.name]).into_keys());
                rare += 1;
            }
        }
        if rare < 3 {
            return;
        }
        for (info, joins) in infos.iter().zip(joins.iter_mut()) {
            if !*joins || info.hits < 3 || looks_generated(info.name) {
                continue;
            }
            let calls = shape(&literals[info.name]);
            let total: u64 = calls.values().sum();
            let foreign: u64 = calls.iter().filter(|(k, _)| !value_shapes.contains(*k)).map(|(_, c)| *c).sum();
            if foreign >= 3 && foreign * 2 > total {
                *joins = false;
            }
        }
    }

    /// The one value a group of value nodes ever held, when paths go on from it to several
    /// different names: a version or namespace that looks like a value, not a parameter.
    fn fixed_word(&self, ids: &[NodeId]) -> Option<String> {
        let mut word: Option<&str> = None;
        let mut next_names = 0usize;
        let mut hits = 0u64;
        let mut clients = 0usize;
        for id in ids {
            let n = &self.nodes[*id as usize];
            if n.more || n.samples.len() != 1 || !n.values.is_empty() {
                return None;
            }
            match word {
                None => word = Some(&n.samples[0]),
                Some(w) if w == &*n.samples[0] => {}
                Some(_) => return None,
            }
            next_names += n.literals.len();
            hits += n.hits;
            clients = clients.max(n.client_count());
        }
        // Many paths going on to different names, or one value that every one of many
        // clients sent: a fixed word.
        let fixed = (next_names >= 3 && hits >= 3) || (hits >= 20 && clients >= CLIENTS_KEPT);
        fixed.then(|| word.map(str::to_string)).flatten()
    }
}

/// Value children of a group bucketed by file extension: their nodes, the kinds of value
/// seen, and the parameter name an earlier run gave the position.
type ValueGroup<'a> = (Vec<NodeId>, Vec<SegmentKind>, Option<&'a str>);

struct NameInfo<'a> {
    name: &'a str,
    hits: u64,
    clients: usize,
    /// Whether what follows this name is itself variable (varying names, or recognised
    /// values), as it is after a parameter's value (`/repos/mark/{repo}`).
    children_vary: bool,
    /// Whether the names that follow this one are mostly those that follow the position's
    /// values.
    follows_like_values: bool,
    /// Whether the position also holds this name's plural (or singular): a collection and
    /// its item, or two endpoints of one resource, which values do not come as
    /// (`garbage-collection` beside `garbage-collections`).
    plural_twin: bool,
}

/// What `stays_literal` weighs a name against: the position's calls to names, those of the
/// rarely used names that may be values, and whether what follows values varies.
struct Position {
    name_hits: u64,
    rare_hits: u64,
    values_continue_varying: bool,
}

impl NameInfo<'_> {
    /// Neither a vocabulary word nor a capitalised name: a name values could be.
    fn may_be_value(&self) -> bool {
        api_word(self.name) != Some(Word::Single) && !pascal_case(self.name)
    }

    /// In no vocabulary, not even as a compound, and not spelt as a field name: what a
    /// value's name looks like.
    fn unknown_word(&self) -> bool {
        api_word(self.name).is_none() && !pascal_case(self.name)
    }

    /// Used often by several clients: a path word, or a hot value.
    fn busy(&self) -> bool {
        self.clients >= 3 && self.hits >= 10
    }
}

/// Whether the names at a position vary like a parameter's values: several names that are
/// not path words, and new ones keep coming. Good-Turing's estimate of the chance that the
/// next call brings an unseen name (names seen once, over calls) separates an open set of
/// values (high: most values are rare) from a fixed set of path words, even a large one
/// (low: each word comes back). After a collection name (`/branches/…`), where REST puts an
/// item's identifier, a lower chance is enough.
fn names_vary(names: &[NameInfo<'_>], after_collection: bool) -> bool {
    let candidates: Vec<&NameInfo<'_>> = names.iter().filter(|n| n.may_be_value()).collect();
    // Where REST puts an item's identifier, two names that were each used once and that no
    // vocabulary knows are two items already: a fixed path word comes back.
    if after_collection && names.len() == 2 && names.iter().all(|n| n.hits == 1 && n.unknown_word()) {
        return true;
    }
    if candidates.len() < 3 {
        return false;
    }
    // Busy names are path words whatever else is here: they do not dilute the estimate.
    let rest: Vec<&&NameInfo<'_>> = candidates.iter().filter(|n| !n.busy()).collect();
    let calls: u64 = rest.iter().map(|n| n.hits).sum();
    let once = rest.iter().filter(|n| n.hits == 1).count();
    // Names that look generated count as values when rare; busy ones (`users-28-day`) can
    // be path words that happen to hold digits.
    let generated = candidates.iter().filter(|n| looks_generated(n.name) && n.hits <= 2).count();
    let per_call = if after_collection { 0.1 } else { 0.25 };
    (rest.len() >= 3 && once as f64 >= per_call * calls as f64) || generated * 2 >= candidates.len()
}

/// At a variable position, whether a name is a fixed path word rather than a value:
/// - never when it looks generated;
/// - a single vocabulary word (or a capitalised path name), unless what follows it varies
///   as what follows the position's values does (`/repos/mark/{repo}`: a user "mark");
/// - a compound of vocabulary words that several clients used;
/// - any plain name that several clients used for a large share of the calls to the names
///   (not the recognised values) at the position, unless followed as a value is.
fn stays_literal(n: &NameInfo<'_>, at: &Position) -> bool {
    let values_continue_varying = at.values_continue_varying;
    if looks_generated(n.name) {
        return false;
    }
    if n.plural_twin && !n.follows_like_values {
        return true;
    }
    // A name followed the way the position's values are is one of them, even a word: a
    // user may be called "mark". This costs the rare path word that shares its values'
    // sub-paths, unless it is a selector (`/users/me/repos` beside `/users/{id}/repos`).
    let varies_like_a_value = n.children_vary && values_continue_varying;
    if is_selector(n.name) {
        return !varies_like_a_value;
    }
    let like_a_value = varies_like_a_value || n.follows_like_values;
    if pascal_case(n.name) {
        return !like_a_value;
    }
    match api_word(n.name) {
        Some(Word::Single) => !like_a_value,
        Some(Word::Compound) => n.clients >= 2 || n.hits >= 3,
        // A hot value takes a share of its parameter's calls, and the rarely used names
        // beside it are the tail of the same distribution: a name used more than the whole
        // tail comes from elsewhere (`/actions/{id}/display` beside field names).
        None => !like_a_value && n.busy() && (n.hits * 10 >= at.name_hits || n.hits > at.rare_hits),
    }
}

/// `AllTime`, `TollFree`, `Local.json`, `membersVoted`, `idBoard`: capitalised or camelCase
/// words, the way programmers spell path and field names. Values are rarely spelt so: names
/// and slugs are lower case, ids have digits, and random letters put capitals side by side
/// or make pieces without a vowel (`QIxrqGfLxr`, `ufAwysbDjv`).
fn pascal_case(s: &str) -> bool {
    let s = split_extension(s).map_or(s, |(stem, _)| stem);
    let b = s.as_bytes();
    if b.len() < 3 || !b.iter().all(u8::is_ascii_alphabetic) || b.iter().filter(|c| c.is_ascii_lowercase()).count() * 2 < b.len() {
        return false;
    }
    // Words start at capitals; a capital pair only opens the name (`OAuth`).
    let humps = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let capital_pairs_open = b.windows(2).skip(1).all(|w| !(w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase()));
    let vowel = |c: &u8| matches!(c.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    let words_have_vowels = word_starts(b).windows(2).all(|w| b[w[0]..w[1]].iter().any(vowel));
    humps >= 1 && capital_pairs_open && !b[b.len() - 1].is_ascii_uppercase() && words_have_vowels
}

/// Where the words of a capitalised name start, with its length last.
fn word_starts(b: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend((1..b.len()).filter(|i| b[*i].is_ascii_uppercase() && !b[*i - 1].is_ascii_uppercase()));
    starts.push(b.len());
    starts
}

/// Names with the marks of values rather than words: digits, dots, `@`, `~`, `+`,
/// mixed-case runs that are not camelCase words, or great length.
fn looks_generated(s: &str) -> bool {
    // A file extension is part of a name's form, not a mark of a value (`Calls.json`).
    let s = split_extension(s).map_or(s, |(stem, _)| stem);
    let b = s.as_bytes();
    b.len() > 32
        || b.iter().any(|c| c.is_ascii_digit() || matches!(c, b'.' | b'@' | b'~' | b'+' | b'=' | b'%' | b' ' | b':'))
        || b.iter().any(|c| !c.is_ascii())
}

/// A parameter's name: the singular of the collection before it (`users` → `user_id` for
/// id-like values, `user` for names), else a generic name; unique within the template.
fn param_name(prev: Option<&str>, kinds: &[SegmentKind], prefix: &[TemplateSegment]) -> String {
    let id_like = kinds.iter().any(|k| {
        matches!(k, SegmentKind::Integer | SegmentKind::Uuid | SegmentKind::Hex | SegmentKind::Hash | SegmentKind::Identifier | SegmentKind::Token)
    });
    let base = match (prev, kinds) {
        (_, [SegmentKind::Date]) => "date".to_string(),
        (_, [SegmentKind::Email]) => "email".to_string(),
        (Some(p), _) => {
            let s = ident(&singular(p));
            if s.is_empty() {
                "id".to_string()
            } else if id_like {
                format!("{s}_id")
            } else {
                s
            }
        }
        (None, _) => if id_like { "id".into() } else { "name".into() },
    };
    let taken = |n: &str| prefix.iter().any(|s| matches!(s, TemplateSegment::Param { name, .. } if name == n));
    if !taken(&base) {
        return base;
    }
    (2..).map(|i| format!("{base}_{i}")).find(|n| !taken(n)).unwrap_or(base)
}

fn singular(w: &str) -> String {
    let l = w.to_ascii_lowercase();
    const IRREGULAR: [(&str, &str); 6] =
        [("people", "person"), ("children", "child"), ("men", "man"), ("women", "woman"), ("mice", "mouse"), ("data", "data")];
    if let Some((_, s)) = IRREGULAR.iter().find(|(p, _)| *p == l) {
        return s.to_string();
    }
    if let Some(s) = l.strip_suffix("ies").filter(|s| s.len() > 1) {
        format!("{s}y")
    } else if l.ends_with("sses") || l.ends_with("xes") || l.ends_with("ches") || l.ends_with("shes") {
        l[..l.len() - 2].to_string()
    } else if l.len() > 3 && l.ends_with('s') && !l.ends_with("ss") && !l.ends_with("us") {
        l[..l.len() - 1].to_string()
    } else {
        l
    }
}

/// Lower-case letters, digits and underscores.
fn ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        super::super::path::normalize(p).segments
    }

    fn add(t: &mut PathTree, method: &str, path: &str, client: u64) {
        t.observe(&segs(path), method, client).touch(0.0);
    }

    fn paths(t: &PathTree) -> Vec<String> {
        t.templates().iter().map(|e| format!("{} {}", e.method, e.path())).collect()
    }

    #[test]
    fn typed_values_template_at_once() {
        let mut t = PathTree::default();
        add(&mut t, "GET", "/users/42", 1);
        add(&mut t, "GET", "/users/550e8400-e29b-41d4-a716-446655440000/orders", 1);
        add(&mut t, "GET", "/users/me", 1);
        add(&mut t, "GET", "/reports/2024-01-31.json", 1);
        assert_eq!(
            paths(&t),
            ["GET /reports/{date}.json", "GET /users/me", "GET /users/{user_id}", "GET /users/{user_id}/orders"]
        );
        let tpl = t.templates();
        let e = tpl.iter().find(|e| e.path() == "/users/{user_id}").unwrap();
        let p = &e.stats.params[&(Location::Path, "user_id".to_string())];
        assert!(p.types != 0);
    }

    #[test]
    fn names_become_a_parameter_by_cardinality() {
        let mut t = PathTree::default();
        for (i, u) in ["alice", "bob", "carol", "dave", "erin", "frank"].iter().enumerate() {
            add(&mut t, "GET", &format!("/people/{u}"), i as u64 + 1);
        }
        for c in 1..10 {
            add(&mut t, "GET", "/people/search", c);
            add(&mut t, "POST", "/people/login", c);
        }
        assert_eq!(paths(&t), ["POST /people/login", "GET /people/search", "GET /people/{person}"]);
    }

    #[test]
    fn fixed_names_stay_literal_and_split_back() {
        let mut t = PathTree::default();
        for c in 1..20 {
            for r in ["alpha", "beta", "gamma", "delta"] {
                add(&mut t, "GET", &format!("/svc/{r}/health"), c);
            }
        }
        assert_eq!(paths(&t), ["GET /svc/alpha/health", "GET /svc/beta/health", "GET /svc/delta/health", "GET /svc/gamma/health"]);
    }

    #[test]
    fn nested_parameters_merge_subtrees() {
        let mut t = PathTree::default();
        let owners = ["octocat", "torvalds", "rust-lang", "tokio-rs", "serde-rs", "nodejs", "golang", "python"];
        let repos = ["hello-world", "linux", "rust", "tokio", "serde", "nodejs-core", "golang-x", "cpython"];
        for (i, (o, r)) in owners.iter().zip(repos).enumerate() {
            let path = if i % 2 == 0 { format!("/repos/{o}/{r}/issues") } else { format!("/repos/{o}/{r}/issues/{}", 10 + i) };
            add(&mut t, "GET", &path, i as u64);
        }
        assert_eq!(paths(&t), ["GET /repos/{repo}/{name}/issues", "GET /repos/{repo}/{name}/issues/{issue_id}"]);
    }

    #[test]
    fn bounded_by_overflow() {
        let mut t = PathTree::default();
        for i in 0..1000 {
            add(&mut t, "GET", &format!("/files/name{}x", "a".repeat(i % 50 + 1)), i as u64);
        }
        for i in 0..300 {
            add(&mut t, "GET", &format!("/tags/{}", ["x", "y", "z"][i % 3].repeat(i + 1)), 1);
        }
        assert!(t.node_count() < 2 * MAX_LITERALS + 10, "{}", t.node_count());
        let calls: u64 = t.templates().iter().map(|e| e.stats.calls).sum();
        assert_eq!(calls, 1300);
    }

    #[test]
    fn seeded_templates_take_new_values() {
        let mut t = PathTree::default();
        let mut s = EndpointStats::default();
        s.touch(1.0);
        t.seed(&parse_template("/users/{username}/repos"), "GET", s);
        add(&mut t, "GET", "/users/zed/repos", 1);
        add(&mut t, "GET", "/users/me/repos", 1);
        let tpl = t.templates();
        let e = tpl.iter().find(|e| e.path() == "/users/{username}/repos").unwrap();
        assert_eq!(e.stats.calls, 2);
        assert!(paths(&t).contains(&"GET /users/me/repos".to_string()));
    }

    #[test]
    fn a_busy_word_beside_ids_stays_a_word() {
        let mut t = PathTree::default();
        for i in 0..22u64 {
            add(&mut t, "GET", "/v1/invoices/upcoming", i % 7);
        }
        for (i, id) in ["in_AlMYRpzzuYExmk", "in_U8ci3uKDn3Ie23", "in_yoNsSjjgQl5sxa"].iter().enumerate() {
            add(&mut t, "GET", &format!("/v1/invoices/{id}"), i as u64);
        }
        add(&mut t, "GET", "/v1/invoices/search", 1);
        assert_eq!(paths(&t), ["GET /v1/invoices/search", "GET /v1/invoices/upcoming", "GET /v1/invoices/{invoice_id}"]);
    }

    /// Field names (`GET /cards/{id}/{field}`) vary; the busy PUT endpoints beside them
    /// take calls no field name does, and camelCase names read as field names.
    #[test]
    fn words_with_their_own_operations_stay_beside_field_names() {
        let mut t = PathTree::default();
        let card = |i: u64| format!("5f{:022x}", 0xabc0 + i);
        for (i, f) in ["bio", "color", "left", "tile", "state", "initials", "text"].iter().enumerate() {
            add(&mut t, "GET", &format!("/cards/{}/{f}", card(i as u64)), i as u64 + 1);
        }
        for i in 0..12u64 {
            add(&mut t, "PUT", &format!("/cards/{}/closed", card(i)), i % 4 + 1);
            add(&mut t, "PUT", &format!("/cards/{}/pos", card(i)), i % 4 + 1);
        }
        for i in 0..3u64 {
            add(&mut t, "PUT", &format!("/cards/{}/idBoard", card(i)), i + 1);
        }
        let p = paths(&t);
        for want in ["PUT /cards/{card_id}/closed", "PUT /cards/{card_id}/pos", "PUT /cards/{card_id}/idBoard", "GET /cards/{card_id}/{name}"] {
            assert!(p.contains(&want.to_string()), "{want} not in {p:?}");
        }
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn camel_case_is_a_name_random_letters_are_not() {
        for w in ["AllTime", "TollFree", "Local.json", "membersVoted", "idBoard", "checkItemStates", "OAuth"] {
            assert!(pascal_case(w), "{w}");
        }
        for v in ["QIxrqGfLxrSpiiDjybkicm", "ufAwysbDjvSfhkpcEotAlb", "NVqjquOwfUstemtUsiUSSA", "callbackURL", "lauren", "ab"] {
            assert!(!pascal_case(v), "{v}");
        }
    }

    /// Five-character hex ids: one in thirty has no digit and reads as a word.
    #[test]
    fn a_name_spelt_in_the_values_hex_joins_them() {
        let mut t = PathTree::default();
        for (i, id) in ["0a541", "19816", "5b936", "7a13c", "cd741"].iter().enumerate() {
            add(&mut t, "DELETE", &format!("/folder_locks/{id}"), i as u64);
        }
        add(&mut t, "DELETE", "/folder_locks/bbfbe", 9);
        add(&mut t, "GET", "/folder_locks/status", 9);
        let p = paths(&t);
        assert!(p.iter().all(|p| !p.contains("bbfbe")), "{p:?}");
        assert!(p.contains(&"GET /folder_locks/status".to_string()), "{p:?}");
    }

    /// One busy value that looks generated beside names that vary: a documented constant
    /// (`/metadata/enterprise/securityClassification-6VMVochwUWo`) beside `{template_key}`.
    #[test]
    fn a_busy_lone_value_beside_varying_names_is_a_word() {
        let mut t = PathTree::default();
        for i in 0..30u64 {
            add(&mut t, "POST", &format!("/files/{}/metadata/enterprise/securityClassification-6VMVochwUWo", 1000 + i), i % 5 + 1);
        }
        for (i, k) in ["lscurbfvic", "tomgafhdaw", "hzleirlyub", "iqidulnoou", "zclukteucw", "bhwbqsodra"].iter().enumerate() {
            add(&mut t, "GET", &format!("/files/{}/metadata/enterprise/{k}", 2000 + i), i as u64 + 1);
        }
        assert_eq!(
            paths(&t),
            ["POST /files/{file_id}/metadata/enterprise/securityClassification-6VMVochwUWo", "GET /files/{file_id}/metadata/enterprise/{enterprise}"]
        );
    }

    #[test]
    fn two_unknown_names_after_a_collection_are_items() {
        let mut t = PathTree::default();
        for c in 1..6 {
            add(&mut t, "GET", "/boards/17/lists", c);
        }
        add(&mut t, "GET", "/boards/18/lists/pluto-peak", 1);
        add(&mut t, "GET", "/boards/19/lists/silver-rapid", 2);
        assert_eq!(paths(&t), ["GET /boards/{board_id}/lists", "GET /boards/{board_id}/lists/{list}"]);
    }

    /// A path word deployed after its position filled up with values is a new endpoint
    /// (shadow API discovery), whether it is spelt unlike the values or only comes back.
    #[test]
    fn a_path_word_after_the_position_filled_up_is_its_own_endpoint() {
        let mut t = PathTree::default();
        let users: Vec<String> = (0..300).map(|i| format!("{}{}", ["ann", "bob", "cy", "dee", "eve"][i % 5], ["lee", "ray", "kim"][i / 5 % 3]) + &"x".repeat(i / 15)).collect();
        for (i, u) in users.iter().enumerate() {
            add(&mut t, "GET", &format!("/repos/{u}/site/issues"), i as u64);
        }
        let keys: Vec<String> = (0..300).map(|i| format!("API-{}", 1000 + i * 7)).collect();
        for (i, k) in keys.iter().enumerate() {
            add(&mut t, "GET", &format!("/issue/{k}/comments"), i as u64);
        }
        assert!(paths(&t).contains(&"GET /repos/{repo}/site/issues".to_string()), "{:?}", paths(&t));
        // The first `migrate` goes to the overflow: only its coming back tells it apart.
        for c in 1..6 {
            add(&mut t, "POST", "/repos/migrate", c);
            add(&mut t, "POST", "/issue/properties", c);
        }
        let p = paths(&t);
        assert!(p.contains(&"POST /repos/migrate".to_string()), "{p:?}");
        assert!(p.contains(&"POST /issue/properties".to_string()), "{p:?}");
    }

    #[test]
    fn distinct_names_after_overflow_stay_in_it() {
        let mut t = PathTree::default();
        // Plain lower-case words, each sent once: hostile noise at a filled-up position.
        let word = |mut i: usize| {
            let mut w = String::new();
            for _ in 0..6 {
                w.push((b'a' + (i % 26) as u8) as char);
                i /= 26;
            }
            w
        };
        for i in 0..20_000 {
            add(&mut t, "GET", &format!("/u/{}", word(i * 7919)), i as u64);
        }
        assert!(t.node_count() < MAX_LITERALS + 20, "{}", t.node_count());
        assert_eq!(t.templates().iter().map(|e| e.stats.calls).sum::<u64>(), 20_000);
    }

    #[test]
    fn names() {
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("status"), "status");
        assert_eq!(singular("users"), "user");
        assert_eq!(render(&parse_template("/a/{b}.json/c")), "/a/{b}.json/c");
        assert_eq!(render(&[]), "/");
    }
}
