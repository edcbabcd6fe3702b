def main(req: object) -> str:
    return "never"
