"""Invocation ids: what logs, `context.invocation_id` and the durable API show."""

import uuid

from funcpy.host.invocation import new_invocation_id


def test_invocation_ids_are_distinct_version_4_uuids_in_canonical_form() -> None:
    ids = [new_invocation_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
