def total(lines: list[dict[str, float]]) -> float:
    return round(sum(line["qty"] * line["price"] for line in lines), 2)
