"""A custom payload class: the SDK carries it with to_json/from_json inside a `__class__`
envelope, and rebuilds it through `sys.modules[__module__]` (so it lives in an app module)."""

from __future__ import annotations

from typing import Any


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    @staticmethod
    def to_json(obj: Point) -> dict[str, int]:
        return {"x": obj.x, "y": obj.y}

    @classmethod
    def from_json(cls, data: Any) -> Point:
        return cls(data["x"], data["y"])

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"
