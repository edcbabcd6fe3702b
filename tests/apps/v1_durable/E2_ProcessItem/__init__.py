async def main(item: int) -> int:
    return item * item
