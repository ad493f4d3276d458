//! A trace's spans in tree order: depth first from the roots (spans whose
//! parent is absent from the trace), children by start; spans caught in a
//! parent cycle (a damaged spool) are still listed, at depth 0.

use std::collections::HashMap;

/// The order to show `spans` in (`(span id, parent id)`, already sorted by
/// start), as `(index, depth)`.
pub(crate) fn tree_order<K: Eq + std::hash::Hash>(spans: &[(K, Option<K>)]) -> Vec<(usize, usize)> {
    let ids: HashMap<&K, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id, i))
        .collect();
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for (i, (_, parent)) in spans.iter().enumerate() {
        let parent = parent
            .as_ref()
            .and_then(|p| ids.get(p).copied())
            .filter(|p| *p != i);
        children.entry(parent).or_default().push(i);
    }
    let mut order = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|&i| (i, 0))
        .collect();
    let mut seen = vec![false; spans.len()];
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push((i, depth));
        for &c in children.get(&Some(i)).into_iter().flatten().rev() {
            stack.push((c, depth + 1));
        }
    }
    for (i, shown) in seen.iter().enumerate() {
        if !shown {
            order.push((i, 0));
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_follow_their_parent_and_orphans_are_roots() {
        // 1 root; 2 and 3 its children; 4 a child of 2; 5's parent absent.
        let spans = [
            (1, None),
            (2, Some(1)),
            (5, Some(9)),
            (3, Some(1)),
            (4, Some(2)),
        ];
        let order: Vec<(i32, usize)> = tree_order(&spans)
            .into_iter()
            .map(|(i, d)| (spans[i].0, d))
            .collect();
        assert_eq!(order, [(1, 0), (2, 1), (4, 2), (3, 1), (5, 0)]);
    }

    #[test]
    fn a_cycle_is_still_listed() {
        let spans = [(1, Some(2)), (2, Some(1))];
        assert_eq!(tree_order(&spans).len(), 2);
    }
}
