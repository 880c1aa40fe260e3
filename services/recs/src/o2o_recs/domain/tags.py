"""Customer tags inferred from what a member buys, for loyalty's campaign segments.

A tag needs repeated purchases in its categories: one pack of nappies may be a gift, four
baby-formula purchases are a household with a baby.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TagRule:
    tag: str
    # Words in a category name that count towards the tag.
    words: tuple[str, ...]
    min_purchases: int
    # Purchases at which the confidence reaches 1.
    sure_at: int


RULES = (
    TagRule("new_parent", ("baby", "formula", "nappies", "nappy", "diaper", "infant"), 3, 8),
    TagRule("pet_owner", ("pet", "dog", "cat food", "cat litter"), 3, 8),
    TagRule("health_conscious", ("organic", "vitamin", "health", "fitness"), 4, 10),
    TagRule("beauty_enthusiast", ("beauty", "cosmetic", "skincare", "makeup"), 4, 10),
)


@dataclass(frozen=True)
class Tag:
    tag: str
    confidence: float
    evidence: str

    def as_row(self) -> dict[str, object]:
        return {"tag": self.tag, "confidence": self.confidence, "evidence": self.evidence}


def infer(category_purchases: Mapping[str, int]) -> list[Tag]:
    """The tags a member's purchases per category support, strongest first."""
    tags = []
    for rule in RULES:
        matched = {
            category: count
            for category, count in category_purchases.items()
            if count > 0 and any(word in category.lower() for word in rule.words)
        }
        total = sum(matched.values())
        if total < rule.min_purchases:
            continue
        confidence = round(
            min(1.0, 0.5 + 0.5 * (total - rule.min_purchases) / max(rule.sure_at - rule.min_purchases, 1)), 3
        )
        named = ", ".join(sorted(matched))
        tags.append(Tag(rule.tag, confidence, f"bought {named} {total} times"))
    tags.sort(key=lambda t: (-t.confidence, t.tag))
    return tags


def tag_names(rows: list[dict[str, object]]) -> list[str]:
    return sorted(str(row["tag"]) for row in rows)
