"""Items near each other in the model's feature space: for ordering a tab so that similar tasks come
together, and for carrying a fix people made to the tasks like it (pure, no I/O).

Array contract: `vectors` is a float array (n, d) of L2-normalised rows (cosine similarity is a dot
product); masks are bool arrays (n,); labels are hashable label keys, one per item.

A wrong labeling rule applied consistently (every review mentioning a late delivery marked negative) is
what a model trained on those labels learns and then agrees with: out-of-fold disagreement finds few of
its items. The few that people do fix in a round point at the rest: `propagate_fixes` finds the items
that carry the same old label and whose nearest reviewed items are mostly fixes of one kind.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np


def reduce_dimensions(vectors: np.ndarray, dimensions: int = 32, seed: int = 0) -> np.ndarray:
    """`vectors` projected on their first `dimensions` principal components and L2-normalised, so that
    stored vectors stay small and keep the neighbourhoods."""
    vectors = np.asarray(vectors, dtype=float)
    if len(vectors) == 0:
        return vectors.reshape(0, dimensions)
    centered = vectors - vectors.mean(axis=0)
    if vectors.shape[1] > dimensions and len(vectors) > dimensions:
        from sklearn.decomposition import PCA

        centered = PCA(n_components=dimensions, random_state=seed).fit_transform(centered)
    return normalise(centered)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=float)
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def similarity_order(vectors: np.ndarray, start: int = 0) -> list[int]:
    """An order of the items in which each is followed by its nearest not yet placed neighbour (a greedy
    chain from `start`), so that similar items come one after another."""
    vectors = normalise(vectors)
    left = np.ones(len(vectors), dtype=bool)
    order, current = [], start
    for _ in range(len(vectors)):
        order.append(current)
        left[current] = False
        if not left.any():
            break
        similarity = np.where(left, vectors @ vectors[current], -np.inf)
        current = int(np.argmax(similarity))
    return order


@dataclass(frozen=True)
class Fix:
    """A label people changed: item `source` went from `old` to `new`."""

    source: int
    old: Hashable
    new: Hashable


@dataclass(frozen=True)
class Propagated:
    """An item that likely needs the same fix as `fix.source`: its label is `fix.old`, `support` of its
    nearest reviewed items are fixes of that kind, and the nearest of them lies at cosine `similarity`."""

    item: int
    fix: Fix
    similarity: float
    support: int


def neighbourhood_radii(vectors: np.ndarray, items: np.ndarray, share: float = 0.02, least: int = 30,
                        reference: int = 20000, seed: int = 0) -> np.ndarray:
    """Per item of `items`: the cosine similarity to its k-th nearest other item, k = `share` of the data
    (at least `least`): how near its neighbourhood reaches. Above `reference` items, measured against a
    random sample of them (k scaled alike), so that the cost stays linear in the items asked about."""
    vectors = normalise(vectors)
    items = np.asarray(items, dtype=int)
    n = len(vectors)
    pool = np.arange(n) if n <= reference else np.sort(np.random.default_rng(seed).choice(n, reference, replace=False))
    k = int(np.clip(round(max(least, share * n) * len(pool) / max(n, 1)), 1, max(len(pool) - 1, 1)))
    radii = np.full(len(items), -1.0)
    # a block of at most ~4 million similarities (32 MB, and as much again to partition): at 100,000 tasks,
    # blocks of 1,024 x 20,000 held about 500 MB at once in the round driver
    rows = max(1, 4_000_000 // max(len(pool), 1))
    for start in range(0, len(items), rows):
        chunk = items[start:start + rows]
        similarity = vectors[chunk] @ vectors[pool].T
        similarity[chunk[:, None] == pool[None, :]] = -np.inf  # not its own neighbour
        if similarity.shape[1] > k:
            np.negative(similarity, out=similarity)
            radii[start:start + len(chunk)] = -np.partition(similarity, k - 1, axis=1)[:, k - 1]
    return radii


def propagate_fixes(fixes: Sequence[Fix], confirmed: Sequence[int], labels: Sequence[Hashable], vectors: np.ndarray,
                    candidates: np.ndarray, neighbours: int = 10, min_fixes: int = 2,
                    radii: np.ndarray | None = None, label_quality: np.ndarray | None = None,
                    max_quality_rank: float = 0.5) -> list[Propagated]:
    """The candidate items whose nearest reviewed items say their label needs the same fix, most supported first.

    Reviewed items are the `fixes` (people changed old -> new) and the `confirmed` items (people kept the
    label). For each candidate with label `old`, its `neighbours` nearest reviewed items vote: a fix of kind
    old -> new for that fix; against it, every reviewed item whose label people left at `old` (confirmed, or
    fixed from another label into `old`), each vote weighted by its cosine similarity (a far reviewed item
    says little). A fix into `old` is a person's word that items like the candidate are `old`, as much as a
    confirmation is; without it, a round whose flags were mostly real random errors (few confirmations)
    let two fixes of a kind near a class boundary outvote nothing (RESULTS.md 13, 2026-12-04 second entry).
    It is proposed for the kind with at least `min_fixes` votes whose weight exceeds those against: near it,
    people who looked at items like it changed that label more often than they left it. A random error's fix
    stands alone among confirmed items; the fixes of a wrong rule applied consistently stand together. Only
    reviewed items inside the candidate's neighbourhood vote (`radii`, one per candidate; default
    `neighbourhood_radii`: its 2% nearest items): with few items reviewed, the nearest of them may be far,
    and say nothing.

    Where `label_quality` (the model's out-of-fold quality of each item's label, `Disagreement.label_quality`)
    is given, only candidates the model doubts more than most of their like are proposed: their quality
    ranks below `max_quality_rank` among the candidates with the same label (among all candidates where
    fewer than 20 share it). That is the base rate: when a round's flags were mostly real random errors,
    people confirmed almost nothing, and two fixes of a kind near a right label carried it, however sure
    the model was of it (on TREC with 10% random noise, 275 tasks carried, 8 of them wrong; see
    benchmarks/RESULTS.md 13). The label a wrong rule gave is one the model learned but holds less firmly
    than the class's clear cases, so most of a rule's items stay (RESULTS.md 13).
    """
    vectors = normalise(vectors)
    fix_of = {fix.source: fix for fix in fixes}
    reviewed = np.array(sorted(set(fix_of) | set(int(i) for i in confirmed)), dtype=int)
    if not len(fixes) or not len(reviewed):
        return []
    asked = np.flatnonzero(np.asarray(candidates, dtype=bool))
    doubted = doubted_more_than_most(asked, labels, label_quality, max_quality_rank)
    # radii only where a proposal can be made (each item's radius does not depend on the others asked)
    radii = neighbourhood_radii(vectors, asked[doubted]) if radii is None else np.asarray(radii, dtype=float)[doubted]
    proposals = []
    for item, radius in zip(asked[doubted], radii):
        if int(item) in fix_of:
            continue
        similarity = vectors[reviewed] @ vectors[item]
        nearest = [p for p in np.argsort(-similarity, kind="stable")[:neighbours] if similarity[p] >= radius]
        votes: dict[Hashable, list[tuple[float, Fix]]] = {}
        kept = 0.0
        for position in nearest:
            other, weight = int(reviewed[position]), max(float(similarity[position]), 0.0)
            fix = fix_of.get(other)
            if fix is not None and fix.old == labels[item]:
                votes.setdefault(fix.new, []).append((weight, fix))
            elif labels[other] == labels[item]:
                # people gave it the candidate's label: kept it, or fixed another label into it
                kept += weight
        if not votes:
            continue
        found = max(votes.values(), key=lambda found: sum(w for w, _ in found))
        if len(found) >= min_fixes and sum(w for w, _ in found) > kept:
            closest, fix = max(found, key=lambda pair: pair[0])
            proposals.append(Propagated(int(item), fix, closest, len(found)))
    return sorted(proposals, key=lambda p: (-p.support, -p.similarity, p.item))


def doubted_more_than_most(items: np.ndarray, labels: Sequence[Hashable], label_quality: np.ndarray | None,
                           max_rank: float, least: int = 20) -> np.ndarray:
    """Per item of `items`: whether its label quality ranks below `max_rank` among the `items` with the same
    label (among all of `items` where fewer than `least` share it); all True without `label_quality`."""
    if label_quality is None:
        return np.ones(len(items), dtype=bool)
    quality = np.asarray(label_quality, dtype=float)[items]
    keys = [labels[item] for item in items]
    groups: dict[Hashable, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    everything = np.sort(quality)
    doubted = np.zeros(len(items), dtype=bool)
    for members in groups.values():
        pool = np.sort(quality[members]) if len(members) >= least else everything
        ranks = np.searchsorted(pool, quality[members], side="left") / len(pool)
        doubted[members] = ranks < max_rank
    return doubted


def word_grams(text: str, longest: int = 3) -> set[str]:
    """The text's word n-grams up to `longest` words, lowercased (words: runs of letters and digits)."""
    words = "".join(c.lower() if c.isalnum() else " " for c in str(text)).split()
    return {" ".join(words[i:i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)}


def propagate_by_patterns(fixes: Sequence[Fix], confirmed: Sequence[int], texts: Sequence[str],
                          labels: Sequence[Hashable], candidates: np.ndarray, min_fixes: int = 3,
                          min_share: float = 0.7, min_lift: float = 5.0, max_frequency: float = 0.05
                          ) -> tuple[list[Propagated], dict[tuple, list[str]]]:
    """Text items that share a word pattern with the fixes of one kind (old -> new): a word n-gram held by
    at least `min_fixes` of those fixes' texts, `min_lift` times more often among them than among all
    texts, by at most `max_frequency` of all texts, and where, among the reviewed items that held `old`
    and the gram, more than `min_share` were fixed (people changed that label where it appears far more
    often than they kept it). Every candidate carrying `old` whose text holds such a gram is proposed.
    Returns the proposals (support: how many of the kind's fixes hold its best gram) and the patterns
    found per kind."""
    grams = [word_grams(text) for text in texts]
    frequency: dict[str, int] = {}
    for found in grams:
        for gram in found:
            frequency[gram] = frequency.get(gram, 0) + 1
    kinds: dict[tuple, list[Fix]] = {}
    for fix in fixes:
        kinds.setdefault((fix.old, fix.new), []).append(fix)
    sources = {fix.source for fix in fixes}
    proposals: dict[int, Propagated] = {}
    patterns: dict[tuple, list[str]] = {}
    for (old, new), group in kinds.items():
        fixed: dict[str, int] = {}
        for fix in group:
            for gram in grams[fix.source]:
                fixed[gram] = fixed.get(gram, 0) + 1
        kept: dict[str, int] = {}
        for item in confirmed:
            if labels[item] == old:
                for gram in grams[item]:
                    kept[gram] = kept.get(gram, 0) + 1
        shared = sorted(gram for gram, count in fixed.items()
                        if count >= min_fixes and count > min_share * (count + kept.get(gram, 0))
                        and frequency[gram] <= max_frequency * len(texts)
                        and count / len(group) >= min_lift * frequency[gram] / len(texts))
        if not shared:
            continue
        patterns[(old, new)] = shared
        for item in np.flatnonzero(np.asarray(candidates, dtype=bool)):
            held = [gram for gram in shared if gram in grams[item]]
            if labels[item] == old and held and int(item) not in sources:
                support = max(fixed[gram] for gram in held)
                proposal = Propagated(int(item), next(f for f in group if held[0] in grams[f.source]), 1.0, support)
                if int(item) not in proposals or proposal.support > proposals[int(item)].support:
                    proposals[int(item)] = proposal
    return sorted(proposals.values(), key=lambda p: (-p.support, p.item)), patterns
