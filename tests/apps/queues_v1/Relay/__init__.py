"""v1: a queue trigger whose return value is a queue message ($return)."""

import azure.functions as func


def main(item: func.QueueMessage) -> str:
    body = item.get_body().decode()
    if body == "bad":
        raise ValueError("refused")
    return f"relayed {body} #{item.dequeue_count}"
