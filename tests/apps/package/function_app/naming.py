def display_name(raw: str) -> str:
    return raw.strip().title()
