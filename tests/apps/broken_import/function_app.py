"""An app whose import fails: in development the host stays up with no functions and says
why; in production it exits non-zero."""

import azure.functions as func
import helper_that_imports_a_missing_module  # noqa: F401  (fails inside this module)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="never")
def never(req: func.HttpRequest) -> str:
    return "unreachable"
