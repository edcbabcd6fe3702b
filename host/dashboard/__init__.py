"""The dashboard at /runtime/dashboard/: static files (index.html, *.js, *.css, *.svg) shipped
in this package and served by routes.py; the page talks only to the durable management API and
the /admin endpoints, so everything it shows or does goes through the same checks and keys."""
