"""bench/workers.py's app: one sync HTTP function doing about 5 ms of pure Python."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
ROUNDS = 75_000  # bench/workers.py measures what one call costs on this machine


def work(rounds: int = ROUNDS) -> int:
    total = 0
    for i in range(rounds):
        total += (i * i) % 7
    return total


@app.route(route="cpu")
def cpu(req: func.HttpRequest) -> str:
    return str(work())
