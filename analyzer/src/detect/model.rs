//! Multivariate models with linfa.
//!
//! - [`Clusters`]: k-means over normal windows' feature vectors (log-scaled, then
//!   standardised by median and MAD), and the distance of a new window to its nearest
//!   centroid in units of the 99th percentile of normal windows' distances. It scores how
//!   unusual a window is as a whole, which single features can miss.
//! - [`distill`]: a decision tree (linfa-trees) fitted on what was flagged and what was
//!   not, rendered as readable rules (`login_failures_1m > 4.5 and calls_1m <= 200 →
//!   credential_stuffing`) for users and for block-list engines.
//!
//! Bounded: fitting uses at most [`MAX_FIT`] vectors.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2, ArrayView1};
use serde::{Deserialize, Serialize};

pub const MAX_FIT: usize = 20_000;

/// Fitted k-means clusters of normal windows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Clusters {
    pub centroids: Vec<Vec<f64>>,
    pub center: Vec<f64>,
    pub scale: Vec<f64>,
    /// 99th percentile of the training windows' distances.
    pub p99: f64,
    pub fitted_on: usize,
}

fn transform(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.max(0.0).ln_1p()).collect()
}

impl Clusters {
    /// Fits on `vectors` (raw feature values). Needs a few hundred windows to mean anything;
    /// returns `None` with fewer than 50.
    pub fn fit(vectors: &[Vec<f64>]) -> Option<Clusters> {
        if vectors.len() < 50 {
            return None;
        }
        let step = (vectors.len() / MAX_FIT).max(1);
        let rows: Vec<Vec<f64>> = vectors.iter().step_by(step).map(|v| transform(v)).collect();
        let dim = rows[0].len();
        let mut center = vec![0.0; dim];
        let mut scale = vec![1.0; dim];
        for j in 0..dim {
            let mut col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            col.sort_by(f64::total_cmp);
            let med = col[col.len() / 2];
            let mut dev: Vec<f64> = col.iter().map(|v| (v - med).abs()).collect();
            dev.sort_by(f64::total_cmp);
            center[j] = med;
            // A dimension that never varies gets a unit scale: any movement in it counts.
            scale[j] = (1.4826 * dev[dev.len() / 2]).max(0.5);
        }
        let std: Vec<f64> = rows.iter().flat_map(|r| r.iter().enumerate().map(|(j, v)| (v - center[j]) / scale[j])).collect();
        let data = Array2::from_shape_vec((rows.len(), dim), std).ok()?;
        let k = (rows.len() / 100).clamp(2, 8);
        let model = KMeans::params(k).max_n_iterations(100).tolerance(1e-4).fit(&DatasetBase::from(data.clone())).ok()?;
        let centroids: Vec<Vec<f64>> = model.centroids().rows().into_iter().map(|r| r.to_vec()).collect();
        let mut c = Clusters { centroids, center, scale, p99: 1.0, fitted_on: rows.len() };
        let mut d: Vec<f64> = data.rows().into_iter().map(|r| c.nearest(r)).collect();
        d.sort_by(f64::total_cmp);
        c.p99 = d[((d.len() - 1) as f64 * 0.99) as usize].max(1e-6);
        Some(c)
    }

    fn nearest(&self, r: ArrayView1<'_, f64>) -> f64 {
        self.centroids
            .iter()
            .map(|c| c.iter().zip(r.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt())
            .fold(f64::INFINITY, f64::min)
    }

    /// Distance of a raw feature vector to the nearest centroid, over the training p99.
    pub fn score(&self, x: &[f64]) -> Option<f64> {
        if self.centroids.is_empty() || x.len() != self.center.len() {
            return None;
        }
        let t = transform(x);
        let v: Array1<f64> = t.iter().enumerate().map(|(j, v)| (v - self.center[j]) / self.scale[j]).collect();
        Some(self.nearest(v.view()) / self.p99)
    }
}

/// One readable rule from the distilled tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub attack: String,
    /// Conditions, all of which hold: `feature <= threshold` or `feature > threshold`.
    pub conditions: Vec<String>,
    /// Training windows that reached this leaf.
    pub support: usize,
}

/// Fits a depth-limited decision tree of `labels` (0 = not flagged, else an index into
/// `classes` plus one) on `vectors`, and returns the paths to flagged leaves as rules.
pub fn distill(vectors: &[Vec<f64>], labels: &[usize], names: &[String], classes: &[&str]) -> Vec<Rule> {
    if vectors.len() < 10 || vectors.len() != labels.len() || labels.iter().all(|l| *l == 0) {
        return Vec::new();
    }
    let dim = names.len();
    let flat: Vec<f64> = vectors.iter().flat_map(|v| v.iter().copied().take(dim)).collect();
    let Ok(x) = Array2::from_shape_vec((vectors.len(), dim), flat) else {
        return Vec::new();
    };
    let y = Array1::from(labels.to_vec());
    let ds = Dataset::new(x, y).with_feature_names(names.to_vec());
    let Ok(tree) = DecisionTree::params().split_quality(SplitQuality::Gini).max_depth(Some(5)).min_weight_leaf(2.0).fit(&ds) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let all: Vec<usize> = (0..vectors.len()).collect();
    walk(tree.root_node(), vectors, &all, names, classes, &mut Vec::new(), &mut out);
    out.sort_by(|a, b| a.attack.cmp(&b.attack).then(b.support.cmp(&a.support)));
    out
}

/// Walks the tree carrying the training windows that reach each node, so a rule's support
/// is the count at its leaf (linfa-trees does not expose it).
fn walk(
    node: &TreeNode<f64, usize>,
    vectors: &[Vec<f64>],
    reaching: &[usize],
    names: &[String],
    classes: &[&str],
    path: &mut Vec<String>,
    out: &mut Vec<Rule>,
) {
    if node.is_leaf() {
        if let Some(p) = node.prediction().filter(|p| *p > 0) {
            if let Some(name) = classes.get(p - 1) {
                out.push(Rule { attack: name.to_string(), conditions: path.clone(), support: reaching.len() });
            }
        }
        return;
    }
    let (feature, threshold, _) = node.split();
    let name = names.get(feature).cloned().unwrap_or_else(|| format!("f{feature}"));
    // Left holds `feature <= threshold`, as linfa-trees splits.
    let (left, right): (Vec<usize>, Vec<usize>) =
        reaching.iter().partition(|i| vectors[**i].get(feature).is_some_and(|v| *v <= threshold));
    for (i, child) in node.children().into_iter().enumerate() {
        if let Some(c) = child {
            path.push(format!("{name} {} {}", if i == 0 { "<=" } else { ">" }, round(threshold)));
            walk(c, vectors, if i == 0 { &left } else { &right }, names, classes, path, out);
            path.pop();
        }
    }
}

fn round(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_score_far_and_normals_near() {
        let mut v = Vec::new();
        for i in 0..400 {
            let a = f64::from(i % 7) + 3.0;
            v.push(vec![a, a * 2.0, 0.0]);
        }
        let c = Clusters::fit(&v).unwrap();
        assert!(c.score(&[5.0, 10.0, 0.0]).unwrap() <= 1.5);
        assert!(c.score(&[500.0, 10.0, 40.0]).unwrap() > 3.0);
    }

    #[test]
    fn distilled_rules_read_the_separating_feature() {
        let mut v = Vec::new();
        let mut l = Vec::new();
        for i in 0..200 {
            let fails = if i % 10 == 0 { 30.0 + f64::from(i % 7) } else { f64::from(i % 2) };
            v.push(vec![f64::from(i % 13), fails]);
            l.push(usize::from(fails > 10.0));
        }
        let rules = distill(&v, &l, &["calls_1m".into(), "login_failures_1m".into()], &["credential_stuffing"]);
        assert!(!rules.is_empty());
        assert!(rules.iter().all(|r| r.attack == "credential_stuffing"));
        assert!(rules[0].conditions.iter().any(|c| c.starts_with("login_failures_1m >")), "{rules:?}");
        // Support counts the training windows at the leaf: the 20 flagged ones.
        assert_eq!(rules.iter().map(|r| r.support).sum::<usize>(), 20, "{rules:?}");
    }
}
